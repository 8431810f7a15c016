// The certificate store's checks (src/acme/bundle.ts, src/acme/store.ts):
// a bundle is stored only when every certificate parses, the chain is in
// order, the key is the certificate's, it covers the domain and has not
// expired; status records and K/V keys read back pass their allowlists.
// Certificates come from the project's one openssl path (generateCertSet).
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkBundle, combinedPem, covers, pemBlocks } from '../../../src/acme/bundle.js';
import { domainArg, domainOfKey, oneLine, parseStatus, sortRows } from '../../../src/acme/store.js';
import { generateCertSet } from '../../../src/secrets/tls.js';
import { thrown } from '../../helpers/failure.js';

const DAY = 24 * 3600_000;

function make(altNames: string[], ca?: { caCert: string; caKey: string }) {
  return generateCertSet(
    { caName: 'paasbox spec ACME CA', name: altNames[0]!.slice(4), altNames, usage: 'serverAuth' },
    ca,
  );
}

describe('acme: the certificate bundle', function () {
  this.timeout(60_000);
  const app = make(['DNS:app.example.test', 'DNS:www.example.test']);
  const other = make(['DNS:other.example.test'], app);
  const wild = make(['DNS:*.example.test'], app);
  const bundle = app.cert + app.caCert + app.key;

  /** A self-signed certificate for app.example.test with a key openssl makes from `newkey` (req -newkey). */
  function selfSigned(...newkey: string[]): string {
    const dir = mkdtempSync(join(tmpdir(), 'pb-acme-key-'));
    try {
      execFileSync(
        'openssl',
        [
          ...['req', '-x509', '-nodes', '-newkey', ...newkey, '-keyout', 'key.pem', '-out', 'cert.pem'],
          ...[
            '-days',
            '30',
            '-subj',
            '/CN=app.example.test',
            '-addext',
            'subjectAltName=DNS:app.example.test',
          ],
        ],
        { cwd: dir, stdio: 'pipe' },
      );
      return readFileSync(join(dir, 'cert.pem'), 'utf8') + readFileSync(join(dir, 'key.pem'), 'utf8');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("refuses a key HAProxy's OpenSSL 3 refuses (short RSA, odd curves, ed25519), one line with the fix", () => {
    const cases: [string[], string][] = [
      [['rsa:1024'], 'an RSA key of 1024 bits (under 2048)'],
      [['ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1'], 'an EC key on secp256k1'],
      [['ed25519'], 'a key of type ed25519'],
    ];
    for (const [newkey, weak] of cases) {
      const e = thrown(() => checkBundle(selfSigned(...newkey), 'app.example.test'));
      expect(e.problem, newkey.join(' ')).to.equal(
        `the certificate's private key is ${weak}, which HAProxy (OpenSSL 3) refuses`,
      );
      expect(e.fix).to.match(/RSA key of 2048 bits or more or an EC key on P-256\/P-384\/P-521/);
    }
    for (const newkey of [['rsa:2048'], ['ec', '-pkeyopt', 'ec_paramgen_curve:P-384']])
      expect(checkBundle(selfSigned(...newkey), 'app.example.test').names).to.deep.equal([
        'app.example.test',
      ]);
  });

  it('a good bundle: its expiry, issuer and names; the combined PEM is the certificates, then the key', () => {
    const facts = checkBundle(bundle, 'app.example.test');
    expect(facts.names).to.deep.equal(['app.example.test', 'www.example.test']);
    expect(facts.issuer).to.equal('paasbox spec ACME CA');
    expect(facts.notAfter).to.equal(new Date(new X509Certificate(app.cert).validTo).toISOString());
    expect(facts.notBefore).to.equal(new Date(new X509Certificate(app.cert).validFrom).toISOString());
    expect(checkBundle(bundle, 'www.example.test').notAfter).to.equal(facts.notAfter);
    // Key first, chain in the middle, CRLF line ends: the same PEM, in the edge's order.
    const messy = (app.key + app.cert + app.caCert).replace(/\n/g, '\r\n');
    expect(combinedPem(messy)).to.equal(combinedPem(bundle));
    expect(combinedPem(messy).indexOf('PRIVATE KEY')).to.be.greaterThan(
      combinedPem(messy).lastIndexOf('CERTIFICATE'),
    );
    // No chain at all is fine too.
    expect(checkBundle(app.cert + app.key, 'app.example.test').issuer).to.equal('paasbox spec ACME CA');
  });

  it("refuses another certificate's key", () => {
    const e = thrown(() => checkBundle(app.cert + other.key, 'app.example.test'));
    expect(e.problem).to.equal("the certificate's private key is not the certificate's");
  });

  it('refuses a certificate that does not cover the domain, naming its names', () => {
    const e = thrown(() => checkBundle(bundle, 'api.example.test'));
    expect(e.problem).to.equal(
      'the certificate does not cover api.example.test (its names: app.example.test, www.example.test)',
    );
    expect(thrown(() => checkBundle(other.cert + other.key, 'app.example.test')).problem).to.match(
      /does not cover/,
    );
  });

  it('a wildcard covers one label under it, not the parent nor two labels down; the wildcard domain itself', () => {
    const pem = wild.cert + wild.key;
    expect(checkBundle(pem, 'app.example.test').names).to.deep.equal(['*.example.test']);
    expect(checkBundle(pem, '*.example.test').names).to.deep.equal(['*.example.test']);
    expect(() => checkBundle(pem, 'example.test')).to.throw(/does not cover/);
    expect(() => checkBundle(pem, 'a.b.example.test')).to.throw(/does not cover/);
    expect(covers(['app.example.test'], '*.example.test')).to.equal(false);
  });

  it('refuses an expired certificate (its date named), not one about to expire', () => {
    const notAfter = new Date(new X509Certificate(app.cert).validTo).getTime();
    expect(() => checkBundle(bundle, 'app.example.test', new Date(notAfter - DAY))).to.not.throw();
    const e = thrown(() => checkBundle(bundle, 'app.example.test', new Date(notAfter + 1000)));
    expect(e.problem).to.equal(
      `the certificate for app.example.test expired on ${new Date(notAfter).toISOString()}`,
    );
  });

  it('refuses a chain out of order', () => {
    const e = thrown(() => checkBundle(app.caCert + app.cert + app.key, 'app.example.test'));
    expect(e.problem).to.match(/certificate 2 of the chain did not issue certificate 1/);
  });

  it('refuses anything but certificates and one key: no key, two keys, a CSR, text, garbage, too much', () => {
    const cases: [string, RegExp][] = [
      [app.cert, /comes without its private key/],
      [app.key, /holds no certificate/],
      [app.cert + app.key + other.key, /holds 2 private keys/],
      [
        app.cert + app.key + '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
        /CERTIFICATE REQUEST block/,
      ],
      ['subject=CN=app\n' + bundle, /text that is no PEM block/],
      [bundle.replace(/MII/, 'M$I'), /text that is no PEM block|does not parse/],
      ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' + app.key, /does not parse as X.509/],
      [app.cert + app.key + 'x'.repeat(70_000), /over 64 KiB/],
      ['', /holds no certificate/],
    ];
    for (const [pem, re] of cases)
      expect(thrown(() => checkBundle(pem, 'app.example.test')).problem).to.match(re);
    expect(() => pemBlocks(app.cert + app.key + '\n\n  \n')).to.not.throw();
  });

  it('names the input as told (the operator’s files, lego’s output)', () => {
    const e = thrown(() =>
      checkBundle(app.cert, 'app.example.test', new Date(), '--cert a.pem with --key b.pem'),
    );
    expect(e.problem).to.equal('--cert a.pem with --key b.pem comes without its private key');
  });
});

describe('acme: what the store reads back', () => {
  const good = {
    ok: true,
    at: '2026-12-07T10:00:00.000Z',
    source: 'acme',
    notAfter: '2027-03-07T10:00:00.000Z',
  };

  it('takes a status record in its format', () => {
    expect(parseStatus(JSON.stringify(good))).to.deep.equal(good);
    const failed = {
      ok: false,
      at: '2026-12-07T10:00:00Z',
      source: 'operator',
      error: 'urn:ietf:params:acme:error:connection',
    };
    expect(parseStatus(JSON.stringify(failed))).to.deep.equal(failed);
    // The failures in a row, which the renewer backs off by.
    expect(parseStatus(JSON.stringify({ ...failed, failures: 7 }))).to.deep.equal({ ...failed, failures: 7 });
  });

  it('refuses one that is not: bad JSON, a wrong type, a bad time, an unknown source, control characters', () => {
    for (const bad of [
      'not json',
      '[]',
      'null',
      JSON.stringify({ ...good, ok: 'true' }),
      JSON.stringify({ ...good, at: 'yesterday' }),
      JSON.stringify({ ...good, at: '2026-13-45T10:00:00Z' }),
      JSON.stringify({ ...good, source: 'letsencrypt' }),
      JSON.stringify({ ...good, notAfter: 12 }),
      JSON.stringify({ ...good, issuer: 'CA\nX-Injected: 1' }),
      JSON.stringify({ ...good, error: 'x'.repeat(501) }),
      JSON.stringify({ ...good, failures: 0 }),
      JSON.stringify({ ...good, failures: 1.5 }),
      JSON.stringify({ ...good, failures: '3' }),
      JSON.stringify({ ...good, failures: 1e9 }),
    ])
      expect(parseStatus(bad), bad).to.equal(undefined);
    expect(parseStatus(undefined)).to.equal(undefined);
  });

  it('takes a key only when it names a public name (wildcards too), under the prefix', () => {
    const p = 'paasbox/certs/';
    expect(domainOfKey(`${p}app.example.test`, p)).to.equal('app.example.test');
    expect(domainOfKey(`${p}*.example.test`, p)).to.equal('*.example.test');
    for (const bad of [
      'App.example.test',
      'app.example.test\n',
      '../x',
      'python1.service.consul',
      'localhost',
      '10.0.0.1',
      'a/b.test',
    ])
      expect(domainOfKey(`${p}${bad}`, p), bad).to.equal(undefined);
    expect(domainOfKey('paasbox/domains/app.example.test', p)).to.equal(undefined);
    expect(domainOfKey(`${p}app.corp`, p, 'corp')).to.equal(undefined);
  });

  it('a DOMAIN argument: lowercased, a one-line error naming DOMAIN otherwise', () => {
    expect(domainArg(' App.Example.TEST ')).to.equal('app.example.test');
    expect(domainArg('*.example.test')).to.equal('*.example.test');
    expect(thrown(() => domainArg('app.example.test\nx')).problem).to.match(/^DOMAIN: .*control character/);
    expect(thrown(() => domainArg('web.service.consul')).problem).to.match(/^DOMAIN: .*stack's own domain/);
  });

  it('one line of text: control characters gone, cut with ...', () => {
    expect(oneLine('a\r\nb\u0007  c')).to.equal('a b c');
    expect(oneLine('x'.repeat(20), 10)).to.equal('xxxxxxx...');
  });

  it('rows: failed first, then by domain', () => {
    const s = (ok: boolean) => ({ ok, at: good.at, source: 'acme' as const });
    const rows = sortRows([
      { domain: 'b.test', stored: true, status: s(true) },
      { domain: 'c.test', stored: true, status: s(false) },
      { domain: 'a.test', stored: false },
      { domain: 'a2.test', stored: true, status: s(false) },
    ]);
    expect(rows.map((r) => r.domain)).to.deep.equal(['a2.test', 'c.test', 'a.test', 'b.test']);
  });
});
