// Marathon's event stream (GET /v2/events) from swarm's own: `docker events`
// for the apps' services and containers, each mapped to the Marathon event it
// means (a deployment started, succeeded or failed; an app removed; a task
// running or gone; a health check's verdict). Nothing is buffered: a client
// sees what happens while it listens, on whichever master it asked.
import { APP_ID_LABEL } from '../scheduler/swarm-service.js';
import { swarmRun } from '../swarm/command.js';
import type { Target } from '../target/target.js';

export interface MarathonEventOut {
  event: string;
  data: Record<string, unknown>;
}

interface DockerEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  time?: number;
  timeNano?: number;
}

/**
 * One `docker events` line → the Marathon event, if it means one. Service
 * events name the service; `appOf` maps a service name to its app id (the
 * service's label). Pure but for appOf.
 */
export function marathonEvent(
  e: DockerEvent,
  appOf: (service: string) => string | undefined,
): MarathonEventOut | undefined {
  const attrs = e.Actor?.Attributes ?? {};
  const timestamp = new Date((e.time ?? 0) * 1000).toISOString();
  const out = (eventType: string, extra: Record<string, unknown>): MarathonEventOut => ({
    event: eventType,
    data: { eventType, timestamp, ...extra },
  });
  if (e.Type === 'service') {
    // A service first seen at its removal is gone before it can be asked: named by its service name.
    const appId =
      appOf(attrs.name ?? '') ?? (e.Action === 'remove' && attrs.name ? `/${attrs.name}` : undefined);
    if (!appId) return undefined;
    const plan = { id: e.Actor?.ID ?? '', affectedApps: [appId] };
    if (e.Action === 'remove') return out('app_terminated_event', { appId });
    const state = attrs['updatestate.new'];
    if (state === 'completed') return out('deployment_success', { id: plan.id, plan });
    if (state === 'rollback_completed' || state === 'paused')
      return out('deployment_failed', { id: plan.id, plan });
    if (e.Action === 'create' || e.Action === 'update') return out('deployment_info', { plan });
    return undefined;
  }
  if (e.Type === 'container') {
    const appId = attrs[APP_ID_LABEL];
    if (!appId) return undefined;
    const taskId = attrs['com.docker.swarm.task.name'] ?? e.Actor?.ID ?? '';
    if (e.Action === 'start')
      return out('status_update_event', { appId, taskId, taskStatus: 'TASK_RUNNING' });
    if (e.Action === 'die')
      return out('status_update_event', {
        appId,
        taskId,
        taskStatus: attrs.exitCode === '0' ? 'TASK_FINISHED' : 'TASK_FAILED',
      });
    const health = /^health_status: (healthy|unhealthy)$/.exec(e.Action ?? '');
    if (health) return out('health_status_changed_event', { appId, taskId, alive: health[1] === 'healthy' });
  }
  return undefined;
}

/**
 * Follow swarm's events until `signal` aborts, calling `emit` with each
 * Marathon event. Service names map to app ids through `appOf`.
 */
export async function followEvents(
  manager: Target,
  signal: AbortSignal,
  appOf: (service: string) => Promise<string | undefined>,
  emit: (e: MarathonEventOut) => void,
): Promise<void> {
  const argv = ['docker', 'events', '--format', '{{json .}}', '--filter', 'type=service'];
  // Types are ORed; a label filter would drop the service events (they carry only the name).
  argv.push('--filter', 'type=container');
  let rest = '';
  const known = new Map<string, string | undefined>();
  let chain = Promise.resolve();
  const onOutput = (chunk: Buffer) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines.filter((l) => l.startsWith('{'))) {
      // In order: a service's name may need one look-up before its event is mapped.
      chain = chain.then(async () => {
        const e = JSON.parse(line) as DockerEvent;
        const name = e.Type === 'service' ? (e.Actor?.Attributes?.name ?? '') : '';
        if (name && !known.has(name)) known.set(name, await appOf(name).catch(() => undefined));
        const m = marathonEvent(e, (n) => known.get(n));
        if (m) emit(m);
      });
    }
  };
  await swarmRun(manager, argv, 'docker events', { timeoutMs: 7 * 24 * 3600_000, onOutput, signal }).catch(
    (e: unknown) => {
      if (!signal.aborted) throw e;
    },
  );
}
