// Settings: one object resolved from layers in one written order, and checked
// against the stack model (service names, ports, dependencies). Pure: the
// loader in load.ts does the file, environment and detection I/O.
//
//   flags > environment > paasbox.yaml > recorded deployment > defaults
//
// flags: the command line; environment: PAASBOX_* (and the seed's HOSTNAME
// and IP where the stack runs on this machine or its docker VM); recorded: what
// the instance's last install was given or deployed; defaults: what paasbox
// finds out (the target's hostname, its detected address) and DEFAULTS.
import { DOMAIN_RE, HOSTNAME_RE, PROJECT_RE } from '../system/readback.js';
import { isIPv4 } from 'node:net';
import { PaasboxError } from '../errors.js';
import type { ImageSourceName, StackModel } from '../model/model.js';
import { effectivePorts, enabledServices, isEnabled } from './services.js';
import { assertValid, projectValidator } from '../model/validate.js';
import { checkApps, resolveApps, type AppsFile, type AppsSettings } from './apps.js';
import { checkAcme, resolveAcme, type AcmeFile, type AcmeSettings } from './acme.js';

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
  /**
   * Addresses of the masters: ZooKeeper's ensemble, the Consul servers, Mesos
   * masters and Marathon (default: this host). One entry is a one-host stack.
   */
  masters: string[];
  /**
   * Addresses of the agents: Consul client agents (on hosts that are no
   * master) and Mesos agents (default: the masters, and this host if it is none).
   */
  agents: string[];
  debianMirror?: string;
  /** The app policy's limits (paasbox.yaml apps:, src/settings/apps.ts). */
  apps: AppsSettings;
  /** The ACME renewer's directory, contact and timing (paasbox.yaml acme:, src/settings/acme.ts). */
  acme: AcmeSettings;
}

/** The scalar settings a layer other than paasbox.yaml can set. */
export interface SettingsValues {
  hostname?: string;
  ip?: string;
  imageSource?: ImageSourceName;
  domain?: string;
  projectName?: string;
  masters?: string[];
  agents?: string[];
  /**
   * Recorded layer only: services a command switched on or off for this
   * instance (tunnel up enables sshd), or the deployed stack's paasbox.yaml
   * overrides as its compose file records them; paasbox.yaml's entry for a
   * service wins.
   */
  services?: Record<string, ServiceOverride>;
  /** Recorded layer only: the deployed stack's apps: settings (x-paasbox.apps). */
  apps?: AppsSettings;
  /** Recorded layer only: the deployed stack's acme: settings (x-paasbox.acme). */
  acme?: AcmeSettings;
}
/** paasbox.yaml's cluster: the same lists as masters/agents, one place. */
export interface ClusterFile {
  masters: string[];
  agents?: string[];
}

export interface SettingsLayers {
  flags?: SettingsValues;
  env?: Env;
  /** A parsed paasbox.yaml (validated here against its schema). */
  file?: unknown;
  recorded?: SettingsValues;
  defaults?: SettingsValues;
}

export const DEFAULTS = {
  // local works offline (images built here); registry needs a host that can pull.
  imageSource: 'local' as ImageSourceName,
  domain: 'consul',
  projectName: 'paasbox',
};

type Env = Record<string, string | undefined>;

/**
 * The environment layer for a stage: PAASBOX_* always; the seed's HOSTNAME and
 * IP only when the stack runs here or in this machine's docker VM (for a host
 * over SSH they would describe this machine, not the target).
 */
export function settingsEnv(env: Env, opts: { seedNames: boolean }): Env {
  const out: Env = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('PAASBOX_')));
  if (opts.seedNames) {
    if (env['HOSTNAME'] !== undefined) out['HOSTNAME'] = env['HOSTNAME'];
    if (env['IP'] !== undefined) out['IP'] = env['IP'];
  }
  return out;
}

/** The environment layer as values (PAASBOX_HOSTNAME/PAASBOX_IP win over HOSTNAME/IP). */
export function envValues(env: Env): SettingsValues {
  const e = (k: string) => {
    const v = env[k]?.trim();
    return v ? v : undefined;
  };
  const out: SettingsValues = {};
  const hostname = e('PAASBOX_HOSTNAME') ?? e('HOSTNAME');
  const ip = e('PAASBOX_IP') ?? e('IP');
  if (hostname) out.hostname = hostname;
  if (ip) out.ip = ip;
  if (e('PAASBOX_SOURCE')) out.imageSource = e('PAASBOX_SOURCE') as ImageSourceName;
  if (e('PAASBOX_DOMAIN')) out.domain = e('PAASBOX_DOMAIN');
  if (e('PAASBOX_PROJECT')) out.projectName = e('PAASBOX_PROJECT');
  if (e('PAASBOX_MASTERS')) out.masters = splitList(e('PAASBOX_MASTERS')!);
  if (e('PAASBOX_AGENTS')) out.agents = splitList(e('PAASBOX_AGENTS')!);
  return out;
}

