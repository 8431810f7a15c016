// One HTTP GET with an explicit Host header (fetch will not let us set Host),
// used by the discovery benchmark (and specs) to reach services through HAProxy
// by name and to tell which instance answered. The request itself is
// src/system/http.ts's httpHere: a connection of its own per GET (no agent,
// `Connection: close`), since a kept-alive one that HAProxy closes between two
// requests would fail the next with "other side closed".
import { httpHere } from '../system/http.js';
import { parseInstance } from './routing.js';

export interface HostGetResult {
  status: number;
  body: string;
  /** X-Paasbox-Instance header or the instance named in the body. */
  instance?: string;
  /** Milliseconds from request to full response. */
  ms: number;
}

/** GET path with Host hostHeader at address:port; rejected when nothing answered within timeoutMs. */
export async function getWithHost(
  port: number,
  hostHeader: string,
  path = '/',
  address = '127.0.0.1',
  timeoutMs = 5000,
): Promise<HostGetResult> {
  const r = await httpHere(address, port, path, { host: hostHeader, timeoutS: timeoutMs / 1000 });
  if (r.error) throw new Error(`GET ${path} with Host ${hostHeader}: ${r.error}`);
  const instance = r.headers?.['x-paasbox-instance'] ?? parseInstance(r.body);
  return { status: r.status, body: r.body, instance, ms: r.ms ?? 0 };
}
