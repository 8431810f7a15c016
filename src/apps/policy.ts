// The one app policy: what a Marathon app definition may ask of the hosts it
// runs on. App JSON is untrusted (an app team or its CI writes it), so every
// deploy path (the CLI, the swarm back-end, Marathon where it runs) asks this
// module before any scheduler is touched. Deny by default; each category has
// its own explicit allowance (deploy's --allow-… flags). Pure: the checks that
// need the target (symlinks under a data root, who owns a name) live in
// ./target-checks.ts and take their rules from here.

import { PaasboxError } from '../errors.js';
import { normaliseId, type MarathonApp } from '../appspec/app.js';
import { canonicalHostPath, type AppProblem } from '../appspec/fields.js';
import { appProblems, parseApp, throwProblems } from '../appspec/validate.js';
import { domainProblems } from './domains.js';

/** The exceptions an operator may allow for one deploy, one flag each. */
export interface AppAllowances {
  /** --allow-host-mounts: hostPath volumes outside the app's own data root. */
  hostMounts?: boolean;
  /** --allow-host-namespaces: network HOST, and the net/pid/ipc/uts/userns parameters. */
  hostNamespaces?: boolean;
  /** --allow-reserved-labels: labels under com.docker.* and paasbox.*. */
  reservedLabels?: boolean;
  /** --allow-log-drivers: a log driver or log options beyond the host's own files. */
  logDrivers?: boolean;
  /** --allow-docker-parameters: docker parameters beyond SAFE_DOCKER_PARAMETERS. */
  dockerParameters?: boolean;
  /** --allow-wildcard-domains: a public name `*.example.test` (every name under it). */
  wildcardDomains?: boolean;
}

/** The bounds every app is held to: settings, not allowances. */
export interface AppBounds {
  /** Most instances of one app (apps.maxInstancesPerNode x the nodes apps run on). */
  maxInstances: number;
  /** The range tcp=PORT tags must lie in (apps.tcpPorts). */
  tcpPorts: { min: number; max: number };
  /** The stack's own service names: no app may register as one. */
  stackServices: string[];
  /** The stack's own ports on a host: no app may publish a fixed hostPort there. */
  stackPorts: number[];
  /** The stack's DNS domain (NAME.service.DOMAIN): no app's public name may be it or under it. */
  domain?: string;
}

export interface AppPolicy {
  allow?: AppAllowances;
  bounds?: AppBounds;
}

/** Where an app's own host directories live: APP_DATA_ROOT/<app dir>/... (deploy creates it). */
export const APP_DATA_ROOT = '/srv/paasbox/apps';
/** Marathon's default when `mem` is absent (MiB). */
export const DEFAULT_MEM_MIB = 128;
/** Docker refuses memory limits under 6 MiB. */
export const MIN_MEM_MIB = 6;
/** A task's processes at most: a fork bomb stops there, not at the host's limit. */
export const PIDS_LIMIT = 2048;
/** A task's CPU at most, in cores, unless the app asks for more `cpus`. */
export const MIN_CPU_LIMIT = 1;
/** The least delay before a failed task starts again (s): a crash loop never spins. */
export const MIN_BACKOFF_SECONDS = 1;

/** Label prefixes only the platform sets: compose's and swarm's own, and paasbox's. */
export const RESERVED_LABEL_PREFIXES = ['com.docker.', 'paasbox.'] as const;
/** Docker parameters that join a host namespace. */
export const HOST_NAMESPACE_PARAMETERS = [
  'net',
  'network',
  'pid',
  'ipc',
  'uts',
  'userns',
  'cgroupns',
] as const;
/**
 * Docker parameters allowed without allow.dockerParameters: none widens what the container may do on the
 * host.
 */
