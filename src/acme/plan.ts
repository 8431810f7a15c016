// The renewer's decision (pure): which claimed public names need a
// certificate from the ACME directory now, which are left alone and why, and
// when to look again. A domain gets one when its certificate is missing,
// unusable, expires within renewDays, or a renewal was asked for. Never: a
// wildcard (HTTP-01 cannot prove one), a certificate the operator added, or
// anything at all without a directory. A failed attempt is retried after
// RETRY_MS unless a renewal is asked for.

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
  certs: Map<string, { notAfter: string } | { unusable: string }>;
  statuses: Map<string, CertStatus>;
  /** Renewals asked for (paasbox/acme/renew/): domain → when. */
  renewals: Map<string, string>;
  retryMs?: number;
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
  /** Why nothing at all is requested (no directory), else undefined. */
  idle?: string;
  /** Look again after this long at the latest (the next renewal window, a retry, the hourly round). */
  nextMs: number;
}

export const HOUR_MS = 60 * 60_000;
export const DAY_MS = 24 * HOUR_MS;
/** A failed domain is tried again after this long (sooner when a renewal is asked for). */
export const RETRY_MS = 10 * 60_000;
const MIN_WAIT_MS = 60_000;

export function planRenewals(p: PlanInput): Plan {
  const retryMs = p.retryMs ?? RETRY_MS;
  const now = p.now.getTime();
  if (!p.directory)
    return {
      run: [],
      skipped: [],
      drop: [],
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
      const renewAt = Date.parse(cert.notAfter) - p.renewDays * DAY_MS;
      if (renewAt <= now)
        item = {
          domain,
          reason: 'expiring',
          detail: `expires ${cert.notAfter}, within ${p.renewDays} days`,
        };
      else later(renewAt);
    }
    if (!item) continue;
    const failedAt = status && !status.ok ? Date.parse(status.at) : NaN;
    if (failedAt + retryMs > now) {
      skipped.push({
        domain,
        why: `failed at ${status!.at}; tried again from ${new Date(failedAt + retryMs).toISOString()}`,
      });
      later(failedAt + retryMs);
      continue;
    }
    run.push(item);
  }
  return { run, skipped, drop: [...new Set(drop)], nextMs: Math.max(MIN_WAIT_MS, next - now) };
}
