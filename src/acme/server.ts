// The renewer's HTTP side: HAProxy sends every host's
// /.well-known/acme-challenge/<token> here (any Host, plain HTTP), and
// Consul's check asks /health. Only GET and HEAD, only those two paths, a
// token only of [A-Za-z0-9_-]{1,200} (anything else: 404, nothing read).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export const CHALLENGE_PATH = '/.well-known/acme-challenge/';
export const TOKEN_RE = /^[A-Za-z0-9_-]{1,200}$/;
/** Set on a follower's request to the leader: the leader never forwards it again. */
export const HOP_HEADER = 'x-paasbox-acme-hop';

export interface ChallengeAnswer {
  status: 200 | 404 | 502;
  body: string;
}

export interface AcmeHandlers {
  /** The one status line /health answers (200). */
  health(): string;
  /** A challenge file's content; hop: asked by a follower. */
  challenge(token: string, hop: boolean): Promise<ChallengeAnswer>;
}

/** The token of a challenge path, or undefined when the path is none (pure). */
export function challengeToken(url: string): string | undefined {
  const path = url.split('?')[0] ?? '';
  if (!path.startsWith(CHALLENGE_PATH)) return undefined;
  const token = path.slice(CHALLENGE_PATH.length);
  return TOKEN_RE.test(token) ? token : undefined;
}

export function createAcmeServer(h: AcmeHandlers, log: (line: string) => void): Server {
  const send = (res: ServerResponse, status: number, body: string, head: boolean) => {
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
    });
    res.end(head ? undefined : body);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) return send(res, 405, 'only GET\n', head);
    const url = req.url ?? '';
    if (url === '/health' || url.startsWith('/health?')) return send(res, 200, `${h.health()}\n`, head);
    const token = challengeToken(url);
    if (!token) return send(res, 404, 'not found\n', head);
    h.challenge(token, req.headers[HOP_HEADER] !== undefined).then(
      (a) => send(res, a.status, a.body, head),
      (e: unknown) => {
        log(`challenge ${token}: ${(e as Error).message}`);
        send(res, 502, 'no answer\n', head);
      },
    );
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  return server;
}
