// Settings: one object resolved from defaults < paasbox.yaml < environment, and
// checked against the stack model (service names, ports, dependencies). Pure:
// the loader in load.ts does the file and environment I/O.
import { isIPv4 } from 'node:net';
import { PaasboxError } from '../errors.js';
import type { ImageSourceName, PortSpec, StackModel } from '../stack/model.js';
import { assertValid, projectValidator } from '../stack/validate.js';

export interface ServiceOverride {
  enabled?: boolean;
  /** Port number by the port's name in stacks/paasbox.yaml. */
  ports?: Record<string, number>;
}

export interface Settings {
  hostname: string;
  /** The advertised address of this host (never loopback or 0.0.0.0). */
  ip: string;
  imageSource: ImageSourceName;
  domain: string;
  projectName: string;
  services: Record<string, ServiceOverride>;
  /** Hosts running ZooKeeper, Mesos master, Marathon (default: this host). */
  masters: string[];
  /** Hosts running Mesos agents (default: this host). */
  agents: string[];
  debianMirror?: string;
}

/** What the caller knows before reading any file: the host's name and detected address. */
export interface SettingsDefaults {
  hostname?: string;
  ip?: string;
  imageSource?: ImageSourceName;
  domain?: string;
  projectName?: string;
}

export const DEFAULTS = {
  // local works offline (images built here); registry needs a host that can pull.
  imageSource: 'local' as ImageSourceName,
  domain: 'consul',
  projectName: 'paasbox',
};

/** The environment variables settings read (the seed's HOSTNAME and IP, plus PAASBOX_*). */
export const ENV_NAMES = ['HOSTNAME', 'IP', 'PAASBOX_SOURCE', 'PAASBOX_DOMAIN', 'PAASBOX_PROJECT', 'PAASBOX_MASTERS', 'PAASBOX_AGENTS'] as const;

type Env = Record<string, string | undefined>;

/**
 * Resolve settings: defaults < fileObj (a parsed paasbox.yaml, or undefined) < env.
 * Throws PaasboxError naming the field and the fix for anything invalid.
 */
export function resolveSettings(defaults: SettingsDefaults, fileObj: unknown, env: Env, model: StackModel): Settings {
  const file = (fileObj ?? {}) as Partial<Settings>;
  assertValid(projectValidator('settings'), file, 'paasbox.yaml', 'correct the field named, see stacks/schema/settings.schema.json');

  const fromEnv: Partial<Settings> = {};
  const e = (k: string) => {
    const v = env[k]?.trim();
    return v ? v : undefined;
  };
  if (e('HOSTNAME')) fromEnv.hostname = e('HOSTNAME');
  if (e('IP')) fromEnv.ip = e('IP');
  if (e('PAASBOX_SOURCE')) fromEnv.imageSource = e('PAASBOX_SOURCE') as ImageSourceName;
  if (e('PAASBOX_DOMAIN')) fromEnv.domain = e('PAASBOX_DOMAIN');
  if (e('PAASBOX_PROJECT')) fromEnv.projectName = e('PAASBOX_PROJECT');
  if (e('PAASBOX_MASTERS')) fromEnv.masters = splitList(e('PAASBOX_MASTERS')!);
  if (e('PAASBOX_AGENTS')) fromEnv.agents = splitList(e('PAASBOX_AGENTS')!);

  const pick = <K extends keyof Settings>(k: K): Settings[K] | undefined =>
    (fromEnv[k] ?? file[k] ?? (defaults as Partial<Settings>)[k] ?? (DEFAULTS as Partial<Settings>)[k]) as Settings[K] | undefined;

  const hostname = pick('hostname');
  if (!hostname) throw new PaasboxError('hostname is not set', 'set HOSTNAME=NAME or hostname: in paasbox.yaml');
  const ip = pick('ip');
  if (!ip) throw new PaasboxError('ip (the advertised address) is not set and could not be detected', 'set IP=ADDRESS or ip: in paasbox.yaml');

  const imageSource = pick('imageSource')!;
  if (imageSource !== 'registry' && imageSource !== 'local')
    throw new PaasboxError(`imageSource "${imageSource}" is not an image source`, 'use PAASBOX_SOURCE=registry or PAASBOX_SOURCE=local');

  const settings: Settings = {
    hostname,
    ip,
    imageSource,
    domain: pick('domain')!,
    projectName: pick('projectName')!,
    services: file.services ?? {},
    masters: pick('masters') ?? [ip],
    agents: pick('agents') ?? [ip],
    ...(file.debianMirror ? { debianMirror: file.debianMirror } : {}),
  };
  checkSettings(settings, model);
  return settings;
}

