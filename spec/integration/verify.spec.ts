// verify against real components on disposable docker-in-docker hosts (their
// own network namespaces; nothing touches this machine's ports):
//  1. full: the stack installed by provisionTarget from the local images; needs
//     paasbox/<build>:local built here (scripts/build-images.mjs), else skipped.
//  2. discovery core: consul + dnsmasq + haproxy started with the compose labels
//     from images present here (built paasbox/* first, else helpers' scratch
//     builds of the same Dockerfiles); verify restricted to those services.
//     HAProxy gets a stats login (as install writes it); Consul runs without
//     ACLs, so the checks that anonymous writes are refused are left out.
// Each: verify passes; haproxy stopped → verify fails naming haproxy and the
// check; started again → passes; a service registered in Consul through the
// agent API is found by the DNS checks on 53 and 8600 with its SRV port.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { ConsulClient } from '../../src/consul/client.js';
import { Progress } from '../../src/progress.js';
import { provisionTarget } from '../../src/provision/provision.js';
import { loadStackModel } from '../../src/model/load.js';
import { SshTarget } from '../../src/target/ssh.js';
import type { Target } from '../../src/target/target.js';
import { runVerify, type VerifyOptions } from '../../src/verify/run.js';
import { settingsForTarget } from '../../src/stackfile/deployed-settings.js';
import type { Check, VerifyReport } from '../../src/verify/types.js';
import type { Settings } from '../../src/settings/settings.js';
import { SECRET_FILES, SECRETS_DIR } from '../../src/secrets/secrets.js';
import { localSecretsDir } from '../../src/secrets/store.js';
import { createTestHosts, hostExec, type TestHosts } from '../helpers/testhosts.js';
import { ensureExampleImage, ensureStackImages } from '../helpers/images.js';

// The install below keeps its secrets here, never in the user's .paasbox/.
process.env['PAASBOX_STATE_DIR'] ??= mkdtempSync(join(tmpdir(), 'paasbox-state-'));

const run = promisify(execFile);
const model = loadStackModel();

const failedIds = (r: VerifyReport) => r.results.filter((x) => x.status === 'failed').map((x) => x.id);
const explain = (r: VerifyReport) => JSON.stringify(r.results.filter((x) => x.status === 'failed'), null, 1);

interface Fixture {
  target: Target;
  settings: Settings;
  /** Which checks this fixture's stack can pass. */
  only?: (c: Check) => boolean;
  /** A token that may register services (the installed stack runs Consul with ACLs, default deny). */
  consulToken?: string;
  stopHaproxy(): Promise<void>;
  startHaproxy(): Promise<void>;
}

