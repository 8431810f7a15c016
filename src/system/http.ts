// HTTP to a stack service, the one way src/ does it (verify, consul,
// provision, apps and bench alike). A request goes either from a target
// (httpRequest: through Target.exec, with curl when the target has it, else
// bash's /dev/tcp: only bash and coreutils are needed there) or from this
// process (httpHere: node:http, for a forwarded port or a test host's address).
// Both answer an HttpResponse and never throw for a refused connection or a
// timeout: the answer says so. HttpEndpoint names an address:port reached one
// of the two ways, for clients such as src/consul/client.ts. A login or token
// a request carries is read from its root-only file on the target (or from
// the user's own copy here), so it is never on a command line. HTTPS (the
// image registry) checks the server against a CA file named in `ca`. Each request
// opens its own connection (curl, or node:http without an agent and with
// `Connection: close`): a kept-alive one that the server closed between two
// requests would fail the next with "other side closed". Nothing is retried.

import { readFileSync } from 'node:fs';
import { request as nodeRequest } from 'node:http';
import { request as tlsRequest } from 'node:https';
import type { Target } from '../target/target.js';
import { shq } from '../target/shell.js';

/** Which optional tools the target has (probed once per run). */
export interface Tools {
  curl: boolean;
  ss: boolean;
  docker: boolean;
}

export async function probeTools(target: Target): Promise<Tools> {
  const r = await target.exec(
    'for t in curl ss docker; do command -v $t >/dev/null 2>&1 && echo $t; done; true',
    { timeoutMs: 15_000 },
  );
  const have = new Set(r.stdout.split('\n').map((s) => s.trim()));
  return { curl: have.has('curl'), ss: have.has('ss'), docker: have.has('docker') };
}

// ---------------------------------------------------------------- HTTP

export interface HttpResponse {
  status: number;
  body: string;
  /** Set when no response arrived (connection refused, timeout). */
  error?: string;
  /** Response headers, lower-case names (httpHere only). */
  headers?: Record<string, string>;
  /** Milliseconds from request to full response (httpHere only). */
  ms?: number;
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
  /** Seconds until the whole answer (default 5; fractions allowed). */
  timeoutS?: number;
  method?: 'GET' | 'PUT' | 'DELETE';
  /** Request body (sent on the command's stdin). */
  body?: string;
  secret?: SecretHeader;
  /**
   * HTTPS, the server's certificate checked against this CA file (on the
   * target, read as root; asUser: the user's own copy). Needs curl there.
   */
  ca?: { file: string; asUser?: boolean };
}

const STATUS_MARK = '\n__paasbox_http_status__=';

/** Exit code of a probe whose secret file is missing on the target. */
const NO_SECRET = 9;

/**
 * bash lines setting $secret to the header value read from s.file (exit NO_SECRET, saying so, when there is
 * none).
 */
function readSecret(s: SecretHeader): string {
  const f = shq(s.file);
  const value = s.basic ? `"Basic $(printf %s "$(cat ${f})" | base64 -w0)"` : `"$(cat ${f})"`;
  return `[ -r ${f} ] || { echo ${shq(`no ${s.file} ${s.asUser ? 'here' : 'on the target'}`)} >&2; exit ${NO_SECRET}; }; secret=${value}; `;
}

export function curlCommand(url: string, opts: HttpOptions = {}): string {
  const host = opts.host ? ` -H ${shq(`Host: ${opts.host}`)}` : '';
  const method = opts.method && opts.method !== 'GET' ? ` -X ${opts.method}` : '';
  const body = opts.body !== undefined ? ' --data-binary @-' : '';
  const ca = opts.ca ? ` --cacert ${shq(opts.ca.file)}` : '';
  const base = `curl -sS --max-time ${opts.timeoutS ?? 5}${method}${host}${body}${ca} -w ${shq(STATUS_MARK + '%{http_code}')}`;
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
  if (code !== 0 || !status)
    return {
      status: 0,
      body,
      error: (stderr.trim() || `curl exited ${code}`).split('\n').slice(-1)[0] ?? '',
    };
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
    opts.body !== undefined
      ? `printf 'Content-Length: %s\\r\\n\\r\\n%s' "$(LC_ALL=C; echo \${#body})" "$body"; `
      : `printf '\\r\\n'; `,
    `} >&3; timeout ${opts.timeoutS ?? 5} cat <&3`,
  ];
  return `bash -c ${shq(lines.join(''))}`;
}

export function parseRawHttp(stdout: string, stderr: string, code: number): HttpResponse {
  const m = /^HTTP\/\d(?:\.\d)?\s+(\d{3})/.exec(stdout);
  if (!m)
    return {
      status: 0,
      body: '',
      error:
        (stderr.trim() || (stdout ? 'not an HTTP answer' : `no answer (exit ${code})`))
          .split('\n')
          .slice(-1)[0] ?? '',
    };
  const sep = stdout.indexOf('\r\n\r\n');
  return { status: Number(m[1]), body: sep >= 0 ? stdout.slice(sep + 4) : '' };
}

