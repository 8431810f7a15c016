// Marathon's view of the apps that swarm runs: each app's service, read with
// one `docker service ls` and one `docker service inspect`, joined with the
// definition the apps API stored for its version (versions.ts), gives the
// app, its tasks and its deployments in Marathon's JSON shapes. Nothing is
// kept here: every master answers from swarm and Consul alone.
import { createHash } from 'node:crypto';
import { normaliseId, portMappingsOf, type MarathonApp } from '../appspec/app.js';
import type { ConsulClient } from '../consul/client.js';
import { swarmRun } from '../swarm/command.js';
import {
  APP_ID_LABEL,
  APP_IMAGE_LABEL,
  APP_VERSION_LABEL,
  defaultServiceName,
  swarmServiceName,
} from '../scheduler/swarm-service.js';
import { settled, SwarmScheduler, type ServiceSnapshot } from '../scheduler/swarm.js';
import type { AppPolicy } from '../apps/policy.js';
import type { Target } from '../target/target.js';
import type { VersionStore } from './versions.js';

/** One app's service as swarm has it. */
export interface AppService {
  id: string;
  name: string;
  serviceId: string;
  /** Spec.Version.Index: it changes with every update of the service. */
  index: number;
  wanted: number;
  /** How many tasks run now (`docker service ls`). */
  running: number;
  updating: string;
  version?: string;
  image: string;
  createdAt: string;
  updatedAt: string;
  /** The service has a previous spec to roll back to. */
  hasPrevious: boolean;
}

interface InspectedService {
  ID: string;
  Version: { Index: number };
  CreatedAt: string;
  UpdatedAt: string;
  Spec: {
    Name: string;
    Labels?: Record<string, string>;
    Mode?: { Replicated?: { Replicas?: number } };
    TaskTemplate?: { ContainerSpec?: { Image?: string } };
  };
  PreviousSpec?: unknown;
  UpdateStatus?: { State?: string };
}

/**
 * Docker's times (nanoseconds) as Marathon writes them (milliseconds): its
 * clients parse no more than microseconds. Pure.
 */
export function isoMs(t: string): string {
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? t : new Date(ms).toISOString();
}

