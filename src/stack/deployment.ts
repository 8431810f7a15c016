// Where a deployed stack lives on its target, and what install put there: the
// compose file's x-paasbox record (source, ip, hostname, domain, project,
// services left out and why). Later commands take it as the settings
// pipeline's "recorded" layer; verify reports left-out services as skipped.

import { parse } from 'yaml';
import type { SettingsValues } from '../settings/settings.js';
import { shq } from '../target/shell.js';
import type { Target } from '../target/target.js';
import type { PaasboxMeta } from './generate.js';

export const STACK_DIR = '/opt/paasbox';
export const COMPOSE_PATH = `${STACK_DIR}/docker-compose.yml`;
/** sha256 of the compose file the running stack was last brought up from. */
export const APPLIED_PATH = `${STACK_DIR}/.applied`;

export interface Deployment {
  path: string;
  meta: PaasboxMeta;
  /** Compose services in the file. */
  services: string[];
  /** Each service's ports as its paasbox.ports label says (name=port/proto, ...). */
  ports: Record<string, string>;
}

/** Pure: a compose file's text → its deployment record, or undefined when it has none. */
export function parseDeployment(text: string, path = COMPOSE_PATH): Deployment | undefined {
  const obj = parse(text) as { services?: Record<string, { labels?: Record<string, string> }>; 'x-paasbox'?: PaasboxMeta } | null;
  const meta = obj?.['x-paasbox'];
  if (!meta || typeof meta !== 'object') return undefined;
  const services = obj?.services ?? {};
  const ports = Object.fromEntries(Object.entries(services).map(([n, s]) => [n, s?.labels?.['paasbox.ports'] ?? '']));
  return { path, meta: { ...meta, omitted: meta.omitted ?? {}, elsewhere: meta.elsewhere ?? [] }, services: Object.keys(services), ports };
}

export async function readDeployment(target: Target, path = COMPOSE_PATH): Promise<Deployment | undefined> {
  const r = await target.exec(`cat ${shq(path)}`, { sudo: true, timeoutMs: 20_000 });
  if (r.code !== 0 || !r.stdout.trim()) return undefined;
  try {
    return parseDeployment(r.stdout, path);
  } catch {
    return undefined;
  }
}

/** The deployed stack as the settings pipeline's recorded layer. */
export function recordedValues(d: Deployment): SettingsValues {
  return {
    ip: d.meta.ip,
    hostname: d.meta.hostname,
    imageSource: d.meta.source,
    domain: d.meta.domain,
    projectName: d.meta.project,
    ...(d.meta.cluster ? { masters: d.meta.cluster.masters, agents: d.meta.cluster.agents } : {}),
    ...(d.meta.services ? { services: d.meta.services } : {}),
  };
}
