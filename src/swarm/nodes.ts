// What the swarm says of its nodes: this host's own swarm state (docker info),
// the node list a manager gives (status and manager status per node), and each
// node's address, state and agent label. The label is the contract between
// membership (install labels a cluster's agents) and the app scheduler
// (apps are placed by it).
import { swarmRun } from './command.js';
import type { Target } from '../target/target.js';

/** The node label install gives a cluster's agents in the swarm (membership.ts ensureClusterSwarm). */
export const AGENT_LABEL = { key: 'paasbox.role', value: 'agent' } as const;

/** This host's swarm state (active, inactive, ...), whether it is a manager, and its node address. */
export async function swarmState(
  t: Target,
): Promise<{ state: string; isManager: boolean; nodeAddr: string }> {
  const format = '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeAddr}}';
  const out = await swarmRun(t, ['docker', 'info', '--format', format], 'docker info');
  const [state = '', ctl = '', addr = ''] = out.trim().split(/\s+/);
  return { state, isManager: ctl === 'true', nodeAddr: addr };
}

export interface SwarmNode {
  id: string;
  hostname: string;
  /** Ready, Down, Unknown. */
  status: string;
  /** Leader, Reachable, Unreachable; empty for a worker. */
  managerStatus: string;
}

export const NODE_LIST_COMMAND = `docker node ls --format '{{.ID}} {{.Hostname}} {{.Status}} {{.ManagerStatus}}'`;

/** NODE_LIST_COMMAND's output. Pure. */
export function parseNodeList(out: string): SwarmNode[] {
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [id = '', hostname = '', status = '', managerStatus = ''] = l.split(/\s+/);
      return { id, hostname, status, managerStatus };
    });
}

/** The swarm's nodes as a manager lists them. */
export async function swarmNodes(manager: Target): Promise<SwarmNode[]> {
  return parseNodeList(await swarmRun(manager, NODE_LIST_COMMAND, 'docker node ls'));
}

/**
 * What `docker node inspect` says of a node: its swarm address, state (ready,
 * down, unknown) and AGENT_LABEL's value.
 */
export interface SwarmNodeFacts {
  addr: string;
  state: string;
  role: string;
}

/** Every node's facts by hostname, in one `docker node inspect` on a manager. */
export async function swarmNodeFacts(manager: Target): Promise<Map<string, SwarmNodeFacts>> {
  const format = `{{.Description.Hostname}} {{.Status.Addr}} {{.Status.State}} {{index .Spec.Labels "${AGENT_LABEL.key}"}}`;
  const out = await swarmRun(
    manager,
    `docker node inspect --format '${format}' $(docker node ls -q)`,
    'docker node inspect',
  );
  const lines = out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return new Map(
    lines.map((l) => {
      const [host = '', addr = '', state = '', role = ''] = l.split(/\s+/);
      return [host, { addr, state, role }];
    }),
  );
}

/** Hostnames of the nodes labelled as a cluster's agents (AGENT_LABEL), as a manager sees them. */
export async function agentNodes(manager: Target): Promise<string[]> {
  return [...(await swarmNodeFacts(manager))].filter(([, f]) => f.role === AGENT_LABEL.value).map(([h]) => h);
}
