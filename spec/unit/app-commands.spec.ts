// The app commands over the apps API (issue 21): the table and details they
// print, the version a rollback goes back to, where the URL and the login come
// from, the paasbox extensions' client (logs, tokens), the changes with their
// waits, and the CLI itself run against the apps API on 127.0.0.1 (the real
// routes and server over a fake swarm and Consul K/V, spec/helpers/api-under-test.ts):
// the token never shows, errors are one line.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PaasboxError } from '../../src/errors.js';
import { MarathonClient, type MarathonAppStatus, type MarathonTask } from '../../src/marathon/client.js';
import { logsQuery, tokenPatterns } from '../../src/marathon/paasbox.js';
import { repoPath } from '../../src/paths.js';
import { Progress } from '../../src/progress.js';
import { SECRET_FILES } from '../../src/secrets/secrets.js';
import {
  apiClients,
  describeLogin,
  resolveApiEndpoint,
  type ApiLogin,
} from '../../src/scheduler/api-endpoint.js';
import { listAppRows, runAppChange } from '../../src/scheduler/app-ops.js';
import { appRows, renderAppDetail, renderAppsTable, rollbackVersion } from '../../src/scheduler/apps-view.js';
import { allowNames } from '../../src/scheduler/marathon.js';
import { selectScheduler } from '../../src/scheduler/select.js';
import { apiUnderTest, FAKE_NODES, type ApiUnderTest } from '../helpers/api-under-test.js';

function fixtureBody<T>(name: string, i = 0): T {
  const url = new URL(`../../../spec/fixtures/marathon/${name}.json`, import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { exchanges: { response: { body: T } }[] }).exchanges[i]!
    .response.body;
}

const caught = async (p: Promise<unknown>): Promise<PaasboxError> =>
  p.then(
    () => {
      throw new Error('expected a PaasboxError');
    },
    (e: unknown) => {
      expect(e).to.be.instanceOf(PaasboxError);
      return e as PaasboxError;
    },
  );

describe('apps view: the rows, the table and the details', () => {
  const apps = fixtureBody<{ apps: MarathonAppStatus[] }>('list-apps').apps;
  const tasks = fixtureBody<{ tasks: MarathonTask[] }>('tasks', 1).tasks;

  it("one row per app from Marathon's shapes: running/wanted, health, URL by name, image, hosts, version", () => {
    const rows = appRows(apps, tasks, 'consul');
    expect(rows).to.deep.equal([
      {
        id: '/python1',
        running: 2,
        wanted: 2,
        health: 'healthy',
        urls: ['http://python1.service.consul'],
        image: 'paasbox/simplewebapp-python:latest',
        hosts: [...new Set(tasks.filter((t) => t.appId === '/python1').map((t) => t.host))].sort(),
        version: '2026-11-25T14:00:00.000Z',
        deployments: [],
      },
    ]);
  });

  it('health: none without checks, unhealthy N, H/W while starting; URLs: none without ports, NAME-PORT for more', () => {
    const base = apps[0]!;
    const noChecks = { ...base, id: '/a', healthChecks: [] };
    const t = (alive: boolean, id: string): MarathonTask => ({
      id,
      appId: '/b',
      host: 'h',
      ports: [1],
      healthCheckResults: [{ alive }],
    });
    expect(appRows([noChecks], [], 'd')[0]!.health).to.equal('none');
    expect(appRows([{ ...base, id: '/b' }], [t(true, '1'), t(false, '2')], 'd')[0]!.health).to.equal(
      'unhealthy 1',
    );
    expect(appRows([{ ...base, id: '/b', instances: 3 }], [t(true, '1')], 'd')[0]!.health).to.equal(
      '1/3 healthy',
    );
    const portless = {
      ...base,
      id: '/team/worker',
      env: {},
      container: { type: 'DOCKER' as const, docker: { image: 'x' } },
    };
    expect(appRows([portless], [], 'd')[0]!.urls).to.deep.equal([]);
    const two = {
      ...base,
      id: '/team/web',
      env: {},
      container: {
        type: 'DOCKER' as const,
        docker: { image: 'x' },
        portMappings: [{ containerPort: 80 }, { containerPort: 9090 }],
      },
    };
    expect(appRows([two], [], 'paas.example')[0]!.urls).to.deep.equal([
      'http://team-web.service.paas.example',
      'http://team-web-80.service.paas.example',
      'http://team-web-9090.service.paas.example',
    ]);
  });

  it('the table lines up its columns, marks a deploying app with *, and says so when there are no apps', () => {
    const rows = appRows(apps, tasks, 'consul');
    const table = renderAppsTable([
      rows[0]!,
      { ...rows[0]!, id: '/team/a-longer-id', deployments: ['d1'], urls: [], hosts: [] },
    ]).split('\n');
    expect(table[0]).to.match(/^ID {17}INSTANCES {2}HEALTH {3}URLS/);
    const col = (line: string, word: string) => line.indexOf(word);
    expect(col(table[1]!, '2/2')).to.equal(col(table[0]!, 'INSTANCES'));
    expect(col(table[2]!, '2/2*')).to.equal(col(table[0]!, 'INSTANCES'));
    expect(col(table[2]!, 'healthy')).to.equal(col(table[0]!, 'HEALTH'));
    expect(table[2]).to.match(/ - +paasbox\/simplewebapp-python:latest +- +2026/);
    expect(renderAppsTable([])).to.equal('no apps yet: paasbox deploy APP.json\n');
    const detail = renderAppDetail(rows[0]!, tasks.slice(0, 1), ['v2', 'v1']);
    expect(detail).to.match(/^app {8}\/python1\ninstances {2}2 running of 2 wanted\n/);
    expect(detail).to.include('versions   2 stored (newest v2; paasbox rollback /python1)');
    expect(detail).to.match(
      /\nTASK +HOST +PORTS +STATE +HEALTH +STARTED +VERSION\npython1\.\S+ +agent1\.paasbox +31001 +TASK_RUNNING +alive/,
    );
  });
});

