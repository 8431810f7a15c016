// Benchmarks for the lead's scripts/bench.mjs (timed here, never asserted in tests).

import { Progress } from '../progress.js';
import type { Target } from '../target/target.js';
import { provisionTarget, type ProvisionOptions } from './provision.js';

/** Mean milliseconds per `true` over one reused connection (SSH round trip + session setup). */
export async function benchExec(target: Target, iterations = 50): Promise<{ iterations: number; msPerExec: number }> {
  await target.exec('true');
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) await target.exec('true');
  return { iterations, msPerExec: (performance.now() - t0) / iterations };
}

/** Seconds for a provisioning run on an already converged target (every step a check only). */
export async function benchConvergedRun(target: Target, opts: ProvisionOptions = {}): Promise<{ seconds: number; ok: number; changed: number }> {
  const progress = new Progress({ write: () => undefined });
  const t0 = performance.now();
  const r = await provisionTarget(target, { ...opts, progress });
  return { seconds: (performance.now() - t0) / 1000, ok: r.ok, changed: r.changed };
}

/** MB/s through target.exec stdin (what `docker save | docker load` over SSH is bounded by). */
export async function benchStdinThroughput(target: Target, megabytes = 64): Promise<{ megabytes: number; mbPerSecond: number }> {
  const chunk = Buffer.alloc(1 << 20, 7);
  async function* gen() {
    for (let i = 0; i < megabytes; i++) yield chunk;
  }
  const { Readable } = await import('node:stream');
  const t0 = performance.now();
  const r = await target.exec('cat > /dev/null', { stdin: Readable.from(gen()) });
  if (r.code !== 0) throw new Error(r.stderr);
  return { megabytes, mbPerSecond: megabytes / ((performance.now() - t0) / 1000) };
}
