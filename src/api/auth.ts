// Who is asking the apps API, and what they may touch. The operator signs in
// with Marathon's HTTP basic login (the one install generates); a team with a
// bearer token (`paasbox token create TEAM --apps '/team/*'`), which acts only
// on the app ids its patterns cover. Tokens live in Consul K/V as their
// SHA-256 only, so any master checks any token and a K/V read leaks none.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { normaliseId } from '../appspec/app.js';
import type { ConsulClient } from '../consul/client.js';
import { APP_PATTERN_RE, TEAM_RE, teamProblem } from '../apps/teams.js';
import { PaasboxError } from '../errors.js';

export type Principal = { kind: 'operator' } | { kind: 'team'; team: string; apps: string[] };

/** A team token as stored (never the token itself). */
export interface TokenRecord {
  team: string;
  apps: string[];
  id: string;
  createdAt: string;
  sha256: string;
}

export const TOKENS_PREFIX = 'paasbox/api/tokens/';

/** What the Authorization header carries: a basic login, a token, or nothing usable. Pure. */
export function parseAuthorization(
  header: string | undefined,
): { user: string; password: string } | { token: string } | undefined {
  if (!header) return undefined;
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
  if (basic) {
    const text = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const i = text.indexOf(':');
    return i > 0 ? { user: text.slice(0, i), password: text.slice(i + 1) } : undefined;
  }
  // Bearer (RFC 6750) or DC/OS's `token=` (what marathon-python's auth_token sends).
  const token = /^(?:Bearer\s+|token=)([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
  return token ? { token: token[1]! } : undefined;
}

/** Whether `patterns` cover app `id`: `/team/*` every id under /team/, else the exact id. Pure. */
export function appAllowed(patterns: string[], id: string): boolean {
  const app = normaliseId(id);
  return patterns.some((p) =>
    p === '/*' ? true : p.endsWith('/*') ? app.startsWith(p.slice(0, -1)) : app === p,
  );
}

/** Whether `p` may act on app `id`. */
export function mayTouch(p: Principal, id: string): boolean {
  return p.kind === 'operator' || appAllowed(p.apps, id);
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(sha256(a));
  const y = Buffer.from(sha256(b));
  return timingSafeEqual(x, y);
}

/** The team tokens in Consul K/V: create (shown once), list, revoke, and look one up. */
export class TokenStore {
  /** Read at most this often: a revoked token stops working within this many ms on every master. */
  private cache?: { at: number; records: TokenRecord[] };

  constructor(
    private readonly consul: ConsulClient,
    private readonly cacheMs = 2000,
  ) {}

  async list(): Promise<TokenRecord[]> {
    const rows = await this.consul.kvList(TOKENS_PREFIX);
    const out: TokenRecord[] = [];
    for (const value of rows.values()) {
      const r = parseRecord(value);
      if (r) out.push(r);
    }
    this.cache = { at: Date.now(), records: out };
    return out.sort((a, b) => a.team.localeCompare(b.team) || a.createdAt.localeCompare(b.createdAt));
  }

  async create(team: string, apps: string[]): Promise<{ record: TokenRecord; token: string }> {
    checkTeam(team, apps);
    const token = `pbx_${randomBytes(30).toString('base64url')}`;
    const record: TokenRecord = {
      team,
      apps,
      id: randomUUID(),
      createdAt: new Date().toISOString(),
      sha256: sha256(token),
    };
    await this.consul.kvPut(`${TOKENS_PREFIX}${team}/${record.id}`, JSON.stringify(record));
    this.cache = undefined;
    return { record, token };
  }

  /** Every token of `team` revoked; how many there were. */
  async revoke(team: string): Promise<number> {
    checkTeam(team, []);
    const had = (await this.list()).filter((r) => r.team === team).length;
    await this.consul.kvDelete(`${TOKENS_PREFIX}${team}/`, { recurse: true });
    this.cache = undefined;
    return had;
  }

  /** The record whose token this is, if any. */
  async find(token: string): Promise<TokenRecord | undefined> {
    const fresh = this.cache && Date.now() - this.cache.at < this.cacheMs;
    const records = fresh ? this.cache!.records : await this.list();
    const hash = sha256(token);
    return records.find((r) => sameText(r.sha256, hash));
  }
}

/** The principal behind a request's Authorization header, or undefined (→ 401). */
export async function authenticate(
  header: string | undefined,
  operator: { user: string; password: string },
  tokens: Pick<TokenStore, 'find'>,
): Promise<Principal | undefined> {
  const a = parseAuthorization(header);
  if (!a) return undefined;
  if ('user' in a)
    return sameText(a.user, operator.user) && sameText(a.password, operator.password)
      ? { kind: 'operator' }
      : undefined;
  const r = await tokens.find(a.token);
  return r ? { kind: 'team', team: r.team, apps: r.apps } : undefined;
}

/** A team name and its app patterns, or a PaasboxError naming the field. */
export function checkTeam(team: unknown, apps: unknown): asserts team is string {
  const bad = teamProblem(team, apps);
  if (bad) throw new PaasboxError(bad.problem, bad.fix);
}

function parseRecord(value: string): TokenRecord | undefined {
  try {
    const r = JSON.parse(value) as Partial<TokenRecord>;
    const ok =
      typeof r.team === 'string' &&
      TEAM_RE.test(r.team) &&
      Array.isArray(r.apps) &&
      r.apps.every((p) => typeof p === 'string' && APP_PATTERN_RE.test(p)) &&
      typeof r.sha256 === 'string' &&
      /^[0-9a-f]{64}$/.test(r.sha256) &&
      typeof r.id === 'string' &&
      typeof r.createdAt === 'string';
    return ok ? (r as TokenRecord) : undefined;
  } catch {
    return undefined;
  }
}
