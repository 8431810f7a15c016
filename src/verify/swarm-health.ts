// Whether this host's Docker swarm (where deploy runs the apps) can still be
// managed: verify fails a check and `paasbox status` prints a line when the
// node is in an error state or locked, the manager is not Ready and
// reachable, the swarm has no leader, or `docker node ls` hangs (10 s bound:
// a timeout is a failure). A host with no swarm (no app deployed yet) is not
// a failure. One command, one pure judge (unit-tested); the recovery is in
// README's Troubleshooting and in the fix.

import { NODE_LIST_COMMAND, parseNodeList, type SwarmNode } from '../swarm/nodes.js';
import type { Target } from '../target/target.js';
import type { Check } from './types.js';

/** Seconds docker info and docker node ls each get before they count as hanging. */
export const SWARM_TIMEOUT_S = 10;

const INFO = `docker info --format '{{json .Swarm}}'`;
/**
 * docker info's swarm part, then the node list (a manager's), each bounded
 * with timeout(1) where the host has it, each followed by a marker line with
 * its exit code (124: timed out).
 */
export const SWARM_HEALTH_COMMAND = [
  `T=; command -v timeout >/dev/null 2>&1 && T='timeout ${SWARM_TIMEOUT_S}'`,
  `$T ${INFO} 2>&1; echo "@@info $?"`,
  `$T ${NODE_LIST_COMMAND} 2>&1; echo "@@nodes $?"`,
].join('\n');

export interface SwarmHealth {
  /** none: this host is in no swarm (nothing deployed yet); ok; failed. */
  state: 'none' | 'ok' | 'failed';
  /** One line: what was found. */
  got: string;
  /** For failed: what to do. */
  fix?: string;
}

export const SWARM_FIX =
  'on that host: `docker service ls`, `docker service rm` the app that broke it; no leader or a manager Down: ' +
  '`docker swarm init --force-new-cluster` on a surviving manager; dockerd unusable: stop docker, move /var/lib/docker/swarm ' +
  'aside, start docker, `docker swarm init` and deploy the apps again (README: Troubleshooting, "The swarm manager is unhealthy")';

interface SwarmInfo {
  NodeID?: string;
  LocalNodeState?: string;
  ControlAvailable?: boolean;
  Error?: string;
}

/**
 * A command's output before its "@@name CODE" marker, and the code (undefined: no marker, the command never
 * finished).
 */
function section(out: string, name: string, after = 0): { text: string; code?: number; end: number } {
  const m = new RegExp(`^@@${name} (\\d+)$`, 'm').exec(out.slice(after));
  if (!m) return { text: out.slice(after).trim(), end: out.length };
  return {
    text: out.slice(after, after + m.index).trim(),
    code: Number(m[1]),
    end: after + m.index + m[0].length,
  };
}

const lastLine = (s: string) => s.trim().split('\n').filter(Boolean).slice(-1)[0] ?? '';
const failed = (got: string): SwarmHealth => ({ state: 'failed', got, fix: SWARM_FIX });

/**
 * SWARM_HEALTH_COMMAND's output → the swarm's health (no marker: the command was cut off, as a timeout).
 * Pure.
 */
export function judgeSwarmHealth(out: string): SwarmHealth {
  const info = section(out, 'info');
  if (info.code === undefined || info.code === 124)
    return failed(`docker info did not answer within ${SWARM_TIMEOUT_S} s`);
  if (info.code !== 0) return failed(`docker info failed: ${lastLine(info.text) || `exit ${info.code}`}`);
  let swarm: SwarmInfo;
  // docker info may print warnings (stderr, merged) around its JSON line.
  const json = info.text.split('\n').find((l) => l.trim().startsWith('{'));
  try {
    swarm = JSON.parse(json ?? '') as SwarmInfo;
  } catch {
    return failed(`docker info printed no swarm state: ${lastLine(info.text).slice(0, 120)}`);
  }
  const state = swarm.LocalNodeState ?? '';
  const err = swarm.Error?.trim();
  if (state === 'inactive' || state === '')
    return { state: 'none', got: 'no swarm on this host (no app deployed yet)' };
  if (state === 'locked')
    return failed('the swarm is locked (autolock): unlock it with `docker swarm unlock`');
  if (state !== 'active') return failed(`the swarm node is ${state}${err ? `: ${err}` : ''}`);
  if (err) return failed(`the swarm node reports an error: ${err}`);
  if (!swarm.ControlAvailable)
    return { state: 'ok', got: 'a swarm worker (its managers are judged on the masters)' };

  const nodes = section(out, 'nodes', info.end);
  if (nodes.code === undefined || nodes.code === 124)
    return failed(`docker node ls did not answer within ${SWARM_TIMEOUT_S} s`);
  if (nodes.code !== 0) {
    const said = lastLine(nodes.text);
    if (/does not have a leader/i.test(said))
      return failed(`the swarm has no leader (${said.replace(/^Error response from daemon:\s*/, '')})`);
    return failed(`docker node ls failed: ${said || `exit ${nodes.code}`}`);
  }
  const list = parseNodeList(nodes.text);
  const managers = list.filter((n) => n.managerStatus);
  const self = list.find((n) => n.id === swarm.NodeID);
  const bad = managers.filter(
    (n) => n.status !== 'Ready' || (n.managerStatus !== 'Leader' && n.managerStatus !== 'Reachable'),
  );
  const leader = managers.find((n) => n.managerStatus === 'Leader');
  const show = (n: SwarmNode) => `${n.hostname} ${n.status}/${n.managerStatus || 'worker'}`;
  if (!self) return failed(`this node (${swarm.NodeID ?? '?'}) is not in its own node list`);
  if (bad.length)
    return failed(`manager${bad.length > 1 ? 's' : ''} not Ready and reachable: ${bad.map(show).join(', ')}`);
  if (!leader) return failed('the swarm has no leader');
  const count = `${managers.length} manager${managers.length > 1 ? 's' : ''}`;
  return { state: 'ok', got: `manager ${show(self)}, ${count}, leader ${leader.hostname}` };
}

/** `paasbox status`'s line for the swarm (with the fix when it is unhealthy). Pure. */
export function swarmLine(h: SwarmHealth): string {
  return h.state === 'failed' ? `swarm: UNHEALTHY: ${h.got}\n  fix: ${h.fix}\n` : `swarm: ${h.got}\n`;
}

/** Runs SWARM_HEALTH_COMMAND on the target and judges it. */
export async function swarmHealth(t: Target): Promise<SwarmHealth> {
  const r = await t.exec(SWARM_HEALTH_COMMAND, { sudo: true, timeoutMs: (2 * SWARM_TIMEOUT_S + 10) * 1000 });
  return judgeSwarmHealth(r.stdout);
}

/** verify's check: failed (named, with the fix) when the swarm is unhealthy; passed with no swarm. */
export function swarmHealthCheck(host: string): Check {
  return {
    id: 'host/swarm/manager',
    service: 'host',
    host,
    description:
      'the swarm the apps run on is manageable: node active, managers Ready and reachable, a leader (no swarm: fine)',
    attempts: 2,
    delayMs: 3000,
    async run(target) {
      const h = await swarmHealth(target);
      return h.state === 'failed'
        ? { ok: false, expected: 'a healthy swarm manager, or no swarm', got: `${h.got}; fix: ${h.fix}` }
        : { ok: true, expected: 'a healthy swarm manager, or no swarm', got: h.got };
    },
  };
}
