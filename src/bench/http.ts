// One HTTP GET with an explicit Host header (fetch will not let us set Host),
// used by the discovery benchmark (and specs) to reach services through HAProxy by name.
// Each GET opens its own connection (no agent, `Connection: close`): a kept-alive one that
// HAProxy closes between two requests would fail the next with "other side closed".
import { request } from 'node:http';
import { parseInstance } from './routing.js';

export interface HostGetResult {
  status: number;
  body: string;
  /** X-Paasbox-Instance header or the instance named in the body. */
  instance?: string;
  /** Milliseconds from request to full response. */
  ms: number;
}

export function getWithHost(port: number, hostHeader: string, path = '/', address = '127.0.0.1', timeoutMs = 5000): Promise<HostGetResult> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port, path, method: 'GET', headers: { Host: hostHeader, Connection: 'close' }, timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        const h = res.headers['x-paasbox-instance'];
        resolve({ status: res.statusCode ?? 0, body, instance: (typeof h === 'string' ? h : undefined) ?? parseInstance(body), ms: performance.now() - t0 });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} with Host ${hostHeader} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
