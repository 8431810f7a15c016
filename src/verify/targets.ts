// Which target a verify or kitchen command means: "local", a kitchen instance
// name, or user@host[:port]; with no argument the current target install
// recorded in .paasbox/state.json, else this machine.

import { readState } from '../state.js';
import { LocalTarget } from '../target/local.js';
import { parseHostSpec } from '../target/parse.js';
import { SshTarget } from '../target/ssh.js';
import type { Target } from '../target/target.js';
import { readKitchen, type KitchenInstance } from './kitchen.js';

export function instanceTarget(inst: KitchenInstance): Target {
  return new SshTarget({
    host: inst.host,
    port: inst.port,
    user: inst.user,
    ...(inst.keyPath ? { keyPath: inst.keyPath } : {}),
    ...(inst.knownHostsPath ? { knownHostsPath: inst.knownHostsPath } : {}),
  });
}

export function resolveTarget(spec: string | undefined, opts: { keyPath?: string; cwd?: string } = {}): Target {
  if (!spec) {
    const st = readState(opts.cwd);
    if (!st) return new LocalTarget();
    const t = st.target;
    if (t.kind === 'local') return new LocalTarget({ address: t.address });
    return new SshTarget({ host: t.host, port: t.port, user: t.user, ...((opts.keyPath ?? t.keyPath) ? { keyPath: opts.keyPath ?? t.keyPath } : {}) });
  }
  if (spec === 'local') return new LocalTarget();
  const inst = readKitchen(opts.cwd).instances[spec];
  if (inst) return instanceTarget(inst);
  const h = parseHostSpec(spec);
  return new SshTarget({ host: h.host, port: h.port, user: h.user, ...(opts.keyPath ? { keyPath: opts.keyPath } : {}) });
}
