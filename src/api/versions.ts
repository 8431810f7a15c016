// The versions of each app, as Marathon keeps them: every definition the
// apps API deployed, under its version (an ISO time), in Consul K/V. Swarm
// holds what runs and its previous spec; the definitions behind it live here,
// so any master lists versions and rolls back to one, and losing a master
// loses none.
import { normaliseId, type MarathonApp } from '../appspec/app.js';
import type { ConsulClient } from '../consul/client.js';

export const VERSIONS_PREFIX = 'paasbox/api/versions/';
/** How many versions of one app are kept (the oldest go first), as Marathon's max_versions. */
export const MAX_VERSIONS = 50;

/** An app id as one K/V segment: ids have no `+`, so `/a/b` → `a+b` never meets `/a+b`. Pure. */
export function idKey(id: string): string {
  return `${VERSIONS_PREFIX}${normaliseId(id).slice(1).replace(/\//g, '+')}/`;
}

/** A new version: now as ISO time, later than `after` even when the clock is not. Pure. */
export function nextVersion(after?: string, now = new Date()): string {
  const t = after && Date.parse(after) >= now.getTime() ? new Date(Date.parse(after) + 1) : now;
  return t.toISOString();
}

export class VersionStore {
  constructor(private readonly consul: ConsulClient) {}

  /** The versions of app `id`, newest first. */
  async list(id: string): Promise<string[]> {
    const keys = await this.consul.kvList(idKey(id));
    return [...keys.keys()].map((k) => k.slice(idKey(id).length)).sort((a, b) => b.localeCompare(a));
  }

  async get(id: string, version: string): Promise<MarathonApp | undefined> {
    const text = await this.consul.kvGet(`${idKey(id)}${version}`);
    if (text === undefined) return undefined;
    return JSON.parse(text) as MarathonApp;
  }

  /** Store `app` as version `version`, and drop the oldest past MAX_VERSIONS. */
  async put(app: MarathonApp, version: string): Promise<void> {
    await this.consul.kvPut(`${idKey(app.id)}${version}`, JSON.stringify(app));
    const all = await this.list(app.id);
    for (const old of all.slice(MAX_VERSIONS)) await this.consul.kvDelete(`${idKey(app.id)}${old}`);
  }

  /** Forget one version (a deploy swarm refused). */
  async forget(id: string, version: string): Promise<void> {
    await this.consul.kvDelete(`${idKey(id)}${version}`);
  }

  /** Forget every version of app `id` (its destroy). */
  async drop(id: string): Promise<void> {
    await this.consul.kvDelete(idKey(id), { recurse: true });
  }
}
