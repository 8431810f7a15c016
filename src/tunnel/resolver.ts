// How `tunnel up` makes NAME.service.consul resolve on this machine, and how
// `down` undoes it. sshuttle (Debian's 1.1.1 included) cannot pick DNS by
// domain: --dns captures every query this machine makes and sends it to the
// stack, and the stack's dnsmasq answers .consul only on its network address
// (other names REFUSED, stacks/images/dnsmasq/paasbox-dns.sh), so capturing
// everything would break every other name. The tunnel therefore captures only
// queries sent to the stack's DNS addresses (--ns-hosts) and this module
// points the resolver at them for the stack's domain alone, where it can:
//
//   resolved     systemd-resolved: a link of paasbox's own (pbtun-XXXXXX,
//                169.254.53.53/32) with DNS = the stack's address and the
//                routing-only domain ~consul, not a default route: only
//                .consul goes there. `down` deletes the link.
//   resolv.conf  a plain /etc/resolv.conf: glibc cannot route by domain, so a
//                first "nameserver 127.0.0.153" (a loopback address nothing
//                listens on) that the tunnel captures; the stack answers
//                .consul and REFUSES the rest, and glibc asks the next
//                nameserver. With the tunnel gone the address refuses at
//                once, so a tunnel that died costs no timeouts. `down` removes
//                exactly the two lines it added.
//   macos        /etc/resolver/DOMAIN naming the stack's address (macOS's own
//                per-domain resolver). `down` removes the file.
//   none         the resolver is left alone: `dig @ADDRESS` works through
//                the tunnel, names only with your own resolver setup.

import { createHash } from 'node:crypto';
import { checkReadBack } from '../system/readback.js';
import { PaasboxError } from '../errors.js';

export type ResolverKind = 'resolved' | 'resolv.conf' | 'macos' | 'none';
export const RESOLVER_KINDS: ResolverKind[] = ['resolved', 'resolv.conf', 'macos', 'none'];

/** The loopback address resolv.conf names in the resolv.conf mode; the tunnel captures queries to it. */
export const LOOPBACK_NS = '127.0.0.153';
/** The address of the resolved mode's link: resolved only uses a link that has a global-scope address. */
export const LINK_ADDRESS = '169.254.53.53/32';
export const RESOLV_CONF = '/etc/resolv.conf';

export interface ResolverFacts {
  platform: NodeJS.Platform;
  /** /etc/resolv.conf's text (undefined when absent). */
  resolvConf?: string;
  /** /etc/nsswitch.conf's text. */
  nsswitch?: string;
  /** resolvectl is installed and systemd-resolved answers it. */
  resolvedRunning: boolean;
}

/** The resolver `auto` means on this machine, and why. Pure. */
export function detectResolver(f: ResolverFacts): { kind: ResolverKind; why: string } {
  if (f.platform === 'darwin') return { kind: 'macos', why: 'macOS: /etc/resolver/DOMAIN' };
  if (f.platform !== 'linux')
    return { kind: 'none', why: `no resolver setup paasbox knows on ${f.platform}` };
  const servers = nameservers(f.resolvConf ?? '');
  const nssResolve = /^\s*hosts:.*\bresolve\b/m.test(f.nsswitch ?? '');
  if (f.resolvedRunning && (servers.includes('127.0.0.53') || nssResolve))
    return {
      kind: 'resolved',
      why: `systemd-resolved answers this machine's lookups (${servers.includes('127.0.0.53') ? 'resolv.conf names its stub 127.0.0.53' : 'nsswitch.conf uses nss-resolve'})`,
    };
  if (f.resolvConf === undefined) return { kind: 'none', why: `${RESOLV_CONF} is missing` };
  return {
    kind: 'resolv.conf',
    why: `${RESOLV_CONF} lists the nameservers${f.resolvedRunning ? ' (systemd-resolved runs, but lookups do not go through it)' : ''}`,
  };
}

export function nameservers(resolvConf: string): string[] {
  return [...resolvConf.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]!);
}

/** The link name for an instance: pbtun- and 6 hex digits (interface names stop at 15 characters). */
export function linkName(instance: string): string {
  return `pbtun-${createHash('sha256').update(instance).digest('hex').slice(0, 6)}`;
}

function marker(instance: string): string {
  return `# paasbox tunnel ${instance}: .consul through sshuttle (removed by \`paasbox tunnel down\`)`;
}

