// Bounded waiting for specs, the same way src/ and the benchmarks wait:
// src/poll.ts. `until` keeps the specs' short signature (what, fn, timeout,
// interval) and fails with poll's PaasboxError naming what was awaited and
// the last error seen.
import { poll } from '../../src/poll.js';

export { sleep } from '../../src/poll.js';

/** fn's first value other than undefined, tried every everyMs (a throw counts as "not yet"). */
export function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<T> {
  return poll({ what, timeoutMs, everyMs, fix: 'read the spec output above for the last error' }, () => fn());
}
