// Executes the image plan over a Target: the base first (debootstrap + import),
// then every build (prepare hooks on this host, `docker build` on the target
// with the context streamed as a tar), pulls for the registry source. Builds
// the local source cannot provide are reported with how to supply them; the
// run goes on and reports failures at the end.
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PaasboxError, isPaasboxError } from '../errors.js';
import { Progress } from '../progress.js';
import type { ImageSourceName, StackModel } from '../model/model.js';
import { repoPath } from '../paths.js';
import type { Target } from '../target/target.js';
import { shq } from '../target/shell.js';
import { hostDebianMirror } from './apt-sources.js';
import { buildBaseImage } from './base.js';
import { declaredArgs, hashContext } from './hash.js';
import { readImageManifest } from './manifest.js';
import {
  HASH_LABEL,
  planImages,
  refsOfInterest,
  type BaseRecipe,
  type ContextInfo,
  type ImageSnapshot,
  type PlanEntry,
} from './plan.js';
import { runPrepare } from './prepare.js';
import { snapshotImages } from './snapshot.js';

export interface BuildOptions {
  /** The docker host the images are built on (and for). */
  target: Target;
  model: StackModel;
  source: ImageSourceName;
  /** stacks/images by default. */
  imagesDir?: string;
  /** Debian mirror; default: settings, else this host's apt configuration. */
  mirror?: string;
  suite?: string;
  vars?: Record<string, string>;
  only?: string[];
  force?: boolean;
  /** `docker build --no-cache`: with force, a cold build (the bench's "cold build"). */
  noCache?: boolean;
  /** Only print the plan. */
  dryRun?: boolean;
  /** `docker build --network host` (apt inside builds uses the host's network). Default true. */
  hostNetwork?: boolean;
  progress?: Progress;
}

export type ImageOutcome =
  'built' | 'up-to-date' | 'pulled' | 'present' | 'unavailable' | 'failed' | 'planned';

export interface ImageResult {
  ref: string;
  kind: PlanEntry['kind'];
  services: string[];
  outcome: ImageOutcome;
  reason: string;
  seconds: number;
  hash?: string;
  supply?: string;
  /** Failed builds: the Dockerfile step that failed and the output's tail. */
  failedStep?: string;
  detail?: string;
}

export interface BuildAllResult {
  ok: boolean;
  seconds: number;
  images: ImageResult[];
  /**
   * The target's images as the plan read them, when nothing was built or pulled since (so they still hold).
   */
  snapshot?: ImageSnapshot;
}

export interface ResolvedInputs {
  recipe: BaseRecipe;
  contexts: Record<string, ContextInfo | undefined>;
}

/** The base recipe and the build contexts' hashes (I/O on this host). */
export async function resolveInputs(
  opts: Pick<BuildOptions, 'model' | 'source' | 'imagesDir' | 'mirror' | 'suite'>,
): Promise<ResolvedInputs> {
  const suite = opts.suite ?? 'bookworm';
  const mirror = opts.mirror ?? (await hostDebianMirror(suite));
  if (!mirror) {
    throw new PaasboxError(
      "no Debian mirror: this host's apt configuration names none",
      'set debianMirror in paasbox.yaml or pass --mirror URL (a Debian archive URL)',
    );
  }
  const imagesDir = opts.imagesDir ?? repoPath('stacks', 'images');
  const names = new Set<string>();
  for (const s of Object.values(opts.model.services))
    if (s.sources[opts.source].build) names.add(s.sources[opts.source].build!);
  const contexts: Record<string, ContextInfo | undefined> = {};
  for (const name of names) {
    const dir = join(imagesDir, name);
    const dockerfile = join(dir, 'Dockerfile');
    if (!existsSync(dockerfile)) continue;
    contexts[name] = { hash: await hashContext(dir), args: declaredArgs(await readFile(dockerfile, 'utf8')) };
  }
  return { recipe: { suite, variant: 'minbase', mirror }, contexts };
}

