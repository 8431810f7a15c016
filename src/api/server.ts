// The apps API's HTTP side: read a request (bounded), authenticate it (every
// path but /ping), then hand it to the routes, or stream what cannot be one
// JSON answer: Marathon's event stream and an app's logs. Values from a
// request reach docker only as argv words (Target.run), never a shell.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SINCE_RE } from '../apps/teams.js';
import { authenticate, mayTouch, type Principal, type TokenStore } from './auth.js';
import { followEvents } from './events.js';
import { ApiError, AppsApi, checkId } from './routes.js';
import type { SwarmApps } from './swarm-apps.js';

/** The largest request body read (an app definition is a few KiB). */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface ServerDeps {
  api: AppsApi;
  apps: SwarmApps;
  tokens: TokenStore;
  operator: { user: string; password: string };
  /** Says what happened, one line per request (never a header or a body). */
  log?: (line: string) => void;
}

export function createApiServer(d: ServerDeps): Server {
  const server = createServer((req, res) => {
    const t0 = Date.now();
    res.on('finish', () =>
      d.log?.(`${req.method} ${(req.url ?? '').split('?')[0]} ${res.statusCode} ${Date.now() - t0}ms`),
    );
    serve(d, req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, { message: (e as Error).message });
      else res.end();
    });
  });
  server.requestTimeout = 60_000;
  server.headersTimeout = 15_000;
  return server;
}

async function serve(d: ServerDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://api');
  const method = req.method ?? 'GET';
  if (url.pathname === '/ping') {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('pong\n');
    return;
  }
  let principal: Principal | undefined;
  try {
    principal = await authenticate(req.headers.authorization, d.operator, d.tokens);
  } catch (e) {
    // The tokens live in Consul: when it cannot be asked, the caller should try again, not give up.
    send(res, 503, { message: `cannot check the token now (${(e as Error).message}); try again` });
    return;
  }
  if (!principal) {
    res.setHeader('WWW-Authenticate', 'Basic realm="paasbox", Bearer realm="paasbox"');
    send(res, 401, { message: 'Unauthorized: give the operator login (basic) or a team token (Bearer)' });
    return;
  }
  let path: string;
  try {
    path = url.pathname.split('/').map(decodeURIComponent).join('/');
  } catch {
    send(res, 400, { message: 'the path is not valid percent-encoding' });
    return;
  }
  if (path === '/v2/events' && method === 'GET') return events(d, req, res, principal);
  const logs = /^\/paasbox\/v1\/apps(\/.+)\/logs$/.exec(path);
  if (logs && method === 'GET') return appLogs(d, req, res, principal, logs[1]!, url.searchParams);
  let body: string;
  try {
    body = await readBody(req);
  } catch (e) {
    send(res, 413, { message: (e as Error).message });
    return;
  }
  const r = await d.api.handle({ method, path, query: url.searchParams, body, principal });
  send(res, r.status, r.body);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`the body is larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** GET /v2/events: server-sent events while the client listens (a team sees its apps' only). */
async function events(
  d: ServerDeps,
  req: IncomingMessage,
  res: ServerResponse,
  principal: Principal,
): Promise<void> {
  const stop = new AbortController();
  req.on('close', () => stop.abort());
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
  });
  const write = (event: string, data: unknown) =>
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  write('event_stream_attached', { eventType: 'event_stream_attached', timestamp: new Date().toISOString() });
  const appOf = async (name: string) => (await d.apps.services([name]))[0]?.id;
  await followEvents(d.apps.manager, stop.signal, appOf, (e) => {
    const appId = (e.data.appId ??
      (e.data.plan as { affectedApps?: string[] } | undefined)?.affectedApps?.[0]) as string | undefined;
    if (appId && !mayTouch(principal, appId)) return;
    write(e.event, e.data);
  }).catch((e: unknown) => write('event_stream_error', { message: (e as Error).message }));
  res.end();
}

/** GET /paasbox/v1/apps/{id}/logs: every instance's lines, each prefixed with its instance. */
async function appLogs(
  d: ServerDeps,
  req: IncomingMessage,
  res: ServerResponse,
  principal: Principal,
  rawId: string,
  q: URLSearchParams,
): Promise<void> {
  let id: string;
  try {
    id = checkId(rawId);
    if (!mayTouch(principal, id)) throw new ApiError(403, `this token may not read the logs of ${id}`);
    const since = q.get('since') ?? undefined;
    if (since !== undefined && !SINCE_RE.test(since))
      throw new ApiError(400, 'since: give a duration (30s, 10m, 2h) or an RFC 3339 time');
    const tailText = q.get('tail');
    const tail = tailText === null ? undefined : Number(tailText);
    if (tail !== undefined && (!Number.isInteger(tail) || tail < 0 || tail > 100_000))
      throw new ApiError(400, 'tail: give a whole number of lines from 0 to 100000');
    const s = await d.apps.service(id);
    if (!s) throw new ApiError(404, `App '${id}' does not exist`);
    const stop = new AbortController();
    req.on('close', () => stop.abort());
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
    await d.apps
      .logs(
        s,
        {
          ...(since ? { since } : {}),
          ...(tail !== undefined ? { tail } : {}),
          follow: q.get('follow') === 'true',
          signal: stop.signal,
        },
        (chunk) => res.write(chunk),
      )
      .catch((e: unknown) => {
        if (!stop.signal.aborted) res.write(`paasbox: ${(e as Error).message}\n`);
      });
    res.end();
  } catch (e) {
    if (e instanceof ApiError) send(res, e.status, e.body);
    else throw e;
  }
}

/** The address a listening server answers at, for its log line. */
export function listening(server: Server): string {
  const a = server.address() as AddressInfo;
  return `${a.address}:${a.port}`;
}
