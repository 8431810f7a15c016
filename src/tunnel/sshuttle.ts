// sshuttle into the stack: a VPN over SSH through the stack's sshd service
// (port 2222 on the target), so a laptop reaches containers by address and
// resolves NAME.service.consul through the stack's dnsmasq.

import { PaasboxError } from '../errors.js';

export interface TunnelSpec {
  host: string;
  /** The stack's sshd port (not the host's own sshd). */
  port: number;
  user: string;
  keyPath?: string;
  /** Networks to route through the tunnel, CIDR form. */
  subnets: string[];
  /** DNS server on the target that answers .consul (the stack's dnsmasq). */
  dnsServer?: string;
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** The sshuttle argv for a spec; pure, so it can be shown with --print. */
export function sshuttleArgs(t: TunnelSpec): string[] {
  if (t.subnets.length === 0) {
    throw new PaasboxError('no subnets to route through the tunnel', 'pass --subnet CIDR (e.g. --subnet 172.17.0.0/16)');
  }
  for (const s of t.subnets) {
    const m = CIDR.exec(s);
    if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) {
      throw new PaasboxError(`subnet "${s}" is not an IPv4 CIDR`, 'write it as A.B.C.D/N, e.g. 172.17.0.0/16');
    }
  }
  const args = ['-r', `${t.user}@${t.host}:${t.port}`];
  if (t.keyPath) args.push('--ssh-cmd', `ssh -i ${t.keyPath} -o IdentitiesOnly=yes`);
  if (t.dnsServer) args.push('--dns', '--to-ns', t.dnsServer);
  args.push(...t.subnets);
  return args;
}

/** Subnets of the target's docker networks, from `docker network inspect` JSON. */
export function subnetsFromNetworkInspect(json: string): string[] {
  const nets = JSON.parse(json) as Array<{ IPAM?: { Config?: Array<{ Subnet?: string }> | null } }>;
  const out = new Set<string>();
  for (const n of nets) for (const c of n.IPAM?.Config ?? []) if (c.Subnet && CIDR.test(c.Subnet)) out.add(c.Subnet);
  return [...out].sort();
}
