// The images the benchmarks run, made on this machine's docker through the
// product's own paths: the stack's from the image builder (src/images buildAll:
// incremental, so a no-op when up to date), the example app's from
// examples/SimpleWebappPython/build-docker-image.sh on the paasbox base, and
// Pebble's (stacks/test-images/pebble: its image.yaml's prepare steps, then
// docker build on the paasbox base) for the HTTPS spec and benchmark.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PaasboxError } from '../errors.js';
import { BASE_REF, buildAll, formatBuildSummary, readImageManifest, runPrepare } from '../images/index.js';
import type { Progress } from '../progress.js';
import { loadStackModel } from '../model/load.js';
import { builtImageRef } from '../stackfile/refs.js';
import { repoPath } from '../paths.js';
import { LocalTarget } from '../target/local.js';

const run = promisify(execFile);

/** The ref examples/SimpleWebappPython/build-docker-image.sh tags. */
export const EXAMPLE_IMAGE = 'paasbox/simplewebapp-python:latest';

async function build(only: string[] | undefined, progress: Progress): Promise<void> {
  const target = new LocalTarget();
  try {
    const r = await buildAll({
      target,
      model: loadStackModel(),
      source: 'local',
      ...(only ? { only } : {}),
      progress,
    });
    // Unavailable images (no offline source, e.g. mesos) are not failures.
    if (!r.ok)
      throw new PaasboxError(
        "building the stack's images failed",
        'read the build summary below, then npx paasbox build-images',
        formatBuildSummary(r),
      );
  } finally {
    await target.close();
  }
}

/**
 * Build (incrementally) the local-source images of `services` (all with a
 * local build by default) and return each service's ref (paasbox/<build>:local).
 */
export async function ensureStackImages(
  services: string[] | undefined,
  progress: Progress,
): Promise<Record<string, string>> {
  const model = loadStackModel();
  const names = services ?? Object.keys(model.services).filter((s) => model.services[s]!.sources.local.build);
  const refs: Record<string, string> = {};
  for (const s of names) {
    const spec = model.services[s];
    if (!spec)
      throw new PaasboxError(
        `stacks/paasbox.yaml has no service ${s}`,
        `use one of: ${Object.keys(model.services).join(', ')}`,
      );
    const b = spec.sources.local.build;
    if (!b)
      throw new PaasboxError(
        `service ${s} has no local build in stacks/paasbox.yaml`,
        'name a service whose sources.local has a build',
      );
    refs[s] = builtImageRef(b, 'local');
  }
  await build(services, progress);
  return refs;
}

/**
 * Build EXAMPLE_IMAGE with the example's own build-docker-image.sh (on the
 * paasbox base, built first when missing; docker's layer cache makes repeats
 * quick) and return its ref.
 */
export async function ensureExampleImage(progress: Progress): Promise<string> {
  await build(['debian'], progress);
  const script = 'examples/SimpleWebappPython/build-docker-image.sh';
  await progress.step(`build ${EXAMPLE_IMAGE} (${script})`, 'local', async () => {
    await run('sh', [repoPath(script)], { timeout: 900_000, maxBuffer: 64 << 20 }).catch(
      (e: Error & { stdout?: string; stderr?: string }) => {
        throw new PaasboxError(
          `${script} failed`,
          'read its output below; it builds FROM paasbox/debian:bookworm',
          `${e.message}\n${(e.stdout ?? '').slice(-2000)}${(e.stderr ?? '').slice(-2000)}`,
        );
      },
    );
  });
  return EXAMPLE_IMAGE;
}

/** The Pebble image (stacks/test-images/pebble: Pebble and pebble-challtestsrv at image.yaml's version). */
export const PEBBLE_IMAGE = 'paasbox-test/pebble:v2.10.3';

/**
 * PEBBLE_IMAGE: the base (through the example app, which the HTTPS runs use too), the context's
 * `go install` steps (cached in its .bin/), then `docker build` (docker's cache makes repeats quick).
 */
export async function ensurePebbleImage(progress: Progress): Promise<string> {
  await ensureExampleImage(progress);
  const dir = repoPath('stacks', 'test-images', 'pebble');
  await progress.step(`build ${PEBBLE_IMAGE} (stacks/test-images/pebble)`, 'local', async () => {
    await runPrepare(dir, await readImageManifest(dir));
    await run(
      'docker',
      ['build', '-q', '--network', 'host', '--build-arg', `BASE=${BASE_REF}`, '-t', PEBBLE_IMAGE, dir],
      { timeout: 900_000, maxBuffer: 16 << 20 },
    );
  });
  return PEBBLE_IMAGE;
}
