// One error type for everything a user can cause or fix: it names the problem
// and the fix, and the entry scripts print it as one line without a stack trace.

export class PaasboxError extends Error {
  constructor(
    /** What is wrong, naming the field, host, port or tool. */
    readonly problem: string,
    /** What the user does about it. */
    readonly fix: string,
    /** Extra detail (command output tail) shown under the one-line cause. */
    readonly detail?: string,
  ) {
    super(`${problem} (fix: ${fix})`);
    this.name = 'PaasboxError';
  }
}

export function isPaasboxError(e: unknown): e is PaasboxError {
  return e instanceof PaasboxError;
}

/** The one-line form the scripts print to stderr before exiting non-zero. */
export function formatError(e: unknown): string {
  if (isPaasboxError(e)) {
    const head = `paasbox: ${e.problem}\n  fix: ${e.fix}`;
    return e.detail ? `${head}\n  detail: ${e.detail.trim().split('\n').slice(-10).join('\n          ')}` : head;
  }
  return `paasbox: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
}
