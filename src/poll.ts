// The one way to wait. Every loop that asks "is it there yet?" (a Consul
// leader, a healthy service, a task moved, a port open) goes through poll, so
// each has a deadline, a pause between tries, and the same failure: a
// PaasboxError naming what was awaited, the fix, and the last error seen.
// A test greps src/ for hand-written loops (spec/unit/poll.spec.ts).

import { PaasboxError, type ErrorKind } from './errors.js';

export interface PollOptions {
  /** What is awaited, as the error says it: "a Consul leader on 10.0.0.5". */
  what: string;
  timeoutMs: number;
  /** Pause between tries (default 250 ms), or per try (a back-off); the first try is immediate. */
  everyMs?: number | ((attempt: number) => number);
  /**
   * At most this many tries. When they run out before the deadline, the
   * last error itself is thrown (a bounded retry keeps its own message).
   */
  attempts?: number;
  /** What the user does when it never comes. */
  fix: string;
  /** The timeout's kind (default 'target': the host did not get there). */
  kind?: ErrorKind;
  /** Errors that end the wait at once (rethrown), such as bad input. */
  fatal?: (e: unknown) => boolean;
  /** Called after each try that was not done, e.g. for progress lines. */
  onRetry?: (attempt: number, last: unknown) => void;
}

/** The deadline passed: a wait that may end quietly catches this one, and lets other errors through. */
export class PollTimeout extends PaasboxError {}

/** Resolve after ms (the one sleep of src/). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Call fn until it returns a value other than undefined, and return that
 * value. A throw counts as "not yet" and is kept as the last error, unless
 * opts.fatal says otherwise. At the deadline, a PaasboxError whose detail is
 * the last error (or the last "not yet" reason fn gave through `note`).
 */
export async function poll<T>(
  opts: PollOptions,
  fn: (attempt: number, note: (why: string) => void) => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const every = opts.everyMs ?? 250;
  const pause = typeof every === 'function' ? every : () => every;
  const start = Date.now();
  let last: unknown;
  let why: string | undefined;
  const note = (w: string) => {
    why = w;
  };
  for (let attempt = 1; ; attempt++) {
    try {
      const v = await fn(attempt, note);
      if (v !== undefined) return v;
      last = undefined;
    } catch (e) {
      if (opts.fatal?.(e)) throw e;
      last = e;
    }
    opts.onRetry?.(attempt, last);
    if (opts.attempts !== undefined && attempt >= opts.attempts && last !== undefined) throw last;
    const left = opts.timeoutMs - (Date.now() - start);
    if (left <= 0 || (opts.attempts !== undefined && attempt >= opts.attempts)) break;
    await sleep(Math.min(pause(attempt), left));
  }
  const secs = (opts.timeoutMs / 1000).toFixed(opts.timeoutMs < 10_000 ? 1 : 0);
  const detail = last !== undefined ? describe(last) : why;
  return Promise.reject(
    new PollTimeout(
      `timed out after ${secs} s waiting for ${opts.what}`,
      opts.fix,
      detail,
      opts.kind ?? 'target',
    ),
  );
}

function describe(e: unknown): string {
  if (e instanceof PaasboxError) return e.detail ? `${e.problem}: ${e.detail}` : e.problem;
  return e instanceof Error ? e.message : String(e);
}
