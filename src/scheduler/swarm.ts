// The app scheduler on Docker swarm mode (the swarm built into Debian's
// docker.io), driven over a Target: each Marathon app JSON becomes a `docker
// service` on the manager (swarm-service.ts says how), scaled, listed,
// destroyed and awaited there. Who is in the swarm is src/swarm/'s.
import { imageInspectArgv, parseImageLine } from '../docker/images.js';
import { PaasboxError } from '../errors.js';
import { checkScale, type AppPolicy } from '../apps/policy.js';
import { normaliseId, type MarathonApp } from '../appspec/app.js';
import { poll } from '../poll.js';
import { swarmFix, swarmRun } from '../swarm/command.js';
import { agentNodes, swarmNodeFacts } from '../swarm/nodes.js';
import { runArgv } from '../target/shell.js';
import type { Target } from '../target/target.js';
import {
  APP_ID_LABEL,
  APP_IMAGE_LABEL,
  marathonToSwarmService,
  pinnedImage,
  swarmServiceName,
} from './swarm-service.js';
import type { AppInstance, AppState, DeployOutcome, Scheduler } from './scheduler.js';

export interface TaskLine {
  ID: string;
  Name: string;
  Node: string;
  DesiredState: string;
  CurrentState: string;
  Error: string;
  Ports: string;
}

/**
 * Host ports of a task from `docker service ps` Ports ("*:32772->8080/tcp, ..."),
 * one per container port: docker lists its IPv4 binding first, then the IPv6
 * one, whose host port differs once its allocators drift apart. Pure.
 */
export function parseTaskPorts(ports: string): number[] {
  const byTarget = new Map<string, number>();
  for (const m of ports.matchAll(/:(\d+)->(\d+\/\w+)/g))
    if (!byTarget.has(m[2]!)) byTarget.set(m[2]!, Number(m[1]));
  return [...byTarget.values()];
}

export class SwarmScheduler implements Scheduler {
  readonly kind = 'swarm' as const;
  readonly where: string;

  constructor(
    readonly manager: Target,
    private readonly opts: { pollMs?: number; policy?: AppPolicy } = {},
  ) {
    this.where = manager.name;
  }

  /**
   * The service of app `id`, if there is one: its mounts' targets. A service
   * of that name that is another app's (ids /a/b and /a-b share a name) or
   * no app's is refused: deploy never takes over what it did not make.
   */
  private async existing(id: string, name: string): Promise<{ mounts: string[] } | undefined> {
    const format = `{{index .Spec.Labels "${APP_ID_LABEL}"}}{{range .Spec.TaskTemplate.ContainerSpec.Mounts}} {{.Target}}{{end}}`;
    const inspect = ['docker', 'service', 'inspect', '--format', format, name];
    const r = await runArgv(this.manager, inspect, { sudo: true, timeoutMs: 60000 });
    if (r.code !== 0) return undefined;
    const [owner = '', ...mounts] = r.stdout.trim().split(/\s+/);
    if (owner !== normaliseId(id)) {
      throw new PaasboxError(
        `the swarm service ${name} is ${owner ? `app ${owner}'s` : "no app's"}, not ${normaliseId(id)}'s`,
        'give the app an id of its own (slashes become dashes in service names)',
      );
    }
    return { mounts };
  }

  /** Whether the swarm has a cluster's agents (nodes labelled AGENT_LABEL by install), where apps then go. */
  async hasWorkers(): Promise<boolean> {
    return (await agentNodes(this.manager)).length > 0;
  }

