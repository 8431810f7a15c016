// Scheduler backed by Marathon's REST API: real Marathon on Mesos, or
// paasbox's apps API (src/api/), which speaks the same API over Docker swarm.
// Real Marathon gets the app with the policy's task bounds and spread added
// here; the apps API gets the app as written (it applies the bounds and the
// placement itself, and judges the app again) plus the operator's policy
// exceptions (allow=…), and takes a team's token as the login.
import { checkApp, taskBounds, type AppAllowances, type AppPolicy } from '../apps/policy.js';
import { domainWarnings, withRouteTags } from '../apps/domains.js';
import { normaliseId, type MarathonApp, type MarathonConstraint } from '../appspec/app.js';
import { MarathonClient } from '../marathon/client.js';
import type { AppInstance, AppState, DeployOutcome, Scheduler } from './scheduler.js';
import { APP_ID_LABEL, defaultServiceName } from './swarm-service.js';

/**
 * Instances spread evenly over the agents' hostnames (Marathon's GROUP_BY; UNIQUE would cap them at one per
 * agent).
 */
export const SPREAD_CONSTRAINT: MarathonConstraint = ['hostname', 'GROUP_BY'];

/**
 * The app as paasbox sends it: spread over the agents unless the app gives
 * constraints of its own (they are the user's placement, kept as they are).
 * Only agents run the Mesos agent when a cluster has any, so Marathon places
 * nothing on the masters by itself. Pure.
 */
export function withSpread(app: MarathonApp): MarathonApp {
  if (app.constraints?.length) return app;
  return { ...app, constraints: [[...SPREAD_CONSTRAINT]] };
}

/**
 * The app as Marathon runs it under the policy: the task bounds (memory,
 * restart delay, a pids limit), the app id as the container label the
 * registrator judges names by, the name deploy claimed, and the edge's route
 * tags (public names, redirect, HSTS) in SERVICE_TAGS. Pure.
 */
export function withBounds(app: MarathonApp): MarathonApp {
  const b = taskBounds(app);
  const docker = app.container?.docker;
  const parameters = [
    ...(docker?.parameters ?? []),
    { key: 'pids-limit', value: String(b.pidsLimit) },
    { key: 'label', value: `${APP_ID_LABEL}=${normaliseId(app.id)}` },
  ];
  const env = withRouteTags(app, { SERVICE_NAME: defaultServiceName(app.id), ...(app.env ?? {}) });
  return {
    ...app,
    mem: b.memMiB,
    backoffSeconds: b.backoffSeconds,
    env,
    ...(app.container && docker
      ? { container: { ...app.container, docker: { ...docker, parameters } } }
      : {}),
  };
}

/**
 * The operator's exceptions as the apps API's `allow` names: deploy's
 * --allow-… flags without `--allow-` (hostMounts → host-mounts). Pure.
 */
export function allowNames(allow: AppAllowances = {}): string[] {
  return Object.entries(allow)
    .filter(([, on]) => on === true)
    .map(([k]) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
}

export class MarathonScheduler implements Scheduler {
  readonly kind = 'marathon' as const;
  readonly where: string;
  private readonly pending = new Map<string, string>();

  constructor(
    readonly client: MarathonClient,
    private readonly policy: AppPolicy = {},
    /** The server is paasbox's apps API, not real Marathon. */
    private readonly appsApi = false,
  ) {
    this.where = client.baseUrl;
  }

  async deploy(app: MarathonApp): Promise<DeployOutcome> {
    // The policy again, as the swarm back-end does: no path to Marathon skips it.
    checkApp(app, `app ${String((app as { id?: unknown }).id)}`, this.policy);
    const r = this.appsApi
      ? await this.client.deployApp(app, { allow: allowNames(this.policy.allow) })
      : await this.client.deployApp(withSpread(withBounds(app)));
    if (r.deploymentId) this.pending.set(normaliseId(app.id), r.deploymentId);
    return { created: r.created, warnings: domainWarnings(app) };
  }

  async scale(id: string, instances: number): Promise<void> {
    const r = await this.client.scaleApp(id, instances);
    this.pending.set(normaliseId(id), r.deploymentId);
  }

  async destroy(id: string): Promise<boolean> {
    const r = await this.client.destroyApp(id);
    if (r) await this.client.waitForDeployment(r.deploymentId);
    return r !== undefined;
  }

  async list(): Promise<AppState[]> {
    return (await this.client.listApps()).map((a) => ({
      id: a.id,
      instances: a.instances ?? 1,
      ready: (a.healthChecks ?? []).length ? (a.tasksHealthy ?? 0) : (a.tasksRunning ?? 0),
      ...(a.container?.docker.image ? { image: a.container.docker.image } : {}),
    }));
  }

  async waitReady(id: string, timeoutMs: number): Promise<AppInstance[]> {
    const until = Date.now() + timeoutMs;
    const dep = this.pending.get(normaliseId(id));
    if (dep) {
      await this.client.waitForDeployment(dep, { timeoutMs });
      this.pending.delete(normaliseId(id));
    }
    const tasks = await this.client.waitForHealthy(id, { timeoutMs: Math.max(1000, until - Date.now()) });
    return tasks.map((t) => ({ id: t.id, host: t.host, ports: t.ports, healthy: true }));
  }
}