/** resolv.conf with the tunnel's nameserver first; unchanged when it is there already. Pure. */
export function addResolvConf(text: string, instance: string): string {
  if (text.split('\n').includes(marker(instance))) return text;
  return `${marker(instance)}\nnameserver ${LOOPBACK_NS}\n${text}`;
}

/** resolv.conf without the two lines addResolvConf put there (and nothing else). Pure. */
export function removeResolvConf(text: string, instance: string): string {
  const lines = text.split('\n');
  const i = lines.indexOf(marker(instance));
  if (i < 0) return text;
  const n = lines[i + 1] === `nameserver ${LOOPBACK_NS}` ? 2 : 1;
  lines.splice(i, n);
  return lines.join('\n');
}

export function hasResolvConfLines(text: string, instance: string): boolean {
  return text.split('\n').includes(marker(instance));
}

/** What the user should know before the resolv.conf mode edits the file. Pure. */
export function resolvConfWarnings(text: string): string[] {
  const out: string[] = [];
  const ns = nameservers(text).filter((s) => s !== LOOPBACK_NS);
  if (ns.length >= 3)
    out.push(
      `${RESOLV_CONF} already lists ${ns.length} nameservers; glibc reads only the first 3, so ${ns[ns.length - 1]} is not asked while the tunnel is up`,
    );
  if (/^\s*options\s.*\brotate\b/m.test(text))
    out.push(
      `${RESOLV_CONF} has "options rotate": .consul names resolve only when the tunnel's nameserver comes first`,
    );
  return out;
}

const DOMAIN_FIX =
  're-install the stack with a valid domain (PAASBOX_DOMAIN=consul), or check who edited its compose file';

/**
 * The stack's domain as the resolver takes it: a DNS name, else a ReadBackError (it goes into root shell
 * lines and a path).
 */
export function resolverDomain(domain: string): string {
  return checkReadBack('the stack', 'domain', domain, 'dns-name', DOMAIN_FIX);
}

/** The DNS server the resolver is pointed at: an IPv4 address, else a ReadBackError. */
export function resolverServer(server: string): string {
  return checkReadBack(
    'the stack',
    'address',
    server,
    'ipv4',
    're-install the stack so it records its address, or check who edited its compose file',
  );
}

/** A resolver link name of linkName's form, else an error (it goes into root shell lines). */
export function checkLinkName(link: string): string {
  if (/^pbtun-[0-9a-f]{6}$/.test(link)) return link;
  throw new PaasboxError(
    `the tunnel's resolver link "${link.slice(0, 40)}" is not a pbtun-XXXXXX name`,
    'remove the link by hand (ip link) and the tunnel state file, then tunnel up again',
  );
}

/** The macOS resolver file for the stack's domain. */
export function macosResolverPath(domain: string): string {
  return `/etc/resolver/${resolverDomain(domain)}`;
}

export function macosResolverText(instance: string, server: string): string {
  return `${marker(instance)}\nnameserver ${server}\n`;
}

export function isOurMacosResolver(text: string, instance: string): boolean {
  return text.startsWith(marker(instance));
}

/** Shell commands (run as root) that give systemd-resolved a link for DOMAIN → server. */
export function resolvedUpCommands(link: string, server: string, domain: string): string[] {
  checkLinkName(link);
  resolverServer(server);
  resolverDomain(domain);
  const peer = `${link}p`;
  return [
    // A dummy link where the kernel has the module, else a veth pair (its peer up too, for carrier).
    `ip link add ${link} type dummy 2>/dev/null || { ip link add ${link} type veth peer name ${peer} && ip link set ${peer} up; }`,
    `ip link set ${link} up`,
    `ip addr add ${LINK_ADDRESS} dev ${link}`,
    `resolvectl dns ${link} ${server}`,
    `resolvectl domain ${link} '~${domain}'`,
    `resolvectl default-route ${link} false`,
  ];
}

/** Shell commands that undo resolvedUpCommands; each succeeds when there is nothing to undo. */
export function resolvedDownCommands(link: string): string[] {
  checkLinkName(link);
  return [
    `if ip link show ${link} >/dev/null 2>&1; then resolvectl revert ${link} 2>/dev/null; ip link del ${link}; fi`,
  ];
}
