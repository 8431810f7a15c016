// Where a deployed stack lives on its target, and what install put there: the
// compose file's x-paasbox record (source, ip, hostname, domain, project,
// services left out and why). Later commands take it as the settings
// pipeline's "recorded" layer; verify reports left-out services as skipped.

import { parse } from 'yaml';
import type { SettingsValues } from '../settings/settings.js';
import { shq } from '../target/shell.js';
import type { Target } from '../target/target.js';
import type { PaasboxMeta } from './generate.js';
import { isPaasboxError } from '../errors.js';
import { checkApps, type AppsSettings } from '../settings/apps.js';
import { checkAcme, type AcmeSettings } from '../settings/acme.js';
import {
  checkReadBack,
  isReadBackError,
  ReadBackError,
  showValue,
  type ReadBackFormat,
} from '../system/readback.js';

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

/**
 * Pure: a compose file's text → its deployment record, or undefined when it has none. Refuses (ReadBackError)
 * a field not in its format.
 */
export function parseDeployment(text: string, path = COMPOSE_PATH): Deployment | undefined {
  const obj = parse(text) as {
    services?: Record<string, { labels?: Record<string, string> }>;
    'x-paasbox'?: PaasboxMeta;
  } | null;
  const meta = obj?.['x-paasbox'];
  if (!meta || typeof meta !== 'object') return undefined;
  const services = obj?.services ?? {};
  const ports = Object.fromEntries(
    Object.entries(services).map(([n, s]) => [n, s?.labels?.['paasbox.ports'] ?? '']),
  );
  const d: Deployment = {
    path,
    meta: { ...meta, omitted: meta.omitted ?? {}, elsewhere: meta.elsewhere ?? [] },
    services: Object.keys(services),
    ports,
  };
  checkDeployment(d);
  return d;
}

/**
 * Every field later commands take from the file (into shell lines, paths, DNS
 * settings) against its format (src/system/readback.ts): ip, domain and project
 * always, the others when present.
 */
function checkDeployment(d: Deployment): void {
  const fix = `re-install the stack (npx zx scripts/install.mjs) or check who edited ${d.path}`;
  const check = (field: string, value: unknown, format: ReadBackFormat) =>
    checkReadBack("the target's compose file", field, value, format, fix);
  const m = d.meta;
  check('x-paasbox.ip', m.ip, 'ipv4');
  check('x-paasbox.project', m.project, 'project');
  if (m.domain !== undefined) check('x-paasbox.domain', m.domain, 'dns-name');
  if (m.hostname !== undefined) check('x-paasbox.hostname', m.hostname, 'hostname');
  if (m.stack !== undefined) check('x-paasbox.stack', m.stack, 'project');
  if (m.source !== undefined) check('x-paasbox.source', m.source, 'image-source');
  const record = (field: string, v: unknown): Record<string, unknown> => {
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    throw new ReadBackError(
      `the target's compose file has ${field} ${showValue(v)}: not a mapping`,
      fix,
      undefined,
      'target',
    );
  };
  const list = (field: string, v: unknown): unknown[] => {
    if (Array.isArray(v)) return v;
    throw new ReadBackError(
      `the target's compose file has ${field} ${showValue(v)}: not a list`,
      fix,
      undefined,
      'target',
    );
  };
  if (m.cluster !== undefined) {
    const cluster = record('x-paasbox.cluster', m.cluster);
    for (const role of ['masters', 'agents'] as const)
      list(`x-paasbox.cluster.${role}`, cluster[role]).forEach((a, i) =>
        check(`x-paasbox.cluster.${role}[${i}]`, a, 'ipv4'),
      );
  }
  for (const [s, why] of Object.entries(record('x-paasbox.omitted', m.omitted))) {
    check('an x-paasbox.omitted service', s, 'service');
    check(`x-paasbox.omitted.${s}`, why, 'text');
  }
  for (const [s, why] of Object.entries(
    m.replaced === undefined ? {} : record('x-paasbox.replaced', m.replaced),
  )) {
    check('an x-paasbox.replaced service', s, 'service');
    check(`x-paasbox.replaced.${s}`, why, 'text');
  }
  list('x-paasbox.elsewhere', m.elsewhere).forEach((s, i) =>
    check(`x-paasbox.elsewhere[${i}]`, s, 'service'),
  );
  for (const [s, o] of Object.entries(
    m.services === undefined ? {} : record('x-paasbox.services', m.services),
  )) {
    check('an x-paasbox.services service', s, 'service');
    const over = record(`x-paasbox.services.${s}`, o);
    if (over['enabled'] !== undefined && typeof over['enabled'] !== 'boolean')
      throw new ReadBackError(
        `the target's compose file has x-paasbox.services.${s}.enabled ${showValue(over['enabled'])}: not true or false`,
        fix,
        undefined,
        'target',
      );
    for (const [p, n] of Object.entries(
      over['ports'] === undefined ? {} : record(`x-paasbox.services.${s}.ports`, over['ports']),
    )) {
      check(`a port name of x-paasbox.services.${s}.ports`, p, 'port-name');
      check(`x-paasbox.services.${s}.ports.${p}`, typeof n === 'number' ? String(n) : n, 'port-number');
    }
  }
  // A recorded settings block, by the rules the same settings pass in paasbox.yaml.
  const settingsBlock = <T>(field: string, v: unknown, checkBlock: (x: T) => void) => {
    try {
      checkBlock(record(field, v) as unknown as T);
    } catch (e) {
      if (!isPaasboxError(e) || e instanceof ReadBackError) throw e;
      throw new ReadBackError(
        `the target's compose file has ${field}: ${e.problem}`,
        fix,
        undefined,
        'target',
      );
    }
  };
  // The app policy's limits; the ACME renewer's settings.
  if (m.apps !== undefined)
    settingsBlock<AppsSettings>('x-paasbox.apps', m.apps, (a) => checkApps(a, new Map()));
  if (m.acme !== undefined) settingsBlock<AcmeSettings>('x-paasbox.acme', m.acme, checkAcme);
  for (const s of d.services) {
    check('a service named', s, 'service');
    check(`services.${s}.labels.paasbox.ports`, d.ports[s], 'ports-label');
  }
}

/** The port named `name` of a compose service, from its paasbox.ports label ("vpn=1194/udp,..."). */
export function composePort(labels: string | undefined, name: string): number | undefined {
  const m = new RegExp(`(?:^|,)${name}=(\\d+)/`).exec(labels ?? '');
  return m ? Number(m[1]) : undefined;
}

export async function readDeployment(target: Target, path = COMPOSE_PATH): Promise<Deployment | undefined> {
  const r = await target.exec(`cat ${shq(path)}`, { sudo: true, timeoutMs: 20_000 });
  if (r.code !== 0 || !r.stdout.trim()) return undefined;
  try {
    return parseDeployment(r.stdout, path);
  } catch (e) {
    // A record with a bad field is refused, not taken for no record.
    if (isReadBackError(e)) throw e;
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
    ...(d.meta.apps ? { apps: d.meta.apps } : {}),
    ...(d.meta.acme ? { acme: d.meta.acme } : {}),
  };
}