/** Plan against what the target has now, with what it has (the reading the plan rests on). */
export async function planForTarget(
  opts: BuildOptions,
  inputs?: ResolvedInputs,
  baseBuilt = false,
): Promise<{ plan: PlanEntry[]; images: ImageSnapshot }> {
  const { recipe, contexts } = inputs ?? (await resolveInputs(opts));
  const images = await snapshotImages(opts.target, refsOfInterest(opts.model, opts.source));
  const plan = planImages({
    model: opts.model,
    source: opts.source,
    vars: opts.vars ?? {},
    globalArgs: { DEBIAN_MIRROR: recipe.mirror },
    images,
    contexts,
    base: recipe,
    ...(opts.only ? { only: opts.only } : {}),
    ...(opts.force ? { force: true } : {}),
    ...(baseBuilt ? { baseBuilt: true } : {}),
  });
  return { plan, images };
}

/** Build every image the source can provide; never throws for one image's failure. */
export async function buildAll(opts: BuildOptions): Promise<BuildAllResult> {
  const t0 = Date.now();
  const progress = opts.progress ?? new Progress();
  const host = opts.target.name;
  const inputs = await resolveInputs(opts);
  const results: ImageResult[] = [];
  const first = await planForTarget(opts, inputs);
  let plan = first.plan;

  if (opts.dryRun) {
    for (const e of plan) results.push(toResult(e, 'planned', 0, { reason: `${e.action}: ${e.reason}` }));
    return { ok: true, seconds: (Date.now() - t0) / 1000, images: results };
  }

  // Bases first; then plan again, so builds hash against the new base's ID.
  const bases = plan.filter((e) => e.kind === 'base' || (e.kind === 'image' && e.services.length === 0));
  let basesChanged = false;
  for (const e of bases) {
    const r = await runEntry(e, opts, inputs, progress, host);
    results.push(r);
    if (r.outcome === 'built' || r.outcome === 'pulled') basesChanged = true;
  }
  if (basesChanged) plan = (await planForTarget(opts, inputs, true)).plan;
  const done = new Set(bases.map((e) => e.ref));
  const failedBases = new Set(results.filter((r) => r.outcome === 'failed').map((r) => r.ref));
  for (const e of plan) {
    if (done.has(e.ref) && (e.kind === 'base' || e.services.length === 0)) continue;
    if (e.kind === 'build' && e.baseRef && failedBases.has(e.baseRef)) {
      progress.record(`build ${e.ref}`, host, 'failed', Date.now(), `its base ${e.baseRef} failed`);
      results.push(
        toResult(e, 'failed', 0, { reason: `not built: its base ${e.baseRef} failed (see above)` }),
      );
      continue;
    }
    results.push(await runEntry(e, opts, inputs, progress, host));
  }
  const unchanged = results.every((r) => r.outcome !== 'built' && r.outcome !== 'pulled');
  return {
    ok: results.every((r) => r.outcome !== 'failed'),
    seconds: (Date.now() - t0) / 1000,
    images: results,
    ...(unchanged ? { snapshot: first.images } : {}),
  };
}

function toResult(
  e: PlanEntry,
  outcome: ImageOutcome,
  seconds: number,
  extra: Partial<ImageResult> = {},
): ImageResult {
  return {
    ref: e.ref,
    kind: e.kind,
    services: e.services,
    outcome,
    reason: e.reason,
    seconds,
    ...(e.hash ? { hash: e.hash } : {}),
    ...(e.supply ? { supply: e.supply } : {}),
    ...extra,
  };
}