/** A deployment id from a service's ID and spec index: any master gives the same one. Pure. */
export function deploymentId(serviceId: string, index: number): string {
  const h = createHash('sha256').update(`${serviceId}:${index}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** `docker service inspect` JSON → the apps' services (others are skipped). Pure. */
export function parseServices(inspectJson: string, replicas: Map<string, string>): AppService[] {
  const rows = JSON.parse(inspectJson || '[]') as InspectedService[];
  const out: AppService[] = [];
  for (const r of rows) {
    const labels = r.Spec.Labels ?? {};
    const id = labels[APP_ID_LABEL];
    if (!id) continue;
    const [running = '0'] = (replicas.get(r.Spec.Name) ?? '0/0').split('/');
    const version = labels[APP_VERSION_LABEL];
    out.push({
      id,
      name: r.Spec.Name,
      serviceId: r.ID,
      index: r.Version.Index,
      wanted: r.Spec.Mode?.Replicated?.Replicas ?? 0,
      running: Number(running) || 0,
      updating: r.UpdateStatus?.State ?? '',
      ...(version ? { version } : {}),
      image: labels[APP_IMAGE_LABEL] ?? (r.Spec.TaskTemplate?.ContainerSpec?.Image ?? '').replace(/@.*/, ''),
      createdAt: isoMs(r.CreatedAt),
      updatedAt: isoMs(r.UpdatedAt),
      hasPrevious: r.PreviousSpec !== undefined && r.PreviousSpec !== null,
    });
  }
  return out;
}

export interface MarathonTaskView {
  id: string;
  appId: string;
  host: string;
  ports: number[];
  slaveId: string;
  state: 'TASK_RUNNING';
  stagedAt: string;
  startedAt: string;
  version: string;
  healthCheckResults: { alive: boolean; taskId: string; consecutiveFailures: number }[];
}

export class SwarmApps {
  /** The scheduler for reads and removals; deploys get one holding their request's policy. */
  private readonly reader: SwarmScheduler;

  constructor(
    readonly manager: Target,
    private readonly versions: VersionStore,
    private readonly consul: ConsulClient,
  ) {
    this.reader = new SwarmScheduler(manager);
  }

  /** The swarm scheduler judging apps by `policy` (the stack's bounds and the operator's allowances). */
  scheduler(policy?: AppPolicy): SwarmScheduler {
    return policy ? new SwarmScheduler(this.manager, { policy }) : this.reader;
  }

  /** Every app's service (or those named), with their running counts. */
  async services(names?: string[]): Promise<AppService[]> {
    const ls = [
      'docker',
      'service',
      'ls',
      '--filter',
      `label=${APP_ID_LABEL}`,
      '--format',
      '{{.Name}}\t{{.Replicas}}',
    ];
    const lines = (await swarmRun(this.manager, ls, 'docker service ls')).split('\n').filter(Boolean);
    const replicas = new Map(lines.map((l) => l.split('\t') as [string, string]));
    const wanted = [...replicas.keys()].filter((n) => !names || names.includes(n));
    if (!wanted.length) return [];
    const inspect = ['docker', 'service', 'inspect', ...wanted];
    return parseServices(await swarmRun(this.manager, inspect, 'docker service inspect'), replicas);
  }

  async service(id: string): Promise<AppService | undefined> {
    const s = (await this.services([swarmServiceName(id)])).find((x) => x.id === normaliseId(id));
    return s;
  }

  /** The definition behind a service: the stored version, else what swarm shows of it. */
  async definition(s: AppService): Promise<MarathonApp> {
    const stored = s.version ? await this.versions.get(s.id, s.version) : undefined;
    return (
      stored ?? {
        id: s.id,
        instances: s.wanted,
        container: { type: 'DOCKER', docker: { image: s.image } },
      }
    );
  }

  /**
   * Whether the service's change still runs: an update rolls, or not every
   * wanted task runs, or not every one is registered and passing in Consul
   * (routed), for an app with ports.
   */
  async inProgress(s: AppService, app: MarathonApp): Promise<boolean> {
    const snap: ServiceSnapshot = await this.reader.snapshot(s.id);
    if (!settled(snap)) return true;
    const name = app.env?.SERVICE_NAME ?? defaultServiceName(s.id);
    const hasPorts = portMappingsOf(app).length > 0;
    if (!hasPorts || app.container?.docker.network === 'HOST' || s.wanted === 0) return false;
    const passing = await this.consul.healthService(name, { passing: true });
    const hosts = new Set(snap.instances.map((i) => i.host));
    return passing.filter((e) => hosts.has(e.Service.Address) || hosts.has(e.Node.Address)).length < s.wanted;
  }

  /** The app in Marathon's shape (GET /v2/apps/{id}). */
  async view(s: AppService, opts: { deployments?: boolean } = {}): Promise<Record<string, unknown>> {
    const app = await this.definition(s);
    const busy = opts.deployments === false ? false : await this.inProgress(s, app);
    const version = s.version ?? s.updatedAt;
    return {
      ...app,
      id: s.id,
      instances: s.wanted,
      version,
      versionInfo: { lastConfigChangeAt: version, lastScalingAt: version },
      tasksStaged: Math.max(0, s.wanted - s.running),
      tasksRunning: s.running,
      tasksHealthy: s.running,
      tasksUnhealthy: 0,
      deployments: busy ? [{ id: deploymentId(s.serviceId, s.index) }] : [],
    };
  }

  /** The running tasks of one app in Marathon's shape. */
  async tasks(s: AppService): Promise<MarathonTaskView[]> {
    const version = s.version ?? s.updatedAt;
    return (await this.reader.tasks(s.id)).map((t) => ({
      id: `${s.name}.${t.id}`,
      appId: s.id,
      host: t.host,
      ports: t.ports,
      slaveId: t.host,
      state: 'TASK_RUNNING',
      stagedAt: s.updatedAt,
      startedAt: s.updatedAt,
      version,
      healthCheckResults: [{ alive: t.healthy, taskId: `${s.name}.${t.id}`, consecutiveFailures: 0 }],
    }));
  }

  /** The deployments still running, in Marathon's shape (GET /v2/deployments). */
  async deployments(only?: (s: AppService) => boolean): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (const s of await this.services()) {
      if (only && !only(s)) continue;
      const app = await this.definition(s);
      if (!(await this.inProgress(s, app))) continue;
      const action = s.updating === 'rollback_started' ? 'RollbackApplication' : 'ScaleApplication';
      out.push({
        id: deploymentId(s.serviceId, s.index),
        version: s.version ?? s.updatedAt,
        affectedApps: [s.id],
        steps: [{ actions: [{ action, app: s.id }] }],
        currentActions: [{ action, app: s.id, readinessCheckResults: [] }],
        currentStep: 1,
        totalSteps: 1,
      });
    }
    return out;
  }

  /** The app's change (by deployment id) rolled back: swarm's previous spec, or a new app removed. */
  async rollback(s: AppService): Promise<'rolled-back' | 'removed'> {
    if (s.hasPrevious) {
      const argv = ['docker', 'service', 'rollback', '--detach', s.name];
      await swarmRun(this.manager, argv, `docker service rollback ${s.name}`);
      return 'rolled-back';
    }
    await swarmRun(this.manager, ['docker', 'service', 'rm', s.name], `docker service rm ${s.name}`);
    return 'removed';
  }

  /** A rolling restart, gated by health as every update is (update order and monitor). */
  async restart(s: AppService): Promise<void> {
    const argv = ['docker', 'service', 'update', '--detach', '--force', s.name];
    await swarmRun(this.manager, argv, `docker service update --force ${s.name}`);
  }

  /** Scale, and mark the service with the version that records the new count. */
  async scale(s: AppService, instances: number, version: string): Promise<void> {
    const argv = [
      'docker',
      'service',
      'update',
      '--detach',
      '--replicas',
      String(instances),
      '--label-add',
      `${APP_VERSION_LABEL}=${version}`,
      s.name,
    ];
    await swarmRun(this.manager, argv, `docker service update --replicas ${s.name}`);
  }

  /** `docker service logs` of the app: every instance, each line prefixed with it. */
  async logs(
    s: AppService,
    opts: { since?: string; tail?: number; follow?: boolean; signal?: AbortSignal },
    onOutput: (chunk: Buffer) => void,
  ): Promise<void> {
    // No --timestamps: docker would put the time first; each line starts with its instance.
    const argv = ['docker', 'service', 'logs', '--no-trunc'];
    if (opts.since) argv.push('--since', opts.since);
    if (opts.tail !== undefined) argv.push('--tail', String(opts.tail));
    if (opts.follow) argv.push('--follow');
    argv.push(s.name);
    await swarmRun(this.manager, argv, `docker service logs ${s.name}`, {
      timeoutMs: opts.follow ? 24 * 3600_000 : 60_000,
      onOutput,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }
}
