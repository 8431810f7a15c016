// The apps API (issue 21) on this machine's standalone install, as its users drive it: the
// seed's own start_with_marathon.sh POSTs the example's Marathon JSON with plain curl to
// http://ADVERTISED:8080 (the operator's login in a 0600 curl config, never in argv), and
// python1 and python2 answer by name; PyPI's marathon client (marathon-python, not written
// here) lists, creates, scales, restarts, reads versions and deletes; a team's token acts
// under its prefix only and is refused elsewhere with Marathon's error shape; a v2 whose
// healthcheck fails never takes a request from v1, and `paasbox rollback --to` brings v1 back.
// Traffic goes only to this machine's stack and the apps this spec deploys; every app it
// made is deleted after, and its team token revoked.

import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getWithHost } from '../../src/bench/http.js';
import { getByName } from '../../src/bench/reach.js';
import { repoPath } from '../../src/paths.js';
import {
  api,
  curlHome,
  getApp,
  marathonPython,
  operatorLogin,
  privateFile,
  requestLoop,
  waitDeployed,
  waitByName,
  waitGone,
  type ApiApp,
  type Caller,
  type Login,
} from '../helpers/apps-api.js';
import { ensureExampleImage } from '../helpers/images.js';
import { installStandalone, sh } from '../helpers/standalone.js';
import { sleep, until } from '../helpers/until.js';

const run = promisify(execFile);
const IMAGE = 'paasbox/simplewebapp-python:latest';
const EXAMPLE = repoPath('examples', 'SimpleWebappPython');
const DRIVE = repoPath('spec', 'integration', 'marathon-python', 'drive.py');

/** The apps this spec creates (besides python1 and python2, which the seed's flow updates if they exist). */
const OWN_APPS = [
  '/pbmarathonpy',
  '/pbrollback',
  '/team/app',
  '/team/anon',
  '/other/app',
  '/team/net',
  '/team/mount',
  '/team/label',
];

/** An app of the example image, routed by name as `service`. */
function exampleApp(id: string, service: string, extra: Record<string, unknown> = {}, container = {}) {
  return {
    id,
    instances: 1,
    cpus: 0.1,
    mem: 64,
    container: {
      type: 'DOCKER',
      docker: { image: IMAGE, network: 'BRIDGE' },
      portMappings: [{ containerPort: 8080, hostPort: 0, protocol: 'tcp', name: 'http' }],
      ...container,
    },
    env: { SERVICE_NAME: service, SERVICE_TAGS: 'http' },
    healthChecks: [
      {
        protocol: 'HTTP',
        path: '/health',
        portIndex: 0,
        gracePeriodSeconds: 10,
        intervalSeconds: 2,
        timeoutSeconds: 2,
        maxConsecutiveFailures: 3,
      },
    ],
    ...extra,
  };
}

// The rollback app: GET / answers its APP_VERSION, /health 200, anything else 404; on SIGTERM it
// keeps answering 2 s (so it leaves routing before it stops). One line: no newline reaches argv.
const VERSIONED_SERVER =
  'import http.server as h,os,signal,threading;V=os.environ["APP_VERSION"].encode();' +
  'r=lambda s,c,b:(s.send_response(c),s.send_header("Content-Length",str(len(b))),s.end_headers(),s.wfile.write(b));' +
  'H=type("H",(h.BaseHTTPRequestHandler,),{"protocol_version":"HTTP/1.1","log_message":lambda s,*a:None,' +
  '"do_GET":lambda s:r(s,200,V) if s.path=="/" else r(s,200,b"ok") if s.path=="/health" else r(s,404,b"no")});' +
  'S=h.ThreadingHTTPServer(("",8080),H);signal.signal(signal.SIGTERM,lambda *a:threading.Timer(2,S.shutdown).start());' +
  'S.serve_forever()';

/** /pbrollback answering `version`, with a healthcheck on `healthPath` (404 there: never healthy). */
function versionedApp(version: string, healthPath: string) {
  return exampleApp('/pbrollback', 'pbrollback', {
    instances: 2,
    args: ['python3', '-c', VERSIONED_SERVER],
    env: { SERVICE_NAME: 'pbrollback', SERVICE_TAGS: 'http', APP_VERSION: version },
    healthChecks: [
      {
        protocol: 'HTTP',
        path: healthPath,
        portIndex: 0,
        gracePeriodSeconds: 3,
        intervalSeconds: 2,
        timeoutSeconds: 2,
        maxConsecutiveFailures: 2,
      },
    ],
    // Start new instances first, all at once; an old one stops only once a new one is healthy.
    upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
  });
}

