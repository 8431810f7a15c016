// src/system/tls.ts and verify's judgement of it (judgeTls): a real
// `openssl s_client` handshake against loopback TLS servers made with the
// edge's own certificate code, each way the edge can be wrong failing.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateEdgeTls } from '../../../src/secrets/edge.js';
import { parseTlsProbe, tlsProbeCommand, type TlsFacts } from '../../../src/system/tls.js';
import { judgeTls } from '../../../src/verify/derive.js';
import { fakeTls } from '../../helpers/fake-services.js';

const run = promisify(execFile);

/** The probe's output and exit code, as Target.exec would give them. */
const sh = (cmd: string) =>
  run('sh', ['-c', cmd]).then(
    (x) => ({ stdout: x.stdout, code: 0 }),
    (e: { stdout: string; code: number }) => ({ stdout: e.stdout, code: e.code }),
  );

describe('TLS facts of a port (openssl s_client) and what verify makes of them', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'pb-tls-'));
  const edge = generateEdgeTls({ domain: 'consul', ips: ['127.0.0.1'] });
  const other = generateEdgeTls({ domain: 'consul', ips: ['127.0.0.1'] });
  const ca = join(dir, 'ca.pem');
  writeFileSync(ca, edge.caCert);

  async function probe(cert: { cert: string; key: string }, alpn: string[], name: string): Promise<TlsFacts> {
    const srv = await fakeTls(cert, alpn);
    try {
      const r = await sh(tlsProbeCommand('127.0.0.1', srv.port, name, ca));
      return parseTlsProbe(r.stdout, r.code);
    } finally {
      await srv.close();
    }
  }

  it('passes the stack certificate for NAME.service.consul with h2: chain, name, days left', async () => {
    const f = await probe(edge, ['h2', 'http/1.1'], 'python1.service.consul');
    expect(f).to.include({ verified: true, alpn: 'h2' });
    const j = judgeTls(f);
    expect(j.ok, j.got).to.equal(true);
    expect(j.got).to.match(/^chain and name verified, ALPN h2, 8\d\d days left$/);
  });

  it('fails without HTTP/2, for a name the certificate is not for, under another CA, and near expiry', async () => {
    const h1 = judgeTls(await probe(edge, ['http/1.1'], 'python1.service.consul'));
    expect(h1.ok).to.equal(false);
    expect(h1.got).to.include('ALPN http/1.1');
    const name = judgeTls(await probe(edge, ['h2'], 'python1.example.test'));
    expect(name.ok).to.equal(false);
    expect(name.got).to.include('hostname mismatch');
    const foreign = judgeTls(await probe(other, ['h2'], 'python1.service.consul'));
    expect(foreign.ok).to.equal(false);
    expect(foreign.got).to.match(/not verified/);
    const good = await probe(edge, ['h2'], 'python1.service.consul');
    const late = new Date(good.notAfter!.getTime() - 13.5 * 86_400_000);
    expect(judgeTls(good, late)).to.deep.equal({
      ok: false,
      got: 'chain and name verified, ALPN h2, 13 days left',
    });
  });

  it('says why when nothing answers', async () => {
    const srv = await fakeTls(edge, ['h2']);
    await srv.close();
    const j = judgeTls(parseTlsProbe((await sh(tlsProbeCommand('127.0.0.1', srv.port, 'x', ca))).stdout, 1));
    expect(j.ok).to.equal(false);
    expect(j.got).to.not.equal('');
  });
});
