// Probes run on the target through Target.exec, and the pure parsers of what
// they print. Everything needs only bash and coreutils on the target; curl is
// used for HTTP when present. DNS queries are built and decoded here with
// dns-packet and travel to the target's resolver through bash's /dev/udp, so
// no dig is needed on the target. A login or token a request carries is read
// on the target from its root-only file (or from the user's own copy when
// probing from here), so it is never on a command line.

import dnsPacket from 'dns-packet';
import { parseListening } from '../docker/facts.js';
import type { Target } from '../target/target.js';
import { shq } from '../target/shell.js';

/** Which optional tools the target has (probed once per run). */
export interface Tools {
  curl: boolean;
  ss: boolean;
  docker: boolean;
}

export async function probeTools(target: Target): Promise<Tools> {
  const r = await target.exec('for t in curl ss docker; do command -v $t >/dev/null 2>&1 && echo $t; done; true', { timeoutMs: 15_000 });
  const have = new Set(r.stdout.split('\n').map((s) => s.trim()));
  return { curl: have.has('curl'), ss: have.has('ss'), docker: have.has('docker') };
}

export { shq };

// ---------------------------------------------------------------- HTTP

export interface HttpResponse {
  status: number;
  body: string;
  /** Set when no response arrived (connection refused, timeout). */
  error?: string;
}

/**
 * A request header whose value is read on the target, as root, from a secret
 * file: it never appears on a command line and never comes back.
 */
export interface SecretHeader {
  name: string;
  file: string;
  /** The file holds user:password: send it as HTTP basic credentials. */
  basic?: boolean;
  /** The file is the user's own (this machine's copy of the secrets): read without sudo. */
  asUser?: boolean;
}

export interface HttpOptions {
  /** Host header (default address:port). */
  host?: string;
  timeoutS?: number;
  method?: 'GET' | 'PUT' | 'DELETE';
  /** Request body (sent on the command's stdin). */
  body?: string;
  secret?: SecretHeader;
}

const STATUS_MARK = '\n__paasbox_http_status__=';

/** Exit code of a probe whose secret file is missing on the target. */
const NO_SECRET = 9;

/** bash lines setting $secret to the header value read from s.file (exit NO_SECRET, saying so, when there is none). */
function readSecret(s: SecretHeader): string {
  const f = shq(s.file);
  const value = s.basic ? `"Basic $(printf %s "$(cat ${f})" | base64 -w0)"` : `"$(cat ${f})"`;
  return `[ -r ${f} ] || { echo ${shq(`no ${s.file} ${s.asUser ? 'here' : 'on the target'}`)} >&2; exit ${NO_SECRET}; }; secret=${value}; `;
}

export function curlCommand(url: string, opts: HttpOptions = {}): string {
  const host = opts.host ? ` -H ${shq(`Host: ${opts.host}`)}` : '';
  const method = opts.method && opts.method !== 'GET' ? ` -X ${opts.method}` : '';
  const body = opts.body !== undefined ? ' --data-binary @-' : '';
  const base = `curl -sS --max-time ${opts.timeoutS ?? 5}${method}${host}${body} -w ${shq(STATUS_MARK + '%{http_code}')}`;
  if (!opts.secret) return `${base} ${shq(url)}`;
  // The header comes from a pipe (curl -H @file): the value is in no argv.
  const script = `${readSecret(opts.secret)}${base} -H @<(printf '%s: %s\\n' ${shq(opts.secret.name)} "$secret") ${shq(url)}`;
  return `bash -c ${shq(script)}`;
}

/** curl prints the body, then our status marker; errors go to stderr with a non-zero code. */
export function parseCurl(stdout: string, stderr: string, code: number): HttpResponse {
  const at = stdout.lastIndexOf(STATUS_MARK);
  const status = at >= 0 ? Number(stdout.slice(at + STATUS_MARK.length).trim()) : 0;
  const body = at >= 0 ? stdout.slice(0, at) : stdout;
  if (code !== 0 || !status) return { status: 0, body, error: (stderr.trim() || `curl exited ${code}`).split('\n').slice(-1)[0] ?? '' };
  return { status, body };
}

