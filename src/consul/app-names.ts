// What apps own in Consul K/V, through the one Consul client: a service name,
// a tcp=PORT route and a public name belong to the app id that first deployed them (claimed
// with check-and-set, released on destroy). The registrator reads the same
// keys; the keys an app claims are the app policy's (src/apps/target-checks.ts).

import { normaliseId, type MarathonApp } from '../appspec/app.js';
import {
  DOMAINS_PREFIX,
  NAMES_PREFIX,
  overlappingDomain,
  TCP_PREFIX,
  takenError,
} from '../apps/target-checks.js';
import { targetError } from '../errors.js';
import type { Target } from '../target/target.js';
import { onTarget, probeTools, type HttpResponse, type SecretHeader, type Tools } from '../system/http.js';
import { ConsulClient } from './client.js';

/** Where the stack's Consul answers, and the management token's file on that host. */
export interface ConsulOnTarget {
  target: Target;
  address: string;
  port: number;
  token: SecretHeader;
}

/** What apps own in Consul K/V (names, tcp ports, public names): read, claim (check-and-set), release. */
export class AppNames {
  /** The target's tools, probed once (an SSH round trip), not before every request. */
  private tools?: Promise<Tools>;

  /** On a target (the CLI, over SSH), or through a client of this process's (the apps API). */
  constructor(private readonly consul: ConsulOnTarget | ConsulClient) {}

  private async call(
    method: 'GET' | 'PUT' | 'DELETE',
    key: string,
    query = '',
    body?: string,
  ): Promise<HttpResponse> {
    const c = this.consul;
    // Every segment encoded: a value from the app never becomes a path or a query of its own.
    const path = `/v1/kv/${key.split('/').map(encodeURIComponent).join('/')}${query}`;
    let client: ConsulClient;
    if (c instanceof ConsulClient) client = c;
    else {
      const tools = await (this.tools ??= probeTools(c.target));
      const http = onTarget(c.target, tools, c.address, c.port);
      client = new ConsulClient({ http, secret: c.token, timeoutMs: 10_000 });
    }
    const r = await client.call(method, path, body);
    if (r.error || (r.status !== 200 && r.status !== 404)) {
      const where = c instanceof ConsulClient ? c.where : `${c.address}:${c.port} on ${c.target.name}`;
      throw targetError(
        `Consul at ${where} answered ${method} /v1/kv/${key} with ${r.error ?? `HTTP ${r.status}`}`,
        'check the stack (npx paasbox verify) and try again',
        r.body.trim().slice(0, 300),
      );
    }
    return r;
  }

  /** Every recorded key under `prefix` → its owner. */
  async owners(prefix: string): Promise<Map<string, string>> {
    const r = await this.call('GET', prefix, '?recurse=true');
    if (r.status === 404) return new Map();
    const rows = JSON.parse(r.body || '[]') as { Key: string; Value: string | null }[];
    return new Map(rows.map((x) => [x.Key, Buffer.from(x.Value ?? '', 'base64').toString('utf8')]));
  }

  private async all(): Promise<Map<string, string>> {
    const all = await Promise.all([NAMES_PREFIX, TCP_PREFIX, DOMAINS_PREFIX].map((p) => this.owners(p)));
    return new Map(all.flatMap((m) => [...m]));
  }

  /**
   * Claim `keys` for app `id`: refused (nothing claimed) when any is another
   * app's; each new one is written only if still absent (cas=0), so two
   * deploys racing for one key cannot both win. `app`: the app asking, so a
   * refusal names the field that gave the key.
   */
  async claim(id: string, keys: string[], app?: MarathonApp): Promise<string[]> {
    const owner = normaliseId(id);
    const have = await this.all();
    const taken = keys.find((k) => have.has(k) && have.get(k) !== owner);
    if (taken) throw takenError(taken, have.get(taken)!, app);
    for (const k of keys) {
      const over = overlappingDomain(k, have, owner);
      if (over) throw takenError(k, have.get(over)!, app, over);
    }
    const added: string[] = [];
    for (const k of keys.filter((x) => !have.has(x))) {
      const r = await this.call('PUT', k, '?cas=0', owner);
      if (r.body.trim() !== 'true') {
        const now = (await this.all()).get(k);
        if (now !== owner) throw takenError(k, now ?? 'another deploy', app);
      }
      added.push(k);
    }
    return added;
  }

  /** Give up every key app `id` owns (its destroy). */
  async release(id: string): Promise<string[]> {
    const owner = normaliseId(id);
    const mine = [...(await this.all())].filter(([, o]) => o === owner).map(([k]) => k);
    for (const k of mine) await this.call('DELETE', k);
    return mine;
  }
}
