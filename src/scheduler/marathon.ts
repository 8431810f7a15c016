// Scheduler backed by Marathon's REST API.
import { normaliseId, type MarathonApp, type MarathonConstraint } from '../marathon/app.js';
import { MarathonClient } from '../marathon/client.js';
import type { AppInstance, AppState, DeployOutcome, Scheduler } from './scheduler.js';

/** Instances spread evenly over the agents' hostnames (Marathon's GROUP_BY; UNIQUE would cap them at one per agent). */
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

export class MarathonScheduler implements Scheduler {
  readonly kind = 'marathon' as const;
  readonly where: string;
  private readonly pending = new Map<string, string>();

  constructor(readonly client: MarathonClient) {
    this.where = client.baseUrl;
  }

  async deploy(app: MarathonApp): Promise<DeployOutcome> {
    const r = await this.client.deployApp(withSpread(app));
    if (r.deploymentId) this.pending.set(normaliseId(app.id), r.deploymentId);
    return { created: r.created, warnings: [] };
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
