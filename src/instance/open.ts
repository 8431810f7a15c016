// From a recorded host (a StageRef) to a live Target (the one place that constructs them),
// and from what the user typed (--target) to a stage: nothing means install's
// recorded instance, "local" this machine, a known instance name that
// instance, anything else user@host[:port] or an ~/.ssh/config alias.

import { INSTANCE_NAME_RE } from '../paths.js';
import { LocalTarget } from '../target/local.js';
import { SshTarget, sshOptions } from '../target/ssh.js';
import type { Target } from '../target/target.js';
import { sshInfoFor, type SshInfoOptions } from '../drivers/ssh.js';
import { DEFAULT_INSTANCE, readInstance, type Instance } from './state.js';
import type { HostKeyPolicy, StageRef } from '../target/ssh-info.js';

export function openTarget(ref: StageRef): Target {
  return ref.kind === 'local'
    ? new LocalTarget({ address: ref.address })
    : new SshTarget(sshOptions(ref.ssh));
}

export interface ResolvedStage {
  ref: StageRef;
  /** The recorded instance the stage came from, if any. */
  instance?: Instance;
}

export interface ResolveOptions {
  keyPath?: string;
  knownHostsPath?: string;
  hostKeyPolicy?: HostKeyPolicy;
  cwd?: string;
  lookup?: SshInfoOptions['lookup'];
}

/** What --target names (see the opening comment); flags given here override the recorded ones. */
export async function resolveStage(
  spec: string | undefined,
  opts: ResolveOptions = {},
): Promise<ResolvedStage> {
  const override = <T extends StageRef>(ref: T): StageRef =>
    ref.kind === 'ssh'
      ? {
          kind: 'ssh',
          ssh: {
            ...ref.ssh,
            ...(opts.keyPath ? { keyPath: opts.keyPath } : {}),
            ...(opts.knownHostsPath ? { knownHostsPath: opts.knownHostsPath } : {}),
            ...(opts.hostKeyPolicy ? { hostKeyPolicy: opts.hostKeyPolicy } : {}),
          },
        }
      : ref;
  if (spec === 'local') return { ref: { kind: 'local', address: '127.0.0.1' } };
  // Only a word can name an instance; user@host, addresses and dotted names are hosts.
  const name = spec ?? DEFAULT_INSTANCE;
  const inst = INSTANCE_NAME_RE.test(name) ? readInstance(name, opts.cwd) : undefined;
  if (inst) return { ref: override(inst.stage), instance: inst };
  if (!spec) return { ref: { kind: 'local', address: '127.0.0.1' } };
  const ssh = await sshInfoFor(spec, {
    ...(opts.keyPath ? { keyPath: opts.keyPath } : {}),
    ...(opts.knownHostsPath ? { knownHostsPath: opts.knownHostsPath } : {}),
    ...(opts.hostKeyPolicy ? { hostKeyPolicy: opts.hostKeyPolicy } : {}),
    ...(opts.lookup ? { lookup: opts.lookup } : {}),
  });
  return { ref: { kind: 'ssh', ssh } };
}
