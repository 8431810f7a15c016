// One error type for everything a user can cause or fix: it names the problem
// and the fix, and the entry scripts print it as one line without a stack trace.
// Its kind says whose move it is (the user's input, the target host, or a
// passing fault worth a retry); exitCodeFor maps kinds to exit codes in one place.

/**
 * user: bad input or a missing prerequisite here; target: the host refused or failed; transient: try again.
 */
export type ErrorKind = 'user' | 'target' | 'transient';

export class PaasboxError extends Error {
  constructor(
    /** What is wrong, naming the field, host, port or tool. */
    readonly problem: string,
    /** What the user does about it. */
    readonly fix: string,
    /** Extra detail (command output tail) shown under the one-line cause. */
    readonly detail?: string,
    readonly kind: ErrorKind = 'user',
  ) {
    super(`${problem} (fix: ${fix})`);
    this.name = 'PaasboxError';
  }
}

/** A failure on the target host (a step, a refused login, an unreachable host). */
export function targetError(problem: string, fix: string, detail?: string): PaasboxError {
  return new PaasboxError(problem, fix, detail, 'target');
}

/** A fault that may pass by itself (a host not answering yet, a dropped connection). */
export function transientError(problem: string, fix: string, detail?: string): PaasboxError {
  return new PaasboxError(problem, fix, detail, 'transient');
}

export function isPaasboxError(e: unknown): e is PaasboxError {
  return e instanceof PaasboxError;
}

/**
 * Exit codes, one table for every script: 0 done, 1 checks failed (verify,
 * status), 2 bad input or usage (as commander's own usage errors), 3 the target
 * failed, 75 a transient fault (EX_TEMPFAIL: run again), 70 a bug in paasbox.
 */
export const EXIT = { ok: 0, checksFailed: 1, user: 2, target: 3, transient: 75, internal: 70 } as const;

export function exitCodeFor(e: unknown): number {
  if (!isPaasboxError(e)) return EXIT.internal;
  return EXIT[e.kind];
}

/** The one-line form the scripts print to stderr before exiting non-zero. */
export function formatError(e: unknown): string {
  if (isPaasboxError(e)) {
    const head = `paasbox: ${e.problem}\n  fix: ${e.fix}`;
    return e.detail
      ? `${head}\n  detail: ${e.detail.trim().split('\n').slice(-10).join('\n          ')}`
      : head;
  }
  return `paasbox: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
}