/**
 * Resolve settings from their layers (see the opening comment for the order).
 * Throws PaasboxError naming the field and the fix for anything invalid.
 */
export function resolveSettings(layers: SettingsLayers, model: StackModel): Settings {
  const raw = (layers.file ?? {}) as Omit<Partial<Settings>, 'apps' | 'acme'> & {
    cluster?: ClusterFile;
    apps?: AppsFile;
    acme?: AcmeFile;
  };
  assertValid(
    projectValidator('settings'),
    raw,
    'paasbox.yaml',
    'correct the field named, see stacks/schema/settings.schema.json',
  );
  const { apps: appsFile, acme: acmeFile, ...fileRest } = raw;
  const file = fileWithCluster(fileRest);

  const order: Partial<Settings>[] = [
    layers.flags ?? {},
    envValues(layers.env ?? {}),
    file,
    layers.recorded ?? {},
    layers.defaults ?? {},
    DEFAULTS,
  ];
  const pick = <K extends keyof Settings>(k: K): Settings[K] | undefined => {
    for (const layer of order) if (layer[k] !== undefined) return layer[k] as Settings[K];
    return undefined;
  };

  const hostname = pick('hostname');
  if (!hostname)
    throw new PaasboxError(
      'hostname is not set',
      'pass --hostname NAME, set PAASBOX_HOSTNAME=NAME, or hostname: in paasbox.yaml',
    );
  const ip = pick('ip');
  if (!ip)
    throw new PaasboxError(
      'ip (the advertised address) is not set and could not be detected',
      'pass --ip ADDRESS, set PAASBOX_IP=ADDRESS, or ip: in paasbox.yaml',
    );

  const imageSource = pick('imageSource')!;
  if (imageSource !== 'registry' && imageSource !== 'local')
    throw new PaasboxError(
      `imageSource "${imageSource}" is not an image source`,
      'use --source local or --source registry (or PAASBOX_SOURCE)',
    );

  const settings: Settings = {
    hostname,
    ip,
    imageSource,
    domain: pick('domain')!,
    projectName: pick('projectName')!,
    services: { ...layers.recorded?.services, ...file.services },
    masters: pick('masters') ?? [ip],
    agents: [],
    ...(file.debianMirror ? { debianMirror: file.debianMirror } : {}),
    apps: resolveApps(appsFile, layers.recorded?.apps),
    acme: resolveAcme(acmeFile, layers.recorded?.acme),
  };
  // A host that is no master is an agent unless the agents are listed.
  settings.agents =
    pick('agents') ?? (settings.masters.includes(ip) ? [...settings.masters] : [...settings.masters, ip]);
  checkSettings(settings, model);
  return settings;
}

/**
 * paasbox.yaml's cluster: {masters, agents} as the top-level masters/agents (one of the two places, not
 * both).
 */
function fileWithCluster(raw: Partial<Settings> & { cluster?: ClusterFile }): Partial<Settings> {
  const { cluster, ...file } = raw;
  if (!cluster) return file;
  if (file.masters || file.agents)
    throw new PaasboxError(
      'paasbox.yaml sets both cluster: and masters:/agents:',
      'keep one: cluster: { masters: [...], agents: [...] }',
    );
  return { ...file, masters: cluster.masters, ...(cluster.agents ? { agents: cluster.agents } : {}) };
}

function splitList(s: string): string[] {
  return s.split(/[,\s]+/).filter(Boolean);
}

