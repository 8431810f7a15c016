// The certificates of the apps' public names in Consul K/V, shared by the
// ACME renewer (in its container, with its own token) and `paasbox cert` /
// `paasbox status` (over SSH with the management token, as
// src/consul/app-names.ts): paasbox/certs/<domain> (the combined PEM the
// edge serves), paasbox/acme/status/<domain> (the last result, JSON),
// paasbox/acme/renew/<domain> (a renewal asked for) and paasbox/acme/leader
// (the renewer's lock). Everything read back is checked: a key must be a
// public name, a status record must be in its format.

import { DOMAINS_PREFIX } from '../apps/target-checks.js';
import { domainProblem } from '../apps/domains.js';
import type { ConsulOnTarget } from '../consul/app-names.js';
import { ConsulClient } from '../consul/client.js';
import { PaasboxError } from '../errors.js';
import { onTarget, probeTools } from '../system/http.js';

export const CERTS_PREFIX = 'paasbox/certs/';
export const STATUS_PREFIX = 'paasbox/acme/status/';
export const RENEW_PREFIX = 'paasbox/acme/renew/';
/** The renewer's lock: held by the leader's Consul session, its value the leader's IP:PORT. */
export const LEADER_KEY = 'paasbox/acme/leader';
export { DOMAINS_PREFIX };

export type CertSource = 'acme' | 'operator';

/** paasbox/acme/status/<domain>: the last result for a domain's certificate. */
export interface CertStatus {
  ok: boolean;
  /** ISO time of the result. */
  at: string;
  /** Who put the certificate there: the renewer, or the operator (`paasbox cert add`: never replaced). */
  source: CertSource;
  /** ISO time the certificate in paasbox/certs/ expires. */
  notAfter?: string;
  /** Its issuer's name. */
  issuer?: string;
  /** Why the last attempt failed. */
  error?: string;
  /** Failed attempts in a row (with ok false): the renewer backs off by it (plan.ts retryDelay). */
  failures?: number;
}

/** The most failures in a row a status record counts (the back-off is capped long before). */
export const MAX_FAILURES = 10_000;

const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const TEXT_RE = /^[^\p{Cc}\u2028\u2029]*$/u;

/** Whether v is an ISO time as toISOString() writes it. */
export function isIsoTime(v: unknown): v is string {
  return typeof v === 'string' && ISO_RE.test(v) && !Number.isNaN(Date.parse(v));
}

/** Text fit for a status record: one line, no control characters, at most `max` characters. */
export function oneLine(text: string, max = 500): string {
  const s = text
    .replace(/[\p{Cc}\u2028\u2029]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/** A status record read back, by its allowlist; undefined when it is none. */
export function parseStatus(text: string | undefined): CertStatus | undefined {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text ?? '') as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const text_ = (x: unknown, max: number) => typeof x === 'string' && x.length <= max && TEXT_RE.test(x);
  if (typeof v['ok'] !== 'boolean' || !isIsoTime(v['at'])) return undefined;
  if (v['source'] !== 'acme' && v['source'] !== 'operator') return undefined;
  if (v['notAfter'] !== undefined && !isIsoTime(v['notAfter'])) return undefined;
  if (v['issuer'] !== undefined && !text_(v['issuer'], 200)) return undefined;
  if (v['error'] !== undefined && !text_(v['error'], 500)) return undefined;
  const n = v['failures'];
  if (n !== undefined && !(Number.isInteger(n) && (n as number) >= 1 && (n as number) <= MAX_FAILURES))
    return undefined;
  return {
    ok: v['ok'],
    at: v['at'],
    source: v['source'],
    ...(v['notAfter'] !== undefined ? { notAfter: v['notAfter'] as string } : {}),
    ...(v['issuer'] !== undefined ? { issuer: v['issuer'] as string } : {}),
    ...(v['error'] !== undefined ? { error: v['error'] as string } : {}),
    ...(n !== undefined ? { failures: n as number } : {}),
  };
}

/** The domain a key under `prefix` names, when it is a public name (a wildcard too); else undefined. */
export function domainOfKey(key: string, prefix: string, stackDomain?: string): string | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const d = key.slice(prefix.length);
  if (d !== d.trim().toLowerCase()) return undefined;
  const rules = { wildcards: true, ...(stackDomain ? { stackDomain } : {}) };
  return domainProblem(d, rules) === undefined ? d : undefined;
}

/**
 * A domain as the CLI takes it: a public name (a wildcard too), lowercased; a
 * one-line error naming the argument otherwise.
 */
export function domainArg(raw: string, stackDomain?: string): string {
  const rules = { wildcards: true, ...(stackDomain ? { stackDomain } : {}) };
  const p = domainProblem(raw, rules);
  if (p) throw new PaasboxError(`DOMAIN: ${p.problem}`, p.fix);
  return raw.trim().toLowerCase();
}

/** One domain's certificate state, as `cert list` and `status` show it. */
export interface CertRow {
  domain: string;
  /** The app that claims it (paasbox/domains/), if any. */
  owner?: string;
  /** A certificate is stored for it. */
  stored: boolean;
  status?: CertStatus;
  /** A renewal is asked for since (ISO). */
  renewRequested?: string;
}

