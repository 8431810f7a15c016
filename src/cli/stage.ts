// How every command after install finds its stage: --target (or the
// recorded default instance), with --key/--known-hosts/--accept-new-host-key
// over what was recorded, the deployed stack's compose file and project, and
// the target's lock for the commands that change it. A cluster instance's
// other hosts: src/instance/hosts.ts.

import { PaasboxError } from '../errors.js';
import { readDeployment, COMPOSE_PATH, type Deployment } from '../stackfile/deployment.js';
import type { Instance } from '../instance/state.js';
import { withTargetLock } from '../instance/lock.js';
import { openTarget, resolveStage } from '../instance/open.js';
import type { StageRef } from '../target/ssh-info.js';
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
export async function deployedStack(
  s: OpenedStage,
): Promise<{ path: string; project: string; deployment: Deployment }> {
  const path = s.instance?.deployment?.composePath ?? COMPOSE_PATH;
  const deployment = await readDeployment(s.target, path);
  if (!deployment)
    throw new PaasboxError(
      `no paasbox stack file at ${path} on ${s.target.name}`,
      'install first: npx paasbox install (or name the right host with --target)',
    );
  return { path, project: deployment.meta.project, deployment };
}

/** Run fn holding the target's lock as paasbox COMMAND, saying on stderr when it waits for another run. */
export function withStageLock<T>(
  target: Target,
  command: string,
  timeoutS: number,
  fn: () => Promise<T>,
): Promise<T> {
  const onWait = (holder: string) =>
    process.stderr.write(
      `paasbox ${command}: ${holder} holds the lock on ${target.name}; waiting up to ${timeoutS}s\n`,
    );
  return withTargetLock(target, { command, timeoutS, onWait }, fn);
}
