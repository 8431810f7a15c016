// sshuttle into the stack: a VPN over SSH through the stack's sshd service
// (port 2222 on the target), routing only the stack's own addresses (the
// advertised address /32, plus what --subnet adds) and capturing only the DNS
// queries sent to the stack's DNS server (sshuttle's --ns-hosts), which the
// stack side hands to its dnsmasq (--to-ns). sshuttle cannot restrict DNS to
// a domain (--dns captures every query the laptop makes), so the laptop's
// resolver is pointed at that server for .consul only (src/tunnel/resolver.ts).
// Pure: argv and subnet checks, so --print and the unit tests see exactly
// what `tunnel up` runs.

import { PaasboxError } from '../errors.js';

export interface TunnelSpec {
  /** Where ssh connects: the stack host as this machine reaches it. */
  host: string;
  /** The stack's sshd port (not the host's own sshd). */
  port: number;
  user: string;
  keyPath?: string;
  /** known_hosts holding the stack sshd's host key (StrictHostKeyChecking=yes against it). */
  knownHostsPath?: string;
  /** OpenSSH ProxyJump (user@host:port) when the target is reached through a jump host. */
  proxyJump?: string;
  /** Networks to route through the tunnel, CIDR form (IPv4). */
  subnets: string[];
  /** Not routed even inside a subnet (IP/MASK[:PORT]): the ssh connection itself. */
  excludes?: string[];
  /** DNS queries sent to these addresses (UDP 53) go through the tunnel. */
  nsHosts?: string[];
  /** Where the stack side sends them (IP[:PORT]): the stack's dnsmasq. */
  toNs?: string;
  /** The local redirector port (127.0.0.1): also names sshuttle's firewall chain, sshuttle-PORT. */
  listenPort?: number;
  /** Run in the background (-D) writing this pidfile. */
  pidfile?: string;
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** A dotted IPv4 address → its 32-bit value; undefined when it is not one. */
export function ipv4ToInt(ip: string): number | undefined {
  const m = IPV4.exec(ip);
  if (!m) return undefined;
  const o = m.slice(1, 5).map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[0]! << 24) >>> 0) + (o[1]! << 16) + (o[2]! << 8) + o[3]!;
}

export interface Cidr {
  base: number;
  bits: number;
  text: string;
}

/** "A.B.C.D/N" → its network; undefined when it is not an IPv4 CIDR. */
export function parseCidr(s: string): Cidr | undefined {
  const m = CIDR.exec(s);
  if (!m) return undefined;
  const ip = ipv4ToInt(s.split('/')[0]!);
  const bits = Number(m[5]);
  if (ip === undefined || bits > 32) return undefined;
  return { base: (ip & mask(bits)) >>> 0, bits, text: s };
}

function mask(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

export function cidrContains(c: Cidr, ip: string): boolean {
  const v = ipv4ToInt(ip);
  return v !== undefined && (v & mask(c.bits)) >>> 0 === c.base;
}

export interface LocalAddress {
  /** Interface name. */
  iface: string;
  address: string;
}

/**
 * The networks to route, checked: IPv4 CIDRs only, never the whole internet
 * (/0), never loopback, never a network holding one of this machine's own
 * addresses (routing your own LAN into the tunnel cuts you off from it).
 * Pure: `local` is this machine's addresses (os.networkInterfaces()).
 */
export function checkSubnets(subnets: string[], local: LocalAddress[]): string[] {
  if (subnets.length === 0)
    throw new PaasboxError(
      'no subnets to route through the tunnel',
      'the stack has no recorded address: install again, or pass --subnet CIDR',
    );
  const out: string[] = [];
  for (const s of subnets) {
    const c = parseCidr(s);
    if (!c)
      throw new PaasboxError(
        `subnet "${s}" is not an IPv4 CIDR`,
        'write it as A.B.C.D/N, e.g. 10.0.1.5/32 or 172.20.0.0/16',
      );
    if (c.bits === 0)
      throw new PaasboxError(
        `subnet "${s}" would send all of this machine's traffic through the stack`,
        "route only the stack's networks: the default (its advertised address) or --subnet with a narrow CIDR",
      );
    if (cidrContains(c, '127.0.0.1') || cidrContains(parseCidr('127.0.0.0/8')!, intToIpv4(c.base)))
      throw new PaasboxError(`subnet "${s}" is loopback`, "route only the stack's networks");
    const own = local.find((l) => cidrContains(c, l.address));
    if (own)
      throw new PaasboxError(
        `subnet "${s}" holds this machine's own address ${own.address} (${own.iface})`,
        `routing it through the tunnel would cut this machine off its own network; pass a narrower --subnet that leaves ${own.address} out`,
      );
    const canonical = `${intToIpv4(c.base)}/${c.bits}`;
    if (!out.includes(canonical)) out.push(canonical);
  }
  return out;
}

export function intToIpv4(v: number): string {
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

/** Quote one word for sshuttle's --ssh-cmd, which it splits with Python's shlex. */
function shlexQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'"'"'`)}'`;
}

/**
 * The ssh command sshuttle runs: the user's key only, the pinned host key, a dead link noticed within ~45 s.
 */
export function sshCommand(t: Pick<TunnelSpec, 'keyPath' | 'knownHostsPath' | 'proxyJump'>): string {
  const w = ['ssh'];
  if (t.keyPath) w.push('-i', t.keyPath, '-o', 'IdentitiesOnly=yes');
  if (t.knownHostsPath)
    w.push('-o', `UserKnownHostsFile=${t.knownHostsPath}`, '-o', 'StrictHostKeyChecking=yes');
  if (t.proxyJump) w.push('-o', `ProxyJump=${t.proxyJump}`);
  w.push('-o', 'ConnectTimeout=15', '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=3');
  return w.map(shlexQuote).join(' ');
}

/** The sshuttle argv for a spec; pure, so it can be shown with --print. */
export function sshuttleArgs(t: TunnelSpec): string[] {
  if (t.subnets.length === 0) {
    throw new PaasboxError(
      'no subnets to route through the tunnel',
      'pass --subnet CIDR (e.g. --subnet 172.20.0.0/16)',
    );
  }
  for (const s of t.subnets) {
    if (!parseCidr(s))
      throw new PaasboxError(
        `subnet "${s}" is not an IPv4 CIDR`,
        'write it as A.B.C.D/N, e.g. 172.17.0.0/16',
      );
  }
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  const args = ['-r', `${t.user}@${host}:${t.port}`, '--ssh-cmd', sshCommand(t)];
  // IPv4 only (the stack's addresses are): no ip6tables rules, one chain named by the port.
  args.push('--disable-ipv6');
  if (t.listenPort) args.push('--listen', `127.0.0.1:${t.listenPort}`);
  if (t.nsHosts?.length) {
    args.push('--ns-hosts', t.nsHosts.join(','));
    if (t.toNs) args.push('--to-ns', t.toNs);
  }
  for (const x of t.excludes ?? []) args.push('-x', x);
  if (t.pidfile) args.push('-D', '--pidfile', t.pidfile);
  args.push(...t.subnets);
  return args;
}

/** The argv as one line to paste into a shell. */
export function commandLine(argv: string[]): string {
  return argv
    .map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}
