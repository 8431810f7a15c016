// Where the images are built. Normally here, on the machine running install
// (incrementally: unchanged images are not rebuilt), and the images step then
// sends them to the target. They are built on the target instead when this
// machine cannot build images the target can run: no running docker (macOS
// without Docker Desktop), no debootstrap for the local source, or another
// CPU architecture (arm64 laptop, x86_64 VM). `--build-on here|target`
// (PAASBOX_BUILD_ON) forces either. For standalone both are this machine.

import { buildAll, type BuildAllResult } from '../images/index.js';
import { PaasboxError } from '../errors.js';
import type { Progress } from '../progress.js';
import type { ImageSourceName, StackModel } from '../model/model.js';
import { LocalTarget } from '../target/local.js';
import { asRoot } from '../target/sudo.js';
import type { Target } from '../target/target.js';
import { runSteps } from './runner.js';
import { basePackagesStep, buildToolsStep, dockerEngineStep } from './shell-step.js';

export const BUILD_ON = ['auto', 'here', 'target'] as const;
export type BuildOn = (typeof BUILD_ON)[number];

export interface BuildHostOptions {
  model: StackModel;
  source: ImageSourceName;
  progress: Progress;
  mirror?: string;
  /** Check only: report what would be built. */
  dryRun?: boolean;
}

/** What the choice looks at: this machine's build tools and both CPU architectures. */
export interface BuildHostFacts {
  targetIsHere: boolean;
  dockerRunsHere: boolean;
  debootstrapHere: boolean;
  archHere: string;
  archTarget: string;
}

export interface BuildChoice {
  where: 'here' | 'target';
  why: string;
}

/** x86_64/amd64 and aarch64/arm64 name the same machines. */
const normArch = (a: string) => ({ amd64: 'x86_64', arm64: 'aarch64' })[a] ?? a;

/**
 * Where to build (pure). A forced choice wins; auto builds here unless this machine cannot build what the
 * target runs.
 */
export function chooseBuildHost(want: BuildOn, source: ImageSourceName, f: BuildHostFacts): BuildChoice {
  if (f.targetIsHere) return { where: 'here', why: 'the target is this machine' };
  if (want === 'here') return { where: 'here', why: '--build-on here' };
  if (want === 'target') return { where: 'target', why: '--build-on target' };
  if (normArch(f.archHere) !== normArch(f.archTarget))
    return {
      where: 'target',
      why: `this machine is ${f.archHere}, the target ${f.archTarget}: images built here would not run there`,
    };
  if (!f.dockerRunsHere) return { where: 'target', why: 'docker does not run on this machine' };
  if (source === 'local' && !f.debootstrapHere)
    return { where: 'target', why: 'debootstrap (the local base image) is not on this machine' };
  return {
    where: 'here',
    why: 'this machine builds them (same architecture, docker and debootstrap here) and sends what the target lacks',
  };
}

/** Gather the facts and choose. */
export async function decideBuildHost(
  target: Target,
  want: BuildOn,
  source: ImageSourceName,
): Promise<BuildChoice> {
  const local = new LocalTarget();
  try {
    const targetIsHere = target instanceof LocalTarget;
    const [here, there, docker, deb] = await Promise.all([
      local.facts(),
      target.facts(),
      local.exec('docker info >/dev/null 2>&1', { timeoutMs: 30_000 }),
      local.exec('command -v debootstrap >/dev/null || test -x /usr/sbin/debootstrap', { timeoutMs: 10_000 }),
    ]);
    return chooseBuildHost(want, source, {
      targetIsHere,
      dockerRunsHere: docker.code === 0,
      debootstrapHere: deb.code === 0,
      archHere: here.arch,
      archTarget: there.arch,
    });
  } finally {
    await local.close();
  }
}

/** Build the images where `choice` says: here (then the images step sends them) or on the target itself. */
export async function prepareImages(
  target: Target,
  choice: BuildChoice,
  opts: BuildHostOptions,
): Promise<BuildAllResult> {
  const where =
    choice.where === 'target'
      ? `on ${target.name}`
      : target instanceof LocalTarget
        ? 'here'
        : 'here and sent to the target';
  opts.progress.say(`images: built ${where} (${choice.why})`);
  if (choice.where === 'here') return prepareImagesOnBuildHost(opts);
  // The target builds for itself: docker and debootstrap there first (the same steps provisioning runs).
  await runSteps(
    target,
    [basePackagesStep(), dockerEngineStep(), ...(opts.source === 'local' ? [buildToolsStep()] : [])],
    opts.progress,
    { checkOnly: !!opts.dryRun },
  );
  return buildOn(asRoot(target), opts);
}

export async function prepareImagesOnBuildHost(opts: BuildHostOptions): Promise<BuildAllResult> {
  const local = new LocalTarget();
  try {
    // A build host that already has what the build needs is left as it is
    // (macOS with Docker Desktop has no apt); otherwise it is provisioned like a target.
    const needs =
      opts.source === 'local'
        ? 'docker info >/dev/null 2>&1 && command -v debootstrap && command -v go'
        : 'docker info >/dev/null 2>&1';
    if ((await local.exec(needs, { timeoutMs: 30_000 })).code !== 0)
      await runSteps(
        local,
        [basePackagesStep(), dockerEngineStep(), ...(opts.source === 'local' ? [buildToolsStep()] : [])],
        opts.progress,
        { checkOnly: !!opts.dryRun },
      );
    return await buildOn(local, opts);
  } finally {
    await local.close();
  }
}

async function buildOn(t: Target, opts: BuildHostOptions): Promise<BuildAllResult> {
  let result: BuildAllResult | undefined;
  await opts.progress.step(`build images (--source ${opts.source})`, t.name, async () => {
    result = await buildAll({
      target: t,
      model: opts.model,
      source: opts.source,
      progress: opts.progress,
      ...(opts.mirror ? { mirror: opts.mirror } : {}),
      ...(opts.dryRun ? { dryRun: true } : {}),
    });
    if (!result.ok) {
      const failed = result.images.filter((i) => i.outcome === 'failed');
      throw new PaasboxError(
        `building ${failed.map((i) => i.ref).join(', ')} failed${failed[0]?.failedStep ? ` at ${failed[0].failedStep}` : ''}`,
        'read the build output below, fix the cause (mirror, network, Dockerfile), and run install again: finished images are not rebuilt',
        failed.map((i) => i.detail ?? i.reason).join('\n'),
      );
    }
    const count: Record<string, number> = {};
    for (const i of result.images) count[i.outcome] = (count[i.outcome] ?? 0) + 1;
    const built = (count.built ?? 0) + (count.pulled ?? 0);
    return {
      status: built ? 'changed' : 'ok',
      detail: Object.entries(count)
        .map(([k, n]) => `${n} ${k}`)
        .join(', '),
    };
  });
  return result!;
}