/** The swarm's service names. */
const swarmServices = async () =>
  (await sh(`docker service ls --format '{{.Name}}'`)).split('\n').filter(Boolean).sort();

/** Marathon's error shape: a JSON object whose `message` is a non-empty string. */
function expectMarathonError(
  r: { status: number; text: string; json: unknown },
  status: number[],
  what: string,
) {
  expect(status, `${what}: HTTP ${r.status} ${r.text.slice(0, 300)}`).to.include(r.status);
  const body = r.json as { message?: unknown } | undefined;
  expect(body, `${what}: a JSON body (${r.text.slice(0, 200)})`).to.be.an('object');
  expect(body!.message, `${what}: Marathon's {"message": ...} (${r.text.slice(0, 200)})`)
    .to.be.a('string')
    .and.not.equal('');
}

describe('apps API: Marathon v2 on swarm for curl, marathon-python, team tokens and rollback (integration)', function () {
  this.timeout(30 * 60_000);
  const state = mkdtempSync(join(tmpdir(), 'pb-apps-api-state-'));
  const env = { ...process.env, PAASBOX_STATE_DIR: state };
  let ip = '';
  let base = '';
  let login: Login;
  let op: Caller;
  /** Every app id this spec asked for, deleted after (as the operator). */
  const made = new Set<string>();
  let teamToken = false;

  before(async () => {
    await ensureExampleImage();
    ip = await installStandalone(env);
    base = `http://${ip}:8080`;
    login = operatorLogin(state);
    op = { basic: login };
    await until(
      `the apps API answers ${base}/ping`,
      async () => ((await api(base, 'GET', '/ping', undefined)).status === 200 ? true : undefined),
      120_000,
      1000,
    );
    // Left by an earlier run that stopped half-way: this run starts without them.
    for (const id of OWN_APPS)
      if ((await api(base, 'GET', `/v2/apps${id}`, op)).status === 200) {
        await api(base, 'DELETE', `/v2/apps${id}?force=true`, op);
        await waitGone(base, op, id);
      }
  });

  afterEach(async function () {
    if (this.currentTest?.state !== 'failed') return;
    console.log(
      await sh(
        `docker logs --tail 60 $(docker ps -q --filter label=com.docker.compose.service=apps-api) 2>&1`,
      ).catch((e: Error) => `no apps-api logs: ${e.message}`),
    );
  });

  after(async () => {
    if (!base) return;
    for (const id of made) await api(base, 'DELETE', `/v2/apps${id}?force=true`, op).catch(() => undefined);
    for (const id of made) await waitGone(base, op, id, 60_000).catch(() => undefined);
    if (teamToken) await api(base, 'DELETE', '/paasbox/v1/tokens/team', op).catch(() => undefined);
  });

  describe("the seed's flow", () => {
    it("start_with_marathon.sh's plain curl POSTs the example to :8080, both apps answer by name, GET /v2/apps lists them", async () => {
      made.add('/python1').add('/python2');
      // Plain curl, as the seed's user runs it: the login in CURL_HOME/.curlrc (0600), the script unchanged.
      const home = curlHome(login);
      const curlEnv = { ...env, CURL_HOME: home, MARATHON_URL: base };
      const r = await run(join(EXAMPLE, 'start_with_marathon.sh'), [], {
        cwd: repoPath(),
        env: curlEnv,
        maxBuffer: 16 << 20,
      });
      for (const app of ['deploy1_marathon', 'deploy2_marathon'])
        expect(r.stdout, r.stderr).to.match(new RegExp(`${app}: accepted by Marathon \\(HTTP 20[01]\\)`));
      for (const name of ['python1', 'python2']) {
        await waitDeployed(base, op, `/${name}`, 2);
        const answer = await waitByName(ip, name, 2);
        expect(answer.body).to.match(new RegExp(`^Hello from ${name} `));
      }

      // GET /v2/apps with plain curl: every field Marathon's contract fixture shows for an app.
      const got = await run('curl', ['-sS', '-w', '\\n%{http_code}', `${base}/v2/apps`], {
        env: curlEnv,
        maxBuffer: 16 << 20,
      });
      const code = got.stdout.slice(got.stdout.lastIndexOf('\n') + 1);
      expect(code, got.stdout.slice(0, 300)).to.equal('200');
      const apps = (JSON.parse(got.stdout.slice(0, got.stdout.lastIndexOf('\n'))) as { apps: ApiApp[] }).apps;
      const fixture = (
        JSON.parse(readFileSync(repoPath('spec', 'fixtures', 'marathon', 'list-apps.json'), 'utf8')) as {
          exchanges: { response: { body: { apps: Record<string, unknown>[] } } }[];
        }
      ).exchanges[0]!.response.body.apps[0]!;
      // `tasks` is there only with embed=apps.tasks in Marathon.
      const fields = Object.keys(fixture).filter((k) => k !== 'tasks');
      for (const name of ['python1', 'python2']) {
        const a = apps.find((x) => x.id === `/${name}`) as unknown as Record<string, unknown> | undefined;
        expect(a, `/${name} in GET /v2/apps: ${JSON.stringify(apps.map((x) => x.id))}`).to.be.an('object');
        expect(Object.keys(a!), `/${name}'s fields`).to.include.members(fields);
        const json = JSON.parse(
          readFileSync(join(EXAMPLE, `deploy${name.slice(-1)}_marathon.json`), 'utf8'),
        ) as {
          env: unknown;
          labels: unknown;
          healthChecks: Record<string, unknown>[];
          upgradeStrategy: unknown;
        };
        expect(a).to.deep.include({
          instances: 2,
          cpus: 0.1,
          mem: 64,
          tasksStaged: 0,
          tasksRunning: 2,
          tasksHealthy: 2,
          tasksUnhealthy: 0,
          deployments: [],
          env: json.env,
          labels: json.labels,
          upgradeStrategy: json.upgradeStrategy,
        });
        // Marathon fills in defaults of a health check (delaySeconds, ignoreHttp1xx): the given ones stay.
        const checks = a!['healthChecks'] as Record<string, unknown>[];
        expect(checks).to.have.length(1);
        expect(checks[0]).to.deep.include(json.healthChecks[0]!);
        const container = a!['container'] as {
          type: string;
          docker: { image: string; network: string };
          portMappings: { containerPort: number }[];
        };
        expect(container.type).to.equal('DOCKER');
        expect(container.docker).to.deep.include({ image: IMAGE, network: 'BRIDGE' });
        expect(container.portMappings.map((m) => m.containerPort)).to.deep.equal([8080]);
        expect(a!['version'], 'version: an ISO 8601 time as Marathon gives').to.match(
          /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/,
        );
      }
      expect(await swarmServices()).to.include.members(['python1', 'python2']);
    });
  });

  describe('PyPI marathon-python', () => {
    let python = '';
    let config = '';
    /** drive.py STEP ARGS (stdin: app JSON) as the operator; its JSON line. */
    const drive = (args: string[], stdin = '', cfg = () => config) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const p = spawn(python, [DRIVE, ...args], {
          env: { ...env, PAASBOX_MARATHON_PY_CONFIG: cfg() },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.stderr.on('data', (d: Buffer) => (err += d.toString()));
        p.on('error', reject);
        p.on('close', (code) => {
          const line = out.trim().split('\n').pop() ?? '';
          if (code !== 0) return reject(new Error(`drive.py ${args.join(' ')}: exit ${code}\n${out}${err}`));
          try {
            resolve(JSON.parse(line) as Record<string, unknown>);
          } catch {
            reject(new Error(`drive.py ${args.join(' ')}: not JSON: ${out}${err}`));
          }
        });
        p.stdin.end(stdin);
      });
    const replicas = (service: string) =>
      sh(`docker service inspect --format '{{.Spec.Mode.Replicated.Replicas}}' ${service}`);
    const taskIds = async (id: string) =>
      ((await drive(['tasks', id]))['tasks'] as { id: string; appId: string }[]).map((t) => t.id).sort();

    before(async () => {
      python = await marathonPython();
      config = privateFile(
        'pb-marathon-py-',
        'config.json',
        JSON.stringify({ url: base, user: login.user, password: login.password }),
      );
    });

    it('lists, creates, scales, restarts, reads versions and deletes an app', async () => {
      const id = '/pbmarathonpy';
      // As the library's users write ids: no leading slash (its scale_app then sends the app's own id,
      // `/v2/apps//pbmarathonpy`, which Marathon serves).
      const name = 'pbmarathonpy';
      const svc = 'pbmarathonpy';
      made.add(id);
      const ids = async () => ((await drive(['list']))['apps'] as { id: string }[]).map((a) => a.id);
      expect(await ids()).to.not.include(id);

      const created = (
        await drive(
          ['create'],
          JSON.stringify({
            id,
            instances: 1,
            image: IMAGE,
            env: { SERVICE_NAME: svc, SERVICE_TAGS: 'http' },
          }),
        )
      )['created'] as { id: string; instances: number } | null;
      expect(created, 'create_app returns the app (HTTP 201)').to.deep.include({ id, instances: 1 });
      await waitDeployed(base, op, id, 1);
      await waitByName(ip, svc, 1);
      expect(await replicas(svc)).to.equal('1');
      expect(await ids()).to.include(id);
      const first = await taskIds(name);
      expect(first).to.have.length(1);

      const scaled = (await drive(['scale', name, '2']))['scaled'] as {
        deploymentId?: string;
        version?: string;
      };
      expect(scaled.deploymentId, JSON.stringify(scaled)).to.be.a('string');
      expect(scaled.version, JSON.stringify(scaled)).to.be.a('string');
      await waitDeployed(base, op, id, 2);
      await waitByName(ip, svc, 2);
      expect(await replicas(svc)).to.equal('2');
      const got = (await drive(['get', name]))['app'] as { instances: number; tasksHealthy: number };
      expect(got).to.deep.include({ instances: 2, tasksHealthy: 2 });

      const before = await taskIds(name);
      expect(before).to.have.length(2);
      const restarted = (await drive(['restart', name]))['restarted'] as { deploymentId?: string };
      expect(restarted.deploymentId, JSON.stringify(restarted)).to.be.a('string');
      await until(
        `${id}'s tasks all replaced by the restart`,
        async () => {
          const now = await taskIds(name);
          if (now.length !== 2 || now.some((t) => before.includes(t)))
            throw new Error(`tasks ${now.join(', ')}`);
          return now;
        },
        300_000,
        1000,
      );
      await waitDeployed(base, op, id, 2);

      const versions = (await drive(['versions', name]))['versions'] as string[];
      expect(versions.length, JSON.stringify(versions)).to.be.at.least(2);
      const counts = new Set<number>();
      for (const v of versions) {
        const app = (await drive(['version', name, v]))['app'] as { id: string; instances: number };
        expect(app.id).to.equal(id);
        counts.add(app.instances);
      }
      expect([...counts].sort(), 'the versions hold the app as created and as scaled').to.include.members([
        1, 2,
      ]);

      const deleted = (await drive(['delete', name]))['deleted'] as { deploymentId?: string };
      expect(deleted.deploymentId, JSON.stringify(deleted)).to.be.a('string');
      await waitGone(base, op, id);
      expect(await ids()).to.not.include(id);
      await until(
        `swarm service ${svc} removed`,
        async () => ((await swarmServices()).includes(svc) ? undefined : true),
        120_000,
        1000,
      );
      await waitByName(ip, svc, 0);
      made.delete(id);
    });

    it("reads /v2/info with the client's get_info (Marathon's info shape)", async () => {
      const info = await drive(['info']);
      expect(info['name'], JSON.stringify(info)).to.equal('marathon');
      expect(info['version'], JSON.stringify(info)).to.be.a('string');
    });

    it("a team's token as the client's auth_token (`Authorization: token=`) lists that team's apps only", async () => {
      const t = await api(base, 'POST', '/paasbox/v1/tokens', op, { team: 'team', apps: ['/team/*'] });
      expect(t.status, t.text).to.equal(201);
      teamToken = true;
      const cfg = privateFile(
        'pb-marathon-py-team-',
        'config.json',
        JSON.stringify({ url: base, token: (t.json as { token: string }).token }),
      );
      // Others' apps exist (python1 from the seed's flow), so a listing of only /team/ apps means something.
      const all = ((await drive(['list']))['apps'] as { id: string }[]).map((a) => a.id);
      expect(all).to.include('/python1');
      const listed = (await drive(['list'], '', () => cfg))['apps'] as { id: string }[];
      expect(listed.map((a) => a.id).filter((i) => !i.startsWith('/team/'))).to.deep.equal([]);
      // Another's app: the library raises Marathon's HTTP error (drive.py prints its status and message).
      const refused = await drive(['get', 'python1'], '', () => cfg).catch((e: Error) => e.message);
      expect(refused, JSON.stringify(refused))
        .to.be.a('string')
        .and.match(/"status": (403|404), "message": "[^"]+"/);
      const r = await api(base, 'DELETE', '/paasbox/v1/tokens/team', op);
      expect(r.status, r.text).to.equal(200);
      teamToken = false;
    });
  });

  describe('team tokens', () => {
    it("creates /team/app; 403 and Marathon's error shape elsewhere and for hostile apps; 401 without credentials", async () => {
      // Ids a broken server might accept here: deleted after.
      for (const id of ['/team/anon', '/other/app', '/team/net', '/team/mount', '/team/label']) made.add(id);
      // Without credentials: only /ping answers.
      const ping = await api(base, 'GET', '/ping', undefined);
      expect(ping.status).to.equal(200);
      expect(ping.text).to.include('pong');
      // The same through HAProxy as marathon.service.consul.
      const routed = await getWithHost(80, 'marathon.service.consul', '/ping', ip);
      expect(routed.status, routed.body).to.equal(200);
      expect(routed.body).to.include('pong');
      const routedApps = await getWithHost(80, 'marathon.service.consul', '/v2/apps', ip);
      expect(routedApps.status, routedApps.body).to.equal(401);
      for (const [method, path, body] of [
        ['GET', '/v2/apps', undefined],
        ['GET', '/v2/info', undefined],
        ['GET', '/v2/apps/python1', undefined],
        ['POST', '/v2/apps', exampleApp('/team/anon', 'team-anon')],
        ['GET', '/paasbox/v1/tokens', undefined],
      ] as const)
        expectMarathonError(
          await api(base, method, path, undefined, body),
          [401],
          `${method} ${path} anonymous`,
        );
      expectMarathonError(
        await api(base, 'GET', '/v2/apps', { basic: { user: login.user, password: `${login.password}x` } }),
        [401],
        'a wrong password',
      );
      expectMarathonError(
        await api(base, 'GET', '/v2/apps', { bearer: 'not-a-token' }),
        [401],
        'an unknown token',
      );

      // The operator makes the team's token; it is shown once and never listed.
      const t = await api(base, 'POST', '/paasbox/v1/tokens', op, { team: 'team', apps: ['/team/*'] });
      expect(t.status, t.text).to.equal(201);
      teamToken = true;
      const tok = t.json as { team: string; apps: string[]; id: string; createdAt: string; token: string };
      expect(tok).to.deep.include({ team: 'team', apps: ['/team/*'] });
      expect(tok.token).to.be.a('string').with.length.above(15);
      expect(tok.id).to.be.a('string');
      const list = await api(base, 'GET', '/paasbox/v1/tokens', op);
      expect(list.status, list.text).to.equal(200);
      expect((list.json as { tokens: { team: string; id: string }[] }).tokens.map((x) => x.id)).to.include(
        tok.id,
      );
      expect(list.text, 'the token itself is never listed').to.not.include(tok.token);
      const team: Caller = { bearer: tok.token };

      // Under its prefix it deploys; its reads show only its apps.
      made.add('/team/app');
      const c = await api(base, 'POST', '/v2/apps', team, exampleApp('/team/app', 'team-app'));
      expect(c.status, c.text).to.equal(201);
      await waitDeployed(base, team, '/team/app', 1);
      await waitByName(ip, 'team-app', 1);
      const mine = await api(base, 'GET', '/v2/apps', team);
      expect(mine.status, mine.text).to.equal(200);
      const mineIds = (mine.json as { apps: { id: string }[] }).apps.map((a) => a.id);
      expect(mineIds).to.include('/team/app');
      expect(
        mineIds.filter((i) => !i.startsWith('/team/')),
        'apps of others in the team listing',
      ).to.deep.equal([]);
      const dcos = await api(base, 'GET', '/v2/apps/team/app', { dcos: tok.token });
      expect(dcos.status, `Authorization: token=…: ${dcos.text}`).to.equal(200);

      // Elsewhere: 403 with Marathon's shape, and nothing reaches the swarm.
      const before = await swarmServices();
      expectMarathonError(
        await api(base, 'POST', '/v2/apps', team, exampleApp('/other/app', 'other-app')),
        [403],
        'POST /other/app with the team token',
      );
      expectMarathonError(
        await api(base, 'PUT', '/v2/apps/other/app', team, exampleApp('/other/app', 'other-app')),
        [403],
        'PUT /other/app with the team token',
      );
      expectMarathonError(
        await api(base, 'DELETE', '/v2/apps/python1', team),
        [403],
        'DELETE /python1 with the team token',
      );
      expectMarathonError(
        await api(base, 'POST', '/paasbox/v1/tokens', team, { team: 'team', apps: ['/*'] }),
        [403],
        'a team token making tokens',
      );
      // Hostile apps under its own prefix: host network, a host mount of the platform, the stack's labels.
      const hostile: [string, object, RegExp][] = [
        [
          'host network',
          exampleApp('/team/net', 'team-net', {}, { docker: { image: IMAGE, network: 'HOST' } }),
          /network/i,
        ],
        [
          'a host mount of /opt/paasbox',
          exampleApp(
            '/team/mount',
            'team-mount',
            {},
            {
              volumes: [{ containerPath: '/x', hostPath: '/opt/paasbox/secrets', mode: 'RO' }],
            },
          ),
          /hostPath|volumes/,
        ],
        [
          "the stack's compose labels",
          exampleApp('/team/label', 'team-label', {
            labels: { 'com.docker.compose.project': 'paasbox', 'com.docker.compose.service': 'sshd' },
          }),
          /com\.docker\.compose|labels/,
        ],
      ];
      for (const [what, body, field] of hostile) {
        const r = await api(base, 'POST', '/v2/apps', team, body);
        // 403: the policy refuses a team what only the operator may allow; the answer names the field.
        expectMarathonError(r, [403], `${what} with the team token`);
        expect(r.text, `${what}: the answer names the field`).to.match(field);
      }
      expectMarathonError(
        await api(
          base,
          'POST',
          '/v2/apps?allow=host-namespaces',
          team,
          exampleApp(
            '/team/net',
            'team-net',
            {},
            {
              docker: { image: IMAGE, network: 'HOST' },
            },
          ),
        ),
        [403],
        'a team token asking for allow=',
      );
      expect(await swarmServices(), 'services after the refusals').to.deep.equal(before);
      if (before.includes('python1')) expect((await getApp(base, op, '/python1'))?.id).to.equal('/python1');

      // It deletes its own app; revoked, it is refused.
      const d = await api(base, 'DELETE', '/v2/apps/team/app', team);
      expect(d.status, d.text).to.equal(200);
      await waitGone(base, op, '/team/app');
      made.delete('/team/app');
      const rv = await api(base, 'DELETE', '/paasbox/v1/tokens/team', op);
      expect(rv.status, rv.text).to.equal(200);
      expect((rv.json as { revoked: number }).revoked).to.be.at.least(1);
      teamToken = false;
      expectMarathonError(await api(base, 'GET', '/v2/apps', team), [401], 'a revoked token');
    });
  });

  describe('rollback', () => {
    it('a v2 whose healthcheck fails takes no request from v1 (0 failed in a loop); after a healthy v2, rollback to v1 brings v1 back', async () => {
      const id = '/pbrollback';
      const svc = 'pbrollback';
      made.add(id);
      const c = await api(base, 'POST', '/v2/apps', op, versionedApp('v1', '/health'));
      expect(c.status, c.text).to.equal(201);
      await waitDeployed(base, op, id, 2);
      await waitByName(ip, svc, 2);
      const v1 = (await getApp(base, op, id))!.version;
      expect(v1).to.be.a('string');
      expect((await getByName(ip, svc)).body.trim()).to.equal('v1');

      /** The app's containers that run `version`, with their health (docker's view). */
      const containers = async (version: string) => {
        const ids = (await sh(`docker ps -aq --filter label=com.docker.swarm.service.name=${svc}`)).split(
          '\n',
        );
        if (!ids.filter(Boolean).length) return [];
        const fmt = `{{range .Config.Env}}{{println .}}{{end}}@@{{if .State.Health}}{{.State.Health.Status}}{{end}} {{.State.Status}}`;
        const rows = await Promise.all(
          ids.filter(Boolean).map((c) => sh(`docker inspect --format '${fmt}' ${c}`).catch(() => '')),
        );
        return rows
          .filter((r) => r.split('@@')[0]!.split('\n').includes(`APP_VERSION=${version}`))
          .map((r) => r.split('@@')[1]!.trim());
      };

      // v2 with a healthcheck that cannot pass, under a bounded request loop by name.
      const loop = requestLoop(ip, svc, { maxRequests: 20_000, maxMs: 240_000, pauseMs: 20 });
      const played = (async () => {
        await sleep(2000);
        const bad = await api(base, 'PUT', `/v2/apps${id}`, op, versionedApp('v2', '/broken'));
        expect(bad.status, bad.text).to.be.oneOf([200, 201]);
        expect((bad.json as { deploymentId?: string }).deploymentId, bad.text).to.be.a('string');
        // It played out: a v2 instance started and was found unhealthy (or stopped) by its healthcheck.
        const seen = await until(
          'a v2 instance started and failed its healthcheck',
          async () => {
            const v2 = await containers('v2');
            if (!v2.some((s) => /unhealthy|exited|dead/.test(s)))
              throw new Error(`v2 containers: ${JSON.stringify(v2)}`);
            return v2;
          },
          180_000,
          500,
        );
        console.log(`      v2 instances: ${JSON.stringify(seen)}`);
        await sleep(10_000);
      })().then(
        () => undefined,
        (e: unknown) => e,
      );
      const failure = await played;
      const tally = await loop.stop();
      if (failure) throw failure;
      console.log(
        `      ${tally.total} requests in ${tally.ms} ms while v2 failed: ${JSON.stringify(tally.bodies)}`,
      );
      expect(tally.failed, 'failed requests while v2 failed').to.deep.equal([]);
      expect(Object.keys(tally.bodies), 'answers while v2 failed').to.deep.equal(['v1']);
      expect(tally.total).to.be.greaterThan(100);

      // A healthy v2 replaces v1 (force: the failed deployment may still be listed).
      const good = await api(base, 'PUT', `/v2/apps${id}?force=true`, op, versionedApp('v2', '/health'));
      expect(good.status, good.text).to.be.oneOf([200, 201]);
      /** `n` answers by name in a row that are all `body`. */
      const answersOnly = (body: string, n = 20) =>
        until(
          `${svc} answers only ${body} by name`,
          async () => {
            for (let i = 0; i < n; i++) {
              const r = await getByName(ip, svc);
              if (r.status !== 200 || r.body.trim() !== body)
                throw new Error(`HTTP ${r.status} ${r.body.trim()}`);
            }
            return true;
          },
          300_000,
          500,
        );
      await answersOnly('v2');
      await waitDeployed(base, op, id, 2);
      expect((await getApp(base, op, id))!.env?.['APP_VERSION']).to.equal('v2');

      // Rollback to v1 explicitly, as the operator does it: `paasbox rollback ID --to V1` (the login and
      // address from the spec's state directory), over the API's PUT {"version": V1}.
      const versions = await api(base, 'GET', `/v2/apps${id}/versions`, op);
      expect((versions.json as { versions: string[] }).versions, versions.text).to.include(v1);
      const rb = await run('node', [repoPath('bin', 'paasbox.mjs'), 'rollback', id, '--to', v1, '--json'], {
        cwd: repoPath(),
        env,
        maxBuffer: 16 << 20,
      });
      const done = JSON.parse(rb.stdout) as { to?: string; deploymentId?: string };
      expect(done.to, rb.stdout).to.equal(v1);
      expect(done.deploymentId, rb.stdout).to.be.a('string');
      await answersOnly('v1');
      await waitDeployed(base, op, id, 2);
      const back = (await getApp(base, op, id))!;
      expect(back.env?.['APP_VERSION']).to.equal('v1');
      expect(back.container?.docker?.image).to.equal(IMAGE);

      const del = await api(base, 'DELETE', `/v2/apps${id}`, op);
      expect(del.status, del.text).to.equal(200);
      await waitGone(base, op, id);
      made.delete(id);
    });
  });
});