describe('rollback: which version', () => {
  const app = (version: string, lastConfigChangeAt?: string) =>
    ({
      id: '/team/app',
      version,
      ...(lastConfigChangeAt ? { versionInfo: { lastConfigChangeAt } } : {}),
    }) as MarathonAppStatus;
  const versions = ['2026-12-07T06:01:00.000Z', '2026-12-07T06:03:00.000Z', '2026-12-07T06:02:00.000Z'];

  it('the version before the current one, whatever order the API lists them in', () => {
    expect(rollbackVersion(app('2026-12-07T06:03:00.000Z'), versions)).to.equal('2026-12-07T06:02:00.000Z');
  });

  it("a scale after the last change of the definition is skipped (Marathon's versionInfo)", () => {
    expect(rollbackVersion(app('2026-12-07T06:03:00.000Z', '2026-12-07T06:02:00.000Z'), versions)).to.equal(
      '2026-12-07T06:01:00.000Z',
    );
  });

  it('--to picks a stored version (also written differently), and refuses one not stored, naming some', () => {
    const a = app('2026-12-07T06:03:00.000Z');
    expect(rollbackVersion(a, versions, '2026-12-07T06:01:00.000Z')).to.equal('2026-12-07T06:01:00.000Z');
    expect(rollbackVersion(a, versions, '2026-12-07T06:01:00Z')).to.equal('2026-12-07T06:01:00.000Z');
    expect(() => rollbackVersion(a, versions, '2025-01-01T00:00:00Z')).to.throw(
      PaasboxError,
      'app /team/app has no version 2025-01-01T00:00:00Z',
    );
  });

  it('no version before the first: a PaasboxError saying there is nothing to roll back to', () => {
    const e = (() => {
      try {
        rollbackVersion(app('2026-12-07T06:01:00.000Z'), ['2026-12-07T06:01:00.000Z']);
      } catch (x) {
        return x as PaasboxError;
      }
      return undefined;
    })();
    expect(e?.problem).to.equal(
      'app /team/app has no version before its current one (2026-12-07T06:01:00.000Z)',
    );
  });
});

