// The "acl" benchmark (paasbox bench): what Consul's ACLs (default deny) cost
// on the hot path. Two fresh docker-in-docker hosts on this machine run the
// discovery part of the stack (consul, registrator, haproxy, dns; the rest
// disabled by one settings file): one installed by the real provisionTarget
// (secrets, ACLs, tokens), the other started with plain `docker run`s of the
// same generated services minus the secret mounts (no secrets: no ACLs).
// On each: time from `docker run` of the example app to its first answer
// through HAProxy by name (runs interleaved after one uncounted warm-up), and
// requests/s through HAProxy and direct to that warm-up instance.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { targetError } from '../errors.js';
import type { Progress } from '../progress.js';
import { ConsulClient } from '../consul/client.js';
import { planStack } from '../provision/plan.js';
import { provisionTarget } from '../provision/provision.js';
import { SECRETS_DIR } from '../secrets/secrets.js';
import { localSecretsDir } from '../secrets/store.js';
import { loadStackModel } from '../model/load.js';
import { createDindHosts } from '../drivers/dind.js';
import { openTarget } from '../instance/open.js';
import type { Target } from '../target/target.js';
import { benchHaproxyOverhead, benchTimeToRoute, median, type ThroughputResult } from './discovery.js';
import { ensureExampleImage, ensureStackImages } from './images.js';
import { DISCOVERY, dockerRun, loadImages } from './orchestration.js';

/** The throwaway instance whose secrets the ACL stack uses (removed after). */
const INSTANCE = 'bench-acl';
const PLAN = { flags: { imageSource: 'local' as const }, env: {} };

export interface StackCost {
  /** ms from `docker run` to the first answer through HAProxy, per counted run. */
  routeMs: number[];
  medianRouteMs: number;
  throughput: ThroughputResult;
}

export interface AclBenchResult {
  acl: StackCost;
  noAcl: StackCost;
}

export interface AclBenchOptions {
  progress: Progress;
  /** Counted time-to-route runs per stack (default 5). */
  runs?: number;
  durationS?: number;
  connections?: number;
}

function sameServices(t: Target, services: Record<string, unknown>): void {
  const got = Object.keys(services).join(', ');
  if (got !== DISCOVERY.join(', '))
    throw targetError(
      `the bench stack on ${t.name} runs ${got}, not ${DISCOVERY.join(', ')}`,
      'this is a paasbox bug: the bench settings file disables every other service',
    );
}

/** The ACL stack: the real install, its secrets under the throwaway instance. */
async function installWithAcls(
  t: Target,
  configPath: string,
  app: string,
  progress: Progress,
): Promise<void> {
  const out = await provisionTarget(t, {
    ...PLAN,
    configPath,
    instance: INSTANCE,
    progress,
    healthTimeoutS: 300,
  });
  sameServices(t, out.plan!.compose.services);
  await loadImages(t, [app]);
}

/** The no-ACL stack: the compose services generated for `t`, each `docker run` without its secret mounts. */
async function startWithoutSecrets(t: Target, configPath: string, app: string): Promise<void> {
  const plan = await planStack(t, { ...PLAN, configPath });
  sameServices(t, plan.compose.services);
  await loadImages(t, [...plan.images, app]);
  for (const [name, svc] of Object.entries(plan.compose.services)) {
    const volumes = (svc.volumes ?? []).filter((v) => !v.startsWith(`${SECRETS_DIR}/`));
    const r = await t.exec(dockerRun(`pbnoacl-${name}`, { ...svc, volumes }), { timeoutMs: 120_000 });
    if (r.code !== 0)
      throw targetError(
        `docker run of ${name} failed on ${t.name}`,
        'read the output below',
        r.stderr || r.stdout,
      );
  }
  await new ConsulClient({ baseUrl: `http://${t.address}:8500` }).waitForLeader(120_000, 1000);
}

/**
 * Both stacks on fresh hosts, measured in the same run; the hosts and the instance's secrets are removed
 * after.
 */
export async function benchAcl(opts: AclBenchOptions): Promise<AclBenchResult> {
  const runs = opts.runs ?? 5;
  await ensureStackImages([...DISCOVERY], opts.progress);
  const app = await ensureExampleImage(opts.progress);
  const model = loadStackModel();
  const dir = mkdtempSync(join(tmpdir(), 'pbbench-acl-'));
  const configPath = join(dir, 'paasbox.yaml');
  const off = Object.keys(model.services).filter((s) => !(DISCOVERY as readonly string[]).includes(s));
  writeFileSync(configPath, `services:\n${off.map((s) => `  ${s}: { enabled: false }\n`).join('')}`);
  const hosts = await createDindHosts(2, { prefix: 'pbbench-acl', withDocker: true });
  const [acl, noAcl] = hosts.hosts.map((h) => openTarget({ kind: 'ssh', ssh: h.ssh })) as [Target, Target];
  try {
    const setup = await Promise.allSettled([
      installWithAcls(acl, configPath, app, opts.progress),
      startWithoutSecrets(noAcl, configPath, app),
    ]);
    for (const s of setup) if (s.status === 'rejected') throw s.reason;

    const route = (t: Target, extra: { keep?: boolean; timeoutMs?: number } = {}) =>
      benchTimeToRoute(t, { containerPrefix: 'pbbench', ...extra });
    // Warm-up (uncounted): the first registration after start waits for the
    // tokens and consul-template's retries; its instance then serves the load.
    const warm = {
      acl: await route(acl, { keep: true, timeoutMs: 180_000 }),
      noAcl: await route(noAcl, { keep: true, timeoutMs: 180_000 }),
    };
    const ms = { acl: [] as number[], noAcl: [] as number[] };
    for (let i = 0; i < runs; i++) {
      // Alternate which stack goes first, so neither always follows the other.
      for (const k of i % 2 ? (['noAcl', 'acl'] as const) : (['acl', 'noAcl'] as const))
        ms[k].push((await route(k === 'acl' ? acl : noAcl)).msToRoute);
    }
    const load = (t: Target, w: typeof warm.acl) =>
      benchHaproxyOverhead(t, {
        service: w.service,
        hostPort: w.hostPort,
        reach: 'address',
        ...(opts.durationS ? { durationS: opts.durationS } : {}),
        ...(opts.connections ? { connections: opts.connections } : {}),
      });
    const throughput = { acl: await load(acl, warm.acl), noAcl: await load(noAcl, warm.noAcl) };
    return {
      acl: { routeMs: ms.acl, medianRouteMs: median(ms.acl), throughput: throughput.acl },
      noAcl: { routeMs: ms.noAcl, medianRouteMs: median(ms.noAcl), throughput: throughput.noAcl },
    };
  } finally {
    await acl.close().catch(() => undefined);
    await noAcl.close().catch(() => undefined);
    await hosts.destroy();
    rmSync(localSecretsDir(INSTANCE), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}
