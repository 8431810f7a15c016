// The one image pipeline integration specs use: the stack's images come from
// the real builder (src/images buildAll: prepare hooks, content hashes,
// incremental, so a no-op when up to date), the example app from its own
// build script. A missing image is built, never a reason to skip.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { buildAll, formatBuildSummary } from '../../src/images/index.js';
import { Progress } from '../../src/progress.js';
import { loadStackModel } from '../../src/stack/load.js';
import { builtImageRef } from '../../src/stack/refs.js';
import { repoPath } from '../../src/stack/validate.js';
import { LocalTarget } from '../../src/target/local.js';

const run = promisify(execFile);

/** The ref examples/SimpleWebappPython/build-docker-image.sh tags. */
export const EXAMPLE_IMAGE = 'paasbox/simplewebapp-python:latest';

// One build at a time in this process (specs may ask concurrently).
let queue: Promise<unknown> = Promise.resolve();
function serial<T>(fn: () => Promise<T>): Promise<T> {
  const next = queue.then(fn, fn);
  queue = next.catch(() => undefined);
  return next;
}

async function build(only?: string[]): Promise<void> {
  const progress = new Progress({ write: (l) => process.stderr.write(`      images: ${l}\n`) });
  const r = await buildAll({ target: new LocalTarget(), model: loadStackModel(), source: 'local', ...(only ? { only } : {}), progress });
  // Unavailable images (no offline source, e.g. mesos) are not failures; a
  // named service without a local build was refused before this.
  if (!r.ok) throw new Error(`building the stack's images failed:${formatBuildSummary(r)}`);
}

/**
 * Build (incrementally) the local-source images of `services` (all services
 * by default) on this machine's docker and return each service's ref
 * (paasbox/<build>:local). Throws, with the build summary, when one fails or
 * a named service has no local build.
 */
export function ensureStackImages(services?: string[]): Promise<Record<string, string>> {
  return serial(async () => {
    const model = loadStackModel();
    const names = services ?? Object.keys(model.services).filter((s) => model.services[s]!.sources.local.build);
    const refs: Record<string, string> = {};
    for (const s of names) {
      const spec = model.services[s];
      if (!spec) throw new Error(`stacks/paasbox.yaml has no service ${s}`);
      const b = spec.sources.local.build;
      if (!b) throw new Error(`service ${s} has no local build in stacks/paasbox.yaml`);
      refs[s] = builtImageRef(b, 'local');
    }
    await build(services);
    return refs;
  });
}

/**
 * Build paasbox/simplewebapp-python:latest through the example's own
 * build-docker-image.sh (on the paasbox base, built first if missing; docker's
 * layer cache makes repeats quick) and return its ref.
 */
export function ensureExampleImage(): Promise<string> {
  return serial(async () => {
    await build(['debian']);
    await run('sh', [repoPath('examples', 'SimpleWebappPython', 'build-docker-image.sh')], { timeout: 900_000, maxBuffer: 64 << 20 }).catch((e: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(`examples/SimpleWebappPython/build-docker-image.sh failed: ${e.message}\n${(e.stdout ?? '').slice(-2000)}${(e.stderr ?? '').slice(-2000)}`);
    });
    return EXAMPLE_IMAGE;
  });
}
