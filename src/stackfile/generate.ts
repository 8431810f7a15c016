// Generation: stack model + settings + resolved image refs -> one compose file.
// Pure and deterministic (same inputs, same bytes), so the file can be diffed,
// golden-tested and regenerated at will. Compose never builds: images are built
// by src/images and referenced here by tag. The file has no `version:` key:
// compose v2 ignores it and docker-compose 1.29.2 (v1, 1.27+) reads version-less
// compose-spec files, incl. depends_on conditions and init (checked by
// spec/integration/compose-tool.spec.ts with `config`).
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { PaasboxError } from '../errors.js';
import type { Healthcheck, ImageSourceName, ImageSpec, ServiceSpec, StackModel } from '../model/model.js';
import { isCluster, type Settings } from '../settings/settings.js';
import { acmeVariables, recordAcme } from '../settings/acme.js';
import {
  consulRoleArgs,
  effectivePorts,
  enabledServices,
  mesosQuorum,
  zkHosts,
  zkMyId,
  zkServers,
} from '../settings/services.js';
import { assertValid, composeSpecValidator } from '../model/validate.js';
import { COMPOSE_PATH } from './deployment.js';

export interface GenerateOptions {
  /** The image reference to run per service (from resolveImageRefs). */
  images: Record<string, string>;
  /** Services whose image cannot be had from this source: service -> why, and how to supply it. */
  unavailable?: Record<string, string>;
  /** Services left out because the service replacing them (replacedBy) is in the stack: service -> why. */
  replaced?: Record<string, string>;
}

export interface ComposeService {
  image: string;
  init: true;
  restart: string;
  network_mode?: 'host';
  ports?: string[];
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[]; interval: string; timeout: string; retries: number; start_period?: string };
  depends_on?: Record<string, { condition: 'service_healthy' | 'service_started' }>;
  cap_add?: string[];
  devices?: string[];
  pid?: 'host';
  labels: Record<string, string>;
}

/** What generation recorded about its inputs; kept in the file as x-paasbox. */
export interface PaasboxMeta {
  stack: string;
  source: ImageSourceName;
  hostname: string;
  ip: string;
  domain: string;
  project: string;
  /** Enabled services left out because their image is unavailable: service -> reason. */
  omitted: Record<string, string>;
  /**
   * Enabled services left out because the service that replaces them is in the stack (the model's
   * replacedBy): service -> reason. Absent when none.
   */
  replaced?: Record<string, string>;
  /** Enabled services whose role does not run on this host (masters/agents). */
  elsewhere: string[];
  /** A cluster's hosts (absent on one host): later commands read them back from here. */
  cluster?: { masters: string[]; agents: string[] };
  /**
   * Services switched on or off, or given other ports, by paasbox.yaml or a
   * command (absent when none): verify and the other later commands judge the
   * stack as installed without being handed the same file again.
   */
  services?: Settings['services'];
  /** The app policy's limits (paasbox.yaml apps:, resolved); absent in files written before it existed. */
  apps?: Settings['apps'];
  /** The ACME renewer's settings (paasbox.yaml acme:, resolved); absent in files older than it. */
  acme?: Settings['acme'];
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, { name: string; labels: Record<string, string> }>;
  'x-paasbox': PaasboxMeta;
}

/**
 * What of the cluster shapes this host's file (x-paasbox.cluster): every
 * master (the ensemble's lines, Consul's -retry-join) and, of the agents,
 * only this host when it is one: nothing on a host depends on the other
 * agents, so adding or removing one leaves every other host's file, and its
 * convergence, as it was (`ok`). The whole cluster is in the instance record.
 */
export function clusterView(s: Settings): { masters: string[]; agents: string[] } {
  return { masters: [...s.masters], agents: s.agents.includes(s.ip) ? [s.ip] : [] };
}

/** Whether a service of this role runs on the host settings.ip. */
function runsHere(svc: ServiceSpec, s: Settings): boolean {
  if (svc.role === 'all') return true;
  return (svc.role === 'master' ? s.masters : s.agents).includes(s.ip);
}