async function runEntry(
  e: PlanEntry,
  opts: BuildOptions,
  inputs: ResolvedInputs,
  progress: Progress,
  host: string,
): Promise<ImageResult> {
  const t0 = Date.now();
  const label = `${e.ref}${e.services.length ? ` (${e.services.join(', ')})` : ''}`;
  const secs = () => (Date.now() - t0) / 1000;
  switch (e.action) {
    case 'up-to-date':
    case 'present':
      progress.record(
        `image ${label}`,
        host,
        'ok',
        t0,
        e.action === 'up-to-date' ? `up-to-date: ${e.reason}` : `present: ${e.reason}`,
      );
      return toResult(e, e.action, secs());
    case 'unavailable':
      progress.record(
        `image ${label}`,
        host,
        'skipped',
        t0,
        `unavailable: ${e.reason}; supply: ${e.supply ?? '-'}`,
      );
      return toResult(e, 'unavailable', secs());
    case 'pull':
    case 'build':
      break;
  }
  try {
    return await progress
      .step(`${e.action} ${label}`, host, async () => {
        if (e.action === 'pull') await pull(opts.target, e.ref);
        else if (e.kind === 'base') await buildBaseImage(opts.target, inputs.recipe, e.hash!);
        else await dockerBuild(opts, e);
        return { status: 'changed' as const, detail: e.reason };
      })
      .then(() => toResult(e, e.action === 'pull' ? 'pulled' : 'built', secs()));
  } catch (err) {
    const pe = isPaasboxError(err) ? err : undefined;
    return toResult(e, 'failed', secs(), {
      reason: pe ? `${pe.problem} (fix: ${pe.fix})` : String(err),
      ...(pe?.detail ? { detail: pe.detail } : {}),
      ...(err instanceof BuildError ? { failedStep: err.step } : {}),
    });
  }
}

async function pull(target: Target, ref: string): Promise<void> {
  const res = await target.exec(`docker pull ${shq(ref)}`, { timeoutMs: 30 * 60_000 });
  if (res.code !== 0) {
    throw new PaasboxError(
      `docker pull ${ref} failed on ${target.name}`,
      `use --source local (images built here from Debian packages), or docker load a saved ${ref} on ${target.name}`,
      res.stderr,
    );
  }
}

class BuildError extends PaasboxError {
  constructor(
    problem: string,
    fix: string,
    detail: string,
    readonly step: string,
  ) {
    super(problem, fix, detail);
  }
}

/** The last "Step N/M : INSTRUCTION" line of legacy builder output (pure). */
export function lastBuildStep(output: string): string {
  const steps = output.split('\n').filter((l) => /^Step \d+\/\d+ : /.test(l));
  return steps.at(-1)?.trim() ?? '(before the first step)';
}

/** The docker build command line for one plan entry (pure). */
export function dockerBuildCommand(e: PlanEntry, hostNetwork = true, noCache = false): string {
  const args = Object.entries(e.args ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `--build-arg ${shq(`${k}=${v}`)}`);
  return [
    // --force-rm: a failed step leaves no stopped container behind.
    'DOCKER_BUILDKIT=0 docker build --force-rm',
    ...(hostNetwork ? ['--network host'] : []),
    ...(noCache ? ['--no-cache'] : []),
    `--label ${shq(`${HASH_LABEL}=${e.hash ?? ''}`)}`,
    ...args,
    `-t ${shq(e.ref)}`,
    '-',
  ].join(' ');
}

async function dockerBuild(opts: BuildOptions, e: PlanEntry): Promise<void> {
  if (!e.hash)
    throw new PaasboxError(
      `${e.ref} has no hash (its base is missing)`,
      'build the base first: --only debian',
    );
  const dir = join(opts.imagesDir ?? repoPath('stacks', 'images'), e.build!);
  await runPrepare(dir, await readImageManifest(dir));
  // The context goes to the target as a tar on stdin, so any Target works.
  const tar = spawn('tar', ['-C', dir, '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let tarErr = '';
  tar.stderr.on('data', (d: Buffer) => (tarErr += d.toString()));
  // Node discards a child's unread stdout when it exits; a PassThrough holds it
  // (with backpressure) until the target, maybe still connecting, reads it.
  const context = tar.stdout.pipe(new PassThrough());
  const res = await opts.target.exec(dockerBuildCommand(e, opts.hostNetwork ?? true, opts.noCache ?? false), {
    stdin: context,
    timeoutMs: 60 * 60_000,
  });
  if (res.code !== 0) {
    const output = `${res.stdout}\n${res.stderr}${tarErr}`;
    const step = lastBuildStep(res.stdout);
    const tail = output.trim().split('\n').slice(-20).join('\n');
    throw new BuildError(
      `building ${e.ref} failed at ${step}`,
      `fix stacks/images/${e.build}/Dockerfile (or the mirror/network it needs), then run again`,
      tail,
      step,
    );
  }
}
