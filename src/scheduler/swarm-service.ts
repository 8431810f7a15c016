// Pure translation of a Marathon app definition into `docker service` argv for
// Docker swarm mode. Swarm's ingress routing mesh needs IPVS, which the kernel
// of docker-in-docker hosts here lacks (measured: ingress-published ports never
// answer), and Marathon's model is per-host ports anyway: so every port is
// published in host mode, and hostPort 0 leaves the port to Docker (an
// ephemeral one, like Mesos picking from its range). Registrator sees those
// bindings and registers each task in Consul under SERVICE_NAME.
import { shq as shellWord } from '../target/shell.js';
import { checkApp, taskBounds, type AppPolicy } from '../apps/policy.js';
import { domainWarnings, withRouteTags } from '../apps/domains.js';
import {
  normaliseId,
  portMappingsOf,
  type MarathonApp,
  type MarathonHealthCheck,
  type MarathonPortMapping,
} from '../appspec/app.js';
import { AGENT_LABEL } from '../swarm/nodes.js';
import { inStackRegistry, REGISTRY_LOGIN_DIR } from '../secrets/registry.js';

export interface SwarmService {
  /** Service name: the app id without the leading slash, slashes → dashes. */
  name: string;
  /** Full argv for creating it: ['docker', 'service', 'create', ...]. */
  create: string[];
  /** Full argv for bringing an existing service to this definition. */
  update: string[];
  /** Parts of the definition swarm cannot honour (reported, not fatal). */
  warnings: string[];
}

/** Label carrying the Marathon app id, so list() maps services back to apps. */
export const APP_ID_LABEL = 'paasbox.marathon.id';
export const APP_IMAGE_LABEL = 'paasbox.marathon.image';
/** The Marathon version (an ISO time) the apps API gave this definition (src/api/versions.ts). */
export const APP_VERSION_LABEL = 'paasbox.marathon.version';

/** What the swarm has that shapes an app's service: where it may run, which image. */
export interface SwarmFacts {
  /** The swarm has a cluster's agents (nodes install labelled AGENT_LABEL): keep apps off the masters. */
  workers?: boolean;
  /** The app's image as the manager has it, by digest or ID (pinnedImage): tasks then skip the registry. */
  pinnedImage?: string;
  /** The definition's version, kept as APP_VERSION_LABEL (the apps API's; none from deploy over SSH). */
  version?: string;
}

/**
 * The constraint that keeps apps on the agents: the label, not node.role==worker,
 * so a swarm whose workers install did not make agents (a manager and a worker
 * joined by `deploy --worker`) places apps as before.
 */
export const WORKER_CONSTRAINT = `node.labels.${AGENT_LABEL.key}==${AGENT_LABEL.value}`;

/**
 * The placement paasbox adds for `placement`: on a swarm with workers, the
 * worker constraint. Swarm's scheduler already spreads a service's replicas
 * over the nodes it may use, fewest tasks of that service first, so
 * spreading needs no flag.
 */
export function defaultPlacement(_app: MarathonApp, placement: SwarmFacts): string[] {
  // Always, with the app's own constraints too: an app never lands on a master
  // (`["hostname", "IS", "master1"]` then places it nowhere, not on the master).
  return placement.workers ? [WORKER_CONSTRAINT] : [];
}

