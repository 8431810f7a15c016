// The HTTP helpers the specs use open one connection per request (spec/helpers/http.ts explains
// the "other side closed" flake a reused keep-alive connection caused): counted on a loopback
// server that records each request's socket and Connection header.
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { getWithHost } from '../../src/bench/http.js';
import { getByName } from '../../src/bench/reach.js';
import { ConsulClient } from '../../src/consul/client.js';
import { fetchOnce } from '../helpers/http.js';

describe('spec HTTP helpers: a connection per request', () => {
  let server: Server;
  let port = 0;
  const sockets = new Set<Socket>();
  const connection: (string | undefined)[] = [];
  const methods: string[] = [];

  before(async () => {
    server = createServer((req, res) => {
      sockets.add(req.socket);
      connection.push(req.headers.connection);
      methods.push(req.method ?? '');
      req.resume();
      req.on('end', () => res.end(req.url === '/v1/status/leader' ? '"10.0.0.1:8300"' : 'ok'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  beforeEach(() => {
    sockets.clear();
    connection.length = 0;
    methods.length = 0;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('fetchOnce: three requests, three connections, each asked to close; headers kept; no retry', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await fetchOnce(`http://127.0.0.1:${port}/`, { headers: { 'X-Probe': String(i) } });
      expect(await r.text()).to.equal('ok');
    }
    const post = await fetchOnce(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'x' });
    expect(post.status).to.equal(200);
    expect(sockets.size).to.equal(4);
    expect(connection).to.deep.equal(['close', 'close', 'close', 'close']);
    expect(methods).to.deep.equal(['GET', 'GET', 'GET', 'POST']);
  });

  it('ConsulClient: three requests, three connections', async () => {
    const c = new ConsulClient({ baseUrl: `http://127.0.0.1:${port}` });
    for (let i = 0; i < 3; i++) expect(await c.statusLeader()).to.equal('10.0.0.1:8300');
    expect(sockets.size).to.equal(3);
    expect(connection).to.deep.equal(['close', 'close', 'close']);
  });

  it('getWithHost (src/bench/http.ts): three requests, three connections', async () => {
    for (let i = 0; i < 3; i++) expect((await getWithHost(port, 'web.service.consul')).body).to.equal('ok');
    expect(sockets.size).to.equal(3);
    expect(connection).to.deep.equal(['close', 'close', 'close']);
  });

  it('getByName (src/bench/reach.ts): three requests, three connections', async () => {
    for (let i = 0; i < 3; i++)
      expect((await getByName('127.0.0.1', 'web', 'consul', port)).body).to.equal('ok');
    expect(sockets.size).to.equal(3);
    expect(connection).to.deep.equal(['close', 'close', 'close']);
  });
});
