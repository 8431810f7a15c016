// Probe parsers (pure), and the probes themselves run through a real
// LocalTarget against loopback fakes: what verify sends is what a server sees.
import { expect } from 'chai';
import dnsPacket from 'dns-packet';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalTarget } from '../../../src/target/local.js';
import type { ExecOptions, ExecResult } from '../../../src/target/target.js';
import {
  fromHere,
  httpGet,
  httpHere,
  httpRequest,
  onTarget,
  parseCurl,
  parseRawHttp,
  probeTools,
  type Tools,
} from '../../../src/system/http.js';
import { dnsLookup, parseDnsAnswer } from '../../../src/system/dns.js';
import { fourLetterCommand, tcpConnectCommand } from '../../../src/system/tcp.js';
import { parseSsListening } from '../../../src/system/ports.js';
import { fakeDns, fakeFourLetter, fakeHttp } from '../../helpers/fake-services.js';

describe('verify probes: parsers', () => {
  it('parses curl output: body, status marker, errors', () => {
    expect(parseCurl('hello\n__paasbox_http_status__=200', '', 0)).to.deep.equal({
      status: 200,
      body: 'hello',
    });
    expect(parseCurl('x\n__paasbox_http_status__=503', '', 0).status).to.equal(503);
    const refused = parseCurl(
      '\n__paasbox_http_status__=000',
      'curl: (7) Failed to connect to 127.0.0.1 port 1: Connection refused',
      7,
    );
    expect(refused.status).to.equal(0);
    expect(refused.error).to.match(/Connection refused/);
  });

  it('parses a raw HTTP/1.0 answer', () => {
    const r = parseRawHttp('HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope', '', 0);
    expect(r).to.deep.equal({ status: 404, body: 'nope' });
    expect(parseRawHttp('', 'bash: connect: Connection refused', 7).error).to.match(/refused/);
  });

  it('decodes DNS answers: A, SRV, NXDOMAIN, nothing', () => {
    const enc = (rcode: number, answers: dnsPacket.Answer[]) =>
      dnsPacket
        .encode({
          type: 'response',
          id: 1,
          flags: rcode,
          questions: [{ type: 'A', name: 'x.service.consul' }],
          answers,
        })
        .toString('base64');
    const a = parseDnsAnswer(enc(0, [{ type: 'A', name: 'x.service.consul', data: '10.0.0.7' }]));
    expect(a).to.include({ rcode: 'NOERROR' });
    expect(a.a).to.deep.equal(['10.0.0.7']);
    const srv = parseDnsAnswer(
      enc(0, [
        {
          type: 'SRV',
          name: 'x.service.consul',
          data: { port: 31005, target: 'n.node.consul', priority: 1, weight: 1 },
        },
      ]),
    );
    expect(srv.srv[0]).to.include({ port: 31005, target: 'n.node.consul' });
    expect(parseDnsAnswer(enc(3, [])).rcode).to.equal('NXDOMAIN');
    expect(parseDnsAnswer('').rcode).to.equal('TIMEOUT');
  });

  it('parses listening ports from ss -Hltun', () => {
    const out =
      'tcp LISTEN 0 128 0.0.0.0:8500 0.0.0.0:*\nudp UNCONN 0 0 127.0.0.1:53 0.0.0.0:*\ntcp LISTEN 0 4096 [::]:80 [::]:*\ntcp LISTEN 0 4096 *:8300 *:*\n';
    expect([...parseSsListening(out)].sort((a, b) => a - b)).to.deep.equal([53, 80, 8300, 8500]);
  });
});

