// One renewer leads a cluster: a Consul session (a TTL the leader renews,
// no node checks, released when it lapses) holds the lock on
// paasbox/acme/leader, whose value is the leader's IP:PORT, so a follower
// knows where the challenge files are. A follower holds a session of its own,
// renewed at each try (made anew when Consul has dropped it), so it takes the
// lock once the leader's lapses. Blocking queries on the key wake a follower
// when the lock is free, and the renewer when what it watches changes.

import { isIPv4 } from 'node:net';
import type { ConsulClient } from '../consul/client.js';
import { PaasboxError } from '../errors.js';
import { LEADER_KEY } from './store.js';

/** The session's TTL; the leader and each follower renew theirs every third of it. */
export const SESSION_TTL_S = 30;

const encodeKey = (key: string) => key.split('/').map(encodeURIComponent).join('/');

/** IP:PORT as the leader key holds it (read back: checked), else undefined. */
export function parseLeader(value: string | undefined): { host: string; port: number } | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(value?.trim() ?? '');
  if (!m || !isIPv4(m[1]!) || Number(m[2]) < 1 || Number(m[2]) > 65535) return undefined;
  return { host: m[1]!, port: Number(m[2]) };
}

export class LeaderLock {
  private session?: string;

  /** consul: requests that answer at once; blocking: one whose timeout outlasts a blocking query. */
  constructor(
    private readonly consul: ConsulClient,
    private readonly blocking: ConsulClient,
    /** This renewer's IP:PORT, the key's value while it leads. */
    readonly self: string,
  ) {}

  private fail(what: string, r: { status: number; error?: string; body: string }): never {
    throw new PaasboxError(
      `Consul at ${this.consul.where} answered ${what} with ${r.error ?? `HTTP ${r.status}`}`,
      "check the acme service's Consul token (policy paasbox-acme) and Consul's health",
      r.body.trim().slice(0, 300),
      'transient',
    );
  }

  /** A new session (the old one, if any, forgotten). */
  private async createSession(): Promise<string> {
    this.session = undefined;
    const r = await this.consul.call('PUT', '/v1/session/create', {
      Name: 'paasbox-acme',
      TTL: `${SESSION_TTL_S}s`,
      Behavior: 'release',
      LockDelay: '5s',
      NodeChecks: [],
    });
    if (r.error || r.status !== 200) this.fail('PUT /v1/session/create', r);
    const id = (JSON.parse(r.body) as { ID?: unknown }).ID;
    if (typeof id !== 'string' || !/^[0-9a-f-]{36}$/.test(id)) this.fail('a session with no ID', r);
    return (this.session = id);
  }

  /**
   * Take the lock; true when this renewer holds it. A follower calls it each
   * loop (at most a third of the TTL apart): the session is renewed first, and
   * made anew when Consul no longer knows it (renew: 404; acquire: 500
   * "invalid session"), so a follower always holds a live one and takes over
   * once the leader's lapses.
   */
  async acquire(): Promise<boolean> {
    if (!(await this.renew())) await this.createSession();
    for (let attempt = 1; ; attempt++) {
      const key = `/v1/kv/${encodeKey(LEADER_KEY)}`;
      const r = await this.consul.call('PUT', `${key}?acquire=${this.session}`, this.self);
      if (!r.error && r.status === 200) return r.body.trim() === 'true';
      if (attempt === 1 && !r.error && /invalid session|session .*not found/i.test(r.body)) {
        await this.createSession();
        continue;
      }
      this.fail(`PUT /v1/kv/${LEADER_KEY}?acquire`, r);
    }
  }

  /** Renew the session; false when there is none or it is gone (the lock with it). */
  async renew(): Promise<boolean> {
    if (!this.session) return false;
    const r = await this.consul.call('PUT', `/v1/session/renew/${this.session}`);
    if (r.status === 404) {
      this.session = undefined;
      return false;
    }
    if (r.error || r.status !== 200) this.fail('PUT /v1/session/renew', r);
    return true;
  }

  /** Give the lock up (stopping): another renewer takes over at once. */
  async release(): Promise<void> {
    if (!this.session) return;
    const id = this.session;
    this.session = undefined;
    await this.consul.call('PUT', `/v1/kv/${encodeKey(LEADER_KEY)}?release=${id}`, this.self);
    await this.consul.call('PUT', `/v1/session/destroy/${id}`);
  }

  /** The leader's address as the key says (any session's), or undefined. */
  async leader(): Promise<{ host: string; port: number } | undefined> {
    return parseLeader(await this.consul.kvGet(LEADER_KEY));
  }

  /**
   * The index of a key or prefix once it is past `index` (a blocking query:
   * at most waitS seconds); index 0 answers at once. keys=true: no values read.
   */
  async watch(key: string, index: number, waitS: number): Promise<number> {
    const q = `keys=true${index > 0 ? `&index=${index}&wait=${Math.max(1, Math.round(waitS))}s` : ''}`;
    const r = await this.blocking.call('GET', `/v1/kv/${encodeKey(key)}?${q}`);
    if (r.error || (r.status !== 200 && r.status !== 404)) this.fail(`GET /v1/kv/${key}`, r);
    const i = Number(r.headers?.['x-consul-index']);
    return Number.isInteger(i) && i > 0 ? i : 0;
  }
}
