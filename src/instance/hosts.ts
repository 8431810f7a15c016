// The hosts of an opened instance: a cluster's every host (its first master,
// the stage, first; the others opened as install recorded them), one host
// alone otherwise; fn on each in turn, a cluster going on without a host it
// cannot reach; and the note that a one-host command acts on the first master.

import { isPaasboxError } from '../errors.js';
import type { Target } from '../target/target.js';
import { openTarget } from './open.js';
import type { Instance } from './state.js';

/** An opened stage: its target, and the recorded instance it came from, if any. */
export interface StageOfInstance {
  target: Target;
  instance?: Instance;
}

/**
 * Every host of a cluster instance, the stage (its first master) first; the
 * others opened as install recorded them. One host: the stage alone. The
 * caller closes them all (closeHosts).
 */
export function stageHosts(s: StageOfInstance): { target: Target; role: 'master' | 'agent' }[] {
  const c = s.instance?.cluster;
  if (!c) return [{ target: s.target, role: 'master' }];
  const rest = [
    ...c.masters.map((m) => ({ m, role: 'master' as const })),
    ...c.agents.map((m) => ({ m, role: 'agent' as const })),
  ].slice(1);
  return [
    { target: s.target, role: 'master' },
    ...rest.map(({ m, role }) => ({ target: openTarget({ kind: 'ssh', ssh: m.ssh }), role })),
  ];
}

export async function closeHosts(hosts: { target: Target }[]): Promise<void> {
  await Promise.all(hosts.map((h) => h.target.close().catch(() => undefined)));
}

/**
 * fn on each host in turn. A cluster keeps going without a host: the ones fn
 * failed on come back as unreachable, with what stopped it; one host's
 * failure is thrown.
 */
export async function eachHost<H extends { target: Target; role: string }, T>(
  hosts: H[],
  fn: (h: H) => Promise<T>,
): Promise<{ results: T[]; unreachable: { host: string; role: string; error: string }[] }> {
  const results: T[] = [];
  const unreachable: { host: string; role: string; error: string }[] = [];
  for (const h of hosts) {
    try {
      results.push(await fn(h));
    } catch (e) {
      if (hosts.length === 1) throw e;
      unreachable.push({
        host: h.target.name,
        role: h.role,
        error: isPaasboxError(e) ? e.problem : e instanceof Error ? e.message : String(e),
      });
    }
  }
  return { results, unreachable };
}

/**
 * For commands that act on one host: on a cluster instance, the line that
 * says so (its first master, and how to name another); undefined otherwise.
 */
export function clusterNote(s: StageOfInstance, command: string): string | undefined {
  const c = s.instance?.cluster;
  if (!c) return undefined;
  const n = c.masters.length + c.agents.length;
  return `paasbox ${command}: ${s.instance!.name} is a cluster of ${n} hosts; this acts on its first master ${s.target.name} only (another host: --target user@address)`;
}