/** Without curl: HTTP/1.0 over bash's /dev/tcp; the server closes after the answer. */
export function bashHttpCommand(address: string, port: number, path: string, opts: HttpOptions = {}): string {
  const head = `${opts.method ?? 'GET'} ${path} HTTP/1.0\r\nHost: ${opts.host ?? `${address}:${port}`}\r\nUser-Agent: paasbox-verify\r\nConnection: close\r\n`;
  const lines = [
    opts.secret ? readSecret(opts.secret) : '',
    // The body from stdin, byte-counted (LC_ALL=C), its trailing newlines kept.
    opts.body !== undefined ? 'body=$(cat; printf x); body=${body%x}; ' : '',
    `exec 3<>/dev/tcp/${address}/${port} || exit 7; `,
    `{ printf %s ${shq(head)}; `,
    opts.secret ? `printf '%s: %s\\r\\n' ${shq(opts.secret.name)} "$secret"; ` : '',
    opts.body !== undefined ? `printf 'Content-Length: %s\\r\\n\\r\\n%s' "$(LC_ALL=C; echo \${#body})" "$body"; ` : `printf '\\r\\n'; `,
    `} >&3; timeout ${opts.timeoutS ?? 5} cat <&3`,
  ];
  return `bash -c ${shq(lines.join(''))}`;
}

export function parseRawHttp(stdout: string, stderr: string, code: number): HttpResponse {
  const m = /^HTTP\/\d(?:\.\d)?\s+(\d{3})/.exec(stdout);
  if (!m) return { status: 0, body: '', error: (stderr.trim() || (stdout ? 'not an HTTP answer' : `no answer (exit ${code})`)).split('\n').slice(-1)[0] ?? '' };
  const sep = stdout.indexOf('\r\n\r\n');
  return { status: Number(m[1]), body: sep >= 0 ? stdout.slice(sep + 4) : '' };
}

/** One HTTP request from the target (as root when a secret header is read there). */
export async function httpRequest(target: Target, tools: Tools, address: string, port: number, path: string, opts: HttpOptions = {}): Promise<HttpResponse> {
  const timeoutMs = ((opts.timeoutS ?? 5) + 10) * 1000;
  const exec = { timeoutMs, ...(opts.body !== undefined ? { stdin: opts.body } : {}), ...(opts.secret && !opts.secret.asUser ? { sudo: true } : {}) };
  if (tools.curl) {
    const r = await target.exec(curlCommand(`http://${address}:${port}${path}`, opts), exec);
    return parseCurl(r.stdout, r.stderr, r.code);
  }
  const r = await target.exec(bashHttpCommand(address, port, path, opts), exec);
  return parseRawHttp(r.stdout, r.stderr, r.code);
}

export function httpGet(target: Target, tools: Tools, address: string, port: number, path: string, opts: { host?: string; timeoutS?: number } = {}): Promise<HttpResponse> {
  return httpRequest(target, tools, address, port, path, opts);
}

/** "200 (body 1.2 kB)" or the error, for a check's `got`. */
export function describeHttp(r: HttpResponse, bodyIncludes?: string): string {
  if (r.error) return `no answer: ${r.error}`;
  const size = `${r.body.length} bytes`;
  if (bodyIncludes === undefined) return `HTTP ${r.status} (${size})`;
  const has = r.body.includes(bodyIncludes);
  return `HTTP ${r.status}, body ${has ? 'includes' : 'lacks'} ${JSON.stringify(bodyIncludes)} (${size}${has ? '' : `: ${snippet(r.body)}`})`;
}

