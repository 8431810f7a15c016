// Taking a node out of the swarm: drain it (its tasks rescheduled on the other
// workers, never when it is the last one running them), wait until none runs
// there and every service has its replicas again, leave on the node itself,
// and remove it from the node list on a manager. Each part has a check that
// asks first, for provision/cluster.ts's removal steps. `node` is the swarm's
// node name (docker's hostname); `label` names it in messages.
import { PaasboxError } from '../errors.js';
import { poll } from '../poll.js';
import { shq } from '../target/shell.js';
import type { ExecResult, Target } from '../target/target.js';

const onManager = (manager: Target, cmd: string, timeoutMs = 60_000): Promise<ExecResult> =>
  manager.exec(cmd, { sudo: true, timeoutMs });

/** The first of `managers` whose docker answers as a swarm manager (`docker node ls`). */
export async function answeringManager<M extends { target: Target }>(managers: M[]): Promise<M | undefined> {
  for (const m of managers) {
    const r = await m.target
      .exec(`docker node ls -q`, { sudo: true, timeoutMs: 30_000 })
      .catch(() => undefined);
    if (r?.code === 0) return m;
  }
  return undefined;
}

/** Whether the swarm still lists the node. */
export async function nodeListed(manager: Target, node: string): Promise<boolean> {
  return (await onManager(manager, `docker node inspect --format '{{.ID}}' ${shq(node)}`)).code === 0;
}

/** The node's availability: active, pause, drain (empty when the manager does not say). */
export async function nodeAvailability(manager: Target, node: string): Promise<string> {
  return (
    await onManager(manager, `docker node inspect --format '{{.Spec.Availability}}' ${shq(node)}`)
  ).stdout.trim();
}

/**
 * Drain the node, unless it is the last ready, active worker and tasks run on
 * it: they would have nowhere to go.
 */
export async function drainNode(manager: Target, node: string, label = node): Promise<void> {
  const n = shq(node);
  const tasks = (
    await onManager(manager, `docker node ps ${n} --filter desired-state=running --format '{{.Name}}'`)
  ).stdout.trim();
  const list = `docker node ls --filter role=worker --format '{{.Hostname}} {{.Status}} {{.Availability}}'`;
  const workers = (await onManager(manager, list)).stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([h, st, av]) => h && h !== node && st === 'Ready' && av === 'Active');
  if (tasks && !workers.length)
    throw new PaasboxError(
      `${label} is the last agent: its tasks (${tasks.split('\n').join(', ')}) would have nowhere to run`,
      'add another agent first (install with it in --agents), or destroy those apps (deploy --destroy), then remove this one',
    );
  const r = await onManager(manager, `docker node update --availability drain ${n}`);
  if (r.code !== 0)
    throw new PaasboxError(
      `docker node update --availability drain ${label} failed: ${r.stderr.trim()}`,
      'look at `docker node ls` on a master',
    );
}

/**
 * A task state that still holds (or is about to hold) the node: anything
 * before Complete, Shutdown, Failed, Rejected, Orphaned or Remove.
 */
const LIVE_TASK = /^(New|Pending|Assigned|Accepted|Preparing|Ready|Starting|Running)\b/;

/**
 * What still keeps a drained node: tasks there in a live state (`docker node
 * ps NODE --format '{{.CurrentState}}'`, desired state aside: right after the
 * drain they are still Running while meant to shut down), and services short
 * of their replicas (`docker service ls --format '{{.Name}} {{.Replicas}}'`).
 * Pure parse.
 */
export function drainState(nodeTaskStates: string, replicas: string): { onNode: number; short: string[] } {
  const onNode = nodeTaskStates
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => LIVE_TASK.test(l)).length;
  const short = replicas
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .flatMap((l) => {
      const [name = '', r = ''] = l.split(/\s+/);
      const m = /^(\d+)\/(\d+)/.exec(r);
      return m && m[1] !== m[2] ? [`${name} ${m[1]}/${m[2]}`] : [];
    });
  return { onNode, short };
}

/** The drain's progress as the manager sees it now, with one line saying what is left ('' when done). */
export async function drainProgress(manager: Target, node: string): Promise<{ done: boolean; left: string }> {
  const states = (await onManager(manager, `docker node ps ${shq(node)} --format '{{.CurrentState}}'`))
    .stdout;
  const replicas = (await onManager(manager, `docker service ls --format '{{.Name}} {{.Replicas}}'`)).stdout;
  const st = drainState(states, replicas);
  const done = st.onNode === 0 && !st.short.length;
  return {
    done,
    left: done ? '' : `${st.onNode} tasks there${st.short.length ? `; short: ${st.short.join(', ')}` : ''}`,
  };
}

/** Wait until the drained node runs no task and every service has its replicas again. */
export async function awaitDrained(
  manager: Target,
  node: string,
  opts: { timeoutMs: number; everyMs: number; label?: string },
): Promise<void> {
  const what = `${opts.label ?? node}'s tasks to move to the other nodes`;
  const fix =
    'look at `docker service ps SERVICE` on a master: a constraint or missing image may keep them from the other agents';
  // 'user': what keeps the tasks is the apps' doing (a constraint, an image), as before poll.
  await poll(
    { what, timeoutMs: opts.timeoutMs, everyMs: opts.everyMs, fix, kind: 'user', fatal: () => true },
    async (_, note) => {
      const p = await drainProgress(manager, node);
      if (p.done) return true;
      note(p.left);
      return undefined;
    },
  );
}

/** This host's swarm state as docker info says it: active, inactive, ... (empty: no docker). */
export async function localSwarmState(t: Target): Promise<string> {
  const r = await t.exec(`docker info --format '{{.Swarm.LocalNodeState}}'`, {
    sudo: true,
    timeoutMs: 30_000,
  });
  return r.stdout.trim();
}

/** `docker swarm leave` on the node itself. */
export async function leaveSwarm(t: Target, label: string): Promise<void> {
  const r = await t.exec('docker swarm leave', { sudo: true, timeoutMs: 60_000 });
  if (r.code !== 0)
    throw new PaasboxError(
      `docker swarm leave on ${label} failed: ${r.stderr.trim()}`,
      'run `docker swarm leave --force` on it',
    );
}

/** Remove the node from the swarm's list (--force: also a node that is gone, not only one that left). */
export async function removeNode(manager: Target, node: string, label = node): Promise<void> {
  const r = await onManager(manager, `docker node rm --force ${shq(node)}`);
  if (r.code !== 0)
    throw new PaasboxError(
      `docker node rm ${label} failed: ${r.stderr.trim()}`,
      'look at `docker node ls` on a master',
    );
}