/** The services generation puts in the file, in model order. */
export function servicesOnThisHost(model: StackModel, s: Settings): string[] {
  return enabledServices(model, s).filter((n) => runsHere(model.services[n]!, s));
}

/** Placeholder values for one service: globals plus its (overridden) ports and every service's ports. */
export function placeholderValues(model: StackModel, s: Settings, service: string): Record<string, string> {
  const vals: Record<string, string> = {
    IP: s.ip,
    HOSTNAME: s.hostname,
    DOMAIN: s.domain,
    ZK_HOSTS: zkHosts(model, s),
    ZK_MY_ID: String(zkMyId(s)),
    ZK_SERVERS: zkServers(model, s),
    MESOS_QUORUM: String(mesosQuorum(s)),
    APPS_TCP_PORT_MIN: String(s.apps.tcpPorts.min),
    APPS_TCP_PORT_MAX: String(s.apps.tcpPorts.max),
    ...acmeVariables(s.acme),
  };
  for (const name of Object.keys(model.services)) {
    const prefix = name.toUpperCase().replace(/-/g, '_');
    for (const p of effectivePorts(model, s, name)) {
      vals[`${prefix}_PORT_${p.name.toUpperCase()}`] = String(p.port);
      if (name === service) vals[`PORT_${p.name.toUpperCase()}`] = String(p.port);
    }
  }
  return vals;
}

/** Replace ${NAME} from vals; an unknown name is an error naming where it was. */
export function resolvePlaceholders(text: string, vals: Record<string, string>, where: string): string {
  return text.replace(/\$\{([^}]*)\}/g, (_m, name: string) => {
    const v = vals[name];
    if (v === undefined)
      throw new PaasboxError(
        `${where}: unknown placeholder \${${name}}`,
        `use one of \${IP} \${HOSTNAME} \${DOMAIN} \${ZK_HOSTS} \${ZK_MY_ID} \${ZK_SERVERS} \${MESOS_QUORUM} \${APPS_TCP_PORT_MIN} \${APPS_TCP_PORT_MAX} \${ACME_DIRECTORY} \${ACME_EMAIL} \${ACME_RENEW_DAYS} \${PORT_<NAME>} \${<SERVICE>_PORT_<NAME>} in stacks/paasbox.yaml`,
      );
    return v;
  });
}

/**
 * List placeholders: a command element that is exactly ${@NAME} becomes the list's elements (none, one or
 * several).
 */
export function listPlaceholderValues(s: Settings): Record<string, string[]> {
  return { CONSUL_ROLE_ARGS: consulRoleArgs(s) };
}

/** A command with its ${@NAME} elements spliced in, then every element's ${NAME} resolved. */
export function resolveCommand(
  command: string[],
  lists: Record<string, string[]>,
  resolve: (c: string, i: number) => string,
  where: string,
): string[] {
  return command.flatMap((c, i) => {
    const m = /^\$\{@([A-Z_]+)\}$/.exec(c);
    if (!m) return [resolve(c, i)];
    const list = lists[m[1]!];
    if (!list)
      throw new PaasboxError(
        `${where}[${i}]: unknown list placeholder ${c}`,
        `use one of ${Object.keys(lists)
          .map((k) => `\${@${k}}`)
          .join(' ')} in stacks/paasbox.yaml`,
      );
    return list;
  });
}

/** Compose interpolates "$": a literal dollar is written "$$". */
const escapeDollar = (s: string) => s.replace(/\$/g, '$$$$');

