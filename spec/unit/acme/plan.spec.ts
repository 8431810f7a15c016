// The renewer's decision (src/acme/plan.ts, pure): which claimed public names
// get a certificate from the ACME directory now, which are left alone, which
// renewal requests are dropped, which unclaimed certificates go, and when to
// look again: short-lived certificates at a third of their lifetime, failures
// backed off, at most MAX_PER_ROUND asked for in a round.
import { expect } from 'chai';
import {
  DAY_MS,
  HOUR_MS,
  MAX_PER_ROUND,
  planRenewals,
  retryDelay,
  RETRY_MS,
  type PlanInput,
} from '../../../src/acme/plan.js';
import type { CertStatus } from '../../../src/acme/store.js';

const NOW = new Date('2026-12-07T12:00:00.000Z');
const iso = (msFromNow: number) => new Date(NOW.getTime() + msFromNow).toISOString();
const acme = (o: Partial<CertStatus> = {}): CertStatus => ({
  ok: true,
  at: iso(-DAY_MS),
  source: 'acme',
  ...o,
});

function plan(o: Partial<PlanInput>) {
  return planRenewals({
    directory: 'https://127.0.0.1:14000/dir',
    now: NOW,
    renewDays: 30,
    domains: [],
    certs: new Map(),
    statuses: new Map(),
    renewals: new Map(),
    ...o,
  });
}