function snippet(s: string, n = 120): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n)}…` : one;
}

// ---------------------------------------------------------------- TCP, four-letter words

/** Send a ZooKeeper four-letter word and print the answer (ZooKeeper closes after it). */
export function fourLetterCommand(address: string, port: number, word: string, timeoutS = 5): string {
  const script = `exec 3<>/dev/tcp/${address}/${port} || exit 7; printf %s ${shq(word)} >&3; timeout ${timeoutS} cat <&3`;
  return `bash -c ${shq(script)}`;
}

export function tcpConnectCommand(address: string, port: number, timeoutS = 5): string {
  return `timeout ${timeoutS} bash -c ${shq(`exec 3<>/dev/tcp/${address}/${port}`)} && echo open`;
}

// ---------------------------------------------------------------- DNS

export type DnsRecordType = 'A' | 'SRV';

export interface DnsAnswer {
  /** NOERROR, NXDOMAIN, SERVFAIL, ... or TIMEOUT when nothing came back. */
  rcode: string;
  a: string[];
  srv: { priority: number; weight: number; port: number; target: string }[];
  error?: string;
}

export function dnsQuery(name: string, type: DnsRecordType, id = Math.floor(Math.random() * 65535)): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });
}

/** Reads the query from stdin, sends it as one datagram, prints the answer datagram base64-encoded. */
export function dnsUdpCommand(server: string, port: number, timeoutS = 3): string {
  const script = `exec 3<>/dev/udp/${server}/${port} || exit 7; head -c 512 >&3; timeout ${timeoutS} dd bs=65535 count=1 <&3 2>/dev/null | base64 -w0`;
  return `bash -c ${shq(script)}`;
}

export function parseDnsAnswer(base64: string): DnsAnswer {
  const raw = Buffer.from(base64.trim(), 'base64');
  if (raw.length === 0) return { rcode: 'TIMEOUT', a: [], srv: [], error: 'no answer' };
  let p: dnsPacket.Packet;
  try {
    p = dnsPacket.decode(raw);
  } catch (e) {
    return { rcode: 'FORMERR', a: [], srv: [], error: `undecodable answer: ${e instanceof Error ? e.message : String(e)}` };
  }
  const answers = p.answers ?? [];
  const a: string[] = [];
  const srv: DnsAnswer['srv'] = [];
  for (const ans of answers) {
    if (ans.type === 'A') a.push(ans.data);
    if (ans.type === 'SRV') srv.push({ priority: ans.data.priority ?? 0, weight: ans.data.weight ?? 0, port: ans.data.port, target: ans.data.target });
  }
  return { rcode: (p as { rcode?: string }).rcode ?? 'NOERROR', a, srv };
}

export async function dnsLookup(target: Target, server: string, port: number, name: string, type: DnsRecordType): Promise<DnsAnswer> {
  const r = await target.exec(dnsUdpCommand(server, port), { stdin: dnsQuery(name, type), timeoutMs: 15_000 });
  if (r.code !== 0 && !r.stdout.trim()) return { rcode: 'TIMEOUT', a: [], srv: [], error: r.stderr.trim().split('\n').slice(-1)[0] || `exit ${r.code}` };
  return parseDnsAnswer(r.stdout);
}

export function describeDns(d: DnsAnswer, type: DnsRecordType): string {
  if (d.error) return `${d.rcode}: ${d.error}`;
  if (type === 'A') return d.a.length ? `${d.rcode} A ${d.a.join(', ')}` : `${d.rcode}, no A record`;
  return d.srv.length ? `${d.rcode} SRV ${d.srv.map((s) => `${s.target}:${s.port}`).join(', ')}` : `${d.rcode}, no SRV record`;
}

// ---------------------------------------------------------------- listening sockets

/** Ports listening on the target (ss output, see src/docker/facts.ts), for cross-checking catalog ports. */
export function parseSsListening(stdout: string): Set<number> {
  return new Set(parseListening(stdout).map((s) => s.port));
}
