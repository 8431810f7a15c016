// What `paasbox cert` and `paasbox status` do with the store
// (src/acme/ops.ts), against a fake Consul K/V on 127.0.0.1: the operator's
// certificate stored with its status (and a renewal asked for dropped), a
// renewal refused when the renewer cannot answer it, awaited until a newer
// result, a failed result one line; the status section, failed first.
import { expect } from 'chai';
import {
  addOperatorCert,
  askRenewal,
  awaitRenewal,
  certificateLines,
  certTableRows,
  removeCert,
} from '../../../src/acme/ops.js';
import { checkBundle, combinedPem } from '../../../src/acme/bundle.js';
import { CertStore, type CertRow } from '../../../src/acme/store.js';
import { ConsulClient } from '../../../src/consul/client.js';
import { generateCertSet } from '../../../src/secrets/tls.js';
import { fakeConsulKv, type FakeKv } from '../../helpers/api-under-test.js';
import { failure } from '../../helpers/failure.js';

const DIR = 'https://127.0.0.1:14000/dir';

describe('acme: the cert operations', function () {
  this.timeout(60_000);
  let kv: FakeKv;
  let store: CertStore;
  beforeEach(async () => {
    kv = await fakeConsulKv();
    store = new CertStore(new ConsulClient({ baseUrl: kv.url }));
  });
  afterEach(() => kv.close());

  it("stores the operator's certificate as the edge serves it, with its status; drops a renewal asked for", async () => {
    const set = generateCertSet({
      caName: 'ops CA',
      name: 'app.example.test',
      altNames: ['DNS:app.example.test'],
      usage: 'serverAuth',
    });
    const pem = set.key + set.cert;
    kv.data.set('paasbox/acme/renew/app.example.test', '2026-12-07T10:00:00.000Z');
    const now = new Date('2026-12-07T11:00:00.000Z');
    const status = await addOperatorCert(
      store,
      'app.example.test',
      { pem: combinedPem(pem), facts: checkBundle(pem, 'app.example.test') },
      now,
    );
    expect(status).to.include({ ok: true, at: now.toISOString(), source: 'operator', issuer: 'ops CA' });
    expect(kv.data.get('paasbox/certs/app.example.test')).to.equal(set.cert + set.key);
    expect(JSON.parse(kv.data.get('paasbox/acme/status/app.example.test')!)).to.deep.equal(status);
    expect(kv.data.has('paasbox/acme/renew/app.example.test')).to.equal(false);
  });

  it('refuses a renewal the renewer cannot answer: no directory, a wildcard, unclaimed, the operator’s', async () => {
    expect((await failure(askRenewal(store, 'app.example.test', undefined))).problem).to.equal(
      'the stack has no ACME directory: nothing is ever requested',
    );
    expect((await failure(askRenewal(store, '*.example.test', DIR))).problem).to.match(/is a wildcard/);
    expect((await failure(askRenewal(store, 'app.example.test', DIR))).problem).to.equal(
      "no app claims app.example.test: the renewer gets certificates for the apps' public names only",
    );
    kv.data.set('paasbox/domains/app.example.test', '/app');
    kv.data.set(
      'paasbox/acme/status/app.example.test',
      JSON.stringify({ ok: true, at: '2026-12-07T10:00:00Z', source: 'operator' }),
    );
    expect((await failure(askRenewal(store, 'app.example.test', DIR))).problem).to.match(
      /operator's certificate/,
    );
    expect([...kv.data.keys()].filter((k) => k.startsWith('paasbox/acme/renew/'))).to.deep.equal([]);
  });

  it('asks for a renewal, and waits for a newer result; a failed one is an error naming why', async () => {
    kv.data.set('paasbox/domains/app.example.test', '/app');
    const old = { ok: true, at: '2026-12-07T09:00:00.000Z', source: 'acme' };
    kv.data.set('paasbox/acme/status/app.example.test', JSON.stringify(old));
    const asked = await askRenewal(store, 'app.example.test', DIR, new Date('2026-12-07T10:00:00.000Z'));
    expect(asked).to.equal('2026-12-07T10:00:00.000Z');
    expect(kv.data.get('paasbox/acme/renew/app.example.test')).to.equal(asked);
    // The old result is not the answer: the wait times out on it.
    const e = await failure(awaitRenewal(store, 'app.example.test', asked, 300));
    expect(e.problem).to.match(/waiting for the renewer's result for app.example.test/);
    expect(e.detail).to.match(/the last result is of 2026-12-07T09:00:00.000Z/);
    const done = {
      ok: true,
      at: '2026-12-07T10:00:05.000Z',
      source: 'acme',
      notAfter: '2027-03-07T10:00:00.000Z',
    };
    kv.data.set('paasbox/acme/status/app.example.test', JSON.stringify(done));
    expect(await awaitRenewal(store, 'app.example.test', asked, 5000)).to.deep.equal(done);
    kv.data.set(
      'paasbox/acme/status/app.example.test',
      JSON.stringify({
        ...done,
        ok: false,
        error: 'acme: error: 400 :: urn:ietf:params:acme:error:connection',
      }),
    );
    expect((await failure(awaitRenewal(store, 'app.example.test', asked, 5000))).problem).to.equal(
      'the renewal of app.example.test failed: acme: error: 400 :: urn:ietf:params:acme:error:connection',
    );
  });

  it('removes a certificate with its status; none there is an error', async () => {
    expect((await failure(removeCert(store, 'app.example.test'))).problem).to.equal(
      'no certificate is stored for app.example.test',
    );
    kv.data.set('paasbox/domains/app.example.test', '/app');
    kv.data.set('paasbox/certs/app.example.test', 'PEM');
    kv.data.set(
      'paasbox/acme/status/app.example.test',
      JSON.stringify({ ok: true, at: '2026-12-07T10:00:00Z', source: 'acme' }),
    );
    expect(await removeCert(store, 'app.example.test')).to.deep.equal({ claimedBy: '/app' });
    expect([...kv.data.keys()]).to.deep.equal(['paasbox/domains/app.example.test']);
  });

  it('the status section and the table: failed first, the error and the expiry shown', () => {
    const rows: CertRow[] = [
      {
        domain: 'bad.example.test',
        owner: '/bad',
        stored: true,
        status: {
          ok: false,
          at: '2026-12-07T10:00:00.000Z',
          source: 'acme',
          error: 'timeout',
          notAfter: '2027-01-01T00:00:00.000Z',
        },
      },
      {
        domain: 'app.example.test',
        owner: '/app',
        stored: true,
        status: {
          ok: true,
          at: '2026-12-07T10:00:00.000Z',
          source: 'acme',
          notAfter: '2027-03-07T10:00:00.000Z',
          issuer: 'Pebble',
        },
      },
      { domain: 'new.example.test', owner: '/new', stored: false },
    ];
    expect(certificateLines({ directory: DIR, rows })).to.equal(
      `certificates (ACME directory ${DIR}):\n` +
        '  bad.example.test  failed at 2026-12-07T10:00:00.000Z: timeout (serving one until 2027-01-01) [acme]\n' +
        '  app.example.test  ok until 2027-03-07 [acme]\n' +
        '  new.example.test  none yet\n',
    );
    expect(certificateLines({ directory: null, rows: [] })).to.equal(
      'certificates: none (no public names yet); no ACME directory: acme: in paasbox.yaml\n',
    );
    expect(certificateLines({ directory: null, rows }, 1)).to.match(
      /\n {2}\.\.\. 2 more: paasbox cert list\n$/,
    );
    expect(certTableRows(rows)[0]).to.deep.equal([
      'bad.example.test',
      'acme',
      'FAILED',
      '2027-01-01T00:00:00.000Z',
      '-',
      '/bad',
      'timeout',
    ]);
  });

  it("cert list says what becomes of a certificate no app claims: ACME's go, the operator's stay", () => {
    const row = (source: 'acme' | 'operator', owner?: string): CertRow => ({
      domain: 'old.example.test',
      stored: true,
      status: { ok: true, at: '2026-12-07T10:00:00.000Z', source, notAfter: '2027-01-01T00:00:00.000Z' },
      ...(owner ? { owner } : {}),
    });
    const detail = (r: CertRow) => certTableRows([r])[0]![6];
    expect(detail(row('acme'))).to.equal('no app claims it: the renewer removes it');
    expect(detail(row('operator'))).to.equal('no app claims it: kept until paasbox cert rm old.example.test');
    expect(detail(row('acme', '/web'))).to.equal('');
  });
});
