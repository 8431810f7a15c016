// The ssh driver: an existing host over SSH, as the user wrote it
// (`user@host[:port]` or an ~/.ssh/config alias) and completed from
// ~/.ssh/config as OpenSSH would. create finds it; destroy forgets it (the
// host and its stack stay). The docker VM driver and --target reach a host
// as written the same way (sshInfoFor).

import { PaasboxError } from '../errors.js';
import { parseHostSpec } from '../target/parse.js';
import type { HostKeyPolicy, SshInfo } from '../target/ssh-info.js';
import { tcpRefusalHere } from '../system/tcp.js';
import type { CreateOptions, Driver, DriverState, HostState } from './driver.js';
import { firstExistingIdentity, sshG, type SshConfigEntry } from './ssh-config.js';

export interface SshInfoOptions {
  keyPath?: string;
  knownHostsPath?: string;
  hostKeyPolicy?: HostKeyPolicy;
  /** Reads ~/.ssh/config for a host; default `ssh -G` (injected by tests). */
  lookup?: (host: string) => Promise<SshConfigEntry | undefined>;
}

/**
 * A host as the user wrote it (`user@host[:port]` or an ~/.ssh/config alias),
 * completed from ~/.ssh/config as OpenSSH would (HostName, User, Port,
 * IdentityFile, ProxyJump). What is written explicitly wins over the config.
 */
export async function sshInfoFor(spec: string, opts: SshInfoOptions = {}, depth = 0): Promise<SshInfo> {
  if (depth > 4)
    throw new PaasboxError(
      `ProxyJump chain for ${spec} is longer than 4 hops`,
      'shorten the ProxyJump chain in ~/.ssh/config',
    );
  const h = parseHostSpec(spec);
  const userGiven = spec.includes('@');
  const portGiven = /:\d+$/.test(spec.trim());
  const cfg = await (opts.lookup ?? sshG)(h.host);
  const keyPath = opts.keyPath ?? (cfg ? firstExistingIdentity(cfg) : undefined);
  let proxyJump: SshInfo | undefined;
  if (cfg?.proxyJump) {
    // "a,b": a first, then b, then the host: the last hop is reached through the ones before it.
    const hops = cfg.proxyJump
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const hop of hops) {
      const info: SshInfo = await sshInfoFor(
        hop.replace(/^ssh:\/\//, ''),
        {
          ...(opts.knownHostsPath ? { knownHostsPath: opts.knownHostsPath } : {}),
          ...(opts.hostKeyPolicy ? { hostKeyPolicy: opts.hostKeyPolicy } : {}),
          ...(opts.lookup ? { lookup: opts.lookup } : {}),
        },
        depth + 1,
      );
      proxyJump = proxyJump ? { ...info, proxyJump } : info;
    }
  }
  return {
    host: cfg?.hostname ?? h.host,
    port: portGiven ? h.port : (cfg?.port ?? h.port),
    user: userGiven ? h.user : (cfg?.user ?? h.user),
    hostKeyPolicy: opts.hostKeyPolicy ?? 'accept-new',
    ...(keyPath ? { keyPath } : {}),
    ...(opts.knownHostsPath ? { knownHostsPath: opts.knownHostsPath } : {}),
    ...(proxyJump ? { proxyJump } : {}),
    ...(cfg?.hostname && cfg.hostname !== h.host ? { alias: h.host } : {}),
  };
}

/** The ssh options a driver's create was given, for sshInfoFor. */
export function sshInfoOptions(
  o: Pick<CreateOptions, 'keyPath' | 'knownHostsPath' | 'hostKeyPolicy'>,
): SshInfoOptions {
  return {
    ...(o.keyPath ? { keyPath: o.keyPath } : {}),
    ...(o.knownHostsPath ? { knownHostsPath: o.knownHostsPath } : {}),
    ...(o.hostKeyPolicy ? { hostKeyPolicy: o.hostKeyPolicy } : {}),
  };
}

/** An existing SSH host (`install --mode ssh`, kitchen's ssh instances). */
export function sshDriver(lookup?: SshInfoOptions['lookup']): Driver {
  return {
    name: 'ssh',
    mode: 'ssh',
    async create(o) {
      if (!o.host)
        throw new PaasboxError(
          `ssh instance "${o.instance}" needs a host`,
          'pass --host user@host[:port] (and --key FILE)',
        );
      const ssh = await sshInfoFor(o.host, { ...sshInfoOptions(o), ...(lookup ? { lookup } : {}) });
      return { ref: { kind: 'ssh', ssh }, seedNames: false };
    },
    async destroy() {},
    state: sshHostState,
  };
}

/** A found SSH host's state: whether its sshd port answers from here (a host behind ProxyJump: unknown). */
export async function sshHostState(state: DriverState): Promise<HostState> {
  const ssh = state.stage?.kind === 'ssh' ? state.stage.ssh : undefined;
  if (!ssh) return { state: 'unknown', detail: 'no SSH host recorded' };
  if (ssh.proxyJump)
    return { state: 'unknown', detail: `behind ProxyJump ${ssh.proxyJump.host}, not probed` };
  const why = await tcpRefusalHere(ssh.host, ssh.port);
  if (why) return { state: 'unreachable', detail: `${ssh.host}:${ssh.port}: ${why}` };
  return { state: 'running', detail: `sshd answers on ${ssh.host}:${ssh.port}` };
}