describe('where the app commands find the API and whose login they send', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pb-api-endpoint-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const ctx = (env: Record<string, string> = {}, more: object = {}) => ({
    env,
    instance: 'default',
    cwd: dir,
    ...more,
  });

  it('--api, else PAASBOX_API, else http://ADVERTISED:8080 of the record; none of them: an error', () => {
    expect(
      resolveApiEndpoint({ api: 'http://10.0.0.9:8080/' }, ctx({ PAASBOX_API: 'http://10.0.0.8:1' })),
    ).to.include({
      url: 'http://10.0.0.9:8080',
      urlFrom: '--api',
    });
    expect(
      resolveApiEndpoint({}, ctx({ PAASBOX_API: 'http://10.0.0.8:1' }, { advertised: '10.0.0.5' })),
    ).to.include({
      url: 'http://10.0.0.8:1',
      urlFrom: 'PAASBOX_API',
    });
    expect(resolveApiEndpoint({}, ctx({}, { advertised: '10.0.0.5' }))).to.include({
      url: 'http://10.0.0.5:8080',
      urlFrom: 'instance default',
    });
    expect(() => resolveApiEndpoint({}, ctx())).to.throw(PaasboxError, /no apps API to talk to/);
  });

  it('refuses a URL with a login, a path or another scheme, naming the flag', () => {
    expect(() => resolveApiEndpoint({ api: 'http://u:p@10.0.0.5:8080' }, ctx())).to.throw(
      PaasboxError,
      '--api carries a login in the URL',
    );
    expect(() => resolveApiEndpoint({}, ctx({ PAASBOX_API: 'http://10.0.0.5:8080/v2/apps' }))).to.throw(
      PaasboxError,
      'PAASBOX_API http://10.0.0.5:8080/v2/apps has a path or query',
    );
    expect(() => resolveApiEndpoint({ api: 'ftp://10.0.0.5' }, ctx())).to.throw(
      PaasboxError,
      /is not http or https/,
    );
    expect(() => resolveApiEndpoint({ api: 'not a url' }, ctx())).to.throw(PaasboxError, /is not a URL/);
  });

  it('--token, else PAASBOX_TOKEN (@FILE read), else the operator file, else none; the domain', () => {
    const file = join(dir, 'team.token');
    writeFileSync(file, 'pbx_from_file\n', { mode: 0o600 });
    const api = { api: 'http://10.0.0.5:8080' };
    const t1 = resolveApiEndpoint({ ...api, token: 'pbx_flag' }, ctx({ PAASBOX_TOKEN: 'pbx_env' }));
    expect(t1.login).to.deep.equal({ kind: 'token', token: 'pbx_flag', from: '--token' });
    const t2 = resolveApiEndpoint(api, ctx({ PAASBOX_TOKEN: `@${file}` }));
    expect(t2.login).to.deep.equal({ kind: 'token', token: 'pbx_from_file', from: 'PAASBOX_TOKEN' });
    expect(resolveApiEndpoint(api, ctx()).login).to.deep.equal({ kind: 'none' });
    const creds = join(dir, '.paasbox', 'secrets', 'default', SECRET_FILES.marathonCredentials);
    mkdirSync(join(creds, '..'), { recursive: true });
    writeFileSync(creds, 'paasbox:pw\n', { mode: 0o600 });
    const prev = process.env['PAASBOX_STATE_DIR'];
    delete process.env['PAASBOX_STATE_DIR'];
    try {
      const op = resolveApiEndpoint(api, ctx({}, { domain: 'rec.example' }));
      expect(op.login).to.deep.include({
        kind: 'operator',
        credentials: { user: 'paasbox', password: 'pw' },
      });
      expect(op.domain).to.equal('rec.example');
      expect(describeLogin(op.login)).to.match(/^the operator paasbox \(/);
      expect(describeLogin(t1.login)).to.equal('a team token (--token)');
      expect(describeLogin(t1.login)).to.not.include('pbx_flag');
      expect(
        resolveApiEndpoint(api, ctx({ PAASBOX_DOMAIN: 'env.example' }, { domain: 'rec.example' })).domain,
      ).to.equal('env.example');
      expect(resolveApiEndpoint(api, ctx()).domain).to.equal('consul');
    } finally {
      if (prev !== undefined) process.env['PAASBOX_STATE_DIR'] = prev;
    }
    expect(() => resolveApiEndpoint({ ...api, token: `@${join(dir, 'missing')}` }, ctx())).to.throw(
      PaasboxError,
      /cannot read the token file/,
    );
    expect(() => resolveApiEndpoint({ ...api, token: ' ' }, ctx())).to.throw(
      PaasboxError,
      '--token is empty',
    );
  });

  it("deploy's --allow-… flags become the API's allow names", () => {
    expect(
      allowNames({ hostMounts: true, hostNamespaces: false, logDrivers: true, dockerParameters: true }),
    ).to.deep.equal(['host-mounts', 'log-drivers', 'docker-parameters']);
    expect(allowNames({})).to.deep.equal([]);
  });

  it('logs and token inputs are checked before any request', () => {
    expect(logsQuery({ since: '10m', tail: 5, follow: true })).to.equal('?since=10m&tail=5&follow=true');
    expect(logsQuery({ since: '2026-12-07T06:00:00Z' })).to.equal('?since=2026-12-07T06%3A00%3A00Z');
    expect(logsQuery({})).to.equal('');
    expect(() => logsQuery({ since: '10m; rm -rf /' })).to.throw(
      PaasboxError,
      /--since .* is neither a duration nor a time/,
    );
    expect(tokenPatterns('team', undefined)).to.deep.equal(['/team/*']);
    expect(tokenPatterns('team', ['/team/a', '/team/b/*'])).to.deep.equal(['/team/a', '/team/b/*']);
    expect(() => tokenPatterns('team', ['team/*'])).to.throw(
      PaasboxError,
      '--apps team/* is not an app id pattern',
    );
  });
});