  /** `version`: the apps API's version of this definition, kept as a service label. */
  async deploy(app: MarathonApp, opts: { version?: string } = {}): Promise<DeployOutcome> {
    // Refused apps are refused before any command runs, the swarm's question included.
    marathonToSwarmService(app, this.opts.policy);
    const [workers, pinned] = await Promise.all([this.hasWorkers(), this.pinned(app)]);
    const svc = marathonToSwarmService(app, this.opts.policy, {
      workers,
      ...(pinned ? { pinnedImage: pinned } : {}),
      ...(opts.version ? { version: opts.version } : {}),
    });
    const existing = await this.existing(app.id, svc.name);
    // An update adds: the mounts the app no longer has are removed (--mount-add alone would keep them).
    const update = existing
      ? [...svc.update.slice(0, -1), ...mountRemovals(existing.mounts, app), svc.name]
      : [];
    await swarmRun(
      this.manager,
      existing ? update : svc.create,
      `docker service ${existing ? 'update' : 'create'} ${svc.name}`,
    );
    return { created: !existing, warnings: svc.warnings };
  }

  /** The app's image by digest or ID as the manager has it (pinnedImage), unless the app forces a pull. */
  private async pinned(app: MarathonApp): Promise<string | undefined> {
    const image = app.container?.docker.image;
    if (!image || app.container?.docker.forcePullImage) return undefined;
    const r = await runArgv(this.manager, imageInspectArgv([image]), { sudo: true, timeoutMs: 30_000 });
    const img = r.code === 0 ? parseImageLine(r.stdout) : undefined;
    return img ? pinnedImage(image, [img.id, ...img.digests].join(' ')) : undefined;
  }

  async scale(id: string, instances: number): Promise<void> {
    checkScale(id, instances, this.opts.policy?.bounds);
    const name = swarmServiceName(id);
    if (!(await this.existing(id, name)))
      throw new PaasboxError(`no app ${id} in the swarm on ${this.manager.name}`, 'deploy it first');
    await swarmRun(
      this.manager,
      ['docker', 'service', 'scale', '--detach', `${name}=${instances}`],
      `docker service scale ${name}`,
    );
  }

  async destroy(id: string): Promise<boolean> {
    const name = swarmServiceName(id);
    if (!(await this.existing(id, name))) return false;
    await swarmRun(this.manager, ['docker', 'service', 'rm', name], `docker service rm ${name}`);
    return true;
  }

  async list(): Promise<AppState[]> {
    const out = await swarmRun(
      this.manager,
      [
        'docker',
        'service',
        'ls',
        '--filter',
        `label=${APP_ID_LABEL}`,
        '--format',
        '{{.Name}}\t{{.Replicas}}\t{{.Image}}',
      ],
      'docker service ls',
    );
    const lines = out.split('\n').filter(Boolean);
    if (!lines.length) return [];
    const names = lines.map((l) => l.split('\t')[0] ?? '');
    const labels = (
      await swarmRun(
        this.manager,
        [
          'docker',
          'service',
          'inspect',
          '--format',
          `{{index .Spec.Labels "${APP_ID_LABEL}"}}\t{{index .Spec.Labels "${APP_IMAGE_LABEL}"}}`,
          ...names,
        ],
        'docker service inspect',
      )
    )
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t'));
    return lines.map((l, i) => {
      const [, replicas = '0/0', image = ''] = l.split('\t');
      const [ready = '0', wanted = '0'] = replicas.split(' ')[0]!.split('/');
      const [id, named] = labels[i] ?? [];
      // The image as the app named it (the service may run it pinned by digest or ID).
      return {
        id: id || `/${names[i]}`,
        instances: Number(wanted),
        ready: Number(ready),
        image: named || image.replace(/@sha256:.*/, ''),
      };
    });
  }