export function swarmServiceName(id: string): string {
  return normaliseId(id).slice(1).replace(/\//g, '-');
}

/**
 * The Consul name of an app without SERVICE_NAME: the registrator registers only DNS labels, so dots become
 * dashes.
 */
export function defaultServiceName(id: string): string {
  return swarmServiceName(id).replace(/\./g, '-');
}

/**
 * The argv for `app`. It checks first (the form and the app policy,
 * src/apps/policy.ts) and throws a PaasboxError before any argv exists, so a
 * refused app never reaches a command. `policy` holds what the operator
 * allowed (deploy's --allow-… flags) and the stack's bounds.
 */
export function marathonToSwarmService(
  app: MarathonApp,
  policy: AppPolicy = {},
  where: SwarmFacts = {},
): SwarmService {
  checkApp(app, `app ${String((app as { id?: unknown }).id)}`, policy);
  const name = swarmServiceName(app.id);
  const warnings: string[] = [];
  const common: string[] = []; // flags with the same form for create and update
  const instances = app.instances ?? 1;
  const mappings = portMappingsOf(app);
  const hostNetwork = app.container?.docker.network === 'HOST';

  // Environment: the app's, plus what registrator needs to name, tag (the edge's route tags) and check it.
  const env: Record<string, string> = withRouteTags(app, { ...(app.env ?? {}) });
  warnings.push(...domainWarnings(app));
  if (env.SERVICE_NAME === undefined) {
    env.SERVICE_NAME = defaultServiceName(app.id);
    if (env.SERVICE_NAME.length > 63)
      warnings.push(
        `env.SERVICE_NAME: "${env.SERVICE_NAME}" (from the id) is longer than a DNS label; the registrator will not register it: set env.SERVICE_NAME`,
      );
  }
  const httpCheck = (app.healthChecks ?? []).find(
    (h) => (h.protocol ?? 'HTTP') === 'HTTP' || h.protocol === 'MESOS_HTTP',
  );
  if (httpCheck && env.SERVICE_CHECK_HTTP === undefined) env.SERVICE_CHECK_HTTP = httpCheck.path ?? '/';
  if (httpCheck?.intervalSeconds && env.SERVICE_CHECK_INTERVAL === undefined)
    env.SERVICE_CHECK_INTERVAL = `${httpCheck.intervalSeconds}s`;

  const labels: Record<string, string> = { ...(app.labels ?? {}), [APP_ID_LABEL]: normaliseId(app.id) };
  // The name the app gave, for listings, where the service runs it pinned by digest or ID.
  if (app.container?.docker.image) labels[APP_IMAGE_LABEL] = app.container.docker.image;
  if (where.version) labels[APP_VERSION_LABEL] = where.version;

  // Bounds on every task (the app policy): memory (Marathon's 128 MiB when
  // none is given), CPU, processes, and a floor under the restart delay.
  const bounds = taskBounds(app);
  warnings.push(...bounds.notes);
  common.push('--limit-memory', `${bounds.memMiB}M`, '--limit-pids', String(bounds.pidsLimit));
  // Marathon's `cpus` is a share on Mesos (cpu.shares); swarm has no shares,
  // only a cap. A cap of 0.1 CPU throttled the app's start and its healthcheck
  // by seconds, so the cap is at least one core: one task never takes the
  // whole host. `parameters: cpus` still caps lower.
  common.push('--limit-cpu', String(bounds.cpuLimit));
  if (app.disk) warnings.push(`disk: ${app.disk} MiB is not enforced by swarm`);
  if (app.user) common.push('--user', app.user);

  // Restart forever like Marathon, with its backoff as the delay.
  common.push('--restart-condition', 'any', '--restart-delay', `${bounds.backoffSeconds}s`);

  // Health: the first check becomes the container health check; swarm keeps a
  // task "starting" until it passes, so Running means healthy as in Marathon.
  const hc = (app.healthChecks ?? [])[0];
  if (hc) common.push(...healthFlags(hc, mappings, app));
  if ((app.healthChecks ?? []).length > 1)
    warnings.push('healthChecks: only the first check is used by swarm');

  common.push(...updateFlags(app, instances));

  // Placement constraints.
  const placement: string[] = [];
  let maxPerNode: number | undefined;
  for (const [field, op, value] of app.constraints ?? []) {
    const attr = field === 'hostname' ? 'node.hostname' : `node.labels.${field}`;
    if (op === 'UNIQUE' && field === 'hostname') maxPerNode = 1;
    else if (op === 'MAX_PER' && field === 'hostname' && value && /^\d+$/.test(value))
      maxPerNode = Number(value);
    else if ((op === 'CLUSTER' || op === 'IS') && value !== undefined) placement.push(`${attr}==${value}`);
    else
      warnings.push(
        `constraints: [${[field, op, value].filter((x) => x !== undefined).join(', ')}] has no swarm equivalent and is ignored`,
      );
  }

  placement.push(...defaultPlacement(app, where));

  const create: string[] = [
    'docker',
    'service',
    'create',
    '--detach',
    '--name',
    name,
    '--replicas',
    String(instances),
  ];
  const update: string[] = ['docker', 'service', 'update', '--detach', '--replicas', String(instances)];
  for (const [k, v] of Object.entries(env)) {
    create.push('--env', `${k}=${v}`);
    update.push('--env-add', `${k}=${v}`);
  }
  for (const [k, v] of Object.entries(labels)) {
    create.push('--label', `${k}=${v}`, '--container-label', `${k}=${v}`);
    update.push('--label-add', `${k}=${v}`, '--container-label-add', `${k}=${v}`);
  }
  for (const c of placement) {
    create.push('--constraint', c);
    update.push('--constraint-add', c);
  }
  if (maxPerNode !== undefined) {
    create.push('--replicas-max-per-node', String(maxPerNode));
    update.push('--replicas-max-per-node', String(maxPerNode));
  }

  if (hostNetwork) {
    create.push('--network', 'host');
    if (mappings.length)
      warnings.push('portMappings: ignored with network HOST (the app binds host ports itself)');
  } else {
    for (const m of mappings) {
      for (const p of publishSpecs(m)) {
        create.push('--publish', p);
        update.push('--publish-add', p);
      }
      if (m.servicePort)
        warnings.push(
          `servicePort ${m.servicePort}: swarm has no service ports; HAProxy routes by name instead`,
        );
    }
  }
  if (app.ports?.length && !mappings.length && !hostNetwork)
    warnings.push('ports: without portMappings the app is not published (use container.portMappings)');

  for (const v of app.container?.volumes ?? []) {
    // validateApp refused commas, quotes and control characters in both paths:
    // each is one field of this comma-separated spec.
    const mount = `type=bind,source=${v.hostPath},target=${v.containerPath}${v.mode === 'RO' ? ',readonly' : ''}`;
    create.push('--mount', mount);
    update.push('--mount-add', mount);
  }

  // Without a registry, resolving the image digest only costs a timeout.
  if (!app.container?.docker.forcePullImage) {
    create.push('--no-resolve-image');
    update.push('--no-resolve-image');
  }

  create.push(...common);
  update.push(...common);

  // After the app's own flags: a memory or cpus parameter is the more specific
  // wish and, later on the command line, wins over mem/cpus.
  for (const p of app.container?.docker.parameters ?? []) {
    const flag = parameterFlag(p.key, p.value);
    if (flag) {
      create.push(...flag.create);
      update.push(...flag.update);
    } else
      warnings.push(
        `container.docker.parameters: "${p.key}" has no docker service equivalent and is ignored`,
      );
  }

  const image =
    (!app.container?.docker.forcePullImage && where.pinnedImage) ||
    app.container?.docker.image ||
    'paasbox/debian:bookworm';
  if (!app.container) warnings.push('no container: the cmd runs in paasbox/debian:bookworm');
  // The stack's registry (paasbox push): the manager's login for it (docker --config) goes with the task.
  if (inStackRegistry(image))
    for (const argv of [create, update]) {
      argv.splice(1, 0, '--config', REGISTRY_LOGIN_DIR);
      argv.push('--with-registry-auth');
    }
  // "--" ends the options: the image (and the command after it) is never read
  // as a flag, whatever slipped past validation.
  create.push('--', image);
  update.push('--image', image);
  if (app.cmd) {
    create.push('sh', '-c', app.cmd);
    update.push('--args', `sh -c ${shellWord(app.cmd)}`);
  } else if (app.args?.length) {
    create.push(...app.args);
    update.push('--args', app.args.map(shellWord).join(' '));
  }
  update.push(name);
  return { name, create, update, warnings };
}

/**
 * The image to run when the app does not force a pull, from the manager's
 * `docker image inspect --format '{{.Id}}{{range .RepoDigests}} {{.}}{{end}}'`:
 * its registry digest (repo@sha256:..., still pullable by a node that lacks
 * it), else its ID (built or loaded here: no registry has it). A swarm task
 * given a tag asks the registry first, whatever the node has: offline that is
 * a DNS timeout (5 s for some of 20 tasks), online a round trip per task.
 * Undefined when the manager lacks the image: the tag, as given.
 */
export function pinnedImage(image: string, inspected: string): string | undefined {
  const [id, ...digests] = inspected.trim().split(/\s+/);
  if (!id || !/^sha256:[0-9a-f]{64}$/.test(id)) return undefined;
  // The repository is the reference without its tag or digest (a registry's host:port stays).
  const repo = image.replace(/@.*$/, '').replace(/:[^:/]*$/, '');
  const withHub = (r: string) => (r.includes('/') ? r : `library/${r}`);
  return digests.find((d) => [repo, `docker.io/${withHub(repo)}`].includes(d.replace(/@.*$/, ''))) ?? id;
}

/** --publish values for a port mapping: host mode; published only when a hostPort is fixed. */
export function publishSpecs(m: MarathonPortMapping): string[] {
  const protocols = (m.protocol ?? 'tcp').split(',');
  return protocols.map((proto) => {
    const parts = ['mode=host', `target=${m.containerPort}`];
    if (m.hostPort) parts.push(`published=${m.hostPort}`);
    parts.push(`protocol=${proto}`);
    return parts.join(',');
  });
}

/** The health check as `--health-*` flags: HTTP/TCP probes run inside the container. */
export function healthFlags(
  hc: MarathonHealthCheck,
  mappings: MarathonPortMapping[],
  app: MarathonApp,
): string[] {
  const proto = hc.protocol ?? 'HTTP';
  const mapping = mappings[hc.portIndex ?? 0];
  const port = hc.port ?? mapping?.containerPort ?? app.ports?.[hc.portIndex ?? 0] ?? 0;
  const timeout = hc.timeoutSeconds ?? 20;
  let cmd: string;
  if (proto === 'COMMAND') cmd = hc.command?.value ?? 'true';
  else if (proto === 'TCP') cmd = tcpProbe(port, timeout);
  else cmd = httpProbe(port, hc.path ?? '/', timeout);
  return [
    '--health-cmd',
    cmd,
    '--health-interval',
    `${hc.intervalSeconds ?? 60}s`,
    '--health-timeout',
    `${timeout}s`,
    '--health-retries',
    String(Math.max(1, hc.maxConsecutiveFailures ?? 3)),
    '--health-start-period',
    `${hc.gracePeriodSeconds ?? 300}s`,
  ];
}

/**
 * An HTTP probe that works in most images: curl, else wget, else bash's
 * /dev/tcp, else python3. Any HTTP status 200-399 is healthy, as in Marathon.
 * bash comes before python3: the probe runs every interval in every instance,
 * and once more on a new instance's way to routing (the registrator), where a
 * python3 start costs ~60 ms of CPU and bash ~5.
 */
export function httpProbe(port: number, path: string, timeoutS: number): string {
  const url = `http://127.0.0.1:${port}${path}`;
  const py = `import urllib.request as u; u.urlopen("${url}", timeout=${timeoutS})`;
  // The path is printf's argument, never its format; Docker's --health-timeout bounds a silent server.
  const bash = `exec 3<>/dev/tcp/127.0.0.1/${port} && printf 'GET %s HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' ${shellWord(path)} >&3 && head -n 1 <&3 | grep -q '^HTTP/[0-9.]* [23][0-9][0-9]'`;
  return [
    `if command -v curl >/dev/null 2>&1; then curl -fsS -o /dev/null -m ${timeoutS} ${shellWord(url)};`,
    `elif command -v wget >/dev/null 2>&1; then wget -q -O /dev/null -T ${timeoutS} ${shellWord(url)};`,
    `elif command -v bash >/dev/null 2>&1; then bash -c ${shellWord(bash)};`,
    `else python3 -c ${shellWord(py)}; fi`,
  ].join(' ');
}

export function tcpProbe(port: number, timeoutS: number): string {
  const py = `import socket; socket.create_connection(("127.0.0.1", ${port}), ${timeoutS}).close()`;
  return `if command -v python3 >/dev/null 2>&1; then python3 -c ${shellWord(py)}; else bash -c ${shellWord(`</dev/tcp/127.0.0.1/${port}`)}; fi`;
}

/** Marathon's upgradeStrategy as swarm rolling-update flags. */
export function updateFlags(app: MarathonApp, instances: number): string[] {
  const minHealthy = app.upgradeStrategy?.minimumHealthCapacity ?? 1;
  const overCapacity = app.upgradeStrategy?.maximumOverCapacity ?? 1;
  const n = Math.max(1, instances);
  // Extra capacity allowed: start new tasks before stopping old ones, that many at once.
  // None allowed: stop-first, as many at once as may be down.
  const order = overCapacity > 0 ? 'start-first' : 'stop-first';
  const parallelism =
    overCapacity > 0
      ? Math.max(1, Math.floor(n * overCapacity))
      : Math.max(1, Math.floor(n * (1 - minHealthy)));
  return [
    '--update-order',
    order,
    '--update-parallelism',
    String(parallelism),
    '--update-failure-action',
    'rollback',
  ];
}

function parameterFlag(key: string, value: string): { create: string[]; update: string[] } | undefined {
  switch (key) {
    case 'label':
      return { create: ['--container-label', value], update: ['--container-label-add', value] };
    case 'env':
    case 'e':
      return { create: ['--env', value], update: ['--env-add', value] };
    case 'init':
      return value === 'true' ? { create: ['--init'], update: ['--init'] } : undefined;
    case 'hostname':
    case 'user':
    case 'workdir':
    case 'stop-signal':
    case 'log-driver':
      return { create: [`--${key}`, value], update: [`--${key}`, value] };
    case 'log-opt':
      return { create: ['--log-opt', value], update: ['--log-opt', value] };
    case 'memory':
      return { create: ['--limit-memory', value], update: ['--limit-memory', value] };
    case 'cpus':
      return { create: ['--limit-cpu', value], update: ['--limit-cpu', value] };
    case 'dns':
      return { create: ['--dns', value], update: ['--dns-add', value] };
    case 'add-host':
      return { create: ['--host', value], update: ['--host-add', value] };
    default:
      return undefined;
  }
}
