// Parsing of the --host argument: pure, so every malformed form gets a test and
// a PaasboxError that names the input and the expected form.

import { PaasboxError } from '../errors.js';

export interface HostSpec {
  user: string;
  host: string;
  port: number;
}

const EXPECTED =
  'user@address[:port], e.g. root@10.0.0.5 or deploy@example.org:2222 (IPv6: root@[fd00::5]:22)';
// A user name as POSIX tools accept it (no spaces, no shell metacharacters).
const USER_RE = /^[a-z_][a-z0-9_.-]*\$?$/i;
// A hostname or IPv4 address: labels of letters, digits and hyphens.
const HOST_RE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const IPV4_LIKE = /^[0-9.]+$/;

export function parseHostSpec(input: string, defaultUser = 'root'): HostSpec {
  const bad = (why: string): PaasboxError =>
    new PaasboxError(`--host "${input}" is not a valid host: ${why}`, `write it as ${EXPECTED}`);
  const s = input.trim();
  if (!s) throw bad('it is empty');
  const at = s.lastIndexOf('@');
  const user = at >= 0 ? s.slice(0, at) : defaultUser;
  const rest = at >= 0 ? s.slice(at + 1) : s;
  if (!USER_RE.test(user)) throw bad(`"${user}" is not a user name`);
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw bad('an IPv6 address opened with "[" is not closed with "]"');
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after && !after.startsWith(':')) throw bad(`unexpected "${after}" after the address`);
    portText = after ? after.slice(1) : undefined;
    if (!/^[0-9a-f:.]+$/i.test(host) || !host.includes(':')) throw bad(`"${host}" is not an IPv6 address`);
  } else {
    const parts = rest.split(':');
    if (parts.length > 2) throw bad('an IPv6 address must be written in brackets: user@[addr]:port');
    host = parts[0] ?? '';
    portText = parts[1];
    if (!host) throw bad('the address is missing');
    if (!HOST_RE.test(host)) throw bad(`"${host}" is not a hostname or IP address`);
    if (IPV4_LIKE.test(host)) {
      const octets = host.split('.');
      if (octets.length !== 4 || octets.some((o) => o === '' || Number(o) > 255))
        throw bad(`"${host}" is not an IPv4 address`);
    }
  }
  let port = 22;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535)
      throw bad(`port "${portText}" is not a number from 1 to 65535`);
    port = Number(portText);
  }
  return { user, host, port };
}

/** The canonical text form: user@host:port, IPv6 in brackets. */
export function formatHostSpec(h: HostSpec): string {
  const host = h.host.includes(':') ? `[${h.host}]` : h.host;
  return `${h.user}@${host}:${h.port}`;
}
