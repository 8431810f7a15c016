// Provision a cluster: several targets, each a master or an agent, converged
// to one stack. Every host gets its own compose file from the one settings
// pipeline (the same masters and agents, its own address), and the same
// secrets (one gossip key, one set of tokens, one Consul RPC TLS CA: resolved
// once, on the first master, and pushed to each host as 0600 files, each
// host only what its role needs: agents never get the management token). The masters converge in
// parallel (the ZooKeeper ensemble and the Consul servers wait for each other:
// one at a time would never become healthy), then Consul's ACLs once against
// the cluster, through the first master that answers, over a leader
// election, then the agents in parallel; last, docker swarm over them (the
// masters managers, the agents workers).

import { StackControl } from '../compose/index.js';
import { PaasboxError, isPaasboxError } from '../errors.js';
import { Progress } from '../progress.js';
import { detectAdvertiseAddress } from '../settings/index.js';
import { COMPOSE_PATH } from '../stackfile/deployment.js';
import { DEFAULT_INSTANCE } from '../instance/state.js';
import type { Target } from '../target/target.js';
import { provisionTarget, type ProvisionOptions, type ProvisionOutcome } from './provision.js';
import { runSteps, type ProvisionResult, type ProvisionStep } from './runner.js';
import {
  clusterSwarmGaps,
  ensureClusterSwarm,
  settleClusterSwarm,
  type SwarmMember,
} from '../swarm/membership.js';
import {
  answeringManager,
  awaitDrained,
  drainNode,
  drainProgress,
  leaveSwarm,
  localSwarmState,
  nodeAvailability,
  nodeListed,
  removeNode,
} from '../swarm/removal.js';
import { poll } from '../poll.js';
import { consulAclStep, InstallSecrets } from './secrets.js';
import { MANAGEMENT_TOKEN_FILE } from '../consul/acl.js';
import { SECRET_FILES, SECRETS_DIR } from '../secrets/secrets.js';
import { readDeployment } from '../stackfile/deployment.js';
import { composeFilter } from '../docker/compose.js';
import { ConsulClient } from '../consul/client.js';
import { onTarget, probeTools, type HttpResponse, type Tools } from '../system/http.js';

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
  /**
   * Seconds the ACL step waits for Consul to accept the management token (a leader), per master tried
   * (default 180).
   */
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
export async function clusterAddresses(
  hosts: ClusterHost[],
): Promise<{ masters: string[]; agents: string[]; ips: string[] }> {
  if (!hosts.some((h) => h.role === 'master'))
    throw new PaasboxError(
      'a cluster needs at least one master',
      'name the masters: --masters user@a,user@b,user@c (three for high availability)',
    );
  const ips = await Promise.all(
    hosts.map(async (h) => {
      const ip = h.ip ?? (await detectAdvertiseAddress(h.target));
      if (!ip)
        throw new PaasboxError(
          `the address of ${h.target.name} could not be detected`,
          'check that the host has a default route (ip -4 route show default)',
          undefined,
          'target',
        );
      return ip;
    }),
  );
  const seen = new Map<string, string>();
  hosts.forEach((h, i) => {
    const other = seen.get(ips[i]!);
    if (other)
      throw new PaasboxError(
        `${h.target.name} and ${other} both advertise ${ips[i]}`,
        'name each host of the cluster once',
      );
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
  const failed = settled.flatMap((r, i) =>
    r.status === 'rejected' ? [{ host: items[i]!.target.name, e: r.reason as unknown }] : [],
  );
  if (failed.length === 1) throw failed[0]!.e;
  if (failed.length) {
    const text = (e: unknown) =>
      isPaasboxError(e)
        ? `${e.problem}${e.detail ? `\n    ${e.detail.split('\n').join('\n    ')}` : ''}`
        : e instanceof Error
          ? e.message
          : String(e);
    throw new PaasboxError(
      `${failed.length} hosts failed: ${failed.map((f) => f.host).join(', ')}`,
      "read each host's error, fix it, and run install again (converged hosts report ok)",
      failed.map((f) => `${f.host}: ${text(f.e)}`).join('\n'),
      'target',
    );
  }
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

export async function provisionCluster(
  hosts: ClusterHost[],
  opts: ClusterOptions = {},
): Promise<ClusterOutcome> {
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
  const done = await allHosts(
    hosts.filter((h) => h.role === 'master'),
    one,
  );
  let acl: ProvisionResult | undefined;
  const withConsul = done.filter((d) => d.outcome.plan?.compose.services['consul']);
  if (!opts.dryRun && withConsul.length) {
    // Every node's name: the masters' from their plans, the agents' as their plans will
    // have it (the target's short hostname, as planStack defaults it; flags give none here).
    const agentNames = await Promise.all(
      hosts
        .filter((h) => h.role === 'agent')
        .map(async (h) => opts.flags?.hostname ?? (await h.target.facts()).hostname.split('.')[0]!),
    );
    const nodeNames = [...withConsul.map((d) => d.outcome.plan!.settings.hostname), ...agentNames];
    acl = await clusterAcl(withConsul, secrets, nodeNames, progress, (opts.aclReadyTimeoutS ?? 180) * 1000);
  }
  done.push(
    ...(await allHosts(
      hosts.filter((h) => h.role === 'agent'),
      one,
    )),
  );
  let swarm: ProvisionResult | undefined;
  if (!opts.dryRun && !opts.hostOnly && opts.swarm !== false) {
    const member = async (d: ClusterHostOutcome): Promise<SwarmMember> => ({
      target: d.target,
      ip: d.ip,
      hostname: (await d.target.facts()).hostname,
    });
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

/**
 * Docker swarm over the cluster (src/swarm/membership.ts): masters managers,
 * agents workers, stale nodes of returned hosts removed.
 */
function swarmStep(masters: SwarmMember[], agents: SwarmMember[]): ProvisionStep {
  return {
    name: `docker swarm (${masters.length} managers, ${agents.length} workers)`,
    fix: 'read the detail; `docker node ls` on a master shows the swarm',
    async check() {
      const gaps = await clusterSwarmGaps(masters, agents);
      return gaps.length
        ? { ok: false, detail: gaps.join('; ') }
        : { ok: true, detail: 'every master a reachable manager, every agent a ready worker' };
    },
    async apply() {
      const changed = await ensureClusterSwarm(masters, agents);
      await settleClusterSwarm(masters, agents, 90_000);
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
async function clusterAcl(
  masters: ClusterHostOutcome[],
  secrets: InstallSecrets,
  nodeNames: string[],
  progress: Progress,
  readyTimeoutMs: number,
): Promise<ProvisionResult> {
  const text = (e: unknown) => (isPaasboxError(e) ? `${e.problem} ${e.detail ?? ''}` : String(e));
  let last: unknown;
  for (const m of masters) {
    const plan = m.outcome.plan!;
    const control = new StackControl(m.target, COMPOSE_PATH, plan.project);
    const step = consulAclStep(plan, secrets, control, { nodeNames, readyTimeoutMs });
    let failures = 0;
    // Three tries here, 5 s apart: a leader election passes. Not answering at
    // all: the next master (the wait's bound only backs up the three tries).
    const giveUp = (e: unknown) => ++failures >= 3 || /does not answer|is missing|without ACLs/.test(text(e));
    const onRetry = (attempt: number, e: unknown) =>
      progress.say(
        `[${m.target.name}] consul ACLs: attempt ${attempt} failed (${isPaasboxError(e) ? e.problem : String(e)}); trying again`,
      );
    const opts = {
      what: `Consul's ACLs through ${m.target.name}`,
      timeoutMs: 3 * (readyTimeoutMs + 60_000),
      everyMs: 5000,
      fix: "read the detail: Consul's log on that master (docker logs)",
      fatal: giveUp,
      onRetry,
    };
    try {
      return await poll(opts, () => runSteps(m.target, [step], progress));
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

// ---------------------------------------------------------------- removing an agent

/**
 * An agent leaving the cluster: how to reach it (it may be gone), its address and its node name (Consul's and
 * swarm's).
 */
export interface LeavingHost {
  target: Target;
  ip: string;
  /** Its Consul node name (the stack's hostname). */
  node: string;
  /** Its swarm node name (docker's hostname), when it differs. */
  swarmNode?: string;
}

export interface RemovalOptions {
  /** Seconds to wait for its tasks to run elsewhere (default 300). */
  drainTimeoutS?: number;
  pollMs?: number;
  consulPort?: number;
}

/** An agent's own token file (it has no management token): node write on its node, enough for maintenance. */
const AGENT_TOKEN_FILE = `${SECRETS_DIR}/${SECRET_FILES.agentToken}`;

/**
 * Consul's HTTP API on a target (its own agent at address), authenticated with
 * a token from its 0600 file there (a master's management token; `tokenFile`
 * for an agent's). Each target's tools are probed once per removal, not once per request.
 */
function consulApiOn(
  tokenFile = MANAGEMENT_TOKEN_FILE,
): (t: Target, address: string, port: number, path: string, method?: 'GET' | 'PUT') => Promise<HttpResponse> {
  const tools = new Map<Target, Promise<Tools>>();
  return async (t, address, port, path, method = 'GET') => {
    let probed = tools.get(t);
    if (!probed) {
      probed = probeTools(t);
      tools.set(t, probed);
      probed.catch(() => tools.delete(t)); // a failed probe is asked again next time
    }
    const http = onTarget(t, await probed, address, port);
    const secret = { name: 'X-Consul-Token', file: tokenFile };
    return new ConsulClient({ http, secret, timeoutMs: 10_000 }).call(method, path);
  };
}

/**
 * The steps that take an agent out, in order: Consul maintenance on its node
 * (its services leave every HAProxy's rotation), swarm drain (its tasks are
 * rescheduled on the other workers) and a wait until none runs there and
 * every service has its replicas again, then Consul leave and its stack down
 * (volumes kept), swarm leave, and the node removed from the swarm. Each
 * step checks first, so a second run (or a host already gone) is ok. A host
 * that cannot be reached is forced out instead: `consul force-leave` from a
 * manager, the node drained and removed. The last worker is not drained
 * while tasks run on it: they would have nowhere to go.
 */
export function removalSteps(
  leaving: LeavingHost,
  manager: Target,
  managerIp: string,
  opts: RemovalOptions & { reachable: boolean },
): ProvisionStep[] {
  const port = opts.consulPort ?? 8500;
  const consulApi = consulApiOn(AGENT_TOKEN_FILE); // on the leaving agent
  const managerApi = consulApiOn(); // on a master: the management token
  const swarmNode = leaving.swarmNode ?? leaving.node;
  const nodeExists = () => nodeListed(manager, swarmNode);
  const gone = (why: string) => ({ ok: true, detail: why });
  const steps: ProvisionStep[] = [];
  if (opts.reachable)
    steps.push({
      name: `consul maintenance on ${leaving.node}`,
      fix: `check that its Consul agent answers (npx paasbox status) and ${AGENT_TOKEN_FILE} is on the host`,
      async check() {
        const r = await consulApi(leaving.target, leaving.ip, port, '/v1/agent/checks');
        if (r.error || r.status !== 200)
          return gone(
            `its Consul does not answer (${r.error ?? `HTTP ${r.status}`}): nothing to put in maintenance`,
          );
        return r.body.includes('_node_maintenance')
          ? { ok: true, detail: 'already in maintenance' }
          : { ok: false, detail: 'serving' };
      },
      async apply() {
        const r = await consulApi(
          leaving.target,
          leaving.ip,
          port,
          `/v1/agent/maintenance?enable=true&reason=${encodeURIComponent('paasbox: removing this host')}`,
          'PUT',
        );
        if (r.status !== 200)
          throw new PaasboxError(
            `consul maintenance on ${leaving.node}: HTTP ${r.status} ${r.error ?? r.body.slice(0, 120)}`,
            'check its Consul agent and token',
          );
        return 'its services are critical: every HAProxy stops routing to them';
      },
    });
  steps.push(
    {
      name: `swarm drain ${leaving.node}`,
      fix: `look at \`docker node ls\` on a master`,
      async check() {
        if (!(await nodeExists())) return gone('not a swarm node');
        const availability = await nodeAvailability(manager, swarmNode);
        return availability === 'drain'
          ? { ok: true, detail: 'drained' }
          : { ok: false, detail: availability || 'unknown' };
      },
      async apply() {
        await drainNode(manager, swarmNode, leaving.node);
      },
    },
    {
      name: `tasks moved off ${leaving.node}`,
      fix: `look at \`docker service ps\` for the services named: their tasks could not be placed elsewhere`,
      async check() {
        if (!(await nodeExists())) return gone('not a swarm node');
        const p = await drainProgress(manager, swarmNode);
        return p.done
          ? { ok: true, detail: 'no task there, every service at its replicas' }
          : { ok: false, detail: p.left };
      },
      async apply() {
        const timeoutMs = (opts.drainTimeoutS ?? 300) * 1000;
        await awaitDrained(manager, swarmNode, {
          timeoutMs,
          everyMs: opts.pollMs ?? 2000,
          label: leaving.node,
        });
        return 'every task runs elsewhere';
      },
    },
  );
  if (opts.reachable)
    steps.push(
      {
        name: `consul leave and stack down on ${leaving.node}`,
        fix: 'take it down by hand: npx paasbox stack down --target user@address',
        async check() {
          const d = await readDeployment(leaving.target);
          if (!d) return gone('no stack file');
          const ps = await leaving.target.exec(`docker ps -q ${composeFilter(d.meta.project)}`, {
            sudo: true,
            timeoutMs: 30_000,
          });
          return ps.stdout.trim() ? { ok: false, detail: 'its stack runs' } : gone('its stack is down');
        },
        async apply() {
          // A graceful leave first, so the servers drop it at once instead of marking it failed.
          await consulApi(leaving.target, leaving.ip, port, '/v1/agent/leave', 'PUT').catch(() => undefined);
          const d = (await readDeployment(leaving.target))!;
          await new StackControl(leaving.target, d.path, d.meta.project).down({ volumes: false });
          return 'left Consul; containers removed, volumes kept';
        },
      },
      {
        name: `swarm leave on ${leaving.node}`,
        async check() {
          const state = await localSwarmState(leaving.target);
          return state === 'active' ? { ok: false, detail: 'in the swarm' } : gone(state || 'no docker');
        },
        async apply() {
          await leaveSwarm(leaving.target, leaving.node);
        },
      },
    );
  else
    steps.push({
      name: `consul force-leave ${leaving.node} (unreachable)`,
      async check() {
        const r = await managerApi(manager, managerIp, port, '/v1/agent/members');
        const m =
          r.status === 200
            ? (JSON.parse(r.body) as { Name: string; Status: number }[]).find((x) => x.Name === leaving.node)
            : undefined;
        return !m || m.Status === 3
          ? gone('not a member')
          : { ok: false, detail: `member, status ${m.Status}` };
      },
      async apply() {
        const r = await managerApi(
          manager,
          managerIp,
          port,
          `/v1/agent/force-leave/${encodeURIComponent(leaving.node)}`,
          'PUT',
        );
        if (r.status !== 200)
          throw new PaasboxError(
            `consul force-leave ${leaving.node}: HTTP ${r.status}`,
            'run `consul force-leave NODE` on a master with the management token',
          );
      },
    });
  steps.push({
    name: `swarm node rm ${leaving.node}`,
    async check() {
      return (await nodeExists()) ? { ok: false, detail: 'still listed' } : gone('not listed');
    },
    async apply() {
      // After swarm leave it is Down; --force also covers a host that is gone.
      await removeNode(manager, swarmNode, leaving.node);
    },
  });
  return steps;
}

/** Take an agent out of the cluster (removalSteps) through the first manager that answers. */
export async function removeClusterHost(
  leaving: LeavingHost,
  managers: { target: Target; ip: string }[],
  progress: Progress,
  opts: RemovalOptions = {},
): Promise<ProvisionResult> {
  const reachable = await leaving.target.exec('true', { timeoutMs: 20_000 }).then(
    (r) => r.code === 0,
    () => false,
  );
  const manager = await answeringManager(managers);
  if (!manager)
    throw new PaasboxError(
      `no master answers as a swarm manager, so ${leaving.node} cannot be drained`,
      'bring the masters up (npx paasbox status) and run again',
      undefined,
      'target',
    );
  if (!reachable)
    progress.say(
      `[${leaving.target.name}] not reachable: forcing it out (Consul force-leave, swarm node removed)`,
    );
  const swarmNode = reachable ? (await leaving.target.facts().catch(() => undefined))?.hostname : undefined;
  return runSteps(
    leaving.target,
    removalSteps({ ...leaving, ...(swarmNode ? { swarmNode } : {}) }, manager.target, manager.ip, {
      ...opts,
      reachable,
    }),
    progress,
  );
}
