// Loopback stand-ins for what verify probes: a DNS server answering like Consul
// (A and SRV from a table, NXDOMAIN otherwise), an HTTP server and a TCP server
// speaking ZooKeeper's four-letter words. Listen on 127.0.0.1 with random ports.
import * as tls from 'node:tls';
import dgram from 'node:dgram';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import dnsPacket from 'dns-packet';

export interface DnsTable {
  [name: string]: { a?: string[]; srv?: { port: number; target: string }[] };
}

export async function fakeDns(
  table: DnsTable,
): Promise<{ port: number; queries: string[]; close(): Promise<void> }> {
  const s = dgram.createSocket('udp4');
  const queries: string[] = [];
  s.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions?.[0];
    if (!question) return;
    queries.push(`${question.name} ${question.type}`);
    const entry = table[question.name];
    const answers: dnsPacket.Answer[] = [];
    if (entry && question.type === 'A')
      for (const a of entry.a ?? []) answers.push({ type: 'A', name: question.name, ttl: 0, data: a });
    if (entry && question.type === 'SRV')
      for (const r of entry.srv ?? [])
        answers.push({
          type: 'SRV',
          name: question.name,
          ttl: 0,
          data: { priority: 1, weight: 1, port: r.port, target: r.target },
        });
    // As the stack's dnsmasq on its address: unknown .consul names NXDOMAIN, other names REFUSED.
    const rcode = entry ? 0 : question.name.endsWith('.consul') ? 3 : 5;
    const res = dnsPacket.encode({
      type: 'response',
      id: q.id ?? 0,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | rcode,
      questions: q.questions ?? [],
      answers,
    });
    s.send(res, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return {
    port: (s.address() as AddressInfo).port,
    queries,
    close: () => new Promise<void>((r) => s.close(() => r())),
  };
}

/** A route with `login` (user:password) answers 401 unless the request sends it as basic auth. */
export type Routes = Record<string, { status: number; body: string; type?: string; login?: string }>;

/** A request the fake HTTP server saw. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export async function fakeHttp(
  routes: Routes,
  /** Serve HTTPS with this certificate (the image registry's). */
  tls?: { cert: string; key: string },
): Promise<{ port: number; requests: SeenRequest[]; close(): Promise<void> }> {
  const requests: SeenRequest[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const r = routes[req.url ?? ''];
      if (!r) {
        res.statusCode = 404;
        return res.end('not found');
      }
      if (
        r.login !== undefined &&
        req.headers.authorization !== `Basic ${Buffer.from(r.login).toString('base64')}`
      ) {
        res.statusCode = 401;
        return res.end('login required');
      }
      res.statusCode = r.status;
      res.setHeader('content-type', r.type ?? 'text/plain');
      res.end(r.body);
    });
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Answers each four-letter word from the table and closes, as ZooKeeper does. */
export async function fakeFourLetter(
  words: Record<string, string>,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((sock) => {
    sock.once('data', (d) => {
      sock.end(words[d.toString().trim()] ?? '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * A TLS server on loopback that only completes handshakes with `cert`,
 * offering `alpn` (the edge's :443 as verify's TLS check sees it).
 */
export async function fakeTls(
  cert: { cert: string; key: string },
  alpn: string[],
): Promise<{ port: number; close(): Promise<void> }> {
  const server = tls.createServer({ cert: cert.cert, key: cert.key, ALPNProtocols: alpn }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