/** One HTTP request from the target (as root when a secret header is read there). */
export async function httpRequest(
  target: Target,
  tools: Tools,
  address: string,
  port: number,
  path: string,
  opts: HttpOptions = {},
): Promise<HttpResponse> {
  const timeoutMs = ((opts.timeoutS ?? 5) + 10) * 1000;
  const exec = {
    timeoutMs,
    ...(opts.body !== undefined ? { stdin: opts.body } : {}),
    ...((opts.secret && !opts.secret.asUser) || (opts.ca && !opts.ca.asUser) ? { sudo: true } : {}),
  };
  if (tools.curl) {
    const scheme = opts.ca ? 'https' : 'http';
    const r = await target.exec(curlCommand(`${scheme}://${address}:${port}${path}`, opts), exec);
    return parseCurl(r.stdout, r.stderr, r.code);
  }
  if (opts.ca) return { status: 0, body: '', error: `HTTPS needs curl on ${target.name}` };
  const r = await target.exec(bashHttpCommand(address, port, path, opts), exec);
  return parseRawHttp(r.stdout, r.stderr, r.code);
}

export function httpGet(
  target: Target,
  tools: Tools,
  address: string,
  port: number,
  path: string,
  opts: { host?: string; timeoutS?: number } = {},
): Promise<HttpResponse> {
  return httpRequest(target, tools, address, port, path, opts);
}

/**
 * One HTTP request from this process, on a connection of its own. The secret
 * header's file is read here (the user's copy); `headers` are sent as given,
 * which is safe only because nothing here is a command line.
 */
export function httpHere(
  address: string,
  port: number,
  path: string,
  opts: HttpOptions & { headers?: Record<string, string> } = {},
): Promise<HttpResponse> {
  const t0 = performance.now();
  const headers: Record<string, string> = {
    Host: opts.host ?? `${address}:${port}`,
    Connection: 'close',
    ...opts.headers,
  };
  if (opts.secret) {
    let value: string;
    try {
      value = readFileSync(opts.secret.file, 'utf8').trim();
    } catch {
      return Promise.resolve({ status: 0, body: '', error: `no ${opts.secret.file} here` });
    }
    headers[opts.secret.name] = opts.secret.basic ? `Basic ${Buffer.from(value).toString('base64')}` : value;
  }
  const body = opts.body !== undefined ? Buffer.from(opts.body) : undefined;
  if (body) headers['Content-Length'] = String(body.length);
  const timeoutMs = (opts.timeoutS ?? 5) * 1000;
  let ca: string | undefined;
  if (opts.ca) {
    try {
      ca = readFileSync(opts.ca.file, 'utf8');
    } catch {
      return Promise.resolve({ status: 0, body: '', error: `no ${opts.ca.file} here` });
    }
  }
  return new Promise((resolve) => {
    const failed = (e: Error) =>
      resolve({ status: 0, body: '', error: e.message, ms: performance.now() - t0 });
    const request = ca === undefined ? nodeRequest : tlsRequest;
    const req = request(
      {
        host: address,
        port,
        path,
        method: opts.method ?? 'GET',
        headers,
        agent: false,
        ...(ca ? { ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', failed);
        res.on('end', () => {
          const h: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers))
            if (v !== undefined) h[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            headers: h,
            ms: performance.now() - t0,
          });
        });
      },
    );
    // The whole exchange, as curl's --max-time.
    const timer = setTimeout(
      () => req.destroy(new Error(`no answer within ${opts.timeoutS ?? 5} s`)),
      timeoutMs,
    );
    req.on('close', () => clearTimeout(timer));
    req.on('error', failed);
    req.end(body);
  });
}

// ---------------------------------------------------------------- endpoints

/** A service's address:port and the way requests reach it (from a target, or from here). */
export interface HttpEndpoint {
  /** "10.0.0.5:8500 from host1", for messages. */
  readonly where: string;
  request(path: string, opts?: HttpOptions): Promise<HttpResponse>;
}

/** address:port as the target reaches it: requests run on the target (httpRequest). */
export function onTarget(target: Target, tools: Tools, address: string, port: number): HttpEndpoint {
  return {
    where: `${address}:${port} from ${target.name}`,
    request: (path, opts) => httpRequest(target, tools, address, port, path, opts),
  };
}

/** address:port as this machine reaches it (httpHere); `headers` go with every request. */
export function fromHere(address: string, port: number, headers: Record<string, string> = {}): HttpEndpoint {
  return {
    where: `${address}:${port}`,
    request: (path, opts = {}) => httpHere(address, port, path, { ...opts, headers }),
  };
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
