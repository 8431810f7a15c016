// Who is in the swarm: one manager and its workers (ensureSwarm, for deploy
// on a single host or `deploy --worker`), or a cluster's masters as managers
// and its agents as labelled workers (ensureClusterSwarm, for install). Join
// tokens travel over the targets' own channel (stdin), never through a file
// or an argv. The check half (clusterSwarmGaps) says what is missing.
import { PaasboxError } from '../errors.js';
import type { Progress } from '../progress.js';
import { poll, PollTimeout } from '../poll.js';
import type { Target } from '../target/target.js';
import { swarmRun } from './command.js';
import { swarmJoinBody, swarmJoinCommand } from './join.js';
import { AGENT_LABEL, agentNodes, swarmNodes, swarmState, type SwarmNode } from './nodes.js';

/**
 * Make `manager` a swarm manager (advertising advertiseAddr) and join each
 * worker. Idempotent: nodes already in the swarm are left alone.
 */
export async function ensureSwarm(
  manager: Target,
  workers: Target[] = [],
  opts: { advertiseAddr?: string; progress?: Progress } = {},
): Promise<{ initialised: boolean; joined: string[]; managerAddr: string }> {
  const addr = opts.advertiseAddr ?? manager.address;
  if (/^(127\.|0\.0\.0\.0|localhost$)/.test(addr)) {
    throw new PaasboxError(
      `swarm advertise address ${addr} is not reachable from other hosts`,
      "install records it (npx paasbox install); or pass the manager's routable IP with --advertise-addr",
    );
  }
  const step = async <T>(name: string, host: string, fn: () => Promise<T>): Promise<T> => {
    if (!opts.progress) return fn();
    let out!: T;
    await opts.progress.step(name, host, async () => {
      out = await fn();
      return { status: out ? 'changed' : 'ok' } as const;
    });
    return out;
  };
  const s = await swarmState(manager);
  let initialised = false;
  if (s.state !== 'active') {
    initialised = await step('swarm init', manager.name, async () => {
      await swarmRun(manager, ['docker', 'swarm', 'init', '--advertise-addr', addr], 'docker swarm init');
      return true;
    });
  } else if (!s.isManager) {
    throw new PaasboxError(
      `${manager.name} is in a swarm but not a manager`,
      "pick the swarm's manager as the deploy target, or `docker swarm leave` on it",
    );
  }
  const managerAddr = s.state === 'active' && s.nodeAddr ? s.nodeAddr : addr;
  const joined: string[] = [];
  if (workers.length) {
    const tokenCmd = ['docker', 'swarm', 'join-token', '-q', 'worker'];
    const token = (await swarmRun(manager, tokenCmd, 'docker swarm join-token')).trim();
    for (const w of workers) {
      const ws = await swarmState(w);
      if (ws.state === 'active') continue;
      await step('swarm join', w.name, async () => {
        const body = swarmJoinBody(token, `${managerAddr}:2377`);
        await swarmRun(w, swarmJoinCommand(), 'docker swarm join (Engine API)', { stdin: body });
        return true;
      });
      joined.push(w.name);
    }
  }
  return { initialised, joined, managerAddr };
}

// ---------------------------------------------------------------- a cluster's swarm

export interface SwarmMember {
  target: Target;
  /** The address it advertises (the stack's). */
  ip: string;
  /** Its hostname as docker reports it (the swarm's node name). */
  hostname: string;
}

/**
 * What a cluster's swarm lacks: every master a manager, every agent a worker,
 * no node of theirs Down (a host that came back with an empty docker left its
 * old node behind). Pure: nodes as the leader lists them.
 */
export function swarmGaps(nodes: SwarmNode[], masters: string[], agents: string[]): string[] {
  const gaps: string[] = [];
  const live = (h: string) => nodes.filter((n) => n.hostname === h && n.status === 'Ready');
  const managing = (n: SwarmNode) => n.managerStatus === 'Leader' || n.managerStatus === 'Reachable';
  for (const m of masters) if (!live(m).some(managing)) gaps.push(`${m} no reachable manager`);
  for (const a of agents) if (!live(a).length) gaps.push(`${a} no ready worker`);
  for (const n of nodes) {
    if (n.status !== 'Ready' && [...masters, ...agents].includes(n.hostname))
      gaps.push(`${n.hostname} stale node ${n.id.slice(0, 12)} (${n.status})`);
  }
  return gaps;
}

/** The manager that leads now: the first master whose docker is an active swarm manager. */
async function swarmLead(masters: SwarmMember[]): Promise<SwarmMember | undefined> {
  for (const m of masters) {
    const s = await swarmState(m.target).catch(() => undefined);
    if (s?.state === 'active' && s.isManager) return m;
  }
  return undefined;
}

const AGENT_LABEL_TEXT = `${AGENT_LABEL.key}=${AGENT_LABEL.value}`;

/**
 * The check half of ensureClusterSwarm: what is missing (empty: converged),
 * as the leading manager sees it.
 */
export async function clusterSwarmGaps(masters: SwarmMember[], agents: SwarmMember[]): Promise<string[]> {
  const lead = await swarmLead(masters);
  if (!lead) return ['no swarm yet'];
  try {
    const nodes = await swarmNodes(lead.target);
    const gaps = swarmGaps(
      nodes,
      masters.map((m) => m.hostname),
      agents.map((a) => a.hostname),
    );
    if (gaps.length || !agents.length) return gaps;
    // Apps go where this label is (deploy's placement).
    const labelled = await agentNodes(lead.target);
    return agents
      .filter((a) => !labelled.includes(a.hostname))
      .map((a) => `${a.hostname} not labelled ${AGENT_LABEL_TEXT}`);
  } catch (e) {
    return [
      `the swarm does not answer on ${lead.hostname}: ${e instanceof PaasboxError ? e.problem : String(e)}`,
    ];
  }
}