function splitList(s: string): string[] {
  return s.split(/[,\s]+/).filter(Boolean);
}

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const DOMAIN_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const PROJECT_RE = /^[a-z0-9][a-z0-9_-]*$/;

/** Semantic checks the schema cannot express. */
function checkSettings(s: Settings, model: StackModel): void {
  if (!HOSTNAME_RE.test(s.hostname))
    throw new PaasboxError(`hostname "${s.hostname}" is not a valid host name`, 'use letters, digits, "-" and "." only (HOSTNAME=paasbox)');
  checkAddress('ip', s.ip);
  s.masters.forEach((m, i) => checkAddress(`masters[${i}]`, m));
  s.agents.forEach((a, i) => checkAddress(`agents[${i}]`, a));
  if (!DOMAIN_RE.test(s.domain))
    throw new PaasboxError(`domain "${s.domain}" is not a valid DNS domain`, 'use lower-case labels separated by "." (PAASBOX_DOMAIN=consul)');
  if (!PROJECT_RE.test(s.projectName))
    throw new PaasboxError(`projectName "${s.projectName}" is not a valid compose project name`, 'use lower-case letters, digits, "-" and "_", starting with a letter or digit');

  for (const [name, o] of Object.entries(s.services)) {
    const svc = model.services[name];
    if (!svc)
      throw new PaasboxError(`services.${name}: unknown service "${name}"`, `use one of: ${Object.keys(model.services).join(', ')}`);
    for (const portName of Object.keys(o.ports ?? {})) {
      if (!svc.ports.some((p) => p.name === portName))
        throw new PaasboxError(
          `services.${name}.ports.${portName}: service ${name} has no port named "${portName}"`,
          svc.ports.length ? `use one of: ${svc.ports.map((p) => p.name).join(', ')}` : `${name} has no ports to override; remove the entry`,
        );
    }
  }

  // Host networking: two enabled services may not use the same port number
  // (DNS-style services bind tcp and udp alike, so the protocol does not separate them).
  const used = new Map<number, string>();
  for (const name of enabledServices(model, s)) {
    for (const p of effectivePorts(model, s, name)) {
      const other = used.get(p.port);
      if (other)
        throw new PaasboxError(
          `services.${name}.ports.${p.name}: port ${p.port} is also used by ${other}`,
          `give one of them another port, e.g. services: { ${name}: { ports: { ${p.name}: ${p.port + 10000 <= 65535 ? p.port + 10000 : p.port - 1} } } } in paasbox.yaml, or disable one`,
        );
      used.set(p.port, `${name}.${p.name}`);
    }
  }

  for (const name of enabledServices(model, s)) {
    for (const dep of model.services[name]!.dependsOn ?? []) {
      if (!isEnabled(model, s, dep))
        throw new PaasboxError(`services.${dep}: disabled, but ${name} depends on it`, `enable ${dep} or disable ${name} too (services: { ${name}: { enabled: false } })`);
    }
  }
}

function checkAddress(field: string, value: string): void {
  if (!isIPv4(value))
    throw new PaasboxError(`${field} "${value}" is not an IPv4 address`, `set it to this host's address as others reach it, e.g. IP=192.168.59.103`);
  if (value.startsWith('127.') || value === '0.0.0.0')
    throw new PaasboxError(
      `${field} "${value}" cannot be advertised: other hosts and containers cannot reach it`,
      'use the address of the host interface with the default route (ip -4 route show default; ip -4 -o addr), e.g. IP=192.168.59.103',
    );
}

/** Whether a service runs: optional services are off unless enabled. */
export function isEnabled(model: StackModel, s: Settings, name: string): boolean {
  const svc = model.services[name];
  if (!svc) return false;
  return s.services[name]?.enabled ?? !svc.optional;
}

/** Enabled services in the model's order. */
export function enabledServices(model: StackModel, s: Settings): string[] {
  return Object.keys(model.services).filter((n) => isEnabled(model, s, n));
}

/** A service's ports with the settings' overrides applied. */
export function effectivePorts(model: StackModel, s: Settings, name: string): PortSpec[] {
  const svc = model.services[name];
  if (!svc) return [];
  const over = s.services[name]?.ports ?? {};
  return svc.ports.map((p) => (over[p.name] !== undefined ? { ...p, port: over[p.name]! } : p));
}

/** host:port list of ZooKeeper for the masters (ZK_HOSTS). */
export function zkHosts(model: StackModel, s: Settings): string {
  const zk = effectivePorts(model, s, 'zookeeper').find((p) => p.name === 'client')?.port ?? 2181;
  return s.masters.map((m) => `${m}:${zk}`).join(',');
}