// Not memory or cpus: `memory=0` or `cpus=0` after the bounds would lift them (mem and cpus say it).
export const SAFE_DOCKER_PARAMETERS = [
  'label',
  'env',
  'e',
  'log-driver',
  'log-opt',
  'hostname',
  'workdir',
  'user',
  'init',
  'stop-signal',
  'dns',
  'add-host',
] as const;
/** Log drivers that keep logs on the host. */
export const LOCAL_LOG_DRIVERS = ['json-file', 'local', 'none'] as const;
/** Log options of the local drivers (size and rotation only). */
export const LOCAL_LOG_OPTIONS = ['max-size', 'max-file', 'compress', 'mode', 'max-buffer-size'] as const;

/** The directory of app `id` under APP_DATA_ROOT: the id's path, slashes as dashes. */
export function appDataDir(id: string): string {
  return `${APP_DATA_ROOT}/${normaliseId(id).slice(1).replace(/\//g, '-')}`;
}

/** Whether `key` is a label only the platform may set. */
export function isReservedLabel(key: string): boolean {
  const k = key.toLowerCase();
  return RESERVED_LABEL_PREFIXES.some((p) => k.startsWith(p));
}

/**
 * Registrator's naming variables: SERVICE_NAME and SERVICE_<port>_NAME (and
 * the _ID variants), with the variable's name as the key.
 */
export function serviceNameVars(env: Record<string, string> | undefined): Record<string, string> {
  // The registrator matches SERVICE_ exactly and reads the rest in any case.
  return Object.fromEntries(
    Object.entries(env ?? {}).filter(([k]) => /^SERVICE_(\d+_)?NAME$/i.test(k) && k.startsWith('SERVICE_')),
  );
}

/**
 * Registrator variables that would let an app replace another's registration (the ID, the container it
 * names).
 */
const ID_VARIABLE = /^SERVICE_(\d+_)?(ID|CONTAINER_ID)$/i;

/** tcp=PORT values among registrator's tag variables (SERVICE_TAGS, SERVICE_<port>_TAGS). */
export function tcpTagPorts(env: Record<string, string> | undefined): { variable: string; port: number }[] {
  const out: { variable: string; port: number }[] = [];
  for (const [k, v] of Object.entries(env ?? {})) {
    if (!/^SERVICE_(\d+_)?TAGS$/i.test(k) || !k.startsWith('SERVICE_')) continue;
    for (const tag of v.split(',').map((t) => t.trim())) {
      const m = /^tcp=(.*)$/.exec(tag);
      if (m) out.push({ variable: k, port: /^\d{1,5}$/.test(m[1]!) ? Number(m[1]) : NaN });
    }
  }
  return out;
}

const obj = (x: unknown) =>
  x !== null && typeof x === 'object' && !Array.isArray(x) ? (x as Record<string, unknown>) : undefined;
