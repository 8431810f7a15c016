// runVerify end to end on a target whose docker and ss answers are scripted and
// whose services are loopback fakes on the ports the settings override: the
// real probes, derivation, retries and catalog cross-checks run; the test
// breaks one thing at a time and expects verify to name it.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSecrets, SECRET_FILES, SECRETS_DIR } from '../../../src/secrets/secrets.js';
import { generateRegistryTls } from '../../../src/secrets/registry.js';
import { generateEdgeTls } from '../../../src/secrets/edge.js';
import { loadStackModel } from '../../../src/model/load.js';
import { runVerify, type VerifyOptions } from '../../../src/verify/run.js';
import { SWARM_HEALTH_COMMAND } from '../../../src/verify/swarm-health.js';
import type { VerifyReport } from '../../../src/verify/types.js';
import { fakeDns, fakeFourLetter, fakeHttp, fakeTls, type DnsTable } from '../../helpers/fake-services.js';
import { inspectJson, ok, ScriptedTarget } from '../../helpers/scripted-target.js';
import { resolveSettings } from './settings-fixture.js';

const model = loadStackModel();
type Fake = { port: number; close(): Promise<void> };

describe('runVerify against scripted docker and loopback fakes', function () {
  this.timeout(60_000);
  let zk: Fake,
    consul: Fake,
    haproxy: Fake,
    appsApi: Fake,
    acme: Fake,
    registry: Fake,
    edge: Fake,
    web80: Fake,
    dns53: Fake & { queries: string[] },
    dns8600: Fake & { queries: string[] };
  const table: DnsTable = {
    'consul.service.consul': { a: ['10.0.0.5'], srv: [{ port: 8300, target: 'h1.node.paasbox.consul' }] },
    'web.service.consul': { a: ['10.0.0.5'], srv: [{ port: 31001, target: 'h1.node.paasbox.consul' }] },
  };
  let containers: object[];
  let restartBump = 0;
  let calls = 0;
  let deployed = '';
  let hostIp = '10.0.0.5';
  let zkExtra = ''; // sockets ZooKeeper's JVM holds besides its client port
  let swarmAnswer =
    '{"LocalNodeState":"inactive"}\n@@info 0\nError response from daemon: This node is not a swarm manager.\n@@nodes 1\n';
  let zkMounts = [
    { Type: 'volume', Name: 'paasbox_zookeeper-data', Destination: '/data' },
    { Type: 'volume', Name: 'paasbox_zookeeper-datalog', Destination: '/datalog' },
  ];
  const secretsRoot = mkdtempSync(join(tmpdir(), 'pb-run-secrets-'));
  const login = `admin:${generateSecrets().statsPassword}`;
  mkdirSync(join(secretsRoot, 'haproxy'));
  writeFileSync(join(secretsRoot, SECRET_FILES.statsAuth), `${login}\n`, { mode: 0o600 });
  // The image registry's CA, where install writes it: its HTTPS check trusts only that.
  const registryTls = generateRegistryTls(['127.0.0.1']);
  mkdirSync(join(secretsRoot, 'registry', 'tls'), { recursive: true });
  writeFileSync(join(secretsRoot, SECRET_FILES.registryCaCert), registryTls.caCert, { mode: 0o600 });
  // The edge's CA (the stack's own), which its TLS check on :443 trusts.
  const edgeTls = generateEdgeTls({ domain: 'consul', ips: ['127.0.0.1'] });
  mkdirSync(join(secretsRoot, 'haproxy', 'tls'), { recursive: true });
  writeFileSync(join(secretsRoot, SECRET_FILES.edgeCaCert), edgeTls.caCert, { mode: 0o600 });
  const target = new ScriptedTarget(
    'h1',
    (cmd) => {
      if (cmd.includes('{{json .Mounts}}')) return ok(JSON.stringify(zkMounts) + '\n');
      if (cmd.includes('docker top'))
        return ok(
          `PID\n4242\n---\ntcp LISTEN 0 50 [::ffff:10.0.0.5]:${zk.port} *:* users:(("java",pid=4242,fd=36))\ntcp LISTEN 0 128 *:8300 *:* users:(("consul",pid=77,fd=3))\n${zkExtra}`,
        );
      if (cmd.startsWith('ip -4 route'))
        return ok(
          `default via 10.0.0.1 dev eth0 src ${hostIp}\n1: lo    inet 127.0.0.1/8 scope host lo\n2: eth0    inet ${hostIp}/24 brd 10.0.0.255 scope global eth0\n`,
        );
      // One stack service's containers (findStackContainer): all of them, it picks by labels.
      if (cmd.startsWith('ids=$(docker ps -q ')) return ok(JSON.stringify(containers));
      if (cmd === SWARM_HEALTH_COMMAND) return ok(swarmAnswer);
      if (cmd.includes('docker ps -aq')) {
        calls++;
        return ok(
          JSON.stringify(
            containers.map((c) => ({
              ...c,
              RestartCount: ((c as { RestartCount: number }).RestartCount ?? 0) + restartBump * calls,
            })),
          ),
        );
      }
      if (cmd.includes('docker image inspect')) return ok('');
      if (cmd.startsWith('cat /opt/paasbox/'))
        return deployed ? ok(deployed) : { code: 1, stdout: '', stderr: 'No such file or directory' };
      if (cmd.startsWith('ss ')) return ok('tcp LISTEN 0 128 *:8300 *:*\n');
      return undefined;
    },
    (cmd) => cmd.split(SECRETS_DIR).join(secretsRoot),
  ); // the stats login is read where install writes it: here, a temp dir
  const green = () => [
    inspectJson({ name: 'paasbox-zookeeper-1', service: 'zookeeper', health: 'healthy' }),
    inspectJson({ name: 'paasbox-consul-1', service: 'consul', health: 'healthy' }),
    inspectJson({ name: 'paasbox-registrator-1', service: 'registrator' }),
    inspectJson({ name: 'paasbox-haproxy-1', service: 'haproxy', health: 'healthy' }),
    inspectJson({ name: 'paasbox-dns-1', service: 'dns', health: 'healthy' }),
    inspectJson({ name: 'paasbox-apps-api-1', service: 'apps-api', health: 'healthy' }),
    inspectJson({ name: 'paasbox-acme-1', service: 'acme', health: 'healthy' }),
    inspectJson({ name: 'paasbox-registry-1', service: 'registry', health: 'healthy' }),
    inspectJson({ name: 'web-1', service: 'web', project: 'apps', published: [31001], restartPolicy: 'no' }),
  ];
  const consulRoutes = {
    '/ui/': { status: 200, body: '<html>Consul</html>' },
    '/v1/status/leader': { status: 200, body: '"10.0.0.5:8300"' },
    // ACLs, default deny: anonymous writes are refused.
    '/v1/kv/paasbox-verify': { status: 403, body: 'Permission denied' },
    '/v1/agent/service/register': { status: 403, body: 'Permission denied' },
    '/v1/catalog/services': { status: 200, body: '{"consul":[],"web":[]}' },
    '/v1/health/service/consul': {
      status: 200,
      body: JSON.stringify([
        { Node: { Node: 'h1', Address: '10.0.0.5' }, Service: { Address: '', Port: 8300 }, Checks: [] },
      ]),
    },
    '/v1/health/service/web': {
      status: 200,
      body: JSON.stringify([
        {
          Node: { Node: 'h1', Address: '10.0.0.5' },
          Service: { Address: '', Port: 31001 },
          Checks: [{ Status: 'passing' }],
        },
      ]),
    },
  };
  const stats = {
    '/': { status: 200, body: 'HAProxy Statistics Report', login },
    '/haproxyStats': { status: 200, body: 'HAProxy Statistics Report', login },
  };

  const settings = () =>
    resolveSettings(model, {
      services: {
        zookeeper: { ports: { client: zk.port } },
        consul: { ports: { http: consul.port, dns: dns8600.port } },
        haproxy: { ports: { stats: haproxy.port, http: web80.port, https: edge.port } },
        dns: { ports: { dns: dns53.port } },
        'apps-api': { ports: { http: appsApi.port } },
        acme: { ports: { http: acme.port } },
        registry: { ports: { https: registry.port } },
      },
    });
  const opts: VerifyOptions = {
    address: '127.0.0.1',
    crashSampleMs: 300,
    healthAttempts: 1,
    dnsAttempts: 1,
    checkDeadlineMs: 5000,
  };
  const failedIds = (r: VerifyReport) => r.results.filter((x) => x.status === 'failed').map((x) => x.id);

  beforeEach(async () => {
    zk = await fakeFourLetter({ ruok: 'imok' });
    consul = await fakeHttp(consulRoutes);
    haproxy = await fakeHttp(stats);
    // The apps API: /ping open, everything else behind a login.
    appsApi = await fakeHttp({
      '/ping': { status: 200, body: 'pong\n' },
      '/v2/info': { status: 401, body: '{"message":"credentials required"}' },
    });
    // The ACME renewer: /health says what it does.
    acme = await fakeHttp({ '/health': { status: 200, body: 'paasbox-acme: idle: no ACME directory\n' } });
    // The image registry: HTTPS, anonymous refused.
    registry = await fakeHttp({ '/v2/': { status: 401, body: '{"errors":[]}' } }, registryTls);
    web80 = await fakeHttp({ '/': { status: 200, body: 'hello from web' } });
    edge = await fakeTls(edgeTls, ['h2', 'http/1.1']);
    dns53 = await fakeDns(table);
    dns8600 = await fakeDns(table);
    containers = green();
    restartBump = 0;
    calls = 0;
    deployed = '';
  });
  afterEach(async () => {
    for (const f of [zk, consul, haproxy, appsApi, acme, registry, edge, web80, dns53, dns8600])
      await f.close().catch(() => undefined);
  });

  it('passes a healthy stack; unavailable and optional services are skipped with reasons, not passed', async () => {
    const r = await runVerify(target, model, settings(), opts);
    expect(
      failedIds(r),
      JSON.stringify(
        r.results.filter((x) => x.status === 'failed'),
        null,
        1,
      ),
    ).to.deep.equal([]);
    expect(r.passed).to.be.greaterThan(25);
    const skipped = r.results.filter((x) => x.status === 'skipped');
    expect(
      skipped
        .filter((x) => x.service === 'marathon')
        .every((x) => /Marathon has no Debian package/.test(x.reason ?? '')),
    ).to.equal(true);
    expect(skipped.some((x) => x.service === 'mesos-master')).to.equal(true);
    expect(skipped.find((x) => x.service === 'sshd')?.reason).to.match(/optional/);
    const ids = r.results.map((x) => x.id);
    expect(ids).to.include('catalog/web/haproxy-route');
    expect(ids).to.include.members([
      `catalog/unknown-name/nxdomain@${dns53.port}`,
      `catalog/unknown-name/nxdomain@${dns8600.port}`,
    ]);
    expect(ids).to.not.include('catalog/consul/haproxy-route');
    expect(ids).to.include.members([
      'catalog/web/dns:SRV@' + dns53.port,
      'catalog/web/dns:SRV@' + dns8600.port,
      'catalog/consul/ports-served',
      'catalog/web/ports-served',
    ]);
    expect(dns53.queries).to.include('web.service.consul SRV');
    expect(dns8600.queries).to.include('web.service.consul A');
    expect(r.seconds).to.be.a('number');
  });

  it('fails naming the advertised address when the host has moved to another one', async () => {
    hostIp = '10.0.0.77';
    try {
      const r = await runVerify(target, model, settings(), opts);
      const f = r.results.find((x) => x.id === 'host/advertised-address');
      expect(f?.status).to.equal('failed');
      expect(f?.got).to.match(/the host has 127\.0\.0\.1, 10\.0\.0\.77 now: run install again/);
    } finally {
      hostIp = '10.0.0.5';
    }
  });

  it('fails naming haproxy and the check when haproxy is down', async () => {
    await haproxy.close();
    await web80.close();
    containers = green().map((c) =>
      (c as { Name: string }).Name === '/paasbox-haproxy-1'
        ? inspectJson({
            name: 'paasbox-haproxy-1',
            service: 'haproxy',
            status: 'exited',
            health: 'unhealthy',
          })
        : c,
    );
    const r = await runVerify(target, model, settings(), opts);
    expect(failedIds(r).sort()).to.deep.equal([
      'catalog/web/haproxy-route',
      'haproxy/container/healthy',
      'haproxy/container/running',
      'haproxy/stats/http:/',
      'haproxy/stats/http:/haproxyStats',
    ]);
    const f = r.results.find((x) => x.id === 'haproxy/stats/http:/haproxyStats')!;
    expect(f).to.include({ host: 'h1', service: 'haproxy' });
    expect(f.expected).to.match(/HTTP 200, body includes "Statistics Report"/);
    expect(f.got).to.match(/no answer/);
    expect(f.attempts).to.equal(2);
    expect(r.results.find((x) => x.id === 'haproxy/container/running')?.got).to.match(/exited/);
  });

  it('fails a container whose restart count rises between two samples (crash loop)', async () => {
    restartBump = 1;
    const r = await runVerify(target, model, settings(), {
      ...opts,
      only: (c) => c.id.endsWith('/no-crash-loop'),
    });
    expect(r.failed).to.be.greaterThan(0);
    expect(r.results.find((x) => x.id === 'consul/container/no-crash-loop')?.got).to.match(
      /restarts \d+→\d+/,
    );
  });

  it('fails the route check when HAProxy answers with its no-service 404', async () => {
    await web80.close();
    web80 = await fakeHttp({
      '/': { status: 404, body: 'paasbox: no service for this Host; use NAME.service.consul\n' },
    });
    const r = await runVerify(target, model, settings(), {
      ...opts,
      only: (c) => c.id === 'catalog/web/haproxy-route',
    });
    expect(failedIds(r)).to.deep.equal(['catalog/web/haproxy-route']);
    expect(r.results[0]?.got).to.match(/HAProxy has no route for web.service.consul/);
  });

  it('fails when a DNS server answers names no service has (wildcard)', async () => {
    await dns53.close();
    dns53 = await fakeDns({ ...table, 'paasbox-verify-no-such-service.service.consul': { a: ['10.0.0.5'] } });
    const r = await runVerify(target, model, settings(), { ...opts, only: (c) => c.id.includes('nxdomain') });
    expect(failedIds(r)).to.deep.equal([`catalog/unknown-name/nxdomain@${dns53.port}`]);
    expect(r.results.find((x) => x.status === 'failed')?.got).to.match(/NOERROR A 10.0.0.5/);
  });

  it('fails host/swarm/manager, naming the state and the fix, when the swarm has no leader; passes with no swarm', async () => {
    const only = { ...opts, only: (c: { id: string }) => c.id === 'host/swarm/manager' };
    const none = await runVerify(target, model, settings(), only);
    expect(none.results.map((x) => [x.id, x.status, x.got])).to.deep.equal([
      ['host/swarm/manager', 'passed', 'no swarm on this host (no app deployed yet)'],
    ]);
    const saved = swarmAnswer;
    swarmAnswer =
      '{"NodeID":"n1","LocalNodeState":"active","ControlAvailable":true}\n@@info 0\n' +
      "Error response from daemon: rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers are online.\n@@nodes 1\n";
    try {
      const r = await runVerify(target, model, settings(), only);
      expect(failedIds(r)).to.deep.equal(['host/swarm/manager']);
      expect(r.results[0]?.got).to.match(
        /^the swarm has no leader .*; fix: .*docker service rm.*--force-new-cluster/,
      );
    } finally {
      swarmAnswer = saved;
    }
  });

  it('refuses a deployment record with a hostile field instead of judging the stack by it', async () => {
    deployed = [
      'services: {}',
      'x-paasbox: {ip: 10.0.0.5, domain: "consul; rm -rf /", project: paasbox}',
    ].join('\n');
    try {
      let err: unknown;
      await runVerify(target, model, settings(), opts).catch((e: unknown) => (err = e));
      expect((err as Error | undefined)?.message).to.match(
        /compose file has x-paasbox\.domain "consul; rm -rf \/": not a DNS name/,
      );
    } finally {
      deployed = '';
    }
  });

  it("fails when ZooKeeper's transaction log is on an anonymous volume (lost on down/up)", async () => {
    const saved = zkMounts;
    zkMounts = [saved[0]!, { Type: 'volume', Name: 'f'.repeat(64), Destination: '/datalog' }];
    try {
      const r = await runVerify(target, model, settings(), {
        ...opts,
        only: (c) => c.id.includes('named-volumes'),
      });
      expect(failedIds(r)).to.deep.equal(['zookeeper/hardening/named-volumes']);
      expect(r.results[0]?.got).to.equal('not on a named volume: /datalog');
    } finally {
      zkMounts = saved;
    }
  });

  it("fails when ZooKeeper's JVM listens on a port beyond the ensemble's (JMX)", async () => {
    zkExtra = 'tcp LISTEN 0 50 *:44377 *:* users:(("java",pid=4242,fd=32))\n';
    try {
      const r = await runVerify(target, model, settings(), {
        ...opts,
        only: (c) => c.id.includes('listeners'),
      });
      expect(failedIds(r)).to.deep.equal(['zookeeper/hardening/listeners']);
      expect(r.results[0]?.got).to.equal('also tcp *:44377 (java)');
    } finally {
      zkExtra = '';
    }
  });

  it('fails when the DNS server recurses for names outside .consul (an open resolver)', async () => {
    await dns53.close();
    dns53 = await fakeDns({ ...table, 'paasbox-verify.example.org': { a: ['93.184.216.34'] } });
    const r = await runVerify(target, model, settings(), {
      ...opts,
      only: (c) => c.id.includes('hardening'),
    });
    expect(r.results.map((x) => x.id)).to.include('zookeeper/hardening/named-volumes');
    expect(failedIds(r)).to.deep.equal(['dns/hardening/not-open-resolver']);
    expect(r.results.find((x) => x.status === 'failed')?.got).to.equal('NOERROR');
  });

  it('fails when DNS answers an SRV port the catalog does not have', async () => {
    await dns53.close();
    dns53 = await fakeDns({
      ...table,
      'web.service.consul': { a: ['10.0.0.5'], srv: [{ port: 31002, target: 'h1.node.paasbox.consul' }] },
    });
    const r = await runVerify(target, model, settings(), opts);
    expect(failedIds(r)).to.deep.equal([`catalog/web/dns:SRV@${dns53.port}`]);
    const f = r.results.find((x) => x.status === 'failed')!;
    expect(f.expected).to.equal('SRV 31001');
    expect(f.got).to.match(/:31002/);
  });

  it('fails a stale registration: the catalog port is served by no container and nothing listens', async () => {
    containers = green().filter((c) => (c as { Name: string }).Name !== '/web-1');
    const r = await runVerify(target, model, settings(), opts);
    expect(failedIds(r)).to.deep.equal(['catalog/web/ports-served']);
    expect(r.results.find((x) => x.status === 'failed')?.got).to.match(/not served: 31001/);
  });

  it('skips services install left out of the compose file, with its reason', async () => {
    deployed = [
      'services:',
      '  consul: {image: paasbox/consul:local}',
      'x-paasbox:',
      '  {stack: paasbox, source: local, hostname: h1, ip: 10.0.0.5, domain: consul, project: paasbox,',
      '   omitted: {haproxy: "image paasbox/haproxy:local is not built on this machine"}, elsewhere: []}',
    ].join('\n');
    await haproxy.close();
    containers = green().filter((c) => (c as { Name: string }).Name !== '/paasbox-haproxy-1');
    const r = await runVerify(target, model, settings(), opts);
    expect(failedIds(r)).to.deep.equal([]);
    const h = r.results.filter((x) => x.service === 'haproxy');
    expect(h.length).to.be.greaterThan(3);
    for (const x of h) {
      expect(x.status).to.equal('skipped');
      expect(x.reason).to.match(/left out by install: image paasbox\/haproxy:local is not built/);
    }
  });

  it('--from-here: network checks run on the probing host with its copy of the login, container state on the target', async () => {
    // The target answers docker, ss, ip and the tools probe; any network probe sent to it fails.
    const remote = new ScriptedTarget(
      'h1',
      (cmd) =>
        target.script(cmd) ??
        (cmd.startsWith('for t in')
          ? ok('curl\nss\ndocker\n')
          : { code: 7, stdout: '', stderr: 'probe sent to the target' }),
    );
    const here = new ScriptedTarget('here', () => undefined);
    const r = await runVerify(remote, model, settings(), {
      ...opts,
      probeFrom: { target: here, secretsDir: secretsRoot },
    });
    expect(
      failedIds(r),
      JSON.stringify(
        r.results.filter((x) => x.status === 'failed'),
        null,
        1,
      ),
    ).to.deep.equal([]);
    const passed = r.results.filter((x) => x.status === 'passed').map((x) => x.id);
    expect(passed).to.include.members([
      'haproxy/stats/http:/haproxyStats',
      'catalog/web/haproxy-route',
      `catalog/web/dns:A@${dns53.port}`,
      'consul/container/running',
      'host/advertised-address',
    ]);
    expect(here.commands.some((c) => c.includes(secretsRoot))).to.equal(true);
    expect(here.commands.filter((c) => /docker |^ip -4/.test(c))).to.deep.equal([]);
    expect(remote.commands.filter((c) => /curl -sS|\/dev\/(tcp|udp)\//.test(c))).to.deep.equal([]);
  });

  it('reports one failing catalog check when Consul cannot be read', async () => {
    await consul.close();
    const r = await runVerify(target, model, settings(), {
      ...opts,
      only: (c) => c.service.startsWith('catalog'),
    });
    expect(failedIds(r)).to.deep.equal(['catalog/read']);
  });
});
