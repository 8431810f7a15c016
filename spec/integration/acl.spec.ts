// The hardened stack, attacked for real: Consul with ACLs (default deny,
// gossip encryption), HAProxy's stats login, hostile registrations, an open
// resolver probe from another network, and data across down/up. The stack
// (ZooKeeper, consul, registrator, haproxy, dns; Mesos and Marathon left out
// by a settings file) is installed by
// provisionTarget from the images built here onto a docker-in-docker test
// host, then probed from inside it as an anonymous client would: writes and
// an agent leave refused, DNS and the catalog still answering, the
// registrator registering with its own token, stats behind the login, and no
// secret in the compose file or a container's environment.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { poll } from '../../src/poll.js';
import { Progress } from '../../src/progress.js';
import { provisionTarget } from '../../src/provision/provision.js';
import {
  parseSecretFiles,
  SECRET_DIRS,
  SECRET_FILES,
  SECRET_NAMES,
  SECRETS_DIR,
  secretFiles,
  type StackSecrets,
} from '../../src/secrets/secrets.js';
import { localSecretsDir, readLocalSecretFiles } from '../../src/secrets/store.js';
import { COMPOSE_PATH } from '../../src/stackfile/deployment.js';
import { loadStackModel } from '../../src/model/load.js';
import { SshTarget } from '../../src/target/ssh.js';
import { httpRequest, probeTools, type HttpOptions, type Tools } from '../../src/system/http.js';
import { dnsLookup } from '../../src/system/dns.js';
import { runVerify } from '../../src/verify/run.js';
import { settingsForTarget } from '../../src/stackfile/deployed-settings.js';
import { isCI } from '../helpers/ci.js';
import { fetchOnce } from '../helpers/http.js';
import { ensureStackImages } from '../helpers/images.js';
import { createTestHosts, hostExec, type TestHosts } from '../helpers/testhosts.js';

// The install keeps its secrets here, never in the user's .paasbox/.
process.env['PAASBOX_STATE_DIR'] ??= mkdtempSync(join(tmpdir(), 'paasbox-state-'));

const run = promisify(execFile);
const model = loadStackModel();
/** What to look at when a wait in this spec times out. */
const fix =
  'look at the pbacl test host while the spec runs: docker ps --filter name=pbacl, then docker exec NAME docker ps -a';

