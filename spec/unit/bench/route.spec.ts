import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { median } from '../../../src/bench/discovery.js';
import { consulPassing } from '../../../src/bench/reach.js';

describe('route benchmark helpers', () => {
  it('median of odd and even counts, without reordering its input', () => {
    const xs = [300, 100, 200];
    expect(median(xs)).to.equal(200);
    expect(xs).to.deep.equal([300, 100, 200]);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    expect(Number.isNaN(median([]))).to.equal(true);
  });

  describe('consulPassing (blocking query on Consul health)', () => {
    let srv: Server;
    let port = 0;
    const seen: string[] = [];
    let index = 7;
    let status = 200;
    before(async () => {
      srv = createServer((req, res) => {
        seen.push(req.url ?? '');
        const u = new URL(req.url ?? '/', 'http://x');
        const answer = () => {
          res.writeHead(status, { 'X-Consul-Index': String(index), 'Content-Type': 'application/json' });
          res.end(
            status === 200
              ? JSON.stringify([{ Service: { Port: 1 } }, { Service: { Port: 2 } }])
              : 'ACL not found',
          );
        };
        // Blocks while the client's index is current, as Consul does.
        if (u.searchParams.get('index') === String(index))
          setTimeout(() => {
            index++;
            answer();
          }, 150);
        else answer();
      });
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      port = (srv.address() as AddressInfo).port;
    });
    after(() => srv.close());

    it('answers at once without an index, then blocks until the index moves', async () => {
      const first = await consulPassing('127.0.0.1', 'python1', '', 1000, port);
      expect(first).to.deep.equal({ count: 2, index: '7' });
      expect(seen.at(-1)).to.equal('/v1/health/service/python1?passing=1');
      const t0 = Date.now();
      const next = await consulPassing('127.0.0.1', 'python1', first!.index, 1000, port);
      expect(Date.now() - t0).to.be.at.least(140);
      expect(next).to.deep.equal({ count: 2, index: '8' });
      expect(seen.at(-1)).to.equal('/v1/health/service/python1?passing=1&index=7&wait=1000ms');
    });

    it('is undefined when Consul refuses (the caller falls back to polling)', async () => {
      status = 403;
      expect(await consulPassing('127.0.0.1', 'python1', '', 1000, port)).to.equal(undefined);
      status = 200;
    });
  });
});

describe('combine (two load runs as one)', () => {
  it('averages the rates and latencies, keeps the worst p99, sums the counts', async () => {
    const { combine } = await import('../../../src/bench/discovery.js');
    const a = { requestsPerSec: 100, latencyP50Ms: 1, latencyP99Ms: 9, total: 500, failed: 0 };
    const b = { requestsPerSec: 300, latencyP50Ms: 3, latencyP99Ms: 4, total: 1500, failed: 2 };
    expect(combine(a, b)).to.deep.equal({
      requestsPerSec: 200,
      latencyP50Ms: 2,
      latencyP99Ms: 9,
      total: 2000,
      failed: 2,
    });
  });
});