  /**
   * Where app `id`'s service stands: the wanted count, whether an update
   * still rolls, its tasks, and the running ones that are current. Swarm
   * keeps a task with a health check in "starting" until it passes, so a
   * Running task is a healthy one, as Marathon's waitForHealthy means it.
   */
  async snapshot(id: string): Promise<ServiceSnapshot> {
    const name = swarmServiceName(id);
    // The wanted count, and whether an update still rolls (a task of the previous version runs): one inspect.
    const format = '{{.Spec.Mode.Replicated.Replicas}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}';
    const inspect = ['docker', 'service', 'inspect', '--format', format, name];
    const [wantedText = '', updating = ''] = (
      await swarmRun(this.manager, inspect, `docker service inspect ${name}`)
    )
      .trim()
      .split(/\s+/);
    const ps = ['docker', 'service', 'ps', '--no-trunc', '--format', '{{json .}}', name];
    const tasks = (await swarmRun(this.manager, ps, `docker service ps ${name}`))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as TaskLine);
    const current = tasks.filter((t) => t.DesiredState === 'Running');
    const running = current.filter((t) => t.CurrentState.startsWith('Running'));
    // Tasks being stopped (scale down, replaced by an update) still serve until they exit.
    let stopping = tasks.filter(
      (t) => t.DesiredState !== 'Running' && /^(Running|Starting)/.test(t.CurrentState),
    );
    // A lost node never reports its tasks' end: they stay "Running" there, and serve nothing.
    const nodes = await swarmNodeFacts(this.manager);
    stopping = stopping.filter((t) => nodes.get(t.Node)?.state === 'ready');
    const host = (t: TaskLine) => nodes.get(t.Node)?.addr ?? t.Node;
    const instances = running.map((t) => ({
      id: t.ID,
      host: host(t),
      ports: parseTaskPorts(t.Ports),
      healthy: true,
    }));
    return { wanted: Number(wantedText), updating, tasks, current, stopping, instances };
  }

  /** The running, healthy instances of app `id` now. */
  async tasks(id: string): Promise<AppInstance[]> {
    return (await this.snapshot(id)).instances;
  }

  /** Wait until the service runs exactly the wanted number of tasks, none of a previous version. */
  async waitReady(id: string, timeoutMs: number): Promise<AppInstance[]> {
    const name = swarmServiceName(id);
    const opts = {
      what: `app ${id} to be ready`,
      timeoutMs,
      everyMs: this.opts.pollMs ?? 1000,
      fix: `look at \`docker service ps --no-trunc ${name}\` and the task logs on its nodes`,
      // 'user': an app that never gets ready is the app's doing; a failed docker command ends the wait.
      kind: 'user' as const,
      fatal: () => true,
    };
    return poll(opts, async (_, note) => {
      const s = await this.snapshot(id);
      if (settled(s)) return s.instances;
      const fatal = s.tasks.find((t) =>
        /No such image|invalid reference format|pull access denied/i.test(t.Error),
      );
      if (fatal) {
        const problem = `app ${id} cannot start on node ${fatal.Node}: ${fatal.Error}`;
        throw new PaasboxError(problem, swarmFix(fatal.Error), fatal.Error);
      }
      const error = s.tasks.find((t) => t.Error)?.Error;
      const update = s.updating ? ` (update ${s.updating})` : '';
      note(`${s.instances.length}/${s.wanted} running${update}${error ? `, last error: ${error}` : ''}`);
      return undefined;
    });
  }
}

/** Where one app's service stands (SwarmScheduler.snapshot). */
export interface ServiceSnapshot {
  wanted: number;
  /** UpdateStatus.State: '' (never updated), updating, completed, rollback_started, ... */
  updating: string;
  tasks: TaskLine[];
  /** Tasks swarm wants running. */
  current: TaskLine[];
  /** Tasks being replaced or scaled away that still run on a live node. */
  stopping: TaskLine[];
  /** The current tasks that run (and so pass their health check). */
  instances: AppInstance[];
}

/** Every wanted task runs, none is left of a previous version, and no update rolls. Pure. */
export function settled(s: ServiceSnapshot): boolean {
  const rolling = s.updating === 'updating' || s.updating === 'rollback_started';
  return (
    s.instances.length === s.wanted && s.current.length === s.wanted && s.stopping.length === 0 && !rolling
  );
}

/** `--mount-rm TARGET` for each mount of the running service that `app` no longer has. Pure. */
export function mountRemovals(running: string[], app: MarathonApp): string[] {
  const wanted = new Set((app.container?.volumes ?? []).map((v) => v.containerPath));
  return running.filter((t) => !wanted.has(t)).flatMap((t) => ['--mount-rm', t]);
}
