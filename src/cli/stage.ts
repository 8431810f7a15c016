// How every command after install finds its stage: --target (or the
// recorded default instance), with --key/--known-hosts/--accept-new-host-key
// over what was recorded, the deployed stack's compose file and project, and
// the target's lock for the commands that change it.

import { isPaasboxError, PaasboxError } from '../errors.js';
import { readDeployment, COMPOSE_PATH, type Deployment } from '../stackfile/deployment.js';
import type { Instance } from '../stage/instances.js';
import { withTargetLock } from '../stage/lock.js';
import { openTarget, resolveStage } from '../stage/open.js';
import type { StageRef } from '../stage/ssh-info.js';
import type { Target } from '../target/target.js';

export interface StageFlags {
  target?: string;
  key?: string;
  knownHosts?: string;
  acceptNewHostKey?: boolean;
}

export interface OpenedStage {
  target: Target;
  ref: StageRef;
  instance?: Instance;
}

export async function openStage(f: StageFlags): Promise<OpenedStage> {
  const { ref, instance } = await resolveStage(f.target, {
    ...(f.key ? { keyPath: f.key } : {}),
    ...(f.knownHosts ? { knownHostsPath: f.knownHosts } : {}),
    // After install a host's key is pinned: any other must be accepted explicitly.
    hostKeyPolicy: f.acceptNewHostKey ? 'accept-new' : 'strict',
  });
  return { target: openTarget(ref), ref, ...(instance ? { instance } : {}) };
}

/** The deployed stack on an opened stage: its compose file (recorded or the default path) and project. */
export async function deployedStack(s: OpenedStage): Promise<{ path: string; project: string; deployment: Deployment }> {
  const path = s.instance?.deployment?.composePath ?? COMPOSE_PATH;
  const deployment = await readDeployment(s.target, path);
  if (!deployment)
    throw new PaasboxError(`no paasbox stack file at ${path} on ${s.target.name}`, 'install first: npx paasbox install (or name the right host with --target)');
  return { path, project: deployment.meta.project, deployment };
}

/**
 * Every host of a cluster instance, the stage (its first master) first; the
 * others opened as install recorded them. One host: the stage alone. The
 * caller closes them all (closeHosts).
 */
export function stageHosts(s: OpenedStage): { target: Target; role: 'master' | 'agent' }[] {
  const c = s.instance?.cluster;
  if (!c) return [{ target: s.target, role: 'master' }];
  const rest = [...c.masters.map((m) => ({ m, role: 'master' as const })), ...c.agents.map((m) => ({ m, role: 'agent' as const }))].slice(1);
  return [{ target: s.target, role: 'master' }, ...rest.map(({ m, role }) => ({ target: openTarget({ kind: 'ssh', ssh: m.ssh }), role }))];
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
      unreachable.push({ host: h.target.name, role: h.role, error: isPaasboxError(e) ? e.problem : e instanceof Error ? e.message : String(e) });
    }
  }
  return { results, unreachable };
}

/**
 * For commands that act on one host: on a cluster instance, the line that
 * says so (its first master, and how to name another); undefined otherwise.
 */
export function clusterNote(s: OpenedStage, command: string): string | undefined {
  const c = s.instance?.cluster;
  if (!c) return undefined;
  const n = c.masters.length + c.agents.length;
  return `paasbox ${command}: ${s.instance!.name} is a cluster of ${n} hosts; this acts on its first master ${s.target.name} only (another host: --target user@address)`;
}

/** Run fn holding the target's lock as paasbox COMMAND, saying on stderr when it waits for another run. */
export function withStageLock<T>(target: Target, command: string, timeoutS: number, fn: () => Promise<T>): Promise<T> {
  const onWait = (holder: string) => process.stderr.write(`paasbox ${command}: ${holder} holds the lock on ${target.name}; waiting up to ${timeoutS}s\n`);
  return withTargetLock(target, { command, timeoutS, onWait }, fn);
}
