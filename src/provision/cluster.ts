// Provision a cluster: several targets, each a master or an agent, converged
// to one stack. Every host gets its own compose file from the one settings
// pipeline (the same masters and agents, its own address), and the same
// secrets (one gossip key, one set of tokens: resolved once, on the first
// master, and pushed to each host as 0600 files). The masters converge in
// parallel (the ZooKeeper ensemble and the Consul servers wait for each other:
// one at a time would never become healthy), then Consul's ACLs once against
// the cluster, through the first master that answers, over a leader
// election, then the agents in parallel; last, docker swarm over them (the
// masters managers, the agents workers).

import { StackControl } from '../compose/index.js';
import { PaasboxError, isPaasboxError } from '../errors.js';
import { Progress } from '../progress.js';
import { detectAdvertiseAddress } from '../settings/index.js';
import { COMPOSE_PATH } from '../stack/deployment.js';
import { DEFAULT_INSTANCE } from '../stage/instances.js';
import type { Target } from '../target/target.js';
import { provisionTarget, type ProvisionOptions, type ProvisionOutcome } from './provision.js';
import { runSteps, type ProvisionResult, type ProvisionStep } from './runner.js';
import { clusterSwarmGaps, ensureClusterSwarm, type SwarmMember } from '../scheduler/swarm.js';
import { consulAclStep, InstallSecrets } from './secrets.js';

export type ClusterRole = 'master' | 'agent';

export interface ClusterHost {
  target: Target;
  role: ClusterRole;
  /** The address it advertises (default: detected on the target). */
  ip?: string;
}

export interface ClusterOptions extends Omit<ProvisionOptions, 'secrets' | 'consulAcl'> {
  /** Make the masters docker swarm managers and the agents workers (default true). */
  swarm?: boolean;
  /** Seconds the ACL step waits for Consul to accept the management token (a leader), per master tried (default 180). */
  aclReadyTimeoutS?: number;
}

export interface ClusterHostOutcome {
  target: Target;
  role: ClusterRole;
  ip: string;
  outcome: ProvisionOutcome;
}

export interface ClusterOutcome {
  masters: string[];
  agents: string[];
  hosts: ClusterHostOutcome[];
  /** The ACL step, run once (absent in a dry run, with --host-only, or without consul). */
  acl?: ProvisionResult;
  /** The swarm step, run once (absent in a dry run, with --host-only, or with swarm: false). */
  swarm?: ProvisionResult;
  /** Every step of every host and the ACL step: ok, changed, failed. */
  ok: number;
  changed: number;
}

/** Where each host is and what it is: the masters' and agents' addresses, detected where not given. */
export async function clusterAddresses(hosts: ClusterHost[]): Promise<{ masters: string[]; agents: string[]; ips: string[] }> {
  if (!hosts.some((h) => h.role === 'master'))
    throw new PaasboxError('a cluster needs at least one master', 'name the masters: --masters user@a,user@b,user@c (three for high availability)');
  const ips = await Promise.all(
    hosts.map(async (h) => {
      const ip = h.ip ?? (await detectAdvertiseAddress(h.target));
      if (!ip) throw new PaasboxError(`the address of ${h.target.name} could not be detected`, 'check that the host has a default route (ip -4 route show default)', undefined, 'target');
      return ip;
    }),
  );
  const seen = new Map<string, string>();
  hosts.forEach((h, i) => {
    const other = seen.get(ips[i]!);
    if (other) throw new PaasboxError(`${h.target.name} and ${other} both advertise ${ips[i]}`, 'name each host of the cluster once');
    seen.set(ips[i]!, h.target.name);
  });
  return {
    masters: hosts.flatMap((h, i) => (h.role === 'master' ? [ips[i]!] : [])),
    agents: hosts.flatMap((h, i) => (h.role === 'agent' ? [ips[i]!] : [])),
    ips,
  };
}

