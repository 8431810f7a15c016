// runVerify: derive every check for a target (model + Consul catalog), run them
// concurrently with retries from inside the target (the network probes from
// another host when one is given: verify --from-here), and return the report.

import type { StackModel } from '../model/model.js';
import type { Settings } from '../settings/settings.js';
import { resolveImageRefs } from '../stackfile/refs.js';
import { servicesOnThisHost } from '../stackfile/generate.js';
import { effectivePorts } from '../settings/services.js';
import type { Target } from '../target/target.js';
import type { Progress } from '../progress.js';
import type { Check, CheckResult, Outcome, VerifyContext, VerifyReport } from './types.js';
import { deriveChecks } from './derive.js';
import { hardeningChecks } from './hardening.js';
import { hostChecks } from './host.js';
import { clusterChecks } from './cluster.js';
import {
  catalogUnreadable,
  consulHttpPort,
  deriveCatalogChecks,
  dnsPorts,
  readCatalog,
  type CatalogSnapshot,
} from './catalog.js';
import { inspectAll, presentImages, type ContainerState } from './docker.js';
import { probeTools, type Tools } from '../system/http.js';
import { readDeployment, type Deployment } from '../stackfile/deployment.js';
import { keepReadBackError } from '../system/readback.js';
import { swarmHealthCheck } from './swarm-health.js';
import { PaasboxError } from '../errors.js';
import { poll, sleep } from '../poll.js';

export interface VerifyOptions {
  /**
   * Checks run at once (default 8; sshd allows 10 sessions per connection by default, so keep it at most 9
   * over SSH).
   */
  concurrency?: number;
  /** Minimum time between the two restart-count samples (default 3000 ms). */
  crashSampleMs?: number;
  /** Also check DNS for every service in Consul's catalog (default true). */
  catalog?: boolean;
  /** Only run checks whose id or service matches. */
  only?: (c: Check) => boolean;
  /** Address the checks talk to on the target (default settings.ip). */
  address?: string;
  /** Extra checks run alongside the derived ones. */
  extraChecks?: Check[];
  /** Per-check progress lines. */
  progress?: Progress;
  /** Override tries (e.g. 1 for quick negative tests). */
  healthAttempts?: number;
  dnsAttempts?: number;
  /** Give up retrying after this long per check (default 90 s). */
  checkDeadlineMs?: number;
  /** The deployed compose file's record; read from the target when undefined, ignored when null. */
  deployment?: Deployment | null;
  /**
   * Run the network checks on this host (verify --from-here: the laptop), logins read from its secretsDir;
   * container state is still read on the target.
   */
  probeFrom?: { target: Target; secretsDir: string };
}

/** Where the network checks run and with what context. */
interface Prober {
  target: Target;
  ctx: VerifyContext;
}

/** A context whose container list is refreshed when older than a second. */
export function makeContext(target: Target, tools: Tools, address: string, sampleMs: number): VerifyContext {
  let cached: { at: number; p: Promise<ContainerState[]> } | undefined;
  let base: Promise<ContainerState[]> | undefined;
  let baseAt = 0;
  const containers = (): Promise<ContainerState[]> => {
    if (!cached || Date.now() - cached.at > 1000) {
      const p = inspectAll(target);
      cached = { at: Date.now(), p };
      p.catch(() => (cached = undefined));
    }
    return cached.p;
  };
  return {
    address,
    tools,
    containers,
    baseline: async () => {
      if (!base) {
        baseAt = Date.now();
        base = inspectAll(target);
      }
      const b = await base;
      // The second sample must be at least sampleMs later than the first.
      const wait = baseAt + sampleMs - Date.now();
      if (wait > 0) await sleep(wait);
      return b;
    },
  };
}

