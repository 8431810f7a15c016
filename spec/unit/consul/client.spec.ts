// The Consul client against a small loopback HTTP server that records requests
// and answers like Consul does (shapes taken from Consul's HTTP API docs).
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConsulClient } from '../../../src/consul/client.js';
import { PaasboxError } from '../../../src/errors.js';

interface Seen { method: string; url: string; body: string; token?: string }

describe('ConsulClient', () => {
  let server: http.Server;
  let base = '';
  const seen: Seen[] = [];
  const kv = new Map<string, string>();

  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const url = req.url ?? '';
        const token = req.headers['x-consul-token'];
        seen.push({ method: req.method ?? '', url, body, ...(typeof token === 'string' ? { token } : {}) });
        const json = (v: unknown) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(v)); };
        if (url === '/v1/status/leader') return json('10.0.0.1:8300');
        if (url === '/v1/catalog/services') return json({ consul: [], web: ['urlprefix-/'] });
        if (url.startsWith('/v1/health/service/web')) {
          return json([{ Node: { Node: 'n1', Address: '10.0.0.1' }, Service: { ID: 'web-1', Service: 'web', Tags: [], Address: '', Port: 31000 }, Checks: [] }]);
        }
        if (url === '/v1/agent/service/register' || url.startsWith('/v1/agent/service/deregister/')) return res.end();
        const m = /^\/v1\/kv\/([^?]+)(\?raw)?$/.exec(url);
        if (m) {
          const key = decodeURIComponent(m[1] ?? '');
          if (req.method === 'PUT') { kv.set(key, body); return res.end('true'); }
          if (req.method === 'DELETE') { kv.delete(key); return res.end('true'); }
          if (!kv.has(key)) { res.statusCode = 404; return res.end(); }
          return res.end(kv.get(key));
        }
        res.statusCode = 500;
        res.end('boom');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('reads leader, catalog and health', async () => {
    const c = new ConsulClient({ baseUrl: base, token: 't0k' });
    expect(await c.statusLeader()).to.equal('10.0.0.1:8300');
    expect(Object.keys(await c.catalogServices())).to.deep.equal(['consul', 'web']);
    const h = await c.healthService('web', { passing: true });
    expect(h[0]?.Service.Port).to.equal(31000);
    expect(seen.at(-1)?.url).to.equal('/v1/health/service/web?passing=true');
    expect(seen.at(-1)?.token).to.equal('t0k');
  });

  it('registers and deregisters agent services with the JSON body Consul expects', async () => {
    const c = new ConsulClient(base);
    await c.agentServiceRegister({ Name: 'probe', ID: 'probe-1', Port: 4242, Tags: ['x'] });
    const reg = seen.at(-1);
    expect(reg?.method).to.equal('PUT');
    expect(JSON.parse(reg?.body ?? '{}')).to.deep.equal({ Name: 'probe', ID: 'probe-1', Port: 4242, Tags: ['x'] });
    await c.agentServiceDeregister('probe-1');
    expect(seen.at(-1)?.url).to.equal('/v1/agent/service/deregister/probe-1');
  });

  it('puts, gets and misses K/V keys', async () => {
    const c = new ConsulClient(base);
    expect(await c.kvPut('paasbox/a b/c', 'v1')).to.equal(true);
    expect(seen.at(-1)?.url).to.equal('/v1/kv/paasbox/a%20b/c');
    expect(await c.kvGet('paasbox/a b/c')).to.equal('v1');
    expect(await c.kvGet('paasbox/missing')).to.equal(undefined);
  });

  it('turns HTTP errors and unreachable hosts into PaasboxError', async () => {
    let err: unknown;
    try { await new ConsulClient({ baseUrl: base + 'nope', timeoutMs: 2000 }).catalogServices(); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(PaasboxError);
    expect((err as PaasboxError).problem).to.match(/HTTP 500/);
    err = undefined;
    // Port 9 on loopback: nothing listens (discard), so the connection is refused.
    try { await new ConsulClient({ baseUrl: 'http://127.0.0.1:9', timeoutMs: 2000 }).statusLeader(); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(PaasboxError);
    expect((err as PaasboxError).problem).to.match(/cannot reach Consul/);
  });
});