/** Run fn on each item at once; all settle, then the failures are one error naming every failed host. */
async function allHosts<T>(items: ClusterHost[], fn: (h: ClusterHost) => Promise<T>): Promise<T[]> {
  const settled = await Promise.allSettled(items.map(fn));
  const failed = settled.flatMap((r, i) => (r.status === 'rejected' ? [{ host: items[i]!.target.name, e: r.reason as unknown }] : []));
  if (failed.length === 1) throw failed[0]!.e;
  if (failed.length) {
    const text = (e: unknown) => (isPaasboxError(e) ? `${e.problem}${e.detail ? `\n    ${e.detail.split('\n').join('\n    ')}` : ''}` : e instanceof Error ? e.message : String(e));
    throw new PaasboxError(
      `${failed.length} hosts failed: ${failed.map((f) => f.host).join(', ')}`,
      'read each host\'s error, fix it, and run install again (converged hosts report ok)',
      failed.map((f) => `${f.host}: ${text(f.e)}`).join('\n'),
      'target',
    );
  }
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

export async function provisionCluster(hosts: ClusterHost[], opts: ClusterOptions = {}): Promise<ClusterOutcome> {
  const progress = opts.progress ?? new Progress();
  const { masters, agents, ips } = await clusterAddresses(hosts);
  const ipOf = new Map(hosts.map((h, i) => [h, ips[i]!]));
  const secrets = new InstallSecrets(opts.instance ?? DEFAULT_INSTANCE, opts.cwd);
  const first = hosts.find((h) => h.role === 'master')!;
  // One set of secrets for the whole cluster: the first master's files (its
  // Consul holds those tokens), else this machine's copy, else new ones.
  if (!opts.hostOnly) await secrets.resolve(first.target);

  const one = async (h: ClusterHost): Promise<ClusterHostOutcome> => {
    const ip = ipOf.get(h)!;
    const flags = { ...opts.flags, ip, masters, ...(agents.length ? { agents } : {}) };
    const outcome = await provisionTarget(h.target, { ...opts, progress, flags, secrets, consulAcl: false });
    return { target: h.target, role: h.role, ip, outcome };
  };
  // The ensemble and the servers first, together; then the ACLs (before any
  // client agent asks for a token: a client caches "ACL not found" for a while);
  // then the clients, together.
  const done = await allHosts(hosts.filter((h) => h.role === 'master'), one);
  let acl: ProvisionResult | undefined;
  const withConsul = done.filter((d) => d.outcome.plan?.compose.services['consul']);
  if (!opts.dryRun && withConsul.length) {
    // Every node's name: the masters' from their plans, the agents' as their plans will
    // have it (the target's short hostname, as planStack defaults it; flags give none here).
    const agentNames = await Promise.all(hosts.filter((h) => h.role === 'agent').map(async (h) => opts.flags?.hostname ?? (await h.target.facts()).hostname.split('.')[0]!));
    const nodeNames = [...withConsul.map((d) => d.outcome.plan!.settings.hostname), ...agentNames];
    acl = await clusterAcl(withConsul, secrets, nodeNames, progress, (opts.aclReadyTimeoutS ?? 180) * 1000);
  }
  done.push(...(await allHosts(hosts.filter((h) => h.role === 'agent'), one)));
  let swarm: ProvisionResult | undefined;
  if (!opts.dryRun && !opts.hostOnly && opts.swarm !== false) {
    const member = async (d: ClusterHostOutcome): Promise<SwarmMember> => ({ target: d.target, ip: d.ip, hostname: (await d.target.facts()).hostname });
    const sm = await Promise.all(done.filter((d) => d.role === 'master').map(member));
    const sa = await Promise.all(done.filter((d) => d.role === 'agent').map(member));
    swarm = await runSteps(first.target, [swarmStep(sm, sa)], progress);
  }
  const results = [...done.map((d) => d.outcome), ...(acl ? [acl] : []), ...(swarm ? [swarm] : [])];
  return {
    masters,
    agents,
    hosts: done,
    ...(acl ? { acl } : {}),
    ...(swarm ? { swarm } : {}),
    ok: results.reduce((n, r) => n + r.ok, 0),
    changed: results.reduce((n, r) => n + r.changed, 0),
  };
}

/** Docker swarm over the cluster (src/scheduler/swarm.ts): masters managers, agents workers, stale nodes of returned hosts removed. */
function swarmStep(masters: SwarmMember[], agents: SwarmMember[]): ProvisionStep {
  return {
    name: `docker swarm (${masters.length} managers, ${agents.length} workers)`,
    fix: 'read the detail; `docker node ls` on a master shows the swarm',
    async check() {
      const gaps = await clusterSwarmGaps(masters, agents);
      return gaps.length ? { ok: false, detail: gaps.join('; ') } : { ok: true, detail: 'every master a reachable manager, every agent a ready worker' };
    },
    async apply() {
      const changed = await ensureClusterSwarm(masters, agents);
      // Nodes that kept their swarm state (workers after a new cluster) report back by heartbeat: wait for them, at most 90 s.
      for (let i = 0; i < 45 && (await clusterSwarmGaps(masters, agents)).length; i++) await new Promise((r) => setTimeout(r, 2000));
      return changed.join('; ');
    },
  };
}

/**
 * Consul's ACLs, once for the cluster: through the first master, else the
 * next (one may be down). The step waits for a leader (the management token
 * is accepted only once one leads) and is tried again when an election
 * interrupts it (Consul answers 500 "No cluster leader" meanwhile).
 */
async function clusterAcl(masters: ClusterHostOutcome[], secrets: InstallSecrets, nodeNames: string[], progress: Progress, readyTimeoutMs: number): Promise<ProvisionResult> {
  let last: unknown;
  for (const m of masters) {
    const plan = m.outcome.plan!;
    const step = consulAclStep(plan, secrets, new StackControl(m.target, COMPOSE_PATH, plan.project), { nodeNames, readyTimeoutMs });
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        return await runSteps(m.target, [step], progress);
      } catch (e) {
        last = e;
        const text = isPaasboxError(e) ? `${e.problem} ${e.detail ?? ''}` : String(e);
        // Not answering at all: try the next master; a leader election: again here.
        if (/does not answer|is missing|without ACLs/.test(text)) break;
        progress.say(`[${m.target.name}] consul ACLs: attempt ${attempt} failed (${isPaasboxError(e) ? e.problem : String(e)}); trying again`);
        await new Promise((r) => setTimeout(r, 5000));
      }
    }
  }
  throw last;
}