export async function runVerify(
  target: Target,
  model: StackModel,
  settings: Settings,
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  const started = Date.now();
  const host = target.name;
  const address = opts.address ?? settings.ip;
  const tools = await probeTools(target);
  const ctx = makeContext(target, tools, address, opts.crashSampleMs ?? 3000);
  void ctx.baseline().catch(() => undefined); // take the first restart-count sample now
  const probe: Prober | undefined = opts.probeFrom && {
    target: opts.probeFrom.target,
    ctx: {
      ...ctx,
      tools: await probeTools(opts.probeFrom.target),
      localSecretsDir: opts.probeFrom.secretsDir,
    },
  };

  const loadable = Object.values(model.services)
    .map((s) => s.sources[settings.imageSource]?.unavailable?.loadable)
    .filter((x): x is string => !!x);
  const present = await presentImages(target, loadable);
  const refs = await resolveImageRefs(model, settings, (ref) => present.has(ref));
  // A service another one replaces (replacedBy) is skipped like one without its image.
  const unavailable = { ...refs.unavailable, ...refs.replaced };
  // Services install left out of the compose file (image not available) are skipped, not failed.
  const deployment =
    opts.deployment === undefined ? await readDeployment(target).catch(keepReadBackError) : opts.deployment;
  for (const [svc, why] of Object.entries({ ...deployment?.meta.omitted, ...deployment?.meta.replaced }))
    unavailable[svc] ??= `left out by install: ${why}`;

  let checks = [
    ...hostChecks(settings.ip, host),
    swarmHealthCheck(host),
    ...hardeningChecks(model, settings, host, unavailable),
    ...deriveChecks(model, settings, {
      host,
      unavailable,
      ...(opts.healthAttempts !== undefined ? { healthAttempts: opts.healthAttempts } : {}),
      ...(opts.dnsAttempts !== undefined ? { dnsAttempts: opts.dnsAttempts } : {}),
    }),
  ];
  if (opts.catalog !== false) {
    const port = consulHttpPort(model, settings);
    let error = '';
    // Three reads at most, a second apart: the third one's error is the check's.
    let reads = 0;
    const read = () => {
      reads++;
      return probe
        ? readCatalog(probe.target, probe.ctx.tools, address, port)
        : readCatalog(target, tools, address, port);
    };
    const what = `Consul's catalog at ${address}:${port}`;
    const snap = await poll(
      { what, timeoutMs: 120_000, everyMs: 1000, fix: 'check consul', fatal: () => reads >= 3 },
      read,
    ).catch((e: unknown): CatalogSnapshot | undefined => {
      error = e instanceof PaasboxError && e.detail ? e.detail : e instanceof Error ? e.message : String(e);
      return undefined;
    });
    checks.push(
      ...(snap
        ? deriveCatalogChecks(snap, {
            host,
            domain: settings.domain,
            dnsPorts: dnsPorts(model, settings, unavailable),
            thisNode: { ip: settings.ip, hostname: settings.hostname },
            ...haproxyRoutePort(model, settings, unavailable),
            ...(opts.dnsAttempts !== undefined ? { attempts: opts.dnsAttempts } : {}),
          })
        : [catalogUnreadable(host, address, port, error)]),
    );
  }
  // A cluster: the whole, as this host sees it (none on one host).
  checks.push(...clusterChecks(model, settings, host));
  checks.push(...(opts.extraChecks ?? []));
  if (opts.only) checks = checks.filter(opts.only);

  const results = await runChecks(target, ctx, checks, opts, probe);
  return summarize(host, started, results);
}

/** HAProxy's http port when haproxy runs on this host and its image is available. */
function haproxyRoutePort(
  model: StackModel,
  settings: Settings,
  unavailable: Record<string, string>,
): { haproxyPort?: number } {
  if (!servicesOnThisHost(model, settings).includes('haproxy') || unavailable['haproxy']) return {};
  const p = effectivePorts(model, settings, 'haproxy').find((x) => x.name === 'http');
  return p ? { haproxyPort: p.port } : {};
}

export function summarize(target: string, started: number, results: CheckResult[]): VerifyReport {
  const count = (s: CheckResult['status']) => results.filter((r) => r.status === s).length;
  return {
    target,
    startedAt: new Date(started).toISOString(),
    seconds: (Date.now() - started) / 1000,
    passed: count('passed'),
    failed: count('failed'),
    skipped: count('skipped'),
    results,
  };
}

/**
 * Run checks with a concurrency limit (network checks on `probe` when given); a check retries until ok, its
 * attempts or the deadline run out.
 */
export async function runChecks(
  target: Target,
  ctx: VerifyContext,
  checks: Check[],
  opts: VerifyOptions = {},
  probe?: Prober,
): Promise<CheckResult[]> {
  const results: CheckResult[] = new Array(checks.length);
  let next = 0;
  const worker = async () => {
    while (next < checks.length) {
      const i = next++;
      const c = checks[i]!;
      const on = c.network && probe ? probe : { target, ctx };
      results[i] = await runOne(on.target, on.ctx, c, opts.checkDeadlineMs ?? 90_000);
      const r = results[i]!;
      if (r.status !== 'skipped')
        opts.progress?.say(
          `[${r.host}] ${r.status === 'passed' ? '✓' : r.status === 'failed' ? '✗' : '-'} ${r.id}${r.status === 'failed' ? `: got ${r.got}` : ''}`,
        );
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 8, checks.length)) }, worker),
  );
  return results;
}

async function runOne(
  target: Target,
  ctx: VerifyContext,
  c: Check,
  deadlineMs: number,
): Promise<CheckResult> {
  const t0 = Date.now();
  const base = { id: c.id, service: c.service, host: c.host, description: c.description };
  if (c.skip)
    return { ...base, status: 'skipped', expected: '', got: '', reason: c.skip, attempts: 0, seconds: 0 };
  const attempts = Math.max(1, c.attempts ?? 1);
  let last: Outcome = { ok: false, expected: '', got: '' };
  let n = 0;
  // Until ok, final or out of attempts; past the deadline (poll's timeout) the last outcome stands too.
  await poll(
    { what: `check ${c.id}`, timeoutMs: deadlineMs, everyMs: c.delayMs ?? 1000, fix: 'see the check' },
    async () => {
      n++;
      try {
        last = await c.run(target, ctx);
      } catch (e) {
        last = {
          ok: false,
          expected: last.expected || 'the check to run',
          got: `error: ${e instanceof Error ? e.message : String(e)}`,
        };
      }
      return last.ok || last.final || n >= attempts ? last : undefined;
    },
  ).catch(() => undefined);
  return {
    ...base,
    status: last.ok ? 'passed' : 'failed',
    expected: last.expected,
    got: last.got,
    attempts: n,
    seconds: (Date.now() - t0) / 1000,
  };
}