describe('verify probes: live over LocalTarget against loopback fakes', () => {
  const t = new LocalTarget();
  let tools: Tools;
  before(async () => {
    tools = await probeTools(t);
  });

  it('asks DNS A and SRV over bash /dev/udp and decodes the answer; NXDOMAIN for unknown names', async () => {
    const dns = await fakeDns({
      'web.service.consul': { a: ['10.1.2.3'], srv: [{ port: 31001, target: 'n1.node.paasbox.consul' }] },
    });
    try {
      const a = await dnsLookup(t, '127.0.0.1', dns.port, 'web.service.consul', 'A');
      expect(a.rcode).to.equal('NOERROR');
      expect(a.a).to.deep.equal(['10.1.2.3']);
      const srv = await dnsLookup(t, '127.0.0.1', dns.port, 'web.service.consul', 'SRV');
      expect(srv.srv.map((s) => s.port)).to.deep.equal([31001]);
      const nx = await dnsLookup(t, '127.0.0.1', dns.port, 'nope.service.consul', 'A');
      expect(nx.rcode).to.equal('NXDOMAIN');
      expect(dns.queries).to.include('web.service.consul SRV');
    } finally {
      await dns.close();
    }
  });

  it('reports TIMEOUT when no DNS server answers', async () => {
    const dns = await fakeDns({});
    const port = dns.port;
    await dns.close(); // nothing listens on that port now
    const d = await dnsLookup(t, '127.0.0.1', port, 'web.service.consul', 'A');
    expect(d.rcode).to.equal('TIMEOUT');
  });

  for (const curl of [true, false]) {
    it(`GETs over HTTP ${curl ? 'with curl' : 'with bash /dev/tcp (no curl)'}: status, body, refused`, async function () {
      if (curl && !tools.curl) {
        console.log('    (skipped: curl is not installed on this machine)');
        this.skip();
      }
      const srv = await fakeHttp({
        '/v1/status/leader': { status: 200, body: '"10.0.0.1:8300"' },
        '/down': { status: 503, body: 'no' },
      });
      try {
        const tl = { ...tools, curl };
        const ok = await httpGet(t, tl, '127.0.0.1', srv.port, '/v1/status/leader');
        expect(ok.status).to.equal(200);
        expect(ok.body).to.equal('"10.0.0.1:8300"');
        expect((await httpGet(t, tl, '127.0.0.1', srv.port, '/down')).status).to.equal(503);
      } finally {
        await srv.close();
      }
      const refused = await httpGet(t, { ...tools, curl }, '127.0.0.1', srv.port, '/');
      expect(refused.status).to.equal(0);
      expect(refused.error).to.be.a('string').and.not.equal('');
    });
  }

  for (const curl of [true, false]) {
    it(`sends a method, a body and a header read from a secret file ${curl ? 'with curl' : 'with bash /dev/tcp'}, the value on no command line`, async function () {
      if (curl && !tools.curl) {
        console.log('    (skipped: curl is not installed on this machine)');
        this.skip();
      }
      const dir = mkdtempSync(join(tmpdir(), 'pb-probe-'));
      writeFileSync(join(dir, 'login'), 'admin:s3cr3t-pw\n', { mode: 0o600 });
      writeFileSync(join(dir, 'token'), 'tok-123\n', { mode: 0o600 });
      const srv = await fakeHttp({
        '/v1/kv/k': { status: 403, body: 'Permission denied' },
        '/stats': { status: 200, body: 'Statistics Report' },
      });
      const lines: string[] = [];
      const rec = new (class extends LocalTarget {
        override exec(command: string, opts?: ExecOptions): Promise<ExecResult> {
          lines.push(command);
          return super.exec(command, opts);
        }
      })();
      try {
        const tl = { ...tools, curl };
        const put = await httpRequest(rec, tl, '127.0.0.1', srv.port, '/v1/kv/k', {
          method: 'PUT',
          body: '{"x": "ü"}\n',
          secret: { name: 'X-Consul-Token', file: join(dir, 'token') },
        });
        expect(put).to.deep.equal({ status: 403, body: 'Permission denied' });
        const stats = await httpRequest(rec, tl, '127.0.0.1', srv.port, '/stats', {
          secret: { name: 'Authorization', file: join(dir, 'login'), basic: true },
        });
        expect(stats.status).to.equal(200);
        const [a, b] = srv.requests;
        expect(a).to.deep.include({ method: 'PUT', url: '/v1/kv/k', body: '{"x": "ü"}\n' });
        expect(a?.headers['x-consul-token']).to.equal('tok-123');
        expect(b?.headers['authorization']).to.equal(
          `Basic ${Buffer.from('admin:s3cr3t-pw').toString('base64')}`,
        );
        expect(lines.join('\n')).to.not.include('tok-123').and.not.include('s3cr3t');
        const missing = await httpRequest(rec, tl, '127.0.0.1', srv.port, '/stats', {
          secret: { name: 'Authorization', file: join(dir, 'absent'), basic: true },
        });
        expect(missing.error).to.equal(`no ${join(dir, 'absent')} on the target`);
        expect(srv.requests).to.have.length(2);
      } finally {
        await srv.close();
      }
    });
  }

  it('sends a four-letter word and reads the answer; tcp connect open vs refused', async () => {
    const zk = await fakeFourLetter({ ruok: 'imok' });
    try {
      const r = await t.exec(fourLetterCommand('127.0.0.1', zk.port, 'ruok'));
      expect(r.stdout.trim()).to.equal('imok');
      expect((await t.exec(tcpConnectCommand('127.0.0.1', zk.port))).stdout.trim()).to.equal('open');
    } finally {
      await zk.close();
    }
    expect((await t.exec(tcpConnectCommand('127.0.0.1', zk.port))).stdout.trim()).to.equal('');
  });
});

