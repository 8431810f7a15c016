// The "orchestration" benchmark and the swarm lab it runs on (the
// orchestration integration test uses the same lab): two docker-in-docker
// hosts (src/drivers/dind.ts), a swarm (manager h1, worker h2) and the discovery
// part of the stack (consul, registrator, haproxy, dns) on h1 from the compose
// file src/stackfile/generate.ts makes for it, started with plain `docker run`
// (the hosts have no compose tool); h2 runs a registrator that registers its
// tasks in h1's Consul. Images are built on this machine when missing or
// stale (./images.ts) and loaded onto the hosts over SSH (the "acl"
// benchmark, ./acl.ts, starts its no-ACL stack the same way).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { targetError } from '../errors.js';
import { validateApp } from '../appspec/validate.js';
import { poll } from '../poll.js';
import { ConsulClient } from '../consul/client.js';
import type { Progress } from '../progress.js';
import { SwarmScheduler } from '../scheduler/swarm.js';
import { ensureSwarm } from '../swarm/membership.js';
import { resolveSettings } from '../settings/settings.js';
import { generateCompose, type ComposeService } from '../stackfile/generate.js';
import { loadStackModel } from '../model/load.js';
import { repoPath } from '../paths.js';
import { createDindHosts, type DindHosts } from '../drivers/dind.js';
import { shq } from '../target/shell.js';
import { SshTarget, sshOptions } from '../target/ssh.js';
import type { Target } from '../target/target.js';
import { ensureExampleImage, ensureStackImages } from './images.js';
import { benchDeployReachable, haproxyBackends, type BenchDeployResult } from './reach.js';

export const DISCOVERY = ['consul', 'registrator', 'haproxy', 'dns'] as const;

/** docker save on this machine | docker load on the target, over the target's channel. */
export async function loadImages(t: Target, refs: string[]): Promise<void> {
  const save = spawn('docker', ['save', ...refs], { stdio: ['ignore', 'pipe', 'inherit'] });
  const r = await t.exec('docker load', { stdin: save.stdout, timeoutMs: 600000 });
  if (r.code !== 0)
    throw targetError(
      `docker load of ${refs.join(', ')} failed on ${t.name}`,
      "check the host's dockerd and its disk space",
      r.stderr,
    );
}

async function sh(t: Target, cmd: string): Promise<string> {
  const r = await t.exec(cmd, { timeoutMs: 300000 });
  if (r.code !== 0)
    throw targetError(`${cmd} failed on ${t.name}`, 'read the output below', r.stderr || r.stdout);
  return r.stdout;
}

/** `docker run` for one generated compose service (host network only, as the stack is). */
export function dockerRun(name: string, svc: ComposeService): string {
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
  hosts: DindHosts;
  manager: SshTarget;
  worker: SshTarget;
  /** h1's address: swarm manager and stack host (HAProxy 80/81, DNS 53, Consul 8500/8600). */
  ip: string;
  swarm: { initialised: boolean; joined: string[] };
  teardown(): Promise<void>;
}

/** The lab, up and ready (Consul has a leader, HAProxy serves stats); `progress` reports the image builds. */
export async function createSwarmLab(prefix: string, progress: Progress): Promise<SwarmLab> {
  const images: Record<string, string> = {
    ...(await ensureStackImages([...DISCOVERY], progress)),
    webapp: await ensureExampleImage(progress),
  };
  const hosts = await createDindHosts(2, { prefix, withDocker: true });
  const [h1, h2] = hosts.hosts as [(typeof hosts.hosts)[0], (typeof hosts.hosts)[0]];
  const manager = new SshTarget(sshOptions(h1.ssh));
  const worker = new SshTarget(sshOptions(h2.ssh));
  const ip = h1.address;
  const teardown = async () => {
    await manager.close().catch(() => undefined);
    await worker.close().catch(() => undefined);
    await hosts.destroy();
  };
  try {
    // Images: the stack's on the manager, the app's on both (no registry to pull from).
    await loadImages(manager, Object.values(images));
    await loadImages(worker, [images.webapp!, images.registrator!]);

    // The discovery services of the stack, generated for h1.
    const model = loadStackModel();
    const off = Object.fromEntries(
      Object.keys(model.services)
        .filter((s) => !(DISCOVERY as readonly string[]).includes(s))
        .map((s) => [s, { enabled: false }]),
    );
    const settings = resolveSettings(
      { defaults: { hostname: h1.name, ip: h1.address }, file: { services: off } },
      model,
    );
    const compose = generateCompose(model, settings, {
      images: Object.fromEntries(DISCOVERY.map((s) => [s, images[s]!])),
    });
    for (const s of DISCOVERY) await sh(manager, dockerRun(`paasbox-${s}`, compose.services[s]!));
    // h2: a registrator writing to h1's Consul, registering h2's address.
    const reg = compose.services.registrator!;
    await sh(
      worker,
      dockerRun('paasbox-registrator', {
        ...reg,
        environment: {
          ...reg.environment,
          CONSUL_HTTP_ADDR: `http://${h1.address}:8500`,
          REGISTRATOR_HOST_IP: h2.address,
        },
      }),
    );

    // Wait for Consul's leader and HAProxy's stats.
    const fix = `read docker logs of paasbox-consul and paasbox-haproxy on ${h1.name}`;
    const what = `HAProxy's stats on ${h1.name}`;
    await Promise.all([
      new ConsulClient({ baseUrl: `http://${ip}:8500` }).waitForLeader(120_000, 1000),
      poll({ what, timeoutMs: 120_000, everyMs: 1000, fix }, () =>
        haproxyBackends(ip, 'none').then(() => true),
      ),
    ]);
    const swarm = await ensureSwarm(manager, [worker]);
    return { hosts, manager, worker, ip, swarm, teardown };
  } catch (e) {
    await teardown();
    throw e;
  }
}

/**
 * Seconds from the deploy request to all N instances of the example's
 * deploy1_marathon.json app (python1) reachable by name through HAProxy (and
 * SRV on 53/8600), for each N in `counts`, on a fresh swarm lab.
 */
export async function benchOrchestration(counts: number[], progress: Progress): Promise<BenchDeployResult[]> {
  const app = validateApp(
    JSON.parse(readFileSync(repoPath('examples', 'SimpleWebappPython', 'deploy1_marathon.json'), 'utf8')),
  );
  const lab = await createSwarmLab('pbh6-bench', progress);
  try {
    const sched = new SwarmScheduler(lab.manager);
    const out: BenchDeployResult[] = [];
    for (const n of counts) out.push(await benchDeployReachable(sched, app, n, lab.ip));
    return out;
  } finally {
    await lab.teardown();
  }
}