describe('Consul ACLs and the HAProxy stats login on an installed stack (integration)', function () {
  this.timeout(1_800_000);
  let th: TestHosts | undefined;
  let target: SshTarget;
  let tools: Tools;
  let ip: string;
  let secrets: StackSecrets;
  let configPath: string;
  const quiet = () => new Progress({ json: true });

  /** An HTTP request from inside the host; `as` names a secret file there to authenticate with. */
  const consul = (
    method: NonNullable<HttpOptions['method']>,
    path: string,
    opts: { body?: string; as?: string } = {},
  ) =>
    httpRequest(target, tools, ip, 8500, path, {
      method,
      ...(opts.body !== undefined ? { body: opts.body } : {}),
      ...(opts.as ? { secret: { name: 'X-Consul-Token', file: `${SECRETS_DIR}/${opts.as}` } } : {}),
    });

  before(async function () {
    if (
      !(await run('docker', ['info']).then(
        () => true,
        () => false,
      ))
    ) {
      // .ci/run provides docker: there its absence is a failure, never a skip.
      if (isCI()) throw new Error('no usable docker daemon, and CI=true: this spec must run');
      console.log('    skipped: no usable docker daemon on this machine for the dind test host');
      this.skip();
    }
    // Built (or found up to date) by the real builder; a build failure fails the spec.
    await ensureStackImages(['zookeeper', 'apps-api', 'registry', 'consul', 'registrator', 'haproxy', 'dns']);
    const dir = mkdtempSync(join(tmpdir(), 'pbacl-'));
    configPath = join(dir, 'paasbox.yaml');
    writeFileSync(
      configPath,
      'services:\n  mesos-master: { enabled: false }\n  mesos-slave: { enabled: false }\n  marathon: { enabled: false }\n',
    );
    th = await createTestHosts(1, { prefix: 'pbacl', withDocker: true });
    const h = th.hosts[0]!;
    ip = h.address;
    target = new SshTarget({
      host: h.address,
      user: h.user,
      keyPath: h.keyPath,
      knownHostsPath: th.knownHostsPath,
    });
    const out = await provisionTarget(target, {
      flags: { imageSource: 'local' },
      env: {},
      configPath,
      progress: quiet(),
      healthTimeoutS: 300,
    });
    const steps = Object.fromEntries(out.steps.map((s) => [s.step, s.status]));
    expect(steps).to.deep.include({
      [`secrets ${SECRETS_DIR}`]: 'changed',
      'consul ACLs (default deny)': 'changed',
    });
    expect(Object.keys(out.plan!.compose.services)).to.deep.equal([
      'zookeeper',
      'apps-api',
      'acme',
      'registry',
      'consul',
      'registrator',
      'haproxy',
      'dns',
    ]);
    secrets = parseSecretFiles(readLocalSecretFiles(localSecretsDir('default'))) as StackSecrets;
    expect(Object.keys(secrets)).to.have.length(SECRET_NAMES.length);
    tools = await probeTools(target);
  });
  after(async () => {
    await target?.close();
    await th?.destroy();
  });

  it('a second install is all ok and keeps the secrets', async () => {
    const out = await provisionTarget(target, {
      flags: { imageSource: 'local' },
      env: {},
      configPath,
      progress: quiet(),
      healthTimeoutS: 120,
    });
    const notOk = out.steps.filter((s) => s.status !== 'ok');
    expect(notOk, JSON.stringify(notOk)).to.deep.equal([]);
    expect(parseSecretFiles(readLocalSecretFiles(localSecretsDir('default')))).to.deep.equal(secrets);
  });

  it('keeps the secrets root-owned, 0600 in 0700 directories, and out of the compose file and every container environment', async () => {
    // One host: a server's files (no TLS, no agent token file).
    const files = Object.keys(secretFiles(secrets));
    const modes = await hostExec(
      th!.hosts[0]!,
      `cd ${SECRETS_DIR} && stat -c '%n %a %U' . ${SECRET_DIRS.join(' ')} ${files.join(' ')}`,
    );
    const lines = modes.trim().split('\n');
    expect(
      lines.slice(0, 1 + SECRET_DIRS.length).every((l) => l.endsWith(' 700 root')),
      modes,
    ).to.equal(true);
    expect(
      lines.slice(1 + SECRET_DIRS.length).every((l) => l.endsWith(' 600 root')),
      modes,
    ).to.equal(true);
    const compose = (await target.exec(`cat ${COMPOSE_PATH}`, { sudo: true })).stdout;
    expect(compose).to.include(`${SECRETS_DIR}/consul:/consul/secrets:ro`);
    const envs = (
      await target.exec("docker inspect -f '{{.Name}} {{json .Config.Env}} {{json .Args}}' $(docker ps -q)", {
        sudo: true,
      })
    ).stdout;
    expect(envs).to.match(/registrator.*CONSUL_HTTP_TOKEN_FILE=\/run\/secrets\/paasbox\/consul-token/);
    for (const n of SECRET_NAMES) {
      expect(compose, `${n} in ${COMPOSE_PATH}`).to.not.include(secrets[n]);
      expect(envs, `${n} in a container's environment or arguments`).to.not.include(secrets[n]);
    }
  });

  it('refuses an anonymous K/V write, service registration and agent leave (403)', async () => {
    const kv = await consul('PUT', '/v1/kv/pbacl-anonymous', { body: 'x' });
    // Consul 1.16 says which permission the token lacks after the words 1.8 said alone.
    expect(kv.status, kv.body).to.equal(403);
    expect(kv.body.trim()).to.match(/^Permission denied\b/);
    const reg = await consul('PUT', '/v1/agent/service/register', {
      body: JSON.stringify({ ID: 'pbacl-evil', Name: 'pbacl-evil', Port: 9 }),
    });
    expect(reg.status, reg.body).to.equal(403);
    const leave = await consul('PUT', '/v1/agent/leave');
    expect(leave.status, leave.body).to.equal(403);
    // Still a member, still the leader.
    expect((await consul('GET', '/v1/status/leader')).body).to.include(':8300');
    // consul-template's token reads, it cannot write.
    expect(
      (await consul('PUT', '/v1/kv/pbacl-ct', { body: 'x', as: SECRET_FILES.consulTemplateToken })).status,
    ).to.equal(403);
  });

  it('registers a service with the registrator token, and the registrator registers a container with its own', async () => {
    const reg = await consul('PUT', '/v1/agent/service/register', {
      body: JSON.stringify({ ID: 'pbacl-probe', Name: 'pbacl-probe', Port: 81, Address: ip }),
      as: SECRET_FILES.registratorToken,
    });
    expect(reg.status, reg.body).to.equal(200);
    // The registrator's token cannot take Consul's own name.
    const hijack = await consul('PUT', '/v1/agent/service/register', {
      body: JSON.stringify({ ID: 'pbacl-consul', Name: 'consul', Port: 1 }),
      as: SECRET_FILES.registratorToken,
    });
    expect(hijack.status, hijack.body).to.equal(403);
    await hostExec(
      th!.hosts[0]!,
      'docker run -d --name pbacl-web -p 18080:8080 -e SERVICE_NAME=pbacl-web --entrypoint sleep paasbox/dnsmasq:local infinity',
    );
    // Read anonymously: the anonymous policy lets the catalog be read.
    const services = async () =>
      Object.keys(JSON.parse((await consul('GET', '/v1/catalog/services')).body) as Record<string, unknown>);
    let names = await poll(
      { what: 'pbacl-web in the catalog', timeoutMs: 60_000, everyMs: 1000, fix },
      async () => {
        const n = await services();
        return n.includes('pbacl-web') ? n : undefined;
      },
    );
    expect(names).to.include.members(['consul', 'pbacl-probe', 'pbacl-web']);
    // It serves nothing (verify below would rightly fail it): gone, and deregistered with the same token.
    await hostExec(th!.hosts[0]!, 'docker rm -f pbacl-web');
    names = await poll(
      { what: 'pbacl-web out of the catalog', timeoutMs: 30_000, everyMs: 1000, fix },
      async () => {
        const n = await services();
        return n.includes('pbacl-web') ? undefined : n;
      },
    );
    expect(names).to.not.include('pbacl-web');
    // Registrator and HAProxy waited for their tokens instead of crash-looping.
    const restarts = (
      await target.exec(
        "docker inspect -f '{{.Name}} {{.RestartCount}}' $(docker ps -q --filter label=com.docker.compose.project=paasbox)",
        { sudo: true },
      )
    ).stdout;
    expect(
      restarts
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[1]),
    ).to.deep.equal(['0', '0', '0', '0', '0', '0', '0', '0']);
  });

  it('answers DNS for consul.service.consul on 53 and 8600, and gossips encrypted', async () => {
    for (const port of [53, 8600]) {
      const a = await dnsLookup(target, ip, port, 'consul.service.consul', 'A');
      expect(a.rcode, `port ${port}`).to.equal('NOERROR');
      expect(a.a, `port ${port}`).to.deep.equal([ip]);
    }
    const self = JSON.parse(
      (await consul('GET', '/v1/agent/self', { as: SECRET_FILES.managementToken })).body,
    ) as { Stats: { serf_lan: { encrypted: string } } };
    expect(self.Stats.serf_lan.encrypted).to.equal('true');
  });

  it('serves HAProxy stats only with the login: 401 without, 200 with it (from the host and from outside)', async () => {
    const anonymous = await httpRequest(target, tools, ip, 81, '/haproxyStats');
    expect(anonymous.status).to.equal(401);
    const login = await httpRequest(target, tools, ip, 81, '/haproxyStats', {
      secret: { name: 'Authorization', file: `${SECRETS_DIR}/${SECRET_FILES.statsAuth}`, basic: true },
    });
    expect(login.status).to.equal(200);
    expect(login.body).to.include('Statistics Report');
    const outside = (auth?: string) =>
      fetchOnce(`http://${ip}:81/`, {
        headers: auth ? { Authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {},
        signal: AbortSignal.timeout(5000),
      });
    expect((await outside()).status).to.equal(401);
    expect((await outside(`admin:${secrets.statsPassword}x`)).status).to.equal(401);
    expect(
      (await outside(readFileSync(join(localSecretsDir('default'), SECRET_FILES.statsAuth), 'utf8').trim()))
        .status,
    ).to.equal(200);
  });

  it('renders no line from hostile registrations made with the registrator token, and keeps routing the rest by name', async () => {
    const as = SECRET_FILES.registratorToken;
    const evil = [
      {
        ID: 'pbevil-path',
        Name: 'pbevil',
        Address: ip,
        Port: 8500,
        Tags: ['http', 'path=/x\n    use_backend svc_pbevil if TRUE'],
      },
      { ID: 'pbevil-space', Name: 'my service', Address: ip, Port: 8500, Tags: ['http'] },
      {
        ID: 'pbevil-return',
        Name: 'pbevil2',
        Address: ip,
        Port: 8500,
        Tags: [
          'http',
          'path=/\nhttp-request return status 200 content-type text/plain string hijacked if TRUE',
        ],
      },
    ];
    // Consul itself takes these (the registrator would refuse them): the template is the last door.
    for (const e of evil) {
      const r = await consul('PUT', '/v1/agent/service/register', { body: JSON.stringify(e), as });
      expect(r.status, `${e.ID}: ${r.body}`).to.equal(200);
    }
    // In the catalog, tags and all, before HAProxy's config is read:
    // otherwise "not rendered" would prove nothing.
    const inCatalog = await poll(
      { what: 'the hostile registrations in the catalog', timeoutMs: 30_000, everyMs: 500, fix },
      async () => {
        const r = await consul('GET', '/v1/catalog/services');
        const services = JSON.parse(r.body) as Record<string, string[]>;
        return evil.every((e) => e.Tags.every((t) => services[e.Name]?.includes(t))) ? services : undefined;
      },
    );
    expect(Object.keys(inCatalog)).to.include.members(evil.map((e) => e.Name));
    // A real backend for the good one, registered after them:
    // once it routes, a render has seen the hostile ones too.
    expect(
      (
        await consul('PUT', '/v1/agent/service/register', {
          body: JSON.stringify({ ID: 'pbgood', Name: 'pbgood', Address: ip, Port: 8500, Tags: ['http'] }),
          as,
        })
      ).status,
    ).to.equal(200);
    const get = (name: string) =>
      httpRequest(target, tools, ip, 80, '/v1/status/leader', { host: `${name}.service.consul` });
    const good = await poll(
      { what: 'pbgood routed by name', timeoutMs: 30_000, everyMs: 500, fix },
      async () => {
        const r = await get('pbgood');
        return r.status === 200 ? r : undefined;
      },
    );
    expect(good.body).to.include(':8300');
    const cfg = (
      await target.exec(
        'docker exec $(docker ps -q --filter label=com.docker.compose.service=haproxy) cat /etc/haproxy/haproxy.cfg',
        { sudo: true },
      )
    ).stdout;
    expect(cfg).to.include('pbgood');
    expect(cfg).to.not.match(/use_backend svc_pbevil if TRUE|hijacked|my service/);
    // An unknown name still gets HAProxy's 404, not a hijacked answer.
    const other = await get('nosuchapp');
    expect(other.status).to.equal(404);
    expect(other.body).to.not.include('hijacked');
    for (const id of ['pbgood', ...evil.map((e) => e.ID)])
      await consul('PUT', `/v1/agent/service/deregister/${id}`, { as: SECRET_FILES.managementToken });
  });

  it('is no open resolver: from a namespace on another subnet, names outside .consul are REFUSED, .consul answers', async () => {
    const h = th!.hosts[0]!;
    await hostExec(
      h,
      [
        'ip netns add pbdns',
        'ip link add pbdns0 type veth peer name pbdns1',
        'ip link set pbdns1 netns pbdns',
        'ip addr add 198.51.100.1/24 dev pbdns0 && ip link set pbdns0 up',
        'ip netns exec pbdns sh -c "ip addr add 198.51.100.2/24 dev pbdns1 && ip link set pbdns1 up && ip link set lo up && ip route add default via 198.51.100.1"',
      ].join(' && '),
    );
    try {
      const dig = (name: string) =>
        hostExec(h, `ip netns exec pbdns dig +time=2 +tries=1 @${ip} ${name} A`).catch(
          (e: Error) => e.message,
        );
      const outside = await dig('example.org');
      expect(outside).to.match(/status: REFUSED/);
      expect(outside).to.not.match(/ANSWER: [1-9]/);
      const inside = await dig('consul.service.consul');
      expect(inside).to.match(/status: NOERROR/);
      expect(inside).to.include(ip);
    } finally {
      await hostExec(h, 'ip netns del pbdns; ip link del pbdns0 2>/dev/null; true');
    }
  });

  it('keeps a ZooKeeper znode and a Consul K/V key across stack down and up', async () => {
    const zk = (cmd: string) =>
      target.exec(
        `docker exec $(docker ps -q --filter label=com.docker.compose.service=zookeeper) zkCli.sh -server ${ip}:2181 ${cmd}`,
        { sudo: true, timeoutMs: 60_000 },
      );
    const created = await zk('create /pbkeep kept');
    expect(created.stdout + created.stderr).to.match(/Created \/pbkeep|already exists/);
    expect(
      (await consul('PUT', '/v1/kv/pbkeep', { body: 'kept', as: SECRET_FILES.managementToken })).status,
    ).to.equal(200);
    const { StackControl } = await import('../../src/compose/index.js');
    const ctl = new StackControl(target, COMPOSE_PATH, 'paasbox');
    await ctl.down();
    await ctl.up();
    await ctl.waitHealthy(300_000);
    const got = await zk('get /pbkeep');
    expect(got.stdout).to.match(/^kept$/m);
    const kv = await poll(
      { what: 'the K/V key after down and up', timeoutMs: 30_000, everyMs: 1000, fix },
      async () => {
        const r = await consul('GET', '/v1/kv/pbkeep?raw', { as: SECRET_FILES.managementToken });
        return r.status === 200 ? r : undefined;
      },
    );
    expect([kv.status, kv.body]).to.deep.equal([200, 'kept']);
  });

  it('verify passes, its ACL and login checks included', async () => {
    const { settings } = await settingsForTarget(target, model, { configPath, env: {} });
    const r = await runVerify(target, model, settings, {});
    const failed = r.results.filter((x) => x.status === 'failed');
    expect(failed, JSON.stringify(failed, null, 1)).to.deep.equal([]);
    const passed = new Set(r.results.filter((x) => x.status === 'passed').map((x) => x.id));
    for (const id of [
      'consul/http/consul-acl:kv-write',
      'consul/http/consul-acl:service-register',
      'consul/http/consul-acl:catalog-read',
      'haproxy/stats/http:/haproxyStats',
      'haproxy/stats/http:/',
    ])
      expect(passed.has(id), id).to.equal(true);
  });
});