/** Failed first, then by domain. */
export function sortRows(rows: CertRow[]): CertRow[] {
  const failed = (r: CertRow) => (r.status && !r.status.ok ? 0 : 1);
  return [...rows].sort((a, b) => failed(a) - failed(b) || a.domain.localeCompare(b.domain));
}

/** The certificates' keys in K/V through one Consul client (the renewer's, or one over SSH). */
export class CertStore {
  constructor(
    readonly consul: ConsulClient,
    private readonly stackDomain?: string,
  ) {}

  /** The domains with a key under prefix (their values not read). */
  async keys(prefix: string): Promise<string[]> {
    const r = await this.consul.call('GET', `/v1/kv/${prefix}?keys=true`);
    if (r.status === 404) return [];
    if (r.error || r.status !== 200)
      throw new PaasboxError(
        `Consul at ${this.consul.where} answered GET /v1/kv/${prefix} with ${r.error ?? `HTTP ${r.status}`}`,
        'check the stack (npx paasbox verify) and the token',
        r.body.trim().slice(0, 300),
        'target',
      );
    const keys = JSON.parse(r.body || '[]') as unknown;
    if (!Array.isArray(keys)) return [];
    return keys.flatMap((k) => {
      const d = typeof k === 'string' ? domainOfKey(k, prefix, this.stackDomain) : undefined;
      return d ? [d] : [];
    });
  }

  /** Values under prefix by domain (keys that are no public name left out). */
  private async values(prefix: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const [k, v] of await this.consul.kvList(prefix)) {
      const d = domainOfKey(k, prefix, this.stackDomain);
      if (d) out.set(d, v);
    }
    return out;
  }

  /** The claimed public names → the owning app id. */
  claimed(): Promise<Map<string, string>> {
    return this.values(DOMAINS_PREFIX);
  }

  /** Every status record by domain (records not in their format left out). */
  async statuses(): Promise<Map<string, CertStatus>> {
    const out = new Map<string, CertStatus>();
    for (const [d, v] of await this.values(STATUS_PREFIX)) {
      const s = parseStatus(v);
      if (s) out.set(d, s);
    }
    return out;
  }

  status(domain: string): Promise<CertStatus | undefined> {
    return this.consul.kvGet(STATUS_PREFIX + domain).then(parseStatus);
  }

  /** Renewals asked for: domain → when (ISO; another value counts as asked for now). */
  renewals(): Promise<Map<string, string>> {
    return this.values(RENEW_PREFIX);
  }

  /** The stored combined PEM of a domain (unchecked: checkBundle judges it). */
  cert(domain: string): Promise<string | undefined> {
    return this.consul.kvGet(CERTS_PREFIX + domain);
  }

  /** Store a certificate and its status (the certificate first: a status never names a missing one). */
  async put(domain: string, pem: string, status: CertStatus): Promise<void> {
    await this.write(CERTS_PREFIX + domain, pem);
    await this.putStatus(domain, status);
  }

  putStatus(domain: string, status: CertStatus): Promise<void> {
    return this.write(STATUS_PREFIX + domain, JSON.stringify(status));
  }

  requestRenewal(domain: string, at: string): Promise<void> {
    return this.write(RENEW_PREFIX + domain, at);
  }

  async clearRenewal(domain: string): Promise<void> {
    await this.consul.kvDelete(RENEW_PREFIX + domain);
  }

  /** Remove a domain's certificate, its status and any renewal asked for. */
  async remove(domain: string): Promise<void> {
    for (const p of [CERTS_PREFIX, STATUS_PREFIX, RENEW_PREFIX]) await this.consul.kvDelete(p + domain);
  }

  /** Every domain with a certificate, a status, a claim or a renewal asked for. */
  async rows(): Promise<CertRow[]> {
    const [claimed, stored, statuses, renewals] = await Promise.all([
      this.claimed(),
      this.keys(CERTS_PREFIX),
      this.statuses(),
      this.renewals(),
    ]);
    const all = new Set([...claimed.keys(), ...stored, ...statuses.keys(), ...renewals.keys()]);
    return sortRows(
      [...all].map((domain) => ({
        domain,
        ...(claimed.has(domain) ? { owner: claimed.get(domain)! } : {}),
        stored: stored.includes(domain),
        ...(statuses.has(domain) ? { status: statuses.get(domain)! } : {}),
        ...(renewals.has(domain) ? { renewRequested: renewals.get(domain)! } : {}),
      })),
    );
  }

  private async write(key: string, value: string): Promise<void> {
    if (!(await this.consul.kvPut(key, value)))
      throw new PaasboxError(
        `Consul at ${this.consul.where} did not store ${key}`,
        'check the token (policy) and the Consul logs',
        undefined,
        'target',
      );
  }
}

/** The store on a target of the stack (the CLI: over SSH, the management token read there). */
export async function certStoreOnTarget(c: ConsulOnTarget, stackDomain?: string): Promise<CertStore> {
  const http = onTarget(c.target, await probeTools(c.target), c.address, c.port);
  return new CertStore(new ConsulClient({ http, secret: c.token, timeoutMs: 15_000 }), stackDomain);
}
