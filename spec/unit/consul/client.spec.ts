// The Consul client against a small loopback HTTP server that records requests
// and answers like Consul does (shapes taken from Consul's HTTP API docs).
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsulClient } from '../../../src/consul/client.js';
import { PaasboxError } from '../../../src/errors.js';
import { onTarget, probeTools } from '../../../src/system/http.js';
import { LocalTarget } from '../../../src/target/local.js';
import type { ExecOptions, ExecResult } from '../../../src/target/target.js';

interface Seen {
  method: string;
  url: string;
  body: string;
  token?: string;
}

describe('ConsulClient', () => {
  let server: http.Server;
  let base = '';
  const seen: Seen[] = [];
  const kv = new Map<string, string>();
  let electing = 0;

  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const url = req.url ?? '';
        const token = req.headers['x-consul-token'];
        seen.push({ method: req.method ?? '', url, body, ...(typeof token === 'string' ? { token } : {}) });
        const json = (v: unknown) => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(v));
        };
        if (url === '/v1/status/leader') return json('10.0.0.1:8300');
        // A cluster electing: no leader for the first `electing` asks, then one.
        if (url === '/electing/v1/status/leader') return json(electing-- > 0 ? '' : '10.0.0.2:8300');
        if (url === '/lost/v1/status/leader') {
          res.statusCode = 500;
          return res.end('No cluster leader');
        }
        if (url === '/v1/catalog/services') return json({ consul: [], web: ['urlprefix-/'] });
        if (url.startsWith('/v1/health/service/web')) {
          return json([
            {
              Node: { Node: 'n1', Address: '10.0.0.1' },
              Service: { ID: 'web-1', Service: 'web', Tags: [], Address: '', Port: 31000 },
              Checks: [],
            },
          ]);
        }
        if (url === '/v1/agent/service/register' || url.startsWith('/v1/agent/service/deregister/'))
          return res.end();
        const m = /^\/v1\/kv\/([^?]+)(\?raw)?$/.exec(url);
        if (m) {
          const key = decodeURIComponent(m[1] ?? '');
          if (req.method === 'PUT') {
            kv.set(key, body);
            return res.end('true');
          }
          if (req.method === 'DELETE') {
            kv.delete(key);
            return res.end('true');
          }
          if (!kv.has(key)) {
            res.statusCode = 404;
            return res.end();
          }
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
    expect(JSON.parse(reg?.body ?? '{}')).to.deep.equal({
      Name: 'probe',
      ID: 'probe-1',
      Port: 4242,
      Tags: ['x'],
    });
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
    try {
      await new ConsulClient({ baseUrl: base + 'nope', timeoutMs: 2000 }).catalogServices();
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(PaasboxError);
    expect((err as PaasboxError).problem).to.match(/HTTP 500/);
    err = undefined;
    // Port 9 on loopback: nothing listens (discard), so the connection is refused.
    try {
      await new ConsulClient({ baseUrl: 'http://127.0.0.1:9', timeoutMs: 2000 }).statusLeader();
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(PaasboxError);
    expect((err as PaasboxError).problem).to.match(/cannot reach Consul/);
  });

  it('runs on a target through system/http: the token read there from its file, never on a command line', async () => {
    class Recording extends LocalTarget {
      readonly lines: string[] = [];
      override exec(command: string, opts?: ExecOptions): Promise<ExecResult> {
        this.lines.push(command);
        return super.exec(command, opts);
      }
    }
    const t = new Recording();
    const file = join(mkdtempSync(join(tmpdir(), 'pb-consul-')), 'token');
    writeFileSync(file, 's3cret-token\n', { mode: 0o600 });
    const { port } = new URL(base);
    const c = new ConsulClient({
      http: onTarget(t, await probeTools(t), '127.0.0.1', Number(port)),
      secret: { name: 'X-Consul-Token', file, asUser: true },
    });
    expect(c.where).to.equal(`127.0.0.1:${port} from local`);
    expect(await c.kvPut('paasbox/t', 'on target')).to.equal(true);
    expect(await c.kvGet('paasbox/t')).to.equal('on target');
    expect(seen.at(-1)?.token).to.equal('s3cret-token');
    expect(t.lines.join('\n')).to.not.include('s3cret-token');
    const err = await c.json('GET', '/v1/nope').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as PaasboxError).problem).to.equal(
      `Consul at 127.0.0.1:${port} from local answered GET /v1/nope with HTTP 500`,
    );
  });

  describe('waitForLeader: the one wait for a Consul leader', () => {
    it('returns the leader once one is elected', async () => {
      electing = 2;
      const asks = seen.length;
      expect(await new ConsulClient(`${base}electing`).waitForLeader(5000, 10)).to.equal('10.0.0.2:8300');
      expect(seen.length - asks).to.equal(3);
    });

    it('times out naming the last error: no leader (HTTP 500), or Consul not answering', async () => {
      const lost = await new ConsulClient(`${base}lost`).waitForLeader(300, 50).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(lost).to.be.instanceOf(PaasboxError);
      expect((lost as PaasboxError).problem).to.match(
        /^timed out after 0\.3 s waiting for a Consul leader at 127\.0\.0\.1:\d+\/lost$/,
      );
      expect((lost as PaasboxError).detail).to.match(/HTTP 500: No cluster leader/);
      const gone = await new ConsulClient({ baseUrl: 'http://127.0.0.1:9', timeoutMs: 1000 })
        .waitForLeader(300, 50)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect((gone as PaasboxError).detail).to.match(
        /^cannot reach Consul at 127\.0\.0\.1:9 \(GET \/v1\/status\/leader\): .*ECONNREFUSED/,
      );
      electing = 1_000;
      const none = await new ConsulClient(`${base}electing`).waitForLeader(200, 50).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((none as PaasboxError).detail).to.equal('Consul answers, with no leader yet');
      electing = 0;
    });
  });
});
