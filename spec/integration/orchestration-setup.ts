// Setup for orchestration tests and benchmarks: two docker-in-docker hosts,
// a swarm (manager h1, worker h2) and the discovery part of the stack
// (consul, registrator, haproxy, dns) on h1 from the compose file
// src/stack/generate.ts makes for it, started with plain `docker run` (the
// test hosts have no compose tool); h2 runs a registrator that registers its
// tasks in h1's Consul. Images: paasbox/<build>:local from the real builder
// and paasbox/simplewebapp-python:latest from the example's build script
// (spec/helpers/images.ts), built on this machine when missing or stale.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EXAMPLE_IMAGE, ensureExampleImage, ensureStackImages } from '../helpers/images.js';
import { createTestHosts, type TestHosts } from '../helpers/testhosts.js';
import { SshTarget } from '../../src/target/ssh.js';
import { shq } from '../../src/target/shell.js';
import type { Target } from '../../src/target/target.js';
import { loadStackModel } from '../../src/stack/load.js';
import { resolveSettings } from '../../src/settings/settings.js';
import { generateCompose, type ComposeService } from '../../src/stack/generate.js';
import { validateApp } from '../../src/marathon/app.js';
import { ensureSwarm, SwarmScheduler } from '../../src/scheduler/swarm.js';
import { benchDeployReachable, haproxyBackends, type BenchDeployResult } from '../../src/scheduler/reach.js';

export const repo = fileURLToPath(new URL('../../../', import.meta.url));
export const WEBAPP = EXAMPLE_IMAGE;
export const DISCOVERY = ['consul', 'registrator', 'haproxy', 'dns'] as const;

/** The lab's images, built (incrementally) when missing or stale: never a reason to skip. */
export async function labImages(): Promise<Record<string, string>> {
  const stack = await ensureStackImages([...DISCOVERY]);
  return { ...stack, webapp: await ensureExampleImage() };
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


export interface SwarmLab {
  th: TestHosts;
  manager: SshTarget;
  worker: SshTarget;
  /** h1's address: swarm manager and stack host (HAProxy 80/81, DNS 53, Consul 8500/8600). */
  ip: string;
  swarm: { initialised: boolean; joined: string[] };
  teardown(): Promise<void>;
}

export async function createSwarmLab(prefix = 'pbh6-orch'): Promise<SwarmLab> {
  const images = await labImages();
  const th = await createTestHosts(2, { prefix, withDocker: true });
  const [h1, h2] = th.hosts as [(typeof th.hosts)[0], (typeof th.hosts)[0]];
  const manager = new SshTarget({ host: h1.address, keyPath: th.keyPath, knownHostsPath: th.knownHostsPath });
  const worker = new SshTarget({ host: h2.address, keyPath: th.keyPath, knownHostsPath: th.knownHostsPath });
  const ip = h1.address;
  const teardown = async () => {
    await manager.close().catch(() => undefined);
    await worker.close().catch(() => undefined);
    await th.destroy();
  };
  try {

      // Images: the stack's on the manager, the app's on both (no registry to pull from).
      await loadImages(manager, Object.values(images));
      await loadImages(worker, [images.webapp!, images.registrator!]);

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
      return { th, manager, worker, ip, swarm, teardown };
    } catch (e) {
      await teardown();
      throw e;
    }
  }


/**
 * Benchmark for scripts/bench.mjs: seconds from the deploy request to all N
 * instances of python1 reachable by name through HAProxy (and SRV on 53/8600),
 * for each N (default 2 and 20), on a fresh swarm lab (its images built
 * first when missing or stale).
 */
export async function benchOrchestration(counts: number[] = [2, 20]): Promise<BenchDeployResult[]> {
  const lab = await createSwarmLab('pbh6-bench');
  try {
    const app = validateApp(JSON.parse(readFileSync(new URL('../../../examples/SimpleWebappPython/deploy1_marathon.json', import.meta.url), 'utf8')));
    const sched = new SwarmScheduler(lab.manager);
    const out: BenchDeployResult[] = [];
    for (const n of counts) out.push(await benchDeployReachable(sched, app, n, lab.ip));
    return out;
  } finally {
    await lab.teardown();
  }
}
