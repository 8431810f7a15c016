// The one image pipeline integration specs use: the benchmarks' own
// (src/bench/images.ts: the stack's images from the real builder, the example
// app from its build script), one build at a time in this process, with the
// build's progress indented under the spec's output. A missing image is
// built, never a reason to skip (Pebble's too: a clean clone builds it itself).
import {
  ensureExampleImage as exampleImage,
  ensurePebbleImage as pebbleImage,
  ensureStackImages as stackImages,
} from '../../src/bench/images.js';
import { Progress } from '../../src/progress.js';

/** Progress lines of image builds, indented under the spec's output. */
export function imagesProgress(): Progress {
  return new Progress({ write: (l) => process.stderr.write(`      images: ${l}\n`) });
}

// Specs may ask concurrently; builds of one docker must not overlap.
let queue: Promise<unknown> = Promise.resolve();
function serial<T>(fn: () => Promise<T>): Promise<T> {
  const next = queue.then(fn, fn);
  queue = next.catch(() => undefined);
  return next;
}

/** The local-source images of `services` (default: all), built when missing or stale; each service's ref. */
export function ensureStackImages(services?: string[]): Promise<Record<string, string>> {
  return serial(() => stackImages(services, imagesProgress()));
}

/** paasbox/simplewebapp-python:latest from the example's build script; its ref. */
export function ensureExampleImage(): Promise<string> {
  return serial(() => exampleImage(imagesProgress()));
}

/** The Pebble image of the HTTPS spec (src/bench/images.ts), built one build at a time. */
export function ensurePebbleImage(): Promise<string> {
  return serial(() => pebbleImage(imagesProgress()));
}
