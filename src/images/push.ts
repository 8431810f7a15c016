// Push images from this machine's docker to a target's: `docker save` streamed
// into `docker load` there (one stream, so shared layers travel once), skipping
// images whose ID the target already has under the same ref.
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { PaasboxError } from '../errors.js';
import type { Progress } from '../progress.js';
import type { Target } from '../target/target.js';
import { snapshotImages } from './snapshot.js';

export interface PushResult {
  pushed: string[];
  skipped: string[];
  seconds: number;
}

/** Refs whose image differs (or is missing) on the target (pure). */
export function refsToPush(refs: string[], from: Record<string, { id: string }>, to: Record<string, { id: string }>): string[] {
  return refs.filter((r) => from[r] && to[r]?.id !== from[r]!.id);
}

/**
 * Copy refs from `from` (must be this machine: the save stream is read here) to `to`.
 * A ref missing on `from` is a PaasboxError naming it.
 */
export async function pushImages(from: Target, to: Target, refs: string[], progress?: Progress): Promise<PushResult> {
  const t0 = Date.now();
  if (from.name !== 'local') {
    throw new PaasboxError(`pushing images from ${from.name} is not supported`, 'build or load the images on this machine, then push from here');
  }
  const [have, there] = await Promise.all([snapshotImages(from, refs), snapshotImages(to, refs)]);
  const missing = refs.filter((r) => !have[r]);
  if (missing.length) {
    throw new PaasboxError(`${missing.join(', ')} not on this machine`, 'build them first: npx zx scripts/build-images.mjs (or docker load them here)');
  }
  const todo = refsToPush(refs, have, there);
  const skipped = refs.filter((r) => !todo.includes(r));
  const run = async () => {
    if (todo.length === 0) return { status: 'ok' as const, detail: 'all present' };
    const save = spawn('docker', ['save', ...todo], { stdio: ['ignore', 'pipe', 'pipe'] });
    let saveErr = '';
    save.stderr.on('data', (d: Buffer) => (saveErr += d.toString()));
    const saved = new Promise<number>((resolve) => save.on('close', (c) => resolve(c ?? 1)));
    // A PassThrough keeps the stream if `docker save` exits before the target reads (Node drops unread child output).
    const res = await to.exec('docker load', { stdin: save.stdout.pipe(new PassThrough()), timeoutMs: 60 * 60_000 });
    const saveCode = await saved;
    if (saveCode !== 0 || res.code !== 0) {
      throw new PaasboxError(
        `copying ${todo.join(', ')} to ${to.name} failed`,
        `check that dockerd runs on ${to.name} and has disk space, then run again`,
        `${saveErr}${res.stderr}`,
      );
    }
    return { status: 'changed' as const, detail: `loaded ${todo.join(', ')}` };
  };
  if (progress) await progress.step(`push ${todo.length} image(s)`, to.name, run);
  else await run();
  return { pushed: todo, skipped, seconds: (Date.now() - t0) / 1000 };
}
