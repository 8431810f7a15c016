// Who is in a recorded cluster, and how an install that names its hosts
// again changes that: the agents --remove takes out, and what is refused (a
// recorded host left out by mistake, a master, a host both kept and removed).

import { PaasboxError } from '../errors.js';
import type { ClusterMember, Instance } from './state.js';

/** A recorded host of the cluster, as the instance keeps it. */
export interface RecordedMember {
  ssh: { host: string; port: number };
  ip: string;
  hostname?: string;
  role: 'master' | 'agent';
}

/**
 * How a cluster install changes the recorded cluster: which recorded agents
 * --remove takes out (drained first), refusing what users would not mean: a
 * recorded host left out of --masters/--agents without --remove (a typo must
 * not drain a host), a --remove that is no recorded host, a master (the
 * quorum is not changed this way), or a host both kept and removed. Hosts
 * are the same when their SSH address and port are, or the address is the
 * one it advertises. Pure.
 */
export function planMembership<M extends RecordedMember>(
  recorded: M[],
  named: { host: string; port: number }[],
  remove: { host: string; port: number }[],
  instance: string,
): M[] {
  const same = (m: RecordedMember, h: { host: string; port: number }) =>
    (m.ssh.host === h.host && m.ssh.port === h.port) || m.ip === h.host;
  const removing = remove.map((r) => {
    const m = recorded.find((x) => same(x, r));
    if (!m)
      throw new PaasboxError(
        `--remove ${r.host}: not a host of cluster ${instance} (${recorded.map((x) => x.ip).join(', ') || 'none recorded'})`,
        'name a recorded agent (npx paasbox status lists them)',
      );
    if (m.role === 'master')
      throw new PaasboxError(
        `--remove ${r.host}: ${m.ip} is a master; removing one changes the quorum`,
        'only agents can be removed; keep three masters (replace a dead one by reinstalling it at the same address)',
      );
    if (named.some((h) => same(m, h)))
      throw new PaasboxError(
        `${r.host} is both in --masters/--agents and in --remove`,
        'name it in one place: kept, or removed',
      );
    return m;
  });
  const left = recorded.filter((m) => !removing.includes(m) && !named.some((h) => same(m, h)));
  if (left.length)
    throw new PaasboxError(
      `${left.map((m) => `${m.ip} (${m.role})`).join(', ')} ${left.length === 1 ? 'is' : 'are'} in cluster ${instance} but not in --masters/--agents`,
      `to take ${left.length === 1 ? 'it' : 'them'} out (drained first), add --remove ${left.map((m) => m.ssh.host).join(',')}; to keep ${left.length === 1 ? 'it' : 'them'}, list ${left.length === 1 ? 'it' : 'them'}`,
    );
  return removing;
}

/** A recorded cluster's hosts with their roles (none for one host or no instance). */
export function recordedMembers(
  inst: Instance | undefined,
): (ClusterMember & { role: RecordedMember['role'] })[] {
  const c = inst?.cluster;
  if (!c) return [];
  return [
    ...c.masters.map((m) => ({ ...m, role: 'master' as const })),
    ...c.agents.map((m) => ({ ...m, role: 'agent' as const })),
  ];
}