describe('the app commands against the apps API on 127.0.0.1 (real routes, fake swarm)', function () {
  this.timeout(60_000);
  let api: ApiUnderTest;
  /** The version /team/web was created with (the server's answer). */
  let v0: string;
  /** Team "team"'s token (/team/*), made through the API when a test first asks. */
  let token: string | undefined;
  const web = {
    id: '/team/web',
    instances: 2,
    container: {
      type: 'DOCKER',
      docker: { image: 'team/web:1' },
      portMappings: [{ containerPort: 8080, hostPort: 0 }],
    },
    healthChecks: [{ protocol: 'HTTP', path: '/', portIndex: 0 }],
  };
  const db = { id: '/other/db', instances: 1, container: { type: 'DOCKER', docker: { image: 'db:2' } } };
  beforeEach(async () => {
    api = await apiUnderTest();
    token = undefined;
    const made = await api.asOperator('POST', '/v2/apps', web);
    expect(made.status, JSON.stringify(made.body)).to.equal(201);
    v0 = (made.body as { version: string }).version;
    expect((await api.asOperator('POST', '/v2/apps', db)).status).to.equal(201);
    api.apps.settle();
    api.requests.length = 0;
  });
  afterEach(() => api.close());

  const team = async () => (token ??= await api.teamToken('team'));
  const operator = (): ApiLogin => ({ kind: 'operator', credentials: api.operator, from: 'test' });
  const asTeam = (t: string): ApiLogin => ({ kind: 'token', token: t, from: 'test' });
  const clients = (login: ApiLogin) =>
    apiClients({ url: api.url, urlFrom: '--api', domain: 'consul', login });
  const sent = (from = 0) => api.requests.slice(from).map((q) => `${q.method} ${q.url}`);
  const quiet = () => new Progress({ json: true });
  const [node0, node1] = FAKE_NODES;

  it('lists rows with GET /v2/apps and GET /v2/tasks; a team sees only its apps', async () => {
    const t = await team();
    const rows = await listAppRows(clients(operator()).marathon, 'consul');
    expect(rows.map((r) => [r.id, `${r.running}/${r.wanted}`, r.health, r.hosts.join(',')])).to.deep.equal([
      ['/other/db', '1/1', 'none', node0.address],
      ['/team/web', '2/2', 'healthy', `${node0.address},${node1.address}`],
    ]);
    expect((await listAppRows(clients(asTeam(t)).marathon, 'consul')).map((r) => r.id)).to.deep.equal([
      '/team/web',
    ]);
    expect(api.requests.slice(-2).map((r) => r.authorization)).to.deep.equal([`Bearer ${t}`, `Bearer ${t}`]);
  });

  it('scale waits for its deployment (GET /v2/deployments until it is gone); --no-wait does not ask', async () => {
    const m = clients(asTeam(await team())).marathon;
    const before = api.apps.deploymentOf('/team/web');
    const from = api.requests.length;
    const r = await runAppChange(
      m,
      { action: 'scale', id: 'team/web', instances: 3 },
      { wait: true, timeoutMs: 5000 },
      quiet(),
    );
    expect(r).to.include({
      app: '/team/web',
      action: 'scale',
      existed: true,
      waited: true,
      deploymentId: api.apps.deploymentOf('/team/web'),
    });
    expect(r.deploymentId).to.not.equal(before);
    expect(api.apps.services_.get('/team/web')!.wanted).to.equal(3);
    expect(sent(from)).to.deep.equal([
      'PUT /v2/apps/team/web?force=true',
      'GET /v2/deployments',
      'GET /v2/deployments',
    ]);
    const next = api.requests.length;
    const r2 = await runAppChange(
      m,
      { action: 'restart', id: '/team/web' },
      { wait: false, timeoutMs: 5000 },
      quiet(),
    );
    expect(r2.waited).to.equal(false);
    expect(sent(next)).to.deep.equal(['POST /v2/apps/team/web/restart']);
    expect(api.apps.calls.slice(-2)).to.deep.equal(['scale /team/web 3', 'restart /team/web']);
  });

  it('rollback goes to the version before the current one, or --to, with PUT {"version"}', async () => {
    const m = clients(operator()).marathon;
    await runAppChange(
      m,
      { action: 'scale', id: '/team/web', instances: 5 },
      { wait: false, timeoutMs: 5000 },
      quiet(),
    );
    expect(api.apps.services_.get('/team/web')!.wanted).to.equal(5);
    const r = await runAppChange(
      m,
      { action: 'rollback', id: '/team/web' },
      { wait: true, timeoutMs: 5000 },
      quiet(),
    );
    expect(r.to).to.equal(v0);
    expect(api.apps.services_.get('/team/web')!.wanted).to.equal(2);
    const put = api.requests.filter((q) => q.method === 'PUT').at(-1)!;
    expect(put).to.deep.include({ url: '/v2/apps/team/web?force=true', body: { version: v0 } });
    const e = await caught(
      runAppChange(
        m,
        { action: 'rollback', id: '/team/web', to: '2020-01-01T00:00:00Z' },
        { wait: true, timeoutMs: 5000 },
        quiet(),
      ),
    );
    expect(e.problem).to.equal('app /team/web has no version 2020-01-01T00:00:00Z');
  });

  it('destroy of a missing app is "was not deployed"; a refusal is the server\'s message on one line', async () => {
    const m = clients(operator()).marathon;
    const r = await runAppChange(
      m,
      { action: 'destroy', id: '/team/gone' },
      { wait: true, timeoutMs: 5000 },
      quiet(),
    );
    expect(r).to.include({ existed: false, waited: false });
    const e = await caught(
      runAppChange(
        clients(asTeam(await team())).marathon,
        { action: 'destroy', id: '/other/db' },
        { wait: true, timeoutMs: 5000 },
        quiet(),
      ),
    );
    expect(e.problem).to.match(
      /^the apps API at http:\/\/127\.0\.0\.1:\d+ refused app \/other\/db: HTTP 403 team team may not act on app \/other\/db: its token covers \/team\/\*$/,
    );
    expect(api.apps.services_.has('/other/db')).to.equal(true);
    const none = await caught(listAppRows(clients({ kind: 'none' }).marathon, 'consul'));
    expect(none.problem).to.match(
      /refused \/v2\/apps: HTTP 401 Unauthorized: give the operator login \(basic\) or a team token \(Bearer\)$/,
    );
    expect(none.fix).to.match(/^give a team's token \(--token or PAASBOX_TOKEN\)/);
  });

  it('logs stream line by line across awkward chunks; tokens: create, list, revoke', async () => {
    const { paasbox } = clients(operator());
    const lines: string[] = [];
    for await (const l of paasbox.logs('/team/web', { tail: 10 })) lines.push(l);
    expect(lines.map((l) => l.replace(/\.\w+@/, '.TASK@'))).to.deep.equal([
      'team-web.1.TASK@node0    | hello',
      'team-web.2.TASK@node1    | world',
      'team-web.1.TASK@node0    | last',
    ]);
    expect(api.requests.at(-1)!.url).to.equal('/paasbox/v1/apps/team/web/logs?tail=10');
    expect(api.apps.calls.at(-1)).to.equal('logs /team/web --tail 10');
    const made = await paasbox.createToken('team', []);
    expect(made.token).to.match(/^pbx_[A-Za-z0-9_-]{40}$/);
    expect(api.requests.at(-1)!.body).to.deep.equal({ team: 'team', apps: ['/team/*'] });
    expect(await paasbox.listTokens()).to.deep.equal([
      { team: 'team', apps: ['/team/*'], id: made.id, createdAt: made.createdAt },
    ]);
    const e = await caught(clients(asTeam(made.token)).paasbox.listTokens());
    expect(e.problem).to.match(
      /refused the tokens: HTTP 403 tokens are the operator's: sign in with the operator's login$/,
    );
    expect(await paasbox.revokeTokens('team')).to.equal(1);
    expect(api.requests.at(-1)).to.deep.include({ method: 'DELETE', url: '/paasbox/v1/tokens/team' });
    const revoked = await caught(listAppRows(clients(asTeam(made.token)).marathon, 'consul'));
    expect(revoked.problem).to.match(/refused \/v2\/apps: HTTP 401 /);
    const missing = await caught(
      (async () => {
        for await (const l of paasbox.logs('/team/nope')) lines.push(l);
      })(),
    );
    expect(missing.problem).to.equal("the apps API has no app /team/nope (App '/team/nope' does not exist)");
  });

  it('MarathonClient.lines stops quietly when its signal aborts', async () => {
    const m = new MarathonClient({ baseUrl: api.url, credentials: api.operator });
    const stop = new AbortController();
    const got: string[] = [];
    for await (const l of m.lines('/paasbox/v1/apps/team/web/logs', { signal: stop.signal })) {
      got.push(l);
      stop.abort();
    }
    expect(got).to.have.length(1);
  });

  it("deploy's scheduler: the apps API gets the app as written with allow=…; real Marathon gets the bounds", async () => {
    const app = {
      id: '/team/x',
      instances: 1,
      container: { type: 'DOCKER' as const, docker: { image: 'x:1' } },
    };
    const select = (services: string[]) =>
      selectScheduler({
        choice: 'auto',
        stack: { services },
        marathonUrl: api.url,
        login: operator(),
        policy: { allow: { logDrivers: true } },
      });
    await (await select(['consul', 'apps-api'])).deploy(app);
    const post = api.requests.find((q) => q.method === 'POST')!;
    expect(post).to.deep.include({ url: '/v2/apps?allow=log-drivers', body: app });
    expect(api.apps.services_.has('/team/x')).to.equal(true);
    expect((await api.asOperator('DELETE', '/v2/apps/team/x')).status).to.equal(200);
    // What real Marathon gets: the bounds added by the client, which the apps API (no Marathon) refuses.
    const refused = await caught((await select(['consul', 'marathon'])).deploy(app));
    const real = api.requests.filter((q) => q.method === 'POST').at(-1)!;
    expect(real.url).to.equal('/v2/apps');
    expect(real.body).to.deep.include({ constraints: [['hostname', 'GROUP_BY']] });
    expect(refused.problem).to.match(
      /^Marathon rejected app \/team\/x: Object is not valid: container\.docker\.parameters\[0\]\.key: /,
    );
    expect(api.apps.services_.has('/team/x')).to.equal(false);
    const t = await team();
    const teamScheduler = await selectScheduler({
      choice: 'auto',
      stack: { services: ['apps-api'] },
      marathonUrl: api.url,
      login: asTeam(t),
    });
    await teamScheduler.scale('/team/web', 1);
    expect(api.requests.at(-1)).to.deep.include({ method: 'PUT', authorization: `Bearer ${t}` });
    expect(api.apps.services_.get('/team/web')!.wanted).to.equal(1);
  });

  describe('the paasbox CLI (bin/paasbox.mjs, a child process)', () => {
    let state: string;
    before(() => {
      state = mkdtempSync(join(tmpdir(), 'pb-app-cli-'));
    });
    after(() => rmSync(state, { recursive: true, force: true }));

    const cli = (args: string[], env: Record<string, string> = {}, stdin?: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const p = spawn(process.execPath, [repoPath('bin', 'paasbox.mjs'), ...args], {
          cwd: state,
          env: { PATH: process.env['PATH'] ?? '', PAASBOX_STATE_DIR: join(state, '.paasbox'), ...env },
        });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        p.stdin.end(stdin ?? '');
        p.on('close', (code) => resolve({ code, stdout, stderr }));
      });

    it('apps --json and the table, as a team (token from a file); the token is never printed', async () => {
      const t = await team();
      const file = join(state, 'team.token');
      writeFileSync(file, t + '\n', { mode: 0o600 });
      const j = await cli(['apps', '--api', api.url, '--token', `@${file}`, '--json']);
      expect(j.code, j.stderr).to.equal(0);
      const doc = JSON.parse(j.stdout) as { api: string; apps: { id: string; urls: string[] }[] };
      expect(doc.apps.map((a) => [a.id, a.urls])).to.deep.equal([
        ['/team/web', ['http://team-web.service.consul']],
      ]);
      const tb = await cli(['apps'], { PAASBOX_API: api.url, PAASBOX_TOKEN: t });
      expect(tb.code, tb.stderr).to.equal(0);
      expect(tb.stdout).to.match(
        /^ID +INSTANCES +HEALTH +URLS +IMAGE +HOSTS +VERSION\n\/team\/web +2\/2 +healthy /,
      );
      for (const r of [j, tb]) expect(r.stdout + r.stderr).to.not.include(t);
    });

    it('scale shows its steps and a summary; an API refusal is one line and exit 2', async () => {
      const t = await team();
      const env = { PAASBOX_TOKEN: t };
      const s = await cli(['scale', '/team/web', '4', '--api', api.url], env);
      expect(s.code, s.stderr).to.equal(0);
      expect(s.stderr).to.match(/scale \/team\/web to 4: changed/);
      expect(s.stderr).to.include(`wait for deployment ${api.apps.deploymentOf('/team/web')}: ok`);
      expect(s.stdout).to.match(/^\nSummary \(.*\): ok=1 changed=1 failed=0 skipped=0/);
      expect(api.apps.services_.get('/team/web')!.wanted).to.equal(4);
      const no = await cli(['destroy', '/other/db', '--api', api.url], env);
      expect(no.code).to.equal(2);
      expect(no.stderr, no.stderr).to.match(
        /\npaasbox: the apps API at http:\/\/127\.0\.0\.1:\d+ refused app \/other\/db: HTTP 403 team team may not act on app \/other\/db: its token covers \/team\/\*\n {2}fix: [^\n]+\n$/,
      );
      expect(no.stdout + no.stderr).to.not.include(t);
      expect(api.apps.services_.has('/other/db')).to.equal(true);
    });

    it('deploy - reads stdin and goes over the API (no SSH) with --api; waits by default', async () => {
      const app = JSON.stringify({
        id: '/team/new',
        instances: 1,
        container: { type: 'DOCKER', docker: { image: 'team/new:1' } },
      });
      const t = await team();
      const d = await cli(['deploy', '-', '--api', api.url, '--token', t, '--json'], {}, app);
      expect(d.code, d.stderr).to.equal(0);
      const doc = JSON.parse(d.stdout) as { app: string; created: boolean; summary: { failed: number } };
      expect(doc).to.deep.include({ app: '/team/new', created: true });
      expect(sent()).to.include.members(['POST /v2/apps', 'GET /v2/deployments']);
      expect(api.requests.find((q) => q.method === 'POST' && q.url === '/v2/apps')!.body).to.deep.equal(
        JSON.parse(app),
      );
      expect(api.apps.services_.get('/team/new')!.image).to.equal('team/new:1');
    });

    it('token create prints the token alone on stdout; list renders a table', async () => {
      const creds = join(state, '.paasbox', 'secrets', 'default', SECRET_FILES.marathonCredentials);
      mkdirSync(join(creds, '..'), { recursive: true });
      writeFileSync(creds, `${api.operator.user}:${api.operator.password}\n`, { mode: 0o600 });
      const c = await cli(['token', 'create', 'team', '--apps', '/team/*', '--api', api.url]);
      expect(c.code, c.stderr).to.equal(0);
      expect(c.stdout).to.match(/^pbx_[A-Za-z0-9_-]{40}\n$/);
      const made = /made token (\S+) for team team \(apps \/team\/\*\); it is shown this once/.exec(c.stderr);
      expect(made, c.stderr).to.not.equal(null);
      const listed = (await api.asOperator('GET', '/paasbox/v1/tokens')).body as {
        tokens: { id: string; createdAt: string }[];
      };
      expect(listed.tokens.map((x) => x.id)).to.deep.equal([made![1]]);
      const rows = await listAppRows(clients(asTeam(c.stdout.trim())).marathon, 'consul');
      expect(rows.map((r) => r.id)).to.deep.equal(['/team/web']);
      const l = await cli(['token', 'list', '--api', api.url]);
      expect(l.code, l.stderr).to.equal(0);
      expect(l.stdout).to.match(
        new RegExp(`^TEAM +APPS +ID +CREATED\\nteam +/team/\\* +${made![1]} +${listed.tokens[0]!.createdAt}`),
      );
    });
  });
});