function scenarios(get: () => Fixture) {
  const opts = (extra: VerifyOptions = {}): VerifyOptions => {
    const f = get();
    return { ...(f.only ? { only: f.only } : {}), ...extra };
  };

  it('verify passes on the running stack', async () => {
    const f = get();
    const r = await runVerify(f.target, model, f.settings, opts());
    expect(failedIds(r), explain(r)).to.deep.equal([]);
    expect(r.passed).to.be.greaterThan(10);
    for (const s of r.results.filter((x) => x.status === 'skipped')) expect(s.reason, s.id).to.be.a('string').and.not.equal('');
    console.log(`      ${r.passed} passed, ${r.skipped} skipped in ${r.seconds.toFixed(1)}s`);
  });

  it('haproxy stopped → verify fails naming haproxy and the check; started → passes again', async () => {
    const f = get();
    await f.stopHaproxy();
    const down = await runVerify(f.target, model, f.settings, opts({ healthAttempts: 1 }));
    const failed = failedIds(down);
    expect(failed).to.include.members(['haproxy/container/running', 'haproxy/stats/http:/haproxyStats']);
    // Only haproxy's own checks and routes through it fail.
    expect(failed.every((id) => id.startsWith('haproxy/') || id.endsWith('/haproxy-route')), `only haproxy fails: ${failed.join(', ')}`).to.equal(true);
    const stats = down.results.find((x) => x.id === 'haproxy/stats/http:/haproxyStats')!;
    expect(stats.host).to.equal(f.target.name);
    expect(stats.expected).to.match(/HTTP 200/);
    expect(stats.got).to.match(/no answer/);
    await f.startHaproxy();
    const up = await runVerify(f.target, model, f.settings, opts());
    expect(failedIds(up), explain(up)).to.deep.equal([]);
  });

  it('a service registered in Consul is found by DNS on 53 and 8600 with its SRV port', async () => {
    const f = get();
    const fwd = await f.target.forward(f.settings.ip, 8500);
    const consul = new ConsulClient({ baseUrl: `http://127.0.0.1:${fwd.localPort}`, ...(f.consulToken ? { token: f.consulToken } : {}) });
    try {
      // Port 81 (HAProxy stats) really listens on the node, so the ports-served cross-check can pass too.
      await consul.agentServiceRegister({ Name: 'pbh4-probe', ID: 'pbh4-probe-1', Port: 81, Tags: ['verify-test'] });
      expect(Object.keys(await consul.catalogServices())).to.include('pbh4-probe');
      const r = await runVerify(f.target, model, f.settings, { only: (c) => c.service === 'catalog:pbh4-probe' });
      expect(r.results.map((x) => x.id).sort()).to.deep.equal([
        'catalog/pbh4-probe/dns:A@53',
        'catalog/pbh4-probe/dns:A@8600',
        'catalog/pbh4-probe/dns:SRV@53',
        'catalog/pbh4-probe/dns:SRV@8600',
        'catalog/pbh4-probe/haproxy-route',
        'catalog/pbh4-probe/ports-served',
      ]);
      expect(failedIds(r), explain(r)).to.deep.equal([]);
      for (const x of r.results.filter((x) => x.id.includes('SRV'))) expect(x.got).to.match(/:81\b/);
      for (const x of r.results.filter((x) => x.id.includes('dns:A'))) expect(x.got).to.include(f.settings.ip);

      // Registered with a port nothing serves: DNS still answers it, the cross-check names the stale port
      // and HAProxy's route to it fails.
      await consul.agentServiceRegister({ Name: 'pbh4-probe', ID: 'pbh4-probe-1', Port: 18181 });
      // consul-template re-renders HAProxy's config within a few seconds; judge the route after that.
      const rendered = async () =>
        (await f.target.exec('docker exec $(docker ps -q --filter label=com.docker.compose.service=haproxy) grep -c ":18181" /etc/haproxy/haproxy.cfg', { sudo: true })).stdout.trim() !== '0';
      const deadline = Date.now() + 30_000;
      while (!(await rendered()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
      expect(await rendered(), 'HAProxy config rendered with the new port').to.equal(true);
      const stale = await runVerify(f.target, model, f.settings, { only: (c) => c.service === 'catalog:pbh4-probe' });
      expect(failedIds(stale).sort()).to.deep.equal(['catalog/pbh4-probe/haproxy-route', 'catalog/pbh4-probe/ports-served']);
      expect(stale.results.find((x) => x.id.endsWith('dns:SRV@8600'))?.got).to.match(/:18181\b/);
    } finally {
      await consul.agentServiceDeregister('pbh4-probe-1').catch(() => undefined);
      await fwd.close();
    }
  });
}

describe('verify: full stack installed by provisioning (integration)', function () {
  this.timeout(1_200_000);
  let th: TestHosts | undefined;
  let fx: Fixture | undefined;

  before(async function () {
    await ensureStackImages(Object.entries(model.services).filter(([, s]) => !s.optional && s.sources.local.build).map(([name]) => name));
    th = await createTestHosts(1, { prefix: 'pbh4-vfull', withDocker: true });
    const h = th.hosts[0]!;
    const target = new SshTarget({ host: h.address, user: h.user, keyPath: h.keyPath, knownHostsPath: th.knownHostsPath });
    await provisionTarget(target, { flags: { imageSource: 'local' }, progress: new Progress({ json: true }) });
    const { settings } = await settingsForTarget(target, model);
    const haproxy = `$(docker ps -aq --filter label=com.docker.compose.project=${settings.projectName} --filter label=com.docker.compose.service=haproxy)`;
    fx = {
      target,
      settings,
      // The registrator's token, from the secrets install kept on this machine.
      consulToken: readFileSync(join(localSecretsDir('default'), SECRET_FILES.registratorToken), 'utf8').trim(),
      stopHaproxy: async () => void (await target.exec(`docker stop ${haproxy}`, { sudo: true })),
      startHaproxy: async () => void (await target.exec(`docker start ${haproxy}`, { sudo: true })),
    };
  });
  after(async () => {
    await fx?.target.close();
    await th?.destroy();
  });

  scenarios(() => fx!);

  it('an app container registered by Registrator: DNS SRV port = the port docker published, routed by HAProxy', async function () {
    const h = th!.hosts[0]!;
    const image = await ensureExampleImage();
    await run('sh', ['-c', `docker save ${image} | docker exec -i ${h.name} docker load`], { maxBuffer: 1 << 26 });
    // A random host port: Registrator registers it, verify must find that port in DNS.
    await hostExec(h, `docker run -d --name pbh4-web -p 8080 -e SERVICE_NAME=pbh4web -e SERVICE_TAGS=http ${image}`);
    try {
      const published = Number((await hostExec(h, 'docker port pbh4-web 8080/tcp')).trim().split('\n')[0]!.split(':').pop());
      expect(published).to.be.greaterThan(1024);
      const f = fx!;
      const fwd = await f.target.forward(f.settings.ip, 8500);
      const consul = new ConsulClient(`http://127.0.0.1:${fwd.localPort}`);
      try {
        const deadline = Date.now() + 60_000;
        while (!(await consul.healthService('pbh4web', { passing: true })).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1000));
        expect((await consul.healthService('pbh4web')).map((e) => e.Service.Port)).to.deep.equal([published]);
      } finally {
        await fwd.close();
      }
      const r = await runVerify(f.target, model, f.settings, { only: (c) => c.service === 'catalog:pbh4web' });
      expect(r.results.map((x) => x.id)).to.include.members(['catalog/pbh4web/dns:SRV@53', 'catalog/pbh4web/dns:SRV@8600', 'catalog/pbh4web/ports-served', 'catalog/pbh4web/haproxy-route']);
      expect(failedIds(r), explain(r)).to.deep.equal([]);
      for (const x of r.results.filter((x) => x.id.includes('SRV'))) expect(x.got).to.match(new RegExp(`:${published}\\b`));
    } finally {
      await hostExec(h, 'docker rm -f pbh4-web').catch(() => undefined);
    }
  });
});

describe('verify: discovery core (consul, dnsmasq, haproxy) on a test host (integration)', function () {
  this.timeout(600_000);
  let th: TestHosts | undefined;
  let fx: Fixture | undefined;
  before(async function () {
    // Built (or found up to date) by the real builder, as install does.
    const images = await ensureStackImages(['consul', 'dns', 'haproxy']);
    th = await createTestHosts(1, { prefix: 'pbh4-vcore', withDocker: true });
    const h = th.hosts[0]!;
    await run('sh', ['-c', `docker save ${Object.values(images).join(' ')} | docker exec -i ${h.name} docker load`], { maxBuffer: 1 << 26 });
    const target = new SshTarget({ host: h.address, user: h.user, keyPath: h.keyPath, knownHostsPath: th.knownHostsPath });
    const ip = h.address;
    const labels = (svc: string) => `--label com.docker.compose.project=paasbox --label com.docker.compose.service=${svc} --restart unless-stopped --network host`;
    // HAProxy's stats login where install writes it (verify reads it there).
    const statsAuth = `${SECRETS_DIR}/${SECRET_FILES.statsAuth}`;
    await hostExec(h, `umask 077 && mkdir -p ${dirname(statsAuth)} && printf 'admin:%s\\n' "$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')" > ${statsAuth}`);
    // The runtime contract of stacks/paasbox.yaml for these three services.
    await hostExec(h, [
      `docker run -d --name paasbox-consul-1 ${labels('consul')} --health-cmd "consul members" --health-interval 2s ${images.consul}` +
        ` agent -server -bootstrap-expect=1 -ui -client=0.0.0.0 -bind=${ip} -advertise=${ip} -node=${h.name} -datacenter=paasbox -domain=consul -data-dir=/consul/data -dns-port=8600`,
      `docker run -d --name paasbox-dns-1 ${labels('dns')} --health-cmd "pidof dnsmasq >/dev/null" --health-interval 2s ${images.dns}` +
        ` --keep-in-foreground --log-facility=- --no-hosts --port=53 --server=/consul/${ip}#8600 --listen-address=${ip}`,
      `docker run -d --name paasbox-haproxy-1 ${labels('haproxy')} -e CONSUL_HTTP_ADDR=${ip}:8500 -e PAASBOX_DOMAIN=consul -v ${dirname(statsAuth)}:/run/secrets/paasbox:ro` +
        ` --health-cmd "haproxy -c -f /etc/haproxy/haproxy.cfg >/dev/null" --health-interval 2s ${images.haproxy}`,
    ].join(' && '));
    const { settings } = await settingsForTarget(target, model, { env: {} });
    expect(settings.ip).to.equal(ip);
    const core = new Set(['consul', 'dns', 'haproxy']);
    fx = {
      target,
      settings,
      // Without ACLs anonymous writes go through: those two checks belong to an install.
      only: (c) => (core.has(c.service) || c.service.startsWith('catalog:')) && !/\/consul-acl:(kv-write|service-register)$/.test(c.id),
      stopHaproxy: async () => void (await hostExec(h, 'docker stop paasbox-haproxy-1')),
      startHaproxy: async () => void (await hostExec(h, 'docker start paasbox-haproxy-1')),
    };
    // Consul needs a few seconds to elect itself leader.
    const fwd = await target.forward(ip, 8500);
    await new ConsulClient(`http://127.0.0.1:${fwd.localPort}`).waitForLeader(60_000).finally(() => fwd.close());
  });
  after(async () => {
    await fx?.target.close();
    await th?.destroy();
  });

  scenarios(() => fx!);
});