/** Whether an error says the swarm's managers have lost their quorum. */
const NO_LEADER = /does not have a leader|too few managers/i;

/**
 * Docker swarm over a cluster: the masters managers (Raft: 3 keep a quorum
 * through one loss), the agents workers. Initialised on the first master when
 * no master leads a swarm yet; a host not in the swarm joins (a manager token
 * or a worker token, over stdin), after its old node, Down since its docker
 * was emptied, is demoted and removed. Returns what changed.
 */
export async function ensureClusterSwarm(masters: SwarmMember[], agents: SwarmMember[]): Promise<string[]> {
  const changed: string[] = [];
  let lead = await swarmLead(masters);
  if (!lead) {
    lead = masters[0]!;
    await swarmRun(
      lead.target,
      ['docker', 'swarm', 'init', '--advertise-addr', lead.ip],
      'docker swarm init',
    );
    changed.push(`init on ${lead.hostname}`);
  }
  const leader = lead;
  // A lost quorum that cannot come back: this manager answers no node list (no
  // leader) and no other master is a swarm manager any more (they returned with
  // an emptied docker). Docker's recovery: a new cluster from this manager's
  // state (docker swarm init --force-new-cluster); the others then join again.
  // Never while another master still holds the swarm (it may only be unreachable).
  const noLeader = (e: unknown) =>
    NO_LEADER.test(e instanceof PaasboxError ? `${e.problem} ${e.detail ?? ''}` : String(e));
  const lost = await swarmNodes(leader.target).then(() => false, noLeader);
  if (lost) {
    const others = masters
      .filter((m) => m !== leader)
      .map((m) => swarmState(m.target).catch(() => undefined));
    if ((await Promise.all(others)).every((o) => o !== undefined && o.state !== 'active')) {
      const init = ['docker', 'swarm', 'init', '--force-new-cluster', '--advertise-addr', leader.ip];
      await swarmRun(leader.target, init, 'docker swarm init --force-new-cluster');
      changed.push(
        `new cluster from ${leader.hostname} (the quorum was lost: the other managers came back without their swarm state)`,
      );
      // It leads alone once its Raft has elected it: wait for the node list (at
      // most 60 s). Past that, the joins below say what the swarm answers.
      await poll(
        {
          what: `the new swarm on ${leader.hostname} to list its nodes`,
          timeoutMs: 60_000,
          everyMs: 2000,
          fix: '`docker node ls` on it',
        },
        () => swarmNodes(leader.target),
      ).catch(() => undefined);
    } else {
      throw new PaasboxError(
        `the swarm on ${leader.hostname} has no leader, and other masters still hold swarm state`,
        'bring the other masters back (their docker running), then run install again',
      );
    }
  }
  const leadAddr = `${leader.ip}:2377`;
  const onLead = (argv: string[], what: string) => swarmRun(leader.target, argv, what);
  const join = async (m: SwarmMember, role: 'manager' | 'worker') => {
    const s = await swarmState(m.target);
    if (s.state === 'active') {
      if (role === 'manager' && !s.isManager) {
        await onLead(['docker', 'node', 'promote', m.hostname], `docker node promote ${m.hostname}`);
        changed.push(`promote ${m.hostname}`);
      }
      return;
    }
    for (const n of (await swarmNodes(leader.target)).filter(
      (x) => x.hostname === m.hostname && x.status !== 'Ready',
    )) {
      if (n.managerStatus) await onLead(['docker', 'node', 'demote', n.id], `docker node demote ${n.id}`);
      await onLead(['docker', 'node', 'rm', '--force', n.id], `docker node rm ${n.id}`);
      changed.push(`remove stale node of ${m.hostname}`);
    }
    const token = (
      await onLead(['docker', 'swarm', 'join-token', '-q', role], 'docker swarm join-token')
    ).trim();
    const body = swarmJoinBody(token, leadAddr, m.ip);
    await swarmRun(m.target, swarmJoinCommand(), 'docker swarm join (Engine API)', { stdin: body });
    changed.push(`${m.hostname} joins as ${role}`);
  };
  // One at a time: each join changes the managers' Raft membership.
  for (const m of masters) if (m !== leader) await join(m, 'manager');
  for (const a of agents) await join(a, 'worker');
  // The agents carry the label deploy places apps by.
  if (agents.length) {
    const labelled = await agentNodes(leader.target);
    for (const a of agents.filter((x) => !labelled.includes(x.hostname))) {
      await onLead(
        ['docker', 'node', 'update', '--label-add', AGENT_LABEL_TEXT, a.hostname],
        `docker node update ${a.hostname}`,
      );
      changed.push(`${a.hostname} labelled ${AGENT_LABEL_TEXT}`);
    }
  }
  return changed;
}

/**
 * After ensureClusterSwarm: nodes that kept their swarm state (workers after
 * a new cluster) report back by heartbeat. Wait until clusterSwarmGaps finds
 * nothing, at most timeoutMs; what is still missing then is the check's to say.
 */
export async function settleClusterSwarm(
  masters: SwarmMember[],
  agents: SwarmMember[],
  timeoutMs = 90_000,
): Promise<void> {
  const what = 'every swarm node to report (managers reachable, workers ready)';
  const fix = '`docker node ls` on a master';
  const settled = async () => ((await clusterSwarmGaps(masters, agents)).length ? undefined : true);
  // A failing docker ends the wait at once (its error is the step's); only the deadline passes quietly.
  await poll({ what, timeoutMs, everyMs: 2000, fix, fatal: () => true }, settled).catch((e: unknown) => {
    if (!(e instanceof PollTimeout)) throw e;
  });
}
