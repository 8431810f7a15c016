// Why this spec exists: issue 19 puts Marathon behind HTTP basic auth
// (--http_credentials from a 0600 file install writes); deploy's client must
// log in with that file's user:password on every request (the event stream
// too), and a refusal must say where the login comes from. A local HTTP
// server stands in for Marathon and refuses any request without the login.
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPaasboxError } from '../../src/errors.js';
import { MarathonClient, marathonCredentialsFromFile } from '../../src/marathon/client.js';

describe('MarathonClient: HTTP basic auth (Marathon --http_credentials)', () => {
  let server: Server;
  let url: string;
  const seen: (string | undefined)[] = [];
  const want = `Basic ${Buffer.from('paasbox:s3cret-pass_word').toString('base64')}`;

  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      if (req.headers.authorization !== want) {
        res.writeHead(401, {
          'WWW-Authenticate': 'Basic realm="Mesosphere Marathon"',
          'Content-Type': 'application/json',
        });
        return res.end('{"message":"Invalid username or password."}');
      }
      if (req.url?.startsWith('/v2/events')) {
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        return res.end('event: ping\ndata: {"eventType":"ping"}\n\n');
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"name":"marathon","version":"1.7.50","leader":"h:8080"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it('reads user:password from the secrets file; no file, no login', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-mcred-'));
    writeFileSync(join(dir, 'http-credentials'), 'paasbox:s3cret-pass_word\n', { mode: 0o600 });
    expect(marathonCredentialsFromFile(join(dir, 'http-credentials'))).to.deep.equal({
      user: 'paasbox',
      password: 's3cret-pass_word',
    });
    expect(marathonCredentialsFromFile(join(dir, 'missing'))).to.equal(undefined);
  });

  it('sends the login on requests and on the event stream', async () => {
    const client = new MarathonClient({
      baseUrl: url,
      credentials: { user: 'paasbox', password: 's3cret-pass_word' },
    });
    expect((await client.info()).name).to.equal('marathon');
    const events = [];
    for await (const e of client.followEvents()) events.push(e);
    expect(events.map((e) => e.event)).to.deep.equal(['ping']);
    expect(seen.slice(-2)).to.deep.equal([want, want]);
  });

  it('without the login Marathon refuses, and the error says where the login comes from', async () => {
    const client = new MarathonClient({ baseUrl: url });
    const e = await client.info().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(isPaasboxError(e)).to.equal(true);
    if (!isPaasboxError(e)) return;
    expect(e.problem).to.match(/refused .*HTTP 401/);
    expect(e.fix).to.include('marathon/http-credentials');
  });
});