export function generateCompose(model: StackModel, settings: Settings, opts: GenerateOptions): ComposeFile {
  const source = settings.imageSource;
  const here = servicesOnThisHost(model, settings);
  const omitted: Record<string, string> = {};
  // Replaced on any host: such a service runs nowhere (not "elsewhere" either).
  const replaced = Object.fromEntries(
    enabledServices(model, settings)
      .filter((n) => opts.replaced?.[n] !== undefined)
      .map((n) => [n, opts.replaced![n]!]),
  );
  const included: string[] = [];
  for (const name of here) {
    if (replaced[name] !== undefined) continue;
    if (opts.images[name]) included.push(name);
    else if (opts.unavailable?.[name] !== undefined) omitted[name] = opts.unavailable[name]!;
    else
      throw new PaasboxError(
        `service ${name}: no image resolved for source ${source}`,
        'resolve images with resolveImageRefs(), or list the service as unavailable',
      );
  }

  const services: Record<string, ComposeService> = {};
  const volumes: NonNullable<ComposeFile['volumes']> = {};
  for (const name of included) {
    const svc = model.services[name]!;
    const spec: ImageSpec = svc.sources[source];
    const vals = placeholderValues(model, settings, name);
    const res = (t: string, field: string) =>
      escapeDollar(resolvePlaceholders(t, vals, `services.${name}.${field}`));
    const ports = effectivePorts(model, settings, name);

    const out: ComposeService = {
      image: opts.images[name]!,
      init: true,
      restart: svc.restart,
      labels: {
        ...(ports.length
          ? { 'paasbox.ports': ports.map((p) => `${p.name}=${p.port}/${p.protocol}`).join(',') }
          : {}),
        'paasbox.role': svc.role,
        'paasbox.service': name,
        'paasbox.source': source,
      },
    };
    if (svc.network === 'host') out.network_mode = 'host';
    else if (ports.length) out.ports = ports.map((p) => `${p.port}:${p.port}/${p.protocol}`);

    const command = spec.command ?? svc.command;
    if (command)
      out.command = resolveCommand(
        command,
        listPlaceholderValues(settings),
        (c, i) => res(c, `command[${i}]`),
        `services.${name}.command`,
      );
    if (spec.entrypoint) out.entrypoint = spec.entrypoint.map((c, i) => res(c, `entrypoint[${i}]`));
    const env = { ...svc.environment, ...spec.environment };
    if (Object.keys(env).length) out.environment = mapValues(env, (v, k) => res(v, `environment.${k}`));

    if (svc.volumes?.length) {
      out.volumes = svc.volumes.map((v) => {
        const named = !v.source.startsWith('/') && !v.source.startsWith('.');
        if (named)
          volumes[v.source] = {
            name: `${settings.projectName}_${v.source}`,
            labels: { 'paasbox.service': name },
          };
        return `${v.source}:${v.target}${v.readOnly ? ':ro' : ''}`;
      });
    }
    const hc: Healthcheck | undefined = spec.healthcheck ?? svc.healthcheck;
    if (hc) {
      out.healthcheck = {
        test: hc.test.map((t, i) => res(t, `healthcheck.test[${i}]`)),
        interval: hc.interval,
        timeout: hc.timeout,
        retries: hc.retries,
        ...(hc.startPeriod ? { start_period: hc.startPeriod } : {}),
      };
    }
    // A dependency that is not in this file (unavailable, or on another host) is left out.
    const deps = (svc.dependsOn ?? []).filter((d) => included.includes(d));
    if (deps.length) {
      out.depends_on = Object.fromEntries(
        deps.map((d) => {
          const depSvc = model.services[d]!;
          const healthy = !!(depSvc.sources[source].healthcheck ?? depSvc.healthcheck);
          return [d, { condition: healthy ? 'service_healthy' : 'service_started' }] as const;
        }),
      );
    }
    if (svc.capAdd?.length) out.cap_add = [...svc.capAdd];
    if (svc.devices?.length) out.devices = svc.devices.map((d) => `${d}:${d}`);
    if (svc.pid) out.pid = svc.pid;
    services[name] = out;
  }

  const compose: ComposeFile = {
    services,
    ...(Object.keys(volumes).length ? { volumes } : {}),
    'x-paasbox': {
      stack: model.name,
      source,
      hostname: settings.hostname,
      ip: settings.ip,
      domain: settings.domain,
      project: settings.projectName,
      omitted,
      ...(Object.keys(replaced).length ? { replaced } : {}),
      elsewhere: enabledServices(model, settings).filter((n) => !here.includes(n) && !replaced[n]),
      ...(isCluster(settings) ? { cluster: clusterView(settings) } : {}),
      ...(Object.keys(settings.services).length ? { services: settings.services } : {}),
      apps: {
        tcpPorts: { ...settings.apps.tcpPorts },
        maxInstancesPerNode: settings.apps.maxInstancesPerNode,
      },
      acme: recordAcme(settings.acme),
    },
  };
  markStackReaders(model, compose);
  validateCompose(compose);
  return compose;
}