const list = (x: unknown) => (Array.isArray(x) ? (x as unknown[]).map(obj) : []);
const strings = (x: unknown) =>
  Object.fromEntries(
    Object.entries(obj(x) ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );

/**
 * Every refusal of the policy for `app` (empty when it may deploy). Defensive
 * reads: it also runs on documents the schema refused, so one run names
 * everything that stands between the app and a deploy.
 */
export function policyProblems(app: MarathonApp, policy: AppPolicy = {}): AppProblem[] {
  const allow = policy.allow ?? {};
  const out: AppProblem[] = [];
  const doc = obj(app);
  const id = typeof doc?.['id'] === 'string' ? (doc['id'] as string) : '/app';
  const container = obj(doc?.['container']);
  const docker = obj(container?.['docker']);
  const env = strings(doc?.['env']);
  const parameters = list(docker?.['parameters']);

  // Host mounts: only the app's own data root, unless allowed.
  if (!allow.hostMounts) {
    const root = appDataDir(id);
    list(container?.['volumes']).forEach((v, i) => {
      const hostPath = v?.['hostPath'];
      if (typeof hostPath !== 'string' || !hostPath.startsWith('/')) return;
      const p = canonicalHostPath(hostPath);
      if (p === root || p.startsWith(root + '/')) return;
      out.push({
        path: `/container/volumes/${i}/hostPath`,
        problem: `${JSON.stringify(hostPath)} is outside the app's own data root ${root}`,
        fix: `bind a directory under ${root}/ (deploy creates it), or deploy with --allow-host-mounts`,
      });
    });
  }

  // Docker parameters: the safe list only (a host namespace is a category of its own, below).
  if (!allow.dockerParameters) {
    parameters.forEach((p, i) => {
      const key = p?.['key'];
      if (typeof key !== 'string' || (SAFE_DOCKER_PARAMETERS as readonly string[]).includes(key)) return;
      if ((HOST_NAMESPACE_PARAMETERS as readonly string[]).includes(key)) return;
      out.push({
        path: `/container/docker/parameters/${i}/key`,
        problem: `docker parameter "${key}" is not allowed: it can widen what the container may do on the host`,
        fix: `use only ${SAFE_DOCKER_PARAMETERS.join(', ')}; or deploy with --allow-docker-parameters if the app really needs "${key}"`,
      });
    });
  }

  // Host namespaces.
  if (!allow.hostNamespaces) {
    if (docker?.['network'] === 'HOST') {
      out.push({
        path: '/container/docker/network',
        problem:
          "network HOST puts the app in the host's network (every port, the stack's own loopback services)",
        fix: 'use "BRIDGE" with portMappings, or deploy with --allow-host-namespaces',
      });
    }
    parameters.forEach((p, i) => {
      const key = p?.['key'];
      if (typeof key === 'string' && (HOST_NAMESPACE_PARAMETERS as readonly string[]).includes(key)) {
        out.push({
          path: `/container/docker/parameters/${i}/key`,
          problem: `docker parameter "${key}" joins a host namespace`,
          fix: 'remove it, or deploy with --allow-host-namespaces',
        });
      }
    });
  }

  // Reserved labels, as labels or as the label parameter.
  if (!allow.reservedLabels) {
    const refuse = (path: string, key: string) =>
      out.push({
        path,
        problem: `label "${key}" is reserved for the platform (${RESERVED_LABEL_PREFIXES.map((p) => `${p}*`).join(', ')})`,
        fix: 'rename the label (e.g. team.example/…), or deploy with --allow-reserved-labels',
      });
    for (const key of Object.keys(obj(doc?.['labels']) ?? {}))
      if (isReservedLabel(key)) refuse(`/labels/${key}`, key);
    parameters.forEach((p, i) => {
      const value = p?.['value'];
      if (
        p?.['key'] === 'label' &&
        typeof value === 'string' &&
        isReservedLabel(value.split('=')[0]!.trim())
      ) {
        refuse(`/container/docker/parameters/${i}/value`, value.split('=')[0]!.trim());
      }
    });
  }

  // Logging stays on the host.
  if (!allow.logDrivers) {
    parameters.forEach((p, i) => {
      const key = p?.['key'];
      const value = typeof p?.['value'] === 'string' ? (p['value'] as string) : '';
      if (key === 'log-driver' && !(LOCAL_LOG_DRIVERS as readonly string[]).includes(value)) {
        out.push({
          path: `/container/docker/parameters/${i}/value`,
          problem: `log driver "${value}" can ship the app's logs off the host`,
          fix: `use ${LOCAL_LOG_DRIVERS.join(', ')}, or deploy with --allow-log-drivers`,
        });
      }
      const opt = value.split('=')[0]!;
      if (key === 'log-opt' && !(LOCAL_LOG_OPTIONS as readonly string[]).includes(opt)) {
        out.push({
          path: `/container/docker/parameters/${i}/value`,
          problem: `log option "${opt}" is not one of the local drivers' size options`,
          fix: `use ${LOCAL_LOG_OPTIONS.join(', ')}, or deploy with --allow-log-drivers`,
        });
      }
    });
  }

  // Names belong to apps: registrator's ID overrides never, the stack's names never,
  // and registrator settings only in env, where they are checked.
  for (const k of Object.keys(env)) {
    if (ID_VARIABLE.test(k)) {
      out.push({
        path: `/env/${k}`,
        problem: `${k} would let the app replace another app's registration`,
        fix: 'remove it: the registrator gives each instance its own ID',
      });
    }
  }
  for (const key of Object.keys(obj(doc?.['labels']) ?? {})) {
    if (/^SERVICE_/i.test(key)) {
      out.push({
        path: `/labels/${key}`,
        problem: `label "${key}" is a registrator setting`,
        fix: `set it in env, where its value is checked`,
      });
    }
  }
  parameters.forEach((p, i) => {
    const value = typeof p?.['value'] === 'string' ? (p['value'] as string) : '';
    if (['env', 'e', 'label'].includes(String(p?.['key'])) && /^\s*SERVICE_/i.test(value)) {
      out.push({
        path: `/container/docker/parameters/${i}/value`,
        problem: `"${value.split('=')[0]}" is a registrator setting`,
        fix: 'set it in env, where its value is checked',
      });
    }
  });
  // Without a container Marathon runs cmd in the Mesos agent's own container (the host's).
  if (!docker) {
    if (!allow.hostNamespaces) {
      out.push({
        path: '/container',
        problem: 'an app without a container runs its cmd on the agent host under Marathon',
        fix: 'add container.docker.image, or deploy with --allow-host-namespaces',
      });
    }
  }
  // One volume inside another: the app could swap the inner path for a symlink, which docker follows at its
  // next start.
  const hostPaths = list(container?.['volumes']).map((v) =>
    typeof v?.['hostPath'] === 'string' ? canonicalHostPath(v['hostPath'] as string) : undefined,
  );
  hostPaths.forEach((p, i) => {
    const outer = hostPaths.findIndex(
      (q, j) => j !== i && p !== undefined && q !== undefined && (p === q ? j < i : p.startsWith(q + '/')),
    );
    if (p === undefined || outer < 0) return;
    out.push({
      path: `/container/volumes/${i}/hostPath`,
      problem: `${JSON.stringify(p)} lies inside volume ${outer}'s ${JSON.stringify(hostPaths[outer])}`,
      fix: 'bind each host directory once, none inside another',
    });
  });
  const bounds = policy.bounds;
  // Public names (HAPROXY_0_VHOST, domain= tags): the stack's default domain when no stack is known.
  out.push(
    ...domainProblems(app, {
      ...(bounds?.domain ? { stackDomain: bounds.domain } : {}),
      ...(allow.wildcardDomains ? { wildcards: true } : {}),
    }),
  );
  if (bounds) {
    for (const [k, name] of Object.entries(serviceNameVars(env))) {
      if (bounds.stackServices.includes(name)) {
        out.push({
          path: `/env/${k}`,
          problem: `"${name}" is the name of a stack service`,
          fix: 'give the app a name of its own',
        });
      }
    }
    out.push(...boundsProblems(app, bounds, env));
  }
  return out;
}

/** The bounds (instances, tcp ports, fixed host ports). */
function boundsProblems(app: MarathonApp, bounds: AppBounds, env: Record<string, string>): AppProblem[] {
  const out: AppProblem[] = [];
  const instances = (obj(app) ?? {})['instances'];
  if (typeof instances === 'number' && instances > bounds.maxInstances)
    out.push(instancesProblem(instances, bounds));
  const { min, max } = bounds.tcpPorts;
  for (const { variable, port } of tcpTagPorts(env)) {
    if (Number.isInteger(port) && port >= min && port <= max && !bounds.stackPorts.includes(port)) continue;
    out.push({
      path: `/env/${variable}`,
      problem: `tcp=${Number.isNaN(port) ? '?' : port} is outside the stack's TCP route range ${min}-${max}`,
      fix: `use a port from ${min} to ${max} (paasbox.yaml apps.tcpPorts sets the range)`,
    });
  }
  const container = obj(obj(app)?.['container']);
  const mappings = [
    ...list(container?.['portMappings']),
    ...list(obj(container?.['docker'])?.['portMappings']),
  ];
  mappings.forEach((m, i) => {
    const hostPort = m?.['hostPort'];
    if (typeof hostPort !== 'number' || hostPort === 0) return;
    const inRange = hostPort >= min && hostPort <= max;
    if (hostPort >= 1024 && !bounds.stackPorts.includes(hostPort) && !inRange) return;
    const what =
      hostPort < 1024
        ? 'a privileged port'
        : inRange
          ? `in the TCP route range ${min}-${max}`
          : 'a port of the stack';
    out.push({
      path: `/container/portMappings/${i}/hostPort`,
      problem: `hostPort ${hostPort} is ${what}`,
      fix: `use hostPort 0 (docker picks one; HAProxy routes by name) or a free port above 1023 outside ${min}-${max}`,
    });
  });
  return out;
}

/** The refusal of an instance count above the ceiling (deploy and scale alike). */
export function instancesProblem(instances: number, bounds: Pick<AppBounds, 'maxInstances'>): AppProblem {
  return {
    path: '/instances',
    problem: `${instances} instances is above this stack's ceiling of ${bounds.maxInstances}`,
    fix: `ask for at most ${bounds.maxInstances} (paasbox.yaml apps.maxInstancesPerNode x the nodes apps run on sets it)`,
  };
}

/** What every task gets whatever the app says: memory, CPU and pids limits, a restart delay. */
export interface TaskBounds {
  memMiB: number;
  cpuLimit: number;
  pidsLimit: number;
  backoffSeconds: number;
  /** What was raised to its floor or filled in, for the deploy's warnings. */
  notes: string[];
}

/** The limits a task of `app` runs with (pure). */
export function taskBounds(app: MarathonApp): TaskBounds {
  const notes: string[] = [];
  const mem =
    app.mem !== undefined && app.mem > 0 ? Math.max(MIN_MEM_MIB, Math.ceil(app.mem)) : DEFAULT_MEM_MIB;
  if (app.mem === undefined || app.mem <= 0)
    notes.push(`mem: none given, each instance is limited to ${DEFAULT_MEM_MIB} MiB (Marathon's default)`);
  const backoff = Math.max(MIN_BACKOFF_SECONDS, app.backoffSeconds ?? MIN_BACKOFF_SECONDS);
  if ((app.backoffSeconds ?? MIN_BACKOFF_SECONDS) < MIN_BACKOFF_SECONDS)
    notes.push(`backoffSeconds: raised to ${MIN_BACKOFF_SECONDS}`);
  return {
    memMiB: mem,
    cpuLimit: Math.max(MIN_CPU_LIMIT, app.cpus ?? 0),
    pidsLimit: PIDS_LIMIT,
    backoffSeconds: backoff,
    notes,
  };
}

/**
 * The app, if its form is valid and the policy allows it; else one
 * PaasboxError naming the first field and listing every problem. Every
 * deploy path calls this before it touches a scheduler.
 */
export function checkApp(json: unknown, source: string, policy: AppPolicy = {}): MarathonApp {
  const form = appProblems(json);
  const refused = policyProblems(json as MarathonApp, policy);
  const seen = new Set(form.map((p) => `${p.path}\0${p.problem}`));
  throwProblems([...form, ...refused.filter((p) => !seen.has(`${p.path}\0${p.problem}`))], source);
  return json as MarathonApp;
}

/** Parse app JSON text and checkApp it. */
export function parseAllowedApp(text: string, source: string, policy: AppPolicy = {}): MarathonApp {
  return parseApp(text, source, (json) => checkApp(json, source, policy));
}

/** A scale to `instances` refused above the ceiling (before any scheduler call). */
export function checkScale(id: string, instances: number, bounds?: Pick<AppBounds, 'maxInstances'>): void {
  if (!Number.isInteger(instances) || instances < 0) {
    throw new PaasboxError(
      `cannot scale ${id} to ${instances} instances`,
      'give a whole number >= 0, e.g. --scale 4',
    );
  }
  if (bounds && instances > bounds.maxInstances) {
    const p = instancesProblem(instances, bounds);
    throw new PaasboxError(`${id}: instances: ${p.problem}`, p.fix);
  }
}
