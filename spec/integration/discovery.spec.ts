// The discovery chain for real: Consul + paasbox Registrator + HAProxy with
// consul-template + dnsmasq, installed by provisionTarget from the generated
// compose file (its ACLs, stats login, labels and healthchecks, as a user gets
// them; ZooKeeper, Mesos and Marathon disabled by a settings file) on a
// disposable docker-in-docker host (its own network namespace, so ports
// 53/80/81/8500/8600 never touch this machine), with
// examples/SimpleWebappPython's start.sh running python1 and python2 x2.
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { benchDiscovery } from '../../src/bench/discovery.js';
import { getWithHost } from '../../src/bench/http.js';
import { DISCOVERY } from '../../src/bench/orchestration.js';
import { parseDockerPort } from '../../src/bench/routing.js';
import { ConsulClient, type AgentServiceRegistration } from '../../src/consul/client.js';
import { findStackContainer } from '../../src/docker/compose.js';
import { loadStackModel } from '../../src/model/load.js';
import { Progress } from '../../src/progress.js';
import { provisionTarget } from '../../src/provision/provision.js';
import { SECRET_FILES } from '../../src/secrets/secrets.js';
import { localSecretsDir } from '../../src/secrets/store.js';
import type { Settings } from '../../src/settings/settings.js';
import { settingsForTarget } from '../../src/stackfile/deployed-settings.js';
import { shq } from '../../src/target/shell.js';
import type { Forward } from '../../src/target/target.js';
import { SshTarget } from '../../src/target/ssh.js';
import { isCI } from '../helpers/ci.js';
import { ensureExampleImage, ensureStackImages } from '../helpers/images.js';
import { parseDigSrv, tally } from '../helpers/routing.js';
import { createTestHosts, type TestHost, type TestHosts } from '../helpers/testhosts.js';
import { sleep, until } from '../helpers/until.js';

// The install below keeps its secrets here, never in the user's .paasbox/.
process.env['PAASBOX_STATE_DIR'] ??= mkdtempSync(join(tmpdir(), 'paasbox-state-'));

const run = promisify(execFile);
const root = new URL('../../../', import.meta.url).pathname;
/** A secret install wrote for the default instance, from its 0600 files on this machine. */
const secret = (file: string) => readFileSync(join(localSecretsDir('default'), file), 'utf8').trim();

async function loadInto(host: TestHost, refs: string[]): Promise<void> {
  // One retry: a save|load pipe of ~300 MB has failed once on a loaded machine.
  await loadOnce(host, refs).catch(async (e: Error) => {
    console.log(`      retrying image load: ${e.message}`);
    await loadOnce(host, refs);
  });
}

function loadOnce(host: TestHost, refs: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      'bash',
      ['-o', 'pipefail', '-c', `docker save ${refs.join(' ')} | docker exec -i ${host.name} docker load`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', (c, sig) =>
      c === 0
        ? resolve()
        : reject(
            new Error(
              `docker save | docker load into ${host.name} failed (exit ${c} ${sig ?? ''}): ${out.slice(-2000)}`,
            ),
          ),
    );
  });
}

