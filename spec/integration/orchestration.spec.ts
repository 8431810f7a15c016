// Orchestration end to end on docker-in-docker test hosts: the SimpleWebappPython
// Marathon app JSON deployed through scripts/deploy.mjs to Docker swarm mode
// (manager h1 + worker h2), then found by name: HAProxy by Host header, its
// stats, and SRV records on 53 (dnsmasq) and 8600 (Consul).
//
// The discovery part of the stack (consul, registrator, haproxy, dns) runs on
// h1 from the compose file src/stack/generate.ts makes for it, started with
// plain `docker run` (the test hosts have no compose tool); h2 runs a
// registrator that registers its tasks in h1's Consul. Images come from this
// machine's docker: paasbox/<build>:local (scripts/build-images.mjs) and
// paasbox/simplewebapp-python:latest, or the refs in PAASBOX_TEST_IMAGES
// ("consul=REF,registrator=REF,haproxy=REF,dns=REF,webapp=REF").
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { createTestHosts, type TestHosts } from '../helpers/testhosts.js';
import { SshTarget } from '../../src/target/ssh.js';
import { shq } from '../../src/target/shell.js';
import type { Target } from '../../src/target/target.js';
import { loadStackModel } from '../../src/stack/load.js';
import { resolveSettings } from '../../src/settings/settings.js';
import { builtImageRef } from '../../src/stack/refs.js';
import { generateCompose, type ComposeService } from '../../src/stack/generate.js';
import { ensureSwarm, SwarmScheduler } from '../../src/scheduler/swarm.js';
import { getByName, haproxyBackends, srvRecords, waitReachable } from '../../src/scheduler/reach.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const WEBAPP = 'paasbox/simplewebapp-python:latest';
const DISCOVERY = ['consul', 'registrator', 'haproxy', 'dns'] as const;

function testImages(): Record<string, string> {
  const model = loadStackModel();
  const images: Record<string, string> = { webapp: WEBAPP };
  for (const s of DISCOVERY) images[s] = builtImageRef(model.services[s]!.sources.local.build ?? s, 'local');
  for (const kv of (process.env.PAASBOX_TEST_IMAGES ?? '').split(',').filter(Boolean)) {
    const [k, v] = kv.split('=');
    if (k && v) images[k.trim()] = v.trim();
  }
  return images;
}

async function missingImages(refs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const r of refs) await run('docker', ['image', 'inspect', r]).catch(() => out.push(r));
  return out;
}

/** docker save on this machine | docker load on the target, over the target's channel. */
async function loadImages(t: Target, refs: string[]): Promise<void> {
  const save = spawn('docker', ['save', ...refs], { stdio: ['ignore', 'pipe', 'inherit'] });
  const r = await t.exec('docker load', { stdin: save.stdout, timeoutMs: 600000 });
  if (r.code !== 0) throw new Error(`docker load on ${t.name}: ${r.stderr}`);
}