/** Semantic checks the schema cannot express. */
function checkSettings(s: Settings, model: StackModel): void {
  if (!HOSTNAME_RE.test(s.hostname))
    throw new PaasboxError(
      `hostname "${s.hostname}" is not a valid host name`,
      'use letters, digits, "-" and "." only (HOSTNAME=paasbox)',
    );
  checkAddress('ip', s.ip);
  s.masters.forEach((m, i) => checkAddress(`masters[${i}]`, m));
  s.agents.forEach((a, i) => checkAddress(`agents[${i}]`, a));
  checkCluster(s);
  if (!DOMAIN_RE.test(s.domain))
    throw new PaasboxError(
      `domain "${s.domain}" is not a valid DNS domain`,
      'use lower-case labels separated by "." (PAASBOX_DOMAIN=consul)',
    );
  if (!PROJECT_RE.test(s.projectName))
    throw new PaasboxError(
      `projectName "${s.projectName}" is not a valid compose project name`,
      'use lower-case letters, digits, "-" and "_", starting with a letter or digit',
    );

  for (const [name, o] of Object.entries(s.services)) {
    const svc = model.services[name];
    if (!svc)
      throw new PaasboxError(
        `services.${name}: unknown service "${name}"`,
        `use one of: ${Object.keys(model.services).join(', ')}`,
      );
    for (const portName of Object.keys(o.ports ?? {})) {
      if (!svc.ports.some((p) => p.name === portName))
        throw new PaasboxError(
          `services.${name}.ports.${portName}: service ${name} has no port named "${portName}"`,
          svc.ports.length
            ? `use one of: ${svc.ports.map((p) => p.name).join(', ')}`
            : `${name} has no ports to override; remove the entry`,
        );
    }
  }

  // Host networking: two enabled services may not use the same port number
  // (DNS-style services bind tcp and udp alike, so the protocol does not separate them),
  // unless one replaces the other (replacedBy: never both in the stack).
  const used = new Map<number, string>();
  const owner = new Map<number, string>();
  const replaces = (a: string, b: string) =>
    model.services[a]?.replacedBy === b || model.services[b]?.replacedBy === a;
  for (const name of enabledServices(model, s)) {
    for (const p of effectivePorts(model, s, name)) {
      const other = used.get(p.port);
      if (other && replaces(name, owner.get(p.port)!)) continue;
      owner.set(p.port, name);
      if (other)
        throw new PaasboxError(
          `services.${name}.ports.${p.name}: port ${p.port} is also used by ${other}`,
          `give one of them another port, e.g. services: { ${name}: { ports: { ${p.name}: ${p.port + 10000 <= 65535 ? p.port + 10000 : p.port - 1} } } } in paasbox.yaml, or disable one`,
        );
      used.set(p.port, `${name}.${p.name}`);
    }
  }
  checkApps(s.apps, used);
  checkAcme(s.acme);

  for (const name of enabledServices(model, s)) {
    for (const dep of model.services[name]!.dependsOn ?? []) {
      if (!isEnabled(model, s, dep))
        throw new PaasboxError(
          `services.${dep}: disabled, but ${name} depends on it`,
          `enable ${dep} or disable ${name} too (services: { ${name}: { enabled: false } })`,
        );
    }
  }
}

/** The cluster's lists: no address twice, and this host (ip) is one of its hosts. */
function checkCluster(s: Settings): void {
  for (const [field, list] of [
    ['masters', s.masters],
    ['agents', s.agents],
  ] as const) {
    const dup = list.find((a, i) => list.indexOf(a) !== i);
    if (dup)
      throw new PaasboxError(
        `${field}: ${dup} is listed twice`,
        `list every host once: ${field}: [${[...new Set(list)].join(', ')}]`,
      );
  }
  if (!s.masters.includes(s.ip) && !s.agents.includes(s.ip))
    throw new PaasboxError(
      `this host's address ${s.ip} is neither a master (${s.masters.join(', ')}) nor an agent (${s.agents.join(', ')})`,
      "pass the address of one of the cluster's hosts with --ip, or add it to the agents",
    );
}

/** Every host of the stack: the masters, then the agents that are no master. */
export function clusterHosts(s: Pick<Settings, 'masters' | 'agents'>): string[] {
  return [...s.masters, ...s.agents.filter((a) => !s.masters.includes(a))];
}

/** Whether the stack spans more than one host. */
export function isCluster(s: Pick<Settings, 'masters' | 'agents'>): boolean {
  return clusterHosts(s).length > 1;
}

function checkAddress(field: string, value: string): void {
  if (!isIPv4(value))
    throw new PaasboxError(
      `${field} "${value}" is not an IPv4 address`,
      `set it to this host's address as others reach it, e.g. IP=192.168.59.103`,
    );
  if (value.startsWith('127.') || value === '0.0.0.0')
    throw new PaasboxError(
      `${field} "${value}" cannot be advertised: other hosts and containers cannot reach it`,
      'use the address of the host interface with the default route (ip -4 route show default; ip -4 -o addr), e.g. IP=192.168.59.103',
    );
}
