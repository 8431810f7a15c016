// How to reach a host, as one record: the shape of Vagrant's ssh_info (host,
// port, user, key path) plus where its host key is pinned and how a key seen
// for the first time is treated. Every mode's discovery hands one back, the
// instance state stores it, and openTarget turns it into a Target, so every
// command after install connects exactly as install did.

/**
 * strict: the key must already be pinned; accept-new: pin a first-seen key (a changed key is always
 * refused).
 */
export type HostKeyPolicy = 'strict' | 'accept-new';

export interface SshInfo {
  host: string;
  port: number;
  user: string;
  /** Private key file; without it the ssh-agent or ~/.ssh/id_{ed25519,ecdsa,rsa}. */
  keyPath?: string;
  /** Where the host key is pinned (default ~/.paasbox/known_hosts). */
  knownHostsPath?: string;
  hostKeyPolicy: HostKeyPolicy;
  /** A jump host (OpenSSH ProxyJump), reached first and tunnelled through. */
  proxyJump?: SshInfo;
  /** The name the user gave (an ~/.ssh/config Host alias, a VM name). */
  alias?: string;
}

/** Where a stage's stack runs: this machine, or a host over SSH. */
export type StageRef = { kind: 'local'; address: string } | { kind: 'ssh'; ssh: SshInfo };

/** user@host:port, IPv6 in brackets. */
export function sshName(s: Pick<SshInfo, 'user' | 'host' | 'port'>): string {
  const host = s.host.includes(':') ? `[${s.host}]` : s.host;
  return `${s.user}@${host}:${s.port}`;
}