async function sh(t: Target, cmd: string): Promise<string> {
  const r = await t.exec(cmd, { timeoutMs: 300000 });
  if (r.code !== 0) throw new Error(`${cmd} on ${t.name} failed: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** `docker run` for one generated compose service (host network only, as the stack is). */
function dockerRun(name: string, svc: ComposeService): string {
  const a = ['docker', 'run', '-d', '--name', name, '--restart', svc.restart, '--init'];
  if (svc.network_mode === 'host') a.push('--network', 'host');
  for (const [k, v] of Object.entries(svc.environment ?? {})) a.push('-e', `${k}=${v.replace(/\$\$/g, '$')}`);
  for (const v of svc.volumes ?? []) a.push('-v', v);
  for (const c of svc.cap_add ?? []) a.push('--cap-add', c);
  for (const d of svc.devices ?? []) a.push('--device', d);
  for (const [k, v] of Object.entries(svc.labels)) a.push('--label', `${k}=${v}`);
  a.push(svc.image, ...(svc.command ?? []).map((c) => c.replace(/\$\$/g, '$')));
  return a.map(shq).join(' ');
}

async function deployScript(args: string[], th: TestHosts, manager: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('npx', ['zx', 'scripts/deploy.mjs', ...args, '--scheduler', 'swarm', '--target', `root@${manager}`, '--key', th.keyPath, '--known-hosts', th.knownHostsPath, '--json'], { cwd: repo });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function example(n: number): string {
  return `examples/SimpleWebappPython/deploy${n}_marathon.json`;
}

describe('orchestration (integration): Marathon app JSON on Docker swarm, reachable by name', function () {
  this.timeout(1200000);
  let th: TestHosts | undefined;
  let manager: SshTarget;
  let worker: SshTarget;
  let ip = '';

  before(async function () {
    const images = testImages();
    const missing = await missingImages(Object.values(images));
    if (missing.length) {
      console.log(`    skipped: images not on this machine: ${missing.join(', ')} (build them with scripts/build-images.mjs and examples/SimpleWebappPython/build-docker-image.sh, or name others in PAASBOX_TEST_IMAGES)`);
      this.skip();
    }
    th = await createTestHosts(2, { prefix: 'pbh6-orch', withDocker: true });
    const [h1, h2] = th.hosts as [(typeof th.hosts)[0], (typeof th.hosts)[0]];
    ip = h1.address;
    manager = new SshTarget({ host: h1.address, keyPath: th.keyPath, knownHostsPath: th.knownHostsPath });
    worker = new SshTarget({ host: h2.address, keyPath: th.keyPath, knownHostsPath: th.knownHostsPath });

    // Images: the stack's on the manager, the app's on both (no registry to pull from).
    await loadImages(manager, Object.values(images));
    await loadImages(worker, [images.webapp!, images.registrator!]);
    if (images.webapp !== WEBAPP) for (const t of [manager, worker]) await sh(t, `docker tag ${shq(images.webapp!)} ${WEBAPP}`);

    // The discovery services of the stack, generated for h1.
    const model = loadStackModel();
    const off = Object.fromEntries(Object.keys(model.services).filter((s) => !(DISCOVERY as readonly string[]).includes(s)).map((s) => [s, { enabled: false }]));
    const settings = resolveSettings({ hostname: h1.name, ip: h1.address }, { services: off }, {}, model);
    const compose = generateCompose(model, settings, { images: Object.fromEntries(DISCOVERY.map((s) => [s, images[s]!])) });
    for (const s of DISCOVERY) await sh(manager, dockerRun(`paasbox-${s}`, compose.services[s]!));
    // h2: a registrator writing to h1's Consul, registering h2's address.
    const reg = compose.services.registrator!;
    await sh(worker, dockerRun('paasbox-registrator', { ...reg, environment: { ...reg.environment, CONSUL_HTTP_ADDR: `http://${h1.address}:8500`, REGISTRATOR_HOST_IP: h2.address } }));

    // Wait for Consul's leader and HAProxy's stats.
    const until = Date.now() + 120000;
    for (;;) {
      const ok = await Promise.all([
        fetch(`http://${ip}:8500/v1/status/leader`).then(async (r) => (await r.text()).includes(':8300'), () => false),
        haproxyBackends(ip, 'none').then(() => true, () => false),
      ]);
      if (ok.every(Boolean)) break;
      if (Date.now() > until) throw new Error(`stack on ${h1.name} not up: consul leader / haproxy stats = ${ok.join(' / ')}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const swarm = await ensureSwarm(manager, [worker]);
    expect(swarm.initialised).to.equal(true);
    expect(swarm.joined).to.deep.equal([worker.name]);
  });

  after(async () => {
    await manager?.close().catch(() => undefined);
    await worker?.close().catch(() => undefined);
    await th?.destroy();
  });

  it('deploys deploy1 then deploy2 with --wait through scripts/deploy.mjs (swarm back-end)', async () => {
    for (const n of [1, 2]) {
      const r = await deployScript([example(n), '--wait'], th!, ip);
      expect(r.code, r.stderr).to.equal(0);
      const report = JSON.parse(r.stdout) as { scheduler: string; created: boolean; instances: { host: string; ports: number[] }[] };
      expect(report.scheduler).to.equal('swarm');
      expect(report.created).to.equal(true);
      expect(report.instances).to.have.length(2);
      expect(report.instances.every((i) => i.ports.length === 1 && i.ports[0]! > 0)).to.equal(true);
    }
    const apps = await new SwarmScheduler(manager).list();
    expect(apps.map((a) => `${a.id}=${a.instances}`).sort()).to.deep.equal(['/python1=2', '/python2=2']);
  });

  it('finds both apps by name: HAProxy Host header, HAProxy stats, SRV on 53 and 8600', async () => {
    for (const app of ['python1', 'python2']) {
      const r = await waitReachable(ip, app, 2, { timeoutMs: 120000 });
      expect(r).to.deep.equal({ haproxyUp: 2, httpStatus: 200, srv53: 2, srv8600: 2 });
      const res = await getByName(ip, app);
      expect(res.body).to.include(`Hello from ${app}`);
    }
    // Unknown names: HAProxy's 404 backend, no SRV records.
    expect((await getByName(ip, 'nosuchapp')).status).to.equal(404);
    expect(await srvRecords(ip, 8600, 'nosuchapp')).to.deep.equal([]);
    expect(await srvRecords(ip, 53, 'nosuchapp', 'consul', { tcp: true })).to.deep.equal([]);
  });

  it('scales python1 from 2 to 4: four HAProxy servers and four SRV records', async () => {
    const r = await deployScript([example(1), '--scale', '4', '--wait'], th!, ip);
    expect(r.code, r.stderr).to.equal(0);
    expect((JSON.parse(r.stdout) as { instances: unknown[] }).instances).to.have.length(4);
    await waitReachable(ip, 'python1', 4, { timeoutMs: 120000 });
    const servers = await haproxyBackends(ip, 'python1');
    expect(servers.filter((s) => s.status === 'UP')).to.have.length(4);
    for (const port of [53, 8600]) {
      const tcp = await srvRecords(ip, port, 'python1', 'consul', { tcp: true });
      expect(new Set(tcp.map((s) => `${s.target}:${s.port}`)).size, `SRV over TCP on ${port}`).to.equal(4);
      // UDP answers may be cut to Consul's udp_answer_limit (3 by default), but name real instances.
      const udp = await srvRecords(ip, port, 'python1');
      expect(udp.length, `SRV over UDP on ${port}`).to.be.within(1, 4);
      for (const u of udp) expect(tcp).to.deep.include(u);
      if (udp.length < 4) console.log(`    note: SRV over UDP on ${port} lists ${udp.length} of 4 instances (Consul dns_config.udp_answer_limit, no truncation bit)`);
    }
  });

  it('destroys python1: gone from HAProxy and DNS, python2 untouched', async () => {
    const r = await deployScript([example(1), '--destroy'], th!, ip);
    expect(r.code, r.stderr).to.equal(0);
    await waitReachable(ip, 'python1', 0, { timeoutMs: 120000 });
    expect((await getByName(ip, 'python1')).status).to.equal(404);
    await waitReachable(ip, 'python2', 2, { timeoutMs: 30000 });
    const again = await deployScript([example(1), '--destroy'], th!, ip);
    expect((JSON.parse(again.stdout) as { existed: boolean }).existed).to.equal(false);
  });
});