describe('system/http: requests from here (httpHere) and endpoints', () => {
  let server: Server;
  let port = 0;
  const seen: {
    method: string;
    url: string;
    host?: string;
    token?: string;
    auth?: string;
    body: string;
    connection?: string;
  }[] = [];
  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const h = req.headers;
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          body,
          ...(h.host ? { host: h.host } : {}),
          ...(typeof h['x-consul-token'] === 'string' ? { token: h['x-consul-token'] } : {}),
          ...(h.authorization ? { auth: h.authorization } : {}),
          ...(h.connection ? { connection: h.connection } : {}),
        });
        if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2000);
        res.setHeader('X-Consul-Index', '42');
        res.statusCode = req.url === '/missing' ? 404 : 200;
        res.end(`you sent ${Buffer.byteLength(body)} bytes`);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('sends the Host, method, body and a secret read from its file; answers status, body, headers and time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-here-'));
    writeFileSync(join(dir, 'token'), 'tok\n');
    writeFileSync(join(dir, 'login'), 'admin:pw\n');
    const r = await httpHere('127.0.0.1', port, '/v1/kv/a', {
      method: 'PUT',
      body: 'héllo',
      host: 'x.service.consul',
      secret: { name: 'X-Consul-Token', file: join(dir, 'token') },
    });
    expect([r.status, r.body, r.headers?.['x-consul-index']]).to.deep.equal([200, 'you sent 6 bytes', '42']);
    expect(r.ms).to.be.a('number');
    expect(seen.at(-1)).to.deep.equal({
      method: 'PUT',
      url: '/v1/kv/a',
      body: 'héllo',
      host: 'x.service.consul',
      token: 'tok',
      connection: 'close',
    });
    await httpHere('127.0.0.1', port, '/', {
      secret: { name: 'Authorization', file: join(dir, 'login'), basic: true },
    });
    expect(seen.at(-1)?.auth).to.equal(`Basic ${Buffer.from('admin:pw').toString('base64')}`);
    expect(
      (await httpHere('127.0.0.1', port, '/', { secret: { name: 'X', file: join(dir, 'none') } })).error,
    ).to.equal(`no ${join(dir, 'none')} here`);
  });

  it('answers an error, never throws, when nothing answers in time or the port is closed', async () => {
    expect((await httpHere('127.0.0.1', port, '/missing')).status).to.equal(404);
    const slow = await httpHere('127.0.0.1', port, '/slow', { timeoutS: 0.3 });
    expect([slow.status, slow.error]).to.deep.equal([0, 'no answer within 0.3 s']);
    expect((await httpHere('127.0.0.1', 9, '/')).error).to.match(/ECONNREFUSED/);
  });

  it('an endpoint names where it asks, from here or from a target, and both ways get the same answer', async () => {
    const t = new LocalTarget();
    const here = fromHere('127.0.0.1', port, { 'X-Consul-Token': 'held' });
    const there = onTarget(t, await probeTools(t), '127.0.0.1', port);
    expect([here.where, there.where]).to.deep.equal([`127.0.0.1:${port}`, `127.0.0.1:${port} from local`]);
    const [a, b] = [
      await here.request('/e', { method: 'DELETE' }),
      await there.request('/e', { method: 'DELETE' }),
    ];
    expect([a.status, a.body]).to.deep.equal([b.status, b.body]);
    expect(seen.slice(-2).map((s) => [s.method, s.token])).to.deep.equal([
      ['DELETE', 'held'],
      ['DELETE', undefined],
    ]);
  });
});