/**
 * A service that mounts this very file (the apps API reads its record: the app bounds) keeps seeing the
 * copy its container started with: a bind mount holds the inode that install's atomic rewrite replaces.
 * The label `paasbox.stack-record`, a hash of what the record says (x-paasbox, the services and their
 * ports), makes compose recreate it whenever that changes, and only then.
 */
function markStackReaders(model: StackModel, compose: ComposeFile): void {
  const ports = Object.entries(compose.services).map(([n, s]) => [n, s.labels['paasbox.ports'] ?? '']);
  const record = createHash('sha256')
    .update(JSON.stringify(sortKeys({ ports, meta: compose['x-paasbox'] })))
    .digest('hex')
    .slice(0, 16);
  for (const [name, out] of Object.entries(compose.services))
    if (model.services[name]?.volumes?.some((v) => v.source === COMPOSE_PATH))
      out.labels['paasbox.stack-record'] = record;
}

function mapValues(o: Record<string, string>, f: (v: string, k: string) => string): Record<string, string> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v, k)]));
}

/** Validate against the Compose Specification JSON schema; throws PaasboxError with the failing paths. */
export function validateCompose(obj: unknown): void {
  assertValid(
    composeSpecValidator(),
    obj,
    'generated compose file',
    'this is a paasbox bug or a bad stacks/paasbox.yaml entry: fix the service named',
  );
}

/** Keys sorted everywhere except where order carries meaning (the top level and the services list). */
function sortKeys(node: unknown, keepOrder = false): unknown {
  if (Array.isArray(node)) return node.map((n) => sortKeys(n));
  if (node && typeof node === 'object') {
    const entries = Object.entries(node);
    if (!keepOrder) entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v, k === 'services' && keepOrder)]));
  }
  return node;
}

/** The compose file as YAML: a header saying it is generated (and what was left out), then the content. */
export function renderCompose(obj: ComposeFile): string {
  const m = obj['x-paasbox'];
  const header = [
    '# Generated by paasbox (scripts/genstack.mjs) from stacks/paasbox.yaml: do not edit, regenerate.',
    `# Inputs: source=${m.source} hostname=${m.hostname} ip=${m.ip} domain=${m.domain} project=${m.project}`,
  ];
  const omitted = Object.entries(m.omitted);
  if (omitted.length) {
    header.push(`# Left out (image unavailable from source ${m.source}):`);
    for (const [s, why] of omitted) header.push(`#   ${s}: ${why.replace(/\s+/g, ' ')}`);
  }
  const replaced = Object.entries(m.replaced ?? {});
  if (replaced.length) {
    header.push('# Left out (replaced by another service in the stack):');
    for (const [s, why] of replaced) header.push(`#   ${s}: ${why.replace(/\s+/g, ' ')}`);
  }
  if (m.cluster) {
    const roles = [
      ...(m.cluster.masters.includes(m.ip) ? ['a master'] : []),
      ...(m.cluster.agents.includes(m.ip) ? ['an agent'] : []),
    ].join(' and ');
    header.push(`# Cluster: masters ${m.cluster.masters.join(',')}; this host (${m.ip}) is ${roles}`);
  }
  if (m.elsewhere.length) header.push(`# Not run on this host (role): ${m.elsewhere.join(', ')}`);
  const ordered = {
    services: obj.services,
    ...(obj.volumes ? { volumes: obj.volumes } : {}),
    'x-paasbox': obj['x-paasbox'],
  };
  const body = stringify(sortKeys(ordered, true), { lineWidth: 0, indent: 2, aliasDuplicateObjects: false });
  return `${header.join('\n')}\n${body}`;
}
