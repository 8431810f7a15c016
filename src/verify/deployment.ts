// What install put on the target: the compose file's x-paasbox record (source,
// ip, hostname, domain, project, services left out and why). Verify judges the
// stack against what was deployed, and reports left-out services as skipped.

import { parse } from 'yaml';
import type { PaasboxMeta } from '../stack/generate.js';
import type { Target } from '../target/target.js';
import { COMPOSE_PATH } from '../provision/steps.js';

export interface Deployment {
  path: string;
  meta: PaasboxMeta;
  /** Compose services in the file. */
  services: string[];
}

/** Pure: a compose file's text → its deployment record, or undefined when it has none. */
export function parseDeployment(text: string, path = COMPOSE_PATH): Deployment | undefined {
  const obj = parse(text) as { services?: Record<string, unknown>; 'x-paasbox'?: PaasboxMeta } | null;
  const meta = obj?.['x-paasbox'];
  if (!meta || typeof meta !== 'object') return undefined;
  return { path, meta: { ...meta, omitted: meta.omitted ?? {}, elsewhere: meta.elsewhere ?? [] }, services: Object.keys(obj?.services ?? {}) };
}

export async function readDeployment(target: Target, path = COMPOSE_PATH): Promise<Deployment | undefined> {
  const r = await target.exec(`cat ${path}`, { sudo: true, timeoutMs: 20_000 });
  if (r.code !== 0 || !r.stdout.trim()) return undefined;
  try {
    return parseDeployment(r.stdout, path);
  } catch {
    return undefined;
  }
}

/** Environment overrides that make settings describe the deployed stack (env wins over paasbox.yaml). */
export function deploymentEnv(d: Deployment): Record<string, string> {
  return {
    IP: d.meta.ip,
    HOSTNAME: d.meta.hostname,
    PAASBOX_SOURCE: d.meta.source,
    PAASBOX_DOMAIN: d.meta.domain,
    PAASBOX_PROJECT: d.meta.project,
  };
}