describe('acme: the renewal plan', () => {
  it('no directory: nothing at all, whatever is missing or asked for, and says why', () => {
    const p = plan({
      directory: undefined,
      domains: ['app.example.test'],
      renewals: new Map([['app.example.test', iso(0)]]),
    });
    expect(p.run).to.deep.equal([]);
    expect(p.drop).to.deep.equal([]);
    expect(p.idle).to.match(/no ACME directory is configured/);
    expect(p.nextMs).to.equal(HOUR_MS);
    expect(plan({ directory: '', domains: ['a.example.test'] }).run).to.deep.equal([]);
  });

  it('a claimed domain without a certificate, or with an unusable one, gets one', () => {
    const p = plan({
      domains: ['b.example.test', 'a.example.test'],
      certs: new Map([
        ['b.example.test', { unusable: "the certificate's private key is not the certificate's" }],
      ]),
    });
    expect(p.run).to.deep.equal([
      { domain: 'a.example.test', reason: 'missing', detail: 'no certificate yet' },
      {
        domain: 'b.example.test',
        reason: 'unusable',
        detail: "the certificate's private key is not the certificate's",
      },
    ]);
    expect(p.idle).to.equal(undefined);
  });

  it('renews within renewDays of expiry, not before; looks again when the window opens', () => {
    const soon = iso(29 * DAY_MS);
    const later = iso(31 * DAY_MS);
    const p = plan({
      domains: ['soon.example.test', 'later.example.test'],
      certs: new Map([
        ['soon.example.test', { notAfter: soon }],
        ['later.example.test', { notAfter: later }],
      ]),
      statuses: new Map([
        ['soon.example.test', acme()],
        ['later.example.test', acme()],
      ]),
    });
    expect(p.run).to.deep.equal([
      { domain: 'soon.example.test', reason: 'expiring', detail: `expires ${soon}, within 30 days` },
    ]);
    // The hourly round comes before later's window (a day off).
    expect(p.nextMs).to.equal(HOUR_MS);
    const q = plan({
      domains: ['later.example.test'],
      certs: new Map([['later.example.test', { notAfter: iso(30 * DAY_MS + 5 * 60_000) }]]),
      renewDays: 30,
    });
    expect(q.run).to.deep.equal([]);
    expect(q.nextMs).to.equal(5 * 60_000);
    expect(
      plan({
        domains: ['x.example.test'],
        certs: new Map([['x.example.test', { notAfter: iso(29 * DAY_MS) }]]),
        renewDays: 7,
      }).run,
    ).to.deep.equal([]);
  });

  it('a renewal asked for runs even for a good certificate, and even right after a failure', () => {
    const p = plan({
      domains: ['app.example.test'],
      certs: new Map([['app.example.test', { notAfter: iso(80 * DAY_MS) }]]),
      statuses: new Map([['app.example.test', acme({ ok: false, at: iso(-60_000), error: 'refused' })]]),
      renewals: new Map([['app.example.test', iso(-1000)]]),
    });
    expect(p.run).to.deep.equal([
      { domain: 'app.example.test', reason: 'requested', detail: `renewal asked for at ${iso(-1000)}` },
    ]);
    expect(p.drop).to.deep.equal([]);
  });

  it("leaves the operator's certificate alone, expiring, missing or asked for (the request dropped)", () => {
    const p = plan({
      domains: ['own.example.test', 'gone.example.test'],
      certs: new Map([['own.example.test', { notAfter: iso(DAY_MS) }]]),
      statuses: new Map([
        ['own.example.test', acme({ source: 'operator' })],
        ['gone.example.test', acme({ source: 'operator' })],
      ]),
      renewals: new Map([['own.example.test', iso(0)]]),
    });
    expect(p.run).to.deep.equal([]);
    expect(p.skipped.map((s) => s.domain)).to.deep.equal(['gone.example.test', 'own.example.test']);
    expect(p.skipped[0]!.why).to.match(/operator's certificate/);
    expect(p.drop).to.deep.equal(['own.example.test']);
  });

  it('skips wildcards (HTTP-01 cannot prove one), their requests dropped', () => {
    const p = plan({ domains: ['*.example.test'], renewals: new Map([['*.example.test', iso(0)]]) });
    expect(p.run).to.deep.equal([]);
    expect(p.skipped).to.deep.equal([
      {
        domain: '*.example.test',
        why: 'a wildcard: HTTP-01 cannot prove one (add it with paasbox cert add)',
      },
    ]);
    expect(p.drop).to.deep.equal(['*.example.test']);
  });

  it('drops requests for domains no app claims; an unclaimed certificate is not renewed', () => {
    const p = plan({
      domains: [],
      certs: new Map([['old.example.test', { notAfter: iso(DAY_MS) }]]),
      renewals: new Map([['old.example.test', iso(0)]]),
    });
    expect(p.run).to.deep.equal([]);
    expect(p.drop).to.deep.equal(['old.example.test']);
  });

  it('a failure is tried again after RETRY_MS, not at every round; the wait ends then', () => {
    const failedAt = -2 * 60_000;
    const input = {
      domains: ['app.example.test'],
      statuses: new Map([['app.example.test', acme({ ok: false, at: iso(failedAt), error: 'timeout' })]]),
    };
    const p = plan(input);
    expect(p.run).to.deep.equal([]);
    expect(p.skipped[0]!.why).to.equal(
      `failed at ${iso(failedAt)}; tried again from ${iso(failedAt + RETRY_MS)}`,
    );
    expect(p.nextMs).to.equal(RETRY_MS + failedAt);
    const q = plan({ ...input, now: new Date(NOW.getTime() + RETRY_MS) });
    expect(q.run.map((r) => r.reason)).to.deep.equal(['missing']);
  });

  it('never waits less than a minute', () => {
    const p = plan({
      domains: ['app.example.test'],
      certs: new Map([['app.example.test', { notAfter: iso(30 * DAY_MS + 1000) }]]),
    });
    expect(p.run).to.deep.equal([]);
    expect(p.nextMs).to.equal(60_000);
  });

  it('backs a failing domain off: 10 minutes doubled per failure in a row, a day at most', () => {
    expect([1, 2, 3, 4, 8, 9, 50].map((n) => retryDelay(n) / 60_000)).to.deep.equal([
      10, 20, 40, 80, 1280, 1440, 1440,
    ]);
    const failed = (failures: number, ago: number) =>
      plan({
        domains: ['app.example.test'],
        statuses: new Map([
          ['app.example.test', acme({ ok: false, at: iso(-ago), error: 'no such host', failures })],
        ]),
      });
    // Third failure in a row 30 minutes ago: the next try 40 minutes after it, not at the 10-minute mark.
    const p = failed(3, 30 * 60_000);
    expect(p.run).to.deep.equal([]);
    expect(p.skipped[0]!.why).to.equal(
      `failed at ${iso(-30 * 60_000)} (3 times in a row); tried again from ${iso(10 * 60_000)}`,
    );
    expect(p.nextMs).to.equal(10 * 60_000);
    expect(failed(3, 40 * 60_000).run.map((r) => r.domain)).to.deep.equal(['app.example.test']);
    // Twenty failures: a day apart, never more.
    expect(failed(20, DAY_MS - 60_000).run).to.deep.equal([]);
    expect(failed(20, DAY_MS).run).to.have.length(1);
  });

  it(`asks for at most ${MAX_PER_ROUND} certificates a round (asked-for renewals first), the rest next round`, () => {
    const domains = Array.from({ length: 8 }, (_, i) => `app${i}.example.test`);
    const p = plan({ domains, renewals: new Map([['app7.example.test', iso(-1000)]]) });
    expect(MAX_PER_ROUND).to.equal(5);
    expect(p.run.map((r) => r.domain)).to.deep.equal([
      'app7.example.test',
      'app0.example.test',
      'app1.example.test',
      'app2.example.test',
      'app3.example.test',
    ]);
    expect(p.skipped.map((s) => s.domain)).to.deep.equal([
      'app4.example.test',
      'app5.example.test',
      'app6.example.test',
    ]);
    expect(p.skipped[0]!.why).to.equal('no certificate yet: over 5 certificates this round, next round');
    expect(p.nextMs).to.equal(60_000);
    expect(plan({ domains, maxPerRound: 2 }).run).to.have.length(2);
  });

  it('renews a certificate shorter-lived than renewDays at a third of its lifetime, not every round', () => {
    // Six days long, one day old, renewDays 30: due two days before it expires.
    const cert = { notBefore: iso(-DAY_MS), notAfter: iso(5 * DAY_MS) };
    const p = plan({
      domains: ['short.example.test'],
      certs: new Map([['short.example.test', cert]]),
      statuses: new Map([['short.example.test', acme()]]),
    });
    expect(p.run).to.deep.equal([]);
    expect(p.nextMs).to.equal(HOUR_MS);
    const at = (ms: number) =>
      plan({
        now: new Date(NOW.getTime() + ms),
        domains: ['short.example.test'],
        certs: new Map([['short.example.test', cert]]),
      }).run;
    expect(at(3 * DAY_MS - 1000)).to.deep.equal([]);
    expect(at(3 * DAY_MS)).to.deep.equal([
      {
        domain: 'short.example.test',
        reason: 'expiring',
        detail: `expires ${cert.notAfter}, within a third of its 6-day lifetime`,
      },
    ]);
    // A 90-day certificate keeps renewDays (30 < 90/3 is false: 30 = 30).
    const long = { notBefore: iso(-59 * DAY_MS), notAfter: iso(31 * DAY_MS) };
    expect(
      plan({ domains: ['l.example.test'], certs: new Map([['l.example.test', long]]) }).run,
    ).to.deep.equal([]);
  });

  it("removes ACME's certificates of names no app claims any more; the operator's and unknown ones stay", () => {
    const p = plan({
      domains: ['kept.example.test'],
      stored: ['kept.example.test', 'gone.example.test', 'own.example.test', 'nostatus.example.test'],
      certs: new Map([['kept.example.test', { notAfter: iso(80 * DAY_MS) }]]),
      statuses: new Map([
        ['kept.example.test', acme()],
        ['gone.example.test', acme()],
        ['failed.example.test', acme({ ok: false, error: 'refused', failures: 2 })],
        ['own.example.test', acme({ source: 'operator' })],
      ]),
    });
    expect(p.remove).to.deep.equal(['failed.example.test', 'gone.example.test']);
    expect(p.run).to.deep.equal([]);
    expect(plan({ directory: undefined, stored: ['gone.example.test'] }).remove).to.deep.equal([]);
  });
});
