// The build host is the machine running install: the images are built here
// (incrementally: unchanged images are not rebuilt) and the images step then
// sends them to the target. For standalone the build host is the target.

import { buildAll, type BuildAllResult } from '../images/index.js';
import { PaasboxError } from '../errors.js';
import type { Progress } from '../progress.js';
import type { ImageSourceName, StackModel } from '../stack/model.js';
import { LocalTarget } from '../target/local.js';
import { runSteps } from './runner.js';
import { basePackagesStep, buildToolsStep, dockerEngineStep } from './shell-step.js';

export interface BuildHostOptions {
  model: StackModel;
  source: ImageSourceName;
  progress: Progress;
  mirror?: string;
  /** Check only: report what would be built. */
  dryRun?: boolean;
}

export async function prepareImagesOnBuildHost(opts: BuildHostOptions): Promise<BuildAllResult> {
  const local = new LocalTarget();
  try {
    // A build host that already has what the build needs is left as it is
    // (macOS with Docker Desktop has no apt); otherwise it is provisioned like a target.
    const needs = opts.source === 'local' ? 'docker info >/dev/null 2>&1 && command -v debootstrap && command -v go' : 'docker info >/dev/null 2>&1';
    if ((await local.exec(needs, { timeoutMs: 30_000 })).code !== 0)
      await runSteps(local, [basePackagesStep(), dockerEngineStep(), ...(opts.source === 'local' ? [buildToolsStep()] : [])], opts.progress, { checkOnly: !!opts.dryRun });
    let result: BuildAllResult | undefined;
    await opts.progress.step(`build images (--source ${opts.source})`, local.name, async () => {
      result = await buildAll({
        target: local,
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
      return { status: built ? 'changed' : 'ok', detail: Object.entries(count).map(([k, n]) => `${n} ${k}`).join(', ') };
    });
    return result!;
  } finally {
    await local.close();
  }
}
