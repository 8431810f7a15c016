// The renewer's decision (pure): which claimed public names need a
// certificate from the ACME directory now, which are left alone and why, and
// when to look again. A domain gets one when its certificate is missing,
// unusable, expires within renewDays, or a renewal was asked for. Never: a
// wildcard (HTTP-01 cannot prove one), a certificate the operator added, or
// anything at all without a directory. A certificate is renewed at notAfter
// minus renewDays, or minus a third of its lifetime when that is shorter. A
// domain that keeps failing is tried again after RETRY_MS, doubled for each
// failure in a row (status.failures), a day at most, unless a renewal is
// asked for; at most maxPerRound are asked for in a round (the directory's
// rate limits), the rest in the next. ACME's certificates of names no app
// claims any more are removed; the operator's stay.

import type { CertStatus } from './store.js';

export type RenewReason = 'missing' | 'unusable' | 'expiring' | 'requested';

export interface PlanInput {
  /** The ACME directory; undefined: nothing is requested. */
  directory: string | undefined;
  now: Date;
  renewDays: number;
  /** The claimed public names (paasbox/domains/). */
  domains: string[];
  /**
   * What paasbox/certs/ holds, checked (checkBundle): the expiry of a good
   * one, or why it is unusable. A domain with no entry has none.
   */
  certs: Map<string, { notAfter: string; notBefore?: string } | { unusable: string }>;
  statuses: Map<string, CertStatus>;
  /** The domains with a certificate in paasbox/certs/ (claimed or not). */
  stored?: string[];
  /** Renewals asked for (paasbox/acme/renew/): domain → when. */
  renewals: Map<string, string>;
  retryMs?: number;
  /** At most this many certificates asked for in a round (default MAX_PER_ROUND). */
  maxPerRound?: number;
}

export interface PlanItem {
  domain: string;
  reason: RenewReason;
  /** Said in the log: "expires 2027-01-01T00:00:00.000Z, within 30 days". */
  detail: string;
}

export interface Plan {
  /** Ask the directory for these, in this order. */
  run: PlanItem[];
  /** Left alone, and why. */
  skipped: { domain: string; why: string }[];
  /** Renewals asked for that nothing will answer (not claimed, the operator's): delete them. */
  drop: string[];
  /** ACME's certificates (and results) of names no app claims any more: delete them. */
  remove: string[];
  /** Why nothing at all is requested (no directory), else undefined. */
  idle?: string;
  /** Look again after this long at the latest (the next renewal window, a retry, the hourly round). */
  nextMs: number;
}

export const HOUR_MS = 60 * 60_000;
export const DAY_MS = 24 * HOUR_MS;
/** A failed domain is tried again after this long, doubled per failure in a row (sooner when asked for). */
export const RETRY_MS = 10 * 60_000;
/** The longest wait after failures. */
export const MAX_RETRY_MS = DAY_MS;
/** Certificates asked for in one round at most; the rest wait for the next. */
export const MAX_PER_ROUND = 5;
const MIN_WAIT_MS = 60_000;

/** The wait after `failures` failures in a row: retryMs, doubled for each further one, a day at most. */
export function retryDelay(failures: number, retryMs = RETRY_MS): number {
  const n = Math.max(1, Math.min(Math.floor(failures) || 1, 32));
  return Math.min(retryMs * 2 ** (n - 1), MAX_RETRY_MS);
}

/** When a certificate is due: notAfter minus renewDays, or minus a third of its lifetime if shorter. */
export function renewalTime(
  cert: { notAfter: string; notBefore?: string },
  renewDays: number,
): { at: number; why: string } {
  const notAfter = Date.parse(cert.notAfter);
  const lifetime = cert.notBefore ? notAfter - Date.parse(cert.notBefore) : NaN;
  if (lifetime > 0 && lifetime / 3 < renewDays * DAY_MS)
    return {
      at: notAfter - lifetime / 3,
      why: `within a third of its ${+(lifetime / DAY_MS).toFixed(1)}-day lifetime`,
    };
  return { at: notAfter - renewDays * DAY_MS, why: `within ${renewDays} days` };
}

export function planRenewals(p: PlanInput): Plan {
  const retryMs = p.retryMs ?? RETRY_MS;
  const now = p.now.getTime();
  if (!p.directory)
    return {
      run: [],
      skipped: [],
      drop: [],
      remove: [],
      idle: 'no ACME directory is configured (acme: { directory: URL } in paasbox.yaml): nothing is requested',
      nextMs: HOUR_MS,
    };
  const run: PlanItem[] = [];
  const skipped: Plan['skipped'] = [];
  const claimed = new Set(p.domains);
  const drop = [...p.renewals.keys()].filter((d) => !claimed.has(d)).sort();
  let next = now + HOUR_MS;
  const later = (t: number) => (next = Math.min(next, t));
  for (const domain of [...claimed].sort()) {
    const status = p.statuses.get(domain);
    const cert = p.certs.get(domain);
    if (domain.startsWith('*.')) {
      skipped.push({ domain, why: 'a wildcard: HTTP-01 cannot prove one (add it with paasbox cert add)' });
      if (p.renewals.has(domain)) drop.push(domain);
      continue;
    }
    if (status?.source === 'operator') {
      skipped.push({ domain, why: "the operator's certificate (paasbox cert add): never replaced by ACME" });
      if (p.renewals.has(domain)) drop.push(domain);
      continue;
    }
    if (p.renewals.has(domain)) {
      run.push({ domain, reason: 'requested', detail: `renewal asked for at ${p.renewals.get(domain)}` });
      continue;
    }
    let item: PlanItem | undefined;
    if (!cert) item = { domain, reason: 'missing', detail: 'no certificate yet' };
    else if ('unusable' in cert) item = { domain, reason: 'unusable', detail: cert.unusable };
    else {
      const due = renewalTime(cert, p.renewDays);
      if (due.at <= now)
        item = { domain, reason: 'expiring', detail: `expires ${cert.notAfter}, ${due.why}` };
      else later(due.at);
    }
    if (!item) continue;
    const failedAt = status && !status.ok ? Date.parse(status.at) : NaN;
    const failures = status?.failures ?? 1;
    const wait = retryDelay(failures, retryMs);
    if (failedAt + wait > now) {
      const again = new Date(failedAt + wait).toISOString();
      const times = failures > 1 ? ` (${failures} times in a row)` : '';
      skipped.push({ domain, why: `failed at ${status!.at}${times}; tried again from ${again}` });
      later(failedAt + wait);
      continue;
    }
    run.push(item);
  }
  // Asked-for renewals first; the rest of what is due waits for the next round (a minute on).
  const max = p.maxPerRound ?? MAX_PER_ROUND;
  const ordered = [
    ...run.filter((i) => i.reason === 'requested'),
    ...run.filter((i) => i.reason !== 'requested'),
  ];
  for (const i of ordered.slice(max)) {
    skipped.push({ domain: i.domain, why: `${i.detail}: over ${max} certificates this round, next round` });
    later(now + MIN_WAIT_MS);
  }
  const remove = [...new Set([...(p.stored ?? []), ...p.statuses.keys()])]
    .filter((d) => !claimed.has(d) && p.statuses.get(d)?.source === 'acme')
    .sort();
  return {
    run: ordered.slice(0, max),
    skipped,
    drop: [...new Set(drop)],
    remove,
    nextMs: Math.max(MIN_WAIT_MS, next - now),
  };
}
