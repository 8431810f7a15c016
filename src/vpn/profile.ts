// The OpenVPN texts paasbox writes, pure: the server's config (install puts it
// on the target with the server's own key and certificate), a client's .ovpn
// profile with everything inline (`paasbox vpn client NAME`), the tls-crypt
// key file, and easy-rsa's index (`paasbox vpn list`). The tunnel carries the
// stack's advertised address only (host networking: every service is there),
// never a default route, and clients send `.DOMAIN` names to the stack's dnsmasq.
// The endpoint a profile names comes from the deployed stack (vpnEndpoint).

import { PaasboxError } from '../errors.js';
import { composePort, type Deployment } from '../stackfile/deployment.js';

/** Inside the container: /opt/paasbox/openvpn on the host, mounted read-only. */
export const SERVER_FILES_DIR = '/etc/openvpn/paasbox';
/**
 * The management socket (a unix socket inside the container only): `vpn revoke` ends a revoked client's
 * session through it.
 */
export const MANAGEMENT_SOCKET = '/run/openvpn/management.sock';
/** The server certificate's easy-rsa entity name, and so its CN (clients check it: verify-x509-name). */
export const SERVER_ENTITY = 'server';
/** The clients' addresses inside the tunnel. */
export const VPN_NETWORK = { network: '10.8.0.0', netmask: '255.255.255.0' } as const;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const RESERVED = new Set([SERVER_ENTITY, 'ca']);

/**
 * A client name: letters, digits, - and _ (starting with a letter or digit, at most 64); not the server's or
 * the CA's.
 */
export function checkClientName(name: string): string {
  const fix =
    'name the client with letters, digits, - and _ (e.g. laptop or alice-phone), starting with a letter or digit, at most 64 characters';
  if (!NAME_RE.test(name))
    throw new PaasboxError(`VPN client name ${JSON.stringify(name)} is not usable`, fix);
  if (RESERVED.has(name.toLowerCase()))
    throw new PaasboxError(
      `VPN client name "${name}" is reserved (the PKI's own ${name.toLowerCase()} certificate)`,
      fix,
    );
  return name;
}

/** An IPv4 dotted quad (what the stack advertises). */
function isIPv4(s: string): boolean {
  const p = s.split('.');
  return p.length === 4 && p.every((x) => /^\d{1,3}$/.test(x) && Number(x) <= 255);
}

export interface ServerConfigInput {
  /** The stack's advertised address: the one route pushed to clients. */
  stackIp: string;
  /** UDP port (the model's openvpn "vpn" port after settings). */
  port: number;
}

/** server.conf for the openvpn container (it reads every file from SERVER_FILES_DIR). */
export function renderServerConfig(o: ServerConfigInput): string {
  if (!isIPv4(o.stackIp))
    throw new PaasboxError(
      `the stack's address ${JSON.stringify(o.stackIp)} is not an IPv4 address`,
      "install with --ip set to the stack host's IPv4 address",
    );
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535)
    throw new PaasboxError(
      `OpenVPN port ${o.port} is not a port`,
      'set services.openvpn.ports.vpn in paasbox.yaml to a number from 1 to 65535',
    );
  const f = (name: string) => `${SERVER_FILES_DIR}/${name}`;
  return [
    '# paasbox OpenVPN server, written by install (src/vpn/profile.ts). The CA key',
    '# is not here: it stays on the machine that ran install.',
    `port ${o.port}`,
    'proto udp',
    'dev tun',
    'topology subnet',
    `server ${VPN_NETWORK.network} ${VPN_NETWORK.netmask}`,
    // Listening on every address of the host (host networking): answer from the address asked.
    'multihome',
    `ca ${f('ca.crt')}`,
    `cert ${f(`${SERVER_ENTITY}.crt`)}`,
    `key ${f(`${SERVER_ENTITY}.key`)}`,
    'dh none',
    `tls-crypt ${f('tc.key')}`,
    // Re-read when the file changes (`paasbox vpn revoke` replaces it): checked at every handshake.
    `crl-verify ${f('crl.pem')}`,
    'remote-cert-tls client',
    'keepalive 10 60',
    'persist-key',
    'persist-tun',
    'verb 3',
    'status /tmp/openvpn-status.log 30',
    `management ${MANAGEMENT_SOCKET} unix`,
    // The stack's address only: no default route, no other network.
    `push "route ${o.stackIp} 255.255.255.255"`,
    '',
  ].join('\n');
}

export interface ClientProfileInput {
  name: string;
  /** The address (or DNS name) and UDP port the client connects to. */
  remote: { host: string; port: number };
  /** The stack's advertised address (what the server routes). */
  stackIp: string;
  /** The stack's DNS server for .DOMAIN names; none when dns is not deployed on port 53. */
  dns?: { ip: string; domain: string };
  /** PEM texts. */
  ca: string;
  cert: string;
  key: string;
  tlsCrypt: string;
  /** Where it was made, for the header comment (instance, target). */
  origin?: string;
}

const block = (tag: string, pem: string) => [`<${tag}>`, pem.trim(), `</${tag}>`];

