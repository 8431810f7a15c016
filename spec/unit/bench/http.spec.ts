// The benchmarks' GETs from this machine ride src/system/http.ts (httpHere):
// what they read back from an answer (status, body, which instance answered,
// the Host sent) and what they do when nothing answers, on a loopback server.
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getWithHost } from '../../../src/bench/http.js';
import { consulPassing, getByName, haproxyBackends } from '../../../src/bench/reach.js';

describe('bench HTTP over src/system/http.ts', () => {
  let server: Server;
  let port = 0;
  const hosts: (string | undefined)[] = [];

  before(async () => {
    server = createServer((req, res) => {
      hosts.push(req.headers.host);
      if (req.url === '/header') {
        res.writeHead(200, { 'X-Paasbox-Instance': 'abc123' });
        res.end('Hello from python1 (instance fromthebody)\n');
      } else if (req.url === '/slow') {
        setTimeout(() => res.end('late'), 1500);
      } else if (req.url === '/haproxyStats;csv') {
        const rows = ['svc_web,FRONTEND,OPEN', 'svc_web,s1,UP', 'svc_web,s2,DOWN', 'svc_x,s3,UP'];
        res.end(['# pxname,svname,status', ...rows, ''].join('\n'));
      } else {
        res.writeHead(404);
        res.end('Hello from python1 (instance fromthebody)\n');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('getWithHost: status, body, the Host sent; the instance from its header, else the body', async () => {
    const a = await getWithHost(port, 'python1.service.consul', '/header');
    expect([a.status, a.instance, hosts.at(-1)]).to.deep.equal([200, 'abc123', 'python1.service.consul']);
    expect(a.ms).to.be.a('number').and.be.greaterThan(0);
    const b = await getWithHost(port, 'other', '/');
    expect([b.status, b.instance]).to.deep.equal([404, 'fromthebody']);
    expect(b.body).to.equal('Hello from python1 (instance fromthebody)\n');
  });

  it('getWithHost rejects when nothing answers in time, naming the path and Host', async () => {
    const e = await getWithHost(port, 'slow.service.consul', '/slow', '127.0.0.1', 200).then(
      () => undefined,
      (x: Error) => x,
    );
    expect(e?.message).to.match(/^GET \/slow with Host slow\.service\.consul: no answer within 0\.2 s/);
  });

  it('getByName rejects on a refused connection; haproxyBackends reads the stats CSV', async () => {
    const closed = await new Promise<number>((r) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => r(p));
      });
    });
    const e = await getByName('127.0.0.1', 'web', 'consul', closed).then(
      () => undefined,
      (x: Error) => x,
    );
    expect(e?.message).to.include(`GET http://127.0.0.1:${closed}/ (Host web.service.consul):`);
    expect(await consulPassing('127.0.0.1', 'web', '', 1000, closed)).to.equal(undefined);
    const servers = await haproxyBackends('127.0.0.1', 'web', port);
    expect(servers).to.deep.equal([
      { backend: 'svc_web', server: 's1', status: 'UP' },
      { backend: 'svc_web', server: 's2', status: 'DOWN' },
    ]);
  });
});