describe('discovery chain: registrator, consul, haproxy, dnsmasq (integration)', function () {
  this.timeout(1_200_000);
  let th: TestHosts | undefined;
  let host: TestHost;
  let t: SshTarget;
  let http: Forward;
  let consulFwd: Forward;
  /** Consul's API from here, with the registrator's token (ACLs are default deny). */
  let api: ConsulClient;
  let settings: Settings;
  let appImage: string;
  /** The stack's containers, found by their compose labels. */
  const names = { haproxy: '', registrator: '' };
  /** HAProxy's stats login (user:password), from the stack's secrets. */
  let statsLogin = '';
  const apps: Record<string, { instance: string; port: number; service: string }> = {};

  const sh = async (cmd: string) => {
    const r = await t.exec(cmd, { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`${cmd}: exit ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const consul = (path: string) => sh(`curl -fsS http://${host.address}:8500${path}`);
  const srv = async (name: string, port: number) =>
    parseDigSrv(await sh(`dig +short +time=2 @127.0.0.1 -p ${port} ${name} SRV`));
  const get = (hostHeader: string, path = '/') => getWithHost(http.localPort, hostHeader, path);
  /** HAProxy's stats page on 81 (with the login when given): its status and body. */
  const stats = async (path: string, login?: string) => {
    const user = login ? `-u ${shq(login)} ` : '';
    const out = await sh(`curl -sS ${user}-w '\\n%{http_code}' http://127.0.0.1:81${path}`);
    const i = out.lastIndexOf('\n');
    return { status: Number(out.slice(i + 1)), body: out.slice(0, i) };
  };
  const servers = async (backend: string) => {
    const cfg = await sh(
      `docker exec ${names.haproxy} sed -n '/^backend ${backend}$/,/^$/p' /etc/haproxy/haproxy.cfg`,
    );
    return cfg.split('\n').filter((l) => /^\s+server /.test(l)).length;
  };
  const registerRaw = (def: AgentServiceRegistration) => api.agentServiceRegister(def);
  const deregister = (id: string) => api.agentServiceDeregister(id);

  before(async function () {
    if (
      !(await run('docker', ['info']).then(
        () => true,
        () => false,
      ))
    ) {
      if (isCI()) throw new Error('no usable docker daemon, and CI=true: this spec must run');
      console.log('    skipped: no usable docker daemon on this machine for the dind test host');
      this.skip();
    }
    // The stack's images come from the real builder (incremental, so quick when
    // up to date), the app from the example's build script: never a stale image.
    await ensureStackImages([...DISCOVERY]);
    appImage = await ensureExampleImage();
    const model = loadStackModel();
    const core: readonly string[] = DISCOVERY;
    const off = Object.keys(model.services).filter((x) => !model.services[x]!.optional && !core.includes(x));
    const configPath = join(mkdtempSync(join(tmpdir(), 'pbh5-disc-')), 'paasbox.yaml');
    writeFileSync(configPath, `services:\n${off.map((x) => `  ${x}: { enabled: false }`).join('\n')}\n`);
    th = await createTestHosts(1, { prefix: 'pbh5-disc', withDocker: true });
    host = th.hosts[0]!;
    t = new SshTarget({
      host: host.address,
      user: host.user,
      keyPath: host.keyPath,
      knownHostsPath: th.knownHostsPath,
    });
    const progress = new Progress({ json: true });
    const out = await provisionTarget(t, { flags: { imageSource: 'local' }, env: {}, configPath, progress });
    expect(Object.keys(out.plan!.compose.services).sort()).to.deep.equal([...DISCOVERY].sort());
    ({ settings } = await settingsForTarget(t, loadStackModel(), { configPath, env: {} }));
    expect(settings.ip).to.equal(host.address);
    for (const s of ['haproxy', 'registrator'] as const) {
      const c = await findStackContainer(t, settings.projectName, s);
      if (!c) throw new Error(`no running ${s} container of project ${settings.projectName} on ${host.name}`);
      names[s] = c.name;
    }
    statsLogin = secret(SECRET_FILES.statsAuth);
    await loadInto(host, [appImage]);

    consulFwd = await t.forward(host.address, 8500);
    const token = secret(SECRET_FILES.registratorToken);
    api = new ConsulClient({ baseUrl: `http://127.0.0.1:${consulFwd.localPort}`, token });
    await api.waitForLeader();
    await until('haproxy stats on 81', async () =>
      (await stats('/', statsLogin)).body.includes('Statistics Report') ? true : undefined,
    );
    http = await t.forward('127.0.0.1', 80);

    // The example's own start script, as a user runs it.
    await t.writeFile('/tmp/start.sh', await readFile(join(root, 'examples/SimpleWebappPython/start.sh')));
    await sh(`IMAGE=${appImage} PREFIX=pbh5app sh /tmp/start.sh`);
    for (const service of ['python1', 'python2']) {
      for (const i of [1, 2]) {
        const c = `pbh5app-${service}-${i}`;
        const id = (await sh(`docker inspect -f '{{.Id}}' ${c}`)).trim();
        apps[c] = {
          instance: id.slice(0, 12),
          port: parseDockerPort(await sh(`docker port ${c} 8080/tcp`)) ?? 0,
          service,
        };
      }
    }
    await until(
      'both python1 instances routed',
      async () => {
        const seen = new Set<string | undefined>();
        for (let i = 0; i < 6; i++) seen.add((await get('python1.service.consul')).instance);
        return seen.size === 2 ? true : undefined;
      },
      90_000,
      500,
    );
  });

  after(async function () {
    if (host && this.currentTest?.state === 'failed') {
      for (const c of Object.values(names).filter(Boolean)) {
        console.log(
          await t.exec(`docker logs --tail 30 ${c} 2>&1`).then(
            (r) => r.stdout,
            () => '',
          ),
        );
      }
    }
    await http?.close();
    await consulFwd?.close();
    await t?.close();
    await th?.destroy();
  });

  const instancesOf = (service: string) => Object.values(apps).filter((a) => a.service === service);

  it("registers each published port with Registrator's contract, and no host-networked stack service", async () => {
    const cat = JSON.parse(await consul('/v1/catalog/service/python1')) as {
      ServiceID: string;
      ServiceAddress: string;
      ServicePort: number;
      ServiceTags: string[];
    }[];
    const ids = [1, 2].map((i) => `${settings.hostname}:pbh5app-python1-${i}:8080`);
    expect(cat.map((s) => s.ServiceID).sort()).to.deep.equal(ids);
    expect(cat.map((s) => s.ServicePort).sort()).to.deep.equal(
      instancesOf('python1')
        .map((a) => a.port)
        .sort(),
    );
    for (const s of cat) {
      expect(s.ServiceAddress).to.equal(host.address);
      expect(s.ServiceTags).to.deep.equal(['http']);
    }
    const services = Object.keys(
      JSON.parse(await consul('/v1/catalog/services')) as Record<string, string[]>,
    ).sort();
    expect(services).to.deep.equal(['consul', 'python1', 'python2']);
  });

  it('routes python1.service.consul round-robin across both python1 instances and never to python2', async () => {
    const answers = [];
    for (let i = 0; i < 20; i++) answers.push(await get('python1.service.consul'));
    expect(answers.every((a) => a.status === 200 && a.body.startsWith('Hello from python1'))).to.equal(true);
    const t1 = tally(answers.map((a) => a.instance));
    expect(Object.keys(t1).sort()).to.deep.equal(
      instancesOf('python1')
        .map((a) => a.instance)
        .sort(),
    );
    // Round-robin gives 10/10 unless a reload (a new worker restarts the rotation) lands mid-loop.
    expect(
      Object.values(t1).every((n) => n >= 5),
      JSON.stringify(t1),
    ).to.equal(true);
    // The bare name and a Host with port route too; python2 is its own backend.
    expect((await get('python1')).body).to.match(/^Hello from python1/);
    expect((await get('python1.service.consul:80')).body).to.match(/^Hello from python1/);
    expect((await get('python2.service.consul')).body).to.match(/^Hello from python2/);
    const none = await get('nosuch.service.consul');
    expect(none.status).to.equal(404);
  });

  for (const port of [53, 8600]) {
    it(`answers python1.service.consul SRV on port ${port} with both Docker-mapped ports`, async () => {
      const recs = await srv('python1.service.consul', port);
      expect(recs.map((r) => r.port)).to.deep.equal(
        instancesOf('python1')
          .map((a) => a.port)
          .sort((a, b) => a - b),
      );
      expect((await sh(`dig +short @127.0.0.1 -p ${port} python1.service.consul A`)).trim()).to.equal(
        host.address,
      );
      expect(await sh(`dig @127.0.0.1 -p ${port} nosuch.service.consul A`)).to.match(/status: NXDOMAIN/);
    });
  }

  it("forwards names outside .consul upstream (here: Docker's embedded DNS of the test network)", async () => {
    // The test host's resolv.conf points at Docker's embedded DNS, which knows the host's own name.
    expect((await sh(`dig +short @127.0.0.1 -p 53 ${host.name} A`)).trim()).to.equal(host.address);
  });

  it('resolves NAME.service.consul from inside an app container whose resolver is the docker host', async () => {
    const py = "import socket; print(socket.gethostbyname('python1.service.consul'))";
    const out = await sh(`docker run --rm --dns ${host.address} ${appImage} python3 -c "${py}"`);
    expect(out.trim()).to.equal(host.address);
  });

  it('renders the template with consul-template -once -dry: extra domain, valid for haproxy -c', async () => {
    const out = await sh(
      `docker exec -e PAASBOX_DOMAIN_EXTRA=paas.example ${names.haproxy} sh -c 'consul-template -log-level=err -once -dry -template /etc/haproxy/haproxy.cfg.ctmpl:/tmp/dry.cfg > /tmp/dry.out && sed 1d /tmp/dry.out > /tmp/dry.cfg && haproxy -c -f /tmp/dry.cfg >&2 && cat /tmp/dry.cfg'`,
    );
    expect(out).to.match(
      /acl host_python1 var\(txn.host\) -m str python1.service.consul python1 python1.paas.example\n/,
    );
    for (const a of instancesOf('python2'))
      expect(out).to.include(`server ${host.address}:${a.port} ${host.address}:${a.port} check weight 1`);
  });

  it('serves HAProxy statistics on 81 at / and at /haproxyStats, only with the login', async () => {
    for (const p of ['/', '/haproxyStats']) {
      expect((await stats(p)).status, `${p} without the login`).to.equal(401);
      const r = await stats(p, statsLogin);
      expect(r.status, p).to.equal(200);
      expect(r.body).to.include('Statistics Report').and.to.include('svc_python1');
    }
  });

  it('logs a failed request, not every routed one (the container log stays small under load)', async () => {
    const since = (await sh('date +%s.%N')).trim();
    const logs = () => sh(`docker logs --since ${since} ${names.haproxy} 2>&1`);
    for (let i = 0; i < 30; i++) expect((await get('python1.service.consul')).status).to.equal(200);
    // A service with no passing instance: its backend is rendered empty, so HAProxy answers 503.
    await registerRaw({
      ID: 'pbh5down',
      Name: 'pbh5down',
      Address: host.address,
      Port: 1,
      Tags: ['http'],
      Check: { TTL: '60s' },
    });
    try {
      await until(
        '503 from the empty backend',
        async () => ((await get('pbh5down.service.consul')).status === 503 ? true : undefined),
        30_000,
        200,
      );
      await until(
        'the 503 in the log',
        async () => ((await logs()).includes('svc_pbh5down/<NOSRV>') ? true : undefined),
        10_000,
        200,
      );
      const lines = (await logs()).split('\n');
      expect(
        lines.filter((l) => /Connect from|svc_python1\//.test(l)),
        'a line per routed request',
      ).to.deep.equal([]);
      expect(lines.find((l) => l.includes('svc_pbh5down/<NOSRV>'))).to.match(/ 503 .*"GET \/ HTTP\/1\.1"/);
    } finally {
      await deregister('pbh5down');
    }
  });

  it('honours the tag contract: weight=N, tcp=PORT, path=/prefix', async () => {
    const [a, b] = instancesOf('python1');
    const [c] = instancesOf('python2');
    await registerRaw({
      ID: 'w-a',
      Name: 'weighted',
      Address: host.address,
      Port: a!.port,
      Tags: ['http', 'weight=1'],
    });
    await registerRaw({
      ID: 'w-b',
      Name: 'weighted',
      Address: host.address,
      Port: b!.port,
      Tags: ['http', 'weight=3'],
    });
    await registerRaw({
      ID: 'raw',
      Name: 'rawtcp',
      Address: host.address,
      Port: a!.port,
      Tags: ['tcp=10100'],
    });
    await registerRaw({
      ID: 'pfx',
      Name: 'prefixed',
      Address: host.address,
      Port: c!.port,
      Tags: ['http', 'path=/pfx'],
    });
    try {
      await until(
        'tagged services rendered',
        async () =>
          (await servers('svc_weighted')) === 2 && (await servers('svc_prefixed')) === 1 ? true : undefined,
        30_000,
        200,
      );
      await until(
        'tcp frontend on 10100',
        async () => ((await sh('curl -fsS http://127.0.0.1:10100/')).includes('python1') ? true : undefined),
        30_000,
        200,
      );
      const counts = tally(
        await Promise.all(
          Array.from({ length: 40 }, async () => (await get('weighted.service.consul')).instance),
        ),
      );
      // weight 3 vs 1 over 40 requests: 30/10 with HAProxy's smooth weighted round-robin.
      expect(counts[b!.instance] ?? 0, JSON.stringify(counts)).to.be.within(26, 34);
      expect((counts[a!.instance] ?? 0) + (counts[b!.instance] ?? 0), JSON.stringify(counts)).to.equal(40);
      expect((await get('rawtcp.service.consul')).status, 'a tcp= service is not HTTP-routed').to.equal(404);
      const viaPath = await get('anything.example', '/pfx/json');
      expect(viaPath.status).to.equal(200);
      expect(viaPath.instance).to.equal(c!.instance);
    } finally {
      for (const id of ['w-a', 'w-b', 'raw', 'pfx']) await deregister(id);
    }
  });

  it('never renders an out-of-contract tag (tcp=70000) and keeps routing', async () => {
    // broken first, then a valid marker: a render that holds the marker saw broken too.
    await registerRaw({ ID: 'broken', Name: 'broken', Address: host.address, Port: 1, Tags: ['tcp=70000'] });
    await registerRaw({ ID: 'pbmarker', Name: 'pbmarker', Address: host.address, Port: 1, Tags: ['http'] });
    try {
      const rendered = () => sh(`docker exec ${names.haproxy} cat /etc/haproxy/haproxy.cfg.new`);
      await until(
        'a render with the marker',
        async () => ((await rendered()).includes('pbmarker') ? true : undefined),
        30_000,
        200,
      );
      expect(await rendered()).not.to.include('70000');
      expect(await sh(`docker exec ${names.haproxy} cat /etc/haproxy/haproxy.cfg`)).not.to.include('70000');
      expect((await get('python1.service.consul')).status).to.equal(200);
    } finally {
      await deregister('broken');
      await deregister('pbmarker');
    }
  });

  it('drops a stopped instance from DNS (53, 8600) and HAProxy within seconds, with no failed request', async () => {
    const victim = 'pbh5app-python1-1';
    let stop = false;
    const results: { ok: boolean; detail: string }[] = [];
    const loop = (async () => {
      while (!stop) {
        const r = await get('python1.service.consul').catch((e: Error) => ({ status: 0, body: e.message }));
        results.push({ ok: r.status === 200, detail: `${r.status} ${r.body.trim()}` });
      }
    })();
    await sleep(1000);
    const t0 = Date.now();
    await sh(`docker stop ${victim}`);
    const dns53 = await until(
      '1 SRV record on 53',
      async () => ((await srv('python1.service.consul', 53)).length === 1 ? Date.now() - t0 : undefined),
      20_000,
    );
    const dns8600 = await until(
      '1 SRV record on 8600',
      async () => ((await srv('python1.service.consul', 8600)).length === 1 ? Date.now() - t0 : undefined),
      20_000,
    );
    const proxy = await until(
      '1 HAProxy server',
      async () => ((await servers('svc_python1')) === 1 ? Date.now() - t0 : undefined),
      20_000,
    );
    await sleep(1000);
    stop = true;
    await loop;
    console.log(
      `      gone after: dns53 ${dns53} ms, dns8600 ${dns8600} ms, haproxy ${proxy} ms; ${results.length} requests during the change`,
    );
    expect(results.filter((r) => !r.ok).map((r) => r.detail)).to.deep.equal([]);
    expect(results.length).to.be.greaterThan(20);
    expect(Math.max(dns53, dns8600, proxy)).to.be.lessThan(10_000);
    // Started again, it comes back under its new port.
    await sh(`docker start ${victim}`);
    apps[victim]!.port = parseDockerPort(await sh(`docker port ${victim} 8080/tcp`)) ?? 0;
    await until(
      '2 SRV records again',
      async () => ((await srv('python1.service.consul', 53)).length === 2 ? true : undefined),
      30_000,
      200,
    );
  });

  it('removes stale registrations of this host on (re)start, and leaves others alone', async () => {
    // Registered as the stack's Registrator registers (its hostname in the id and in Meta.registrator).
    const ghost = { ID: `${settings.hostname}:ghost:80`, Name: 'ghost', Address: host.address, Port: 1 };
    await registerRaw({ ...ghost, Meta: { registrator: settings.hostname } });
    await registerRaw({ ID: 'elsewhere:ghost:80', Name: 'ghost', Address: host.address, Port: 2 });
    try {
      await sh(`docker restart ${names.registrator}`);
      await until(
        'stale ghost removed',
        async () => {
          const ids = Object.keys(JSON.parse(await consul('/v1/agent/services')) as Record<string, unknown>);
          return ids.includes(`${settings.hostname}:ghost:80`) ? undefined : ids;
        },
        30_000,
        200,
      ).then((ids) => expect(ids).to.include('elsewhere:ghost:80'));
    } finally {
      await deregister('elsewhere:ghost:80');
    }
  });

  it('benchDiscovery measures time-to-route beside readiness and HAProxy vs direct throughput', async () => {
    const r = await benchDiscovery(t, {
      image: appImage,
      durationS: 3,
      connections: 8,
      reach: 'address',
      runs: 2,
    });
    const route = r.routes[1]!;
    console.log(
      `      ready ${Math.round(route.msToReady)} ms, routed ${Math.round(route.msToRoute)} ms; via haproxy ${Math.round(r.throughput.viaHaproxy.requestsPerSec)} req/s, direct ${Math.round(r.throughput.direct.requestsPerSec)} req/s, ratio ${r.throughput.ratio.toFixed(2)}`,
    );
    expect(r.routes).to.have.length(2);
    for (const x of r.routes) {
      // Answered through HAProxy by the new container itself (its id, as the example app reports it),
      // on its published port.
      expect(x.instance, x.container).to.match(/^[0-9a-f]{12}$/);
      expect(x.hostPort).to.be.within(1025, 65535);
      // The route cannot answer before the app does (both probed every 10 ms from docker run).
      expect(x.msToReady).to.be.within(1, x.msToRoute + 1);
      // What discovery adds once the app is ready: seconds would be a regression (goal < 200 ms;
      // the figure itself is `npm run bench`'s; this bound leaves room for a loaded 2-core machine,
      // not for a stalled path).
      expect(x.msReadyToRoute).to.be.below(5_000);
    }
    // Two runs, two fresh instances, each routed under its own new name.
    expect(new Set(r.routes.map((x) => x.instance)).size, JSON.stringify(r.routes)).to.equal(2);
    expect(new Set(r.routes.map((x) => x.service)).size, JSON.stringify(r.routes)).to.equal(2);
    expect(r.throughput.viaHaproxy.failed).to.equal(0);
    expect(r.throughput.direct.failed).to.equal(0);
    expect(r.throughput.ratio).to.be.greaterThan(0);
    for (const x of r.routes) expect(await sh(`docker ps -aq --filter name=${x.container}`)).to.equal('');
  });
});