/** A client's .ovpn, every key and certificate inline. */
export function renderClientProfile(o: ClientProfileInput): string {
  checkClientName(o.name);
  if (!isIPv4(o.stackIp))
    throw new PaasboxError(
      `the stack's address ${JSON.stringify(o.stackIp)} is not an IPv4 address`,
      "install again with --ip set to the stack host's IPv4 address",
    );
  const lines = [
    `# paasbox VPN profile for "${o.name}"${o.origin ? ` (${o.origin})` : ''}.`,
    `# It holds ${o.name}'s private key: keep it to yourself. Revoke: npx paasbox vpn revoke ${o.name}`,
    'client',
    'dev tun',
    'proto udp',
    `remote ${o.remote.host} ${o.remote.port}`,
    'resolv-retry infinite',
    'nobind',
    'persist-key',
    'persist-tun',
    'remote-cert-tls server',
    `verify-x509-name ${SERVER_ENTITY} name`,
    'verb 3',
  ];
  if (o.remote.host === o.stackIp)
    lines.push(
      "# The server is the stack's own address, reached without the tunnel: routing it",
      "# into the tunnel would loop the tunnel's own packets, so that pushed route is dropped.",
      `pull-filter ignore "route ${o.stackIp} 255.255.255.255"`,
    );
  if (o.dns)
    lines.push(
      `# .${o.dns.domain} names through the stack's DNS (clients that honour dhcp-option:`,
      '# Windows, Tunnelblick, NetworkManager, update-resolv-conf / update-systemd-resolved).',
      `dhcp-option DNS ${o.dns.ip}`,
      `dhcp-option DOMAIN ${o.dns.domain}`,
    );
  lines.push(
    ...block('ca', o.ca),
    ...block('cert', o.cert),
    ...block('key', o.key),
    ...block('tls-crypt', o.tlsCrypt),
    '',
  );
  return lines.join('\n');
}

/** An OpenVPN static key file (tls-crypt) from 256 random bytes, as `openvpn --genkey secret` writes it. */
export function renderStaticKey(bytes: Buffer): string {
  if (bytes.length !== 256) throw new Error('an OpenVPN static key is 256 bytes');
  const hex = bytes.toString('hex');
  const rows = Array.from({ length: 16 }, (_, i) => hex.slice(i * 32, i * 32 + 32));
  return [
    '#',
    '# 2048 bit OpenVPN static key',
    '#',
    '-----BEGIN OpenVPN Static key V1-----',
    ...rows,
    '-----END OpenVPN Static key V1-----',
    '',
  ].join('\n');
}

/** The PEM certificate of an easy-rsa issued/NAME.crt (which starts with openssl's text dump). */
export function pemCertificate(text: string): string {
  const m = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(text);
  if (!m)
    throw new PaasboxError(
      'an easy-rsa certificate file holds no PEM certificate',
      'the PKI is damaged: check it with openssl x509 -in FILE',
    );
  return m[0] + '\n';
}

/** `--remote HOST[:PORT]` (default port: the server's). */
export function parseRemote(spec: string, defaultPort: number): { host: string; port: number } {
  const m = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/.exec(spec);
  const port = m?.[2] ? Number(m[2]) : defaultPort;
  if (!m || port < 1 || port > 65535)
    throw new PaasboxError(
      `--remote ${JSON.stringify(spec)} is not HOST or HOST:PORT`,
      'give the address (or DNS name) clients reach the VPN server at, e.g. --remote vpn.example.com or --remote 203.0.113.7:1194',
    );
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

export interface IndexEntry {
  name: string;
  status: 'valid' | 'revoked' | 'expired';
  serial: string;
  /** ISO date. */
  expires: string;
  revoked?: string;
}

/** openssl's UTCTime/GeneralizedTime in index.txt (YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ) → ISO. */
function indexTime(t: string): string {
  const m = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z/.exec(t);
  if (!m) return t;
  const y = m[1]!.length === 2 ? (Number(m[1]) < 50 ? 2000 : 1900) + Number(m[1]) : Number(m[1]);
  return `${y}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`;
}

/**
 * easy-rsa's pki/index.txt (openssl ca's database): one entry per certificate, the server's and every
 * client's.
 */
export function parseIndex(text: string, now = new Date()): IndexEntry[] {
  const out: IndexEntry[] = [];
  for (const line of text.split('\n')) {
    const [flag, expires, revoked, serial, , subject] = line.split('\t');
    const cn = /\/CN=([^/]+)/.exec(subject ?? '')?.[1];
    if (!flag || !expires || !serial || !cn) continue;
    let status: IndexEntry['status'] | undefined =
      flag === 'V' ? 'valid' : flag === 'R' ? 'revoked' : flag === 'E' ? 'expired' : undefined;
    if (!status) continue;
    const until = indexTime(expires);
    if (status === 'valid' && Date.parse(until) < now.getTime()) status = 'expired';
    out.push({
      name: cn,
      status,
      serial,
      expires: until,
      ...(status === 'revoked' && revoked ? { revoked: indexTime(revoked.split(',')[0]!) } : {}),
    });
  }
  return out;
}

/** The deployment must run openvpn; its port and the stack's DNS (when on port 53). */
export function vpnEndpoint(
  d: Deployment,
  target: string,
): { ip: string; port: number; dns?: { ip: string; domain: string }; note?: string } {
  if (!d.services.includes('openvpn'))
    throw new PaasboxError(
      `the stack on ${target} does not run OpenVPN`,
      'enable it in paasbox.yaml (services: { openvpn: { enabled: true } }) and run npx paasbox install',
    );
  const port = composePort(d.ports['openvpn'], 'vpn');
  if (port === undefined)
    throw new PaasboxError(
      `the openvpn service on ${target} has no vpn port in ${d.path}`,
      'run npx paasbox install again: it rewrites the stack file',
    );
  const dnsPort = d.services.includes('dns') ? composePort(d.ports['dns'], 'dns') : undefined;
  const domain = d.meta.domain ?? 'consul';
  if (dnsPort === 53) return { ip: d.meta.ip, port, dns: { ip: d.meta.ip, domain } };
  return {
    ip: d.meta.ip,
    port,
    note: dnsPort
      ? `the stack's DNS is on port ${dnsPort}, not 53: the profile sets no DNS server (dhcp-option cannot name a port)`
      : 'the stack runs no dns service: the profile sets no DNS server',
  };
}
