// verify's checks of a cluster as a whole, run from each host: Consul's
// members (every host of the cluster alive), its Raft configuration (one voter
// per master, a leader) and ZooKeeper's ensemble (one leader, the other
// masters followers, asked with the whitelisted four-letter word srvr) and
// docker swarm (the masters reachable managers, every host a node), and every
// master's image registry over TLS with the CA in this host's docker trust. Raft
// needs a token: the management token is read on the target from its 0600
// file (a secret header), never on a command line. Each check names the host
// it ran from, each failure the member or master it concerns. The judging of
// what Consul and ZooKeeper answered is pure (judge*), for unit tests.

import { MANAGEMENT_TOKEN_FILE } from '../consul/acl.js';
import { SECRET_FILES, SECRETS_DIR } from '../secrets/secrets.js';
import { registryAddress, registryScopeOf, trustPath } from '../secrets/registry.js';
import { clusterHosts, isCluster, type Settings } from '../settings/settings.js';
import { servicesOnThisHost } from '../stackfile/generate.js';
import type { StackModel } from '../model/model.js';
import { effectivePorts, isEnabled } from '../settings/services.js';
import { NODE_LIST_COMMAND, parseNodeList, type SwarmNode } from '../swarm/nodes.js';
import { httpRequest } from '../system/http.js';
import { fourLetterCommand } from '../system/tcp.js';
import type { Check, Outcome } from './types.js';

export interface ConsulMember {
  Name: string;
  Addr: string;
  /** Serf's status: 1 alive, 2 leaving, 3 left, 4 failed. */
  Status: number;
}

export interface RaftServer {
  Node: string;
  Address: string;
  Leader: boolean;
  Voter: boolean;
}

const SERF_STATUS: Record<number, string> = { 0: 'none', 1: 'alive', 2: 'leaving', 3: 'left', 4: 'failed' };

/** Every host of the cluster is an alive member (by its advertised address). */
export function judgeMembers(members: ConsulMember[], hosts: string[]): Outcome {
  const expected = `${hosts.length} members alive: ${hosts.join(', ')}`;
  const bad = hosts.flatMap((h) => {
    const m = members.find((x) => x.Addr === h);
    if (!m) return [`${h} not a member`];
    return m.Status === 1 ? [] : [`${h} (${m.Name}) ${SERF_STATUS[m.Status] ?? `status ${m.Status}`}`];
  });
  const alive = members.filter((m) => m.Status === 1).length;
  return {
    ok: bad.length === 0,
    expected,
    got: bad.length ? `${alive} alive; ${bad.join('; ')}` : `${alive} alive`,
  };
}

/** One voter per master (by address, port 8300 or any), and one of them the leader. */
export function judgeRaft(servers: RaftServer[], masters: string[]): Outcome {
  const expected = `${masters.length} raft voters (${masters.join(', ')}), one the leader`;
  const addr = (s: RaftServer) => s.Address.replace(/:\d+$/, '');
  const missing = masters.filter((m) => !servers.some((s) => addr(s) === m && s.Voter));
  const extra = servers.filter((s) => !masters.includes(addr(s)));
  const leader = servers.find((s) => s.Leader);
  const problems = [
    ...missing.map((m) => `${m} no voter`),
    ...extra.map((s) => `${s.Node} (${s.Address}) is no master`),
    ...(leader ? [] : ['no leader']),
  ];
  const got = `${servers.length} servers${leader ? `, leader ${leader.Node} (${addr(leader)})` : ''}`;
  return {
    ok: problems.length === 0,
    expected,
    got: problems.length ? `${got}; ${problems.join('; ')}` : got,
  };
}

/** ZooKeeper's Mode of each master from its srvr answer: one leader, the others followers. */
export function judgeEnsemble(modes: { master: string; answer: string }[]): Outcome {
  const mode = (a: string) => /^Mode: (\w+)/m.exec(a)?.[1];
  const seen = modes.map((m) => ({ master: m.master, mode: mode(m.answer) }));
  const leaders = seen.filter((s) => s.mode === 'leader').length;
  const followers = seen.filter((s) => s.mode === 'follower').length;
  // A server without a quorum answers, but serves nothing.
  const none = (a: string) => (/not currently serving/i.test(a) ? 'not serving (no quorum)' : 'no answer');
  const got = seen.map((s, i) => `${s.master} ${s.mode ?? none(modes[i]!.answer)}`).join(', ');
  return {
    ok: leaders === 1 && followers === modes.length - 1,
    expected: `1 leader and ${modes.length - 1} followers among ${modes.map((m) => m.master).join(', ')}`,
    got,
  };
}

/**
 * A manager's view of the swarm: one reachable manager per master (one the leader), every host a ready node.
 */
export function judgeSwarm(nodes: SwarmNode[], masters: number, hosts: number): Outcome {
  const managers = nodes.filter(
    (n) => n.status === 'Ready' && (n.managerStatus === 'Leader' || n.managerStatus === 'Reachable'),
  );
  const ready = nodes.filter((n) => n.status === 'Ready');
  const notReady = nodes
    .filter((n) => n.status !== 'Ready')
    .map((n) => `${n.hostname} ${n.status}${n.managerStatus ? `/${n.managerStatus}` : ''}`);
  const leader = nodes.find((n) => n.managerStatus === 'Leader');
  return {
    ok: managers.length === masters && ready.length === hosts && notReady.length === 0 && !!leader,
    expected: `${masters} reachable managers (one the leader), ${hosts} ready nodes`,
    got: `${managers.length} reachable managers${leader ? `, leader ${leader.hostname}` : ', no leader'}, ${ready.length} ready nodes${notReady.length ? `; not ready: ${notReady.join(', ')}` : ''}`,
  };
}

/**
 * Every master's image registry answered /v2/ with 401 (anonymous refused)
 * over TLS, its certificate checked against the CA in docker's trust here: a
 * master that is gone, or a node that would not trust it, is named.
 */
export function judgeRegistries(answers: { master: string; status: number; error?: string }[]): Outcome {
  const bad = answers.filter((a) => a.error || a.status !== 401);
  return {
    ok: bad.length === 0,
    expected: `${answers.length} registries answer /v2/ over TLS with 401: ${answers.map((a) => a.master).join(', ')}`,
    got: answers
      .map((a) => `${a.master} ${a.error ? `no answer (${a.error})` : `HTTP ${a.status}`}`)
      .join('; '),
  };
}

/** The cluster checks for the host `host` (none on one host). */
export function clusterChecks(model: StackModel, settings: Settings, host: string): Check[] {
  if (!isCluster(settings)) return [];
  const checks: Check[] = [];
  const here = servicesOnThisHost(model, settings);
  const consulPort = effectivePorts(model, settings, 'consul').find((p) => p.name === 'http')?.port;
  const onMaster = settings.masters.includes(settings.ip);
  if (here.includes('consul') && consulPort !== undefined) {
    // An agent holds no management token (issue 19): its own agent token reads the members.
    const token = {
      name: 'X-Consul-Token',
      file: onMaster ? MANAGEMENT_TOKEN_FILE : `${SECRETS_DIR}/${SECRET_FILES.agentToken}`,
    };
    const hosts = clusterHosts(settings);
    checks.push({
      id: 'cluster/consul/members',
      service: 'cluster:consul',
      host,
      description: `from ${host}: every host of the cluster is an alive Consul member`,
      attempts: 10,
      delayMs: 3000,
      run: async (t, ctx) => {
        const r = await httpRequest(t, ctx.tools, ctx.address, consulPort, '/v1/agent/members', {
          secret: token,
        });
        if (r.error || r.status !== 200)
          return {
            ok: false,
            expected: 'the member list',
            got: `from ${host}: ${r.error ?? `HTTP ${r.status} ${r.body.trim().slice(0, 120)}`}`,
          };
        const o = judgeMembers(JSON.parse(r.body) as ConsulMember[], hosts);
        return { ...o, got: `from ${host}: ${o.got}` };
      },
    });
    if (onMaster)
      checks.push({
        id: 'cluster/consul/raft',
        service: 'cluster:consul',
        host,
        description: `from ${host}: ${settings.masters.length} Consul servers in Raft, one the leader`,
        attempts: 10,
        delayMs: 3000,
        run: async (t, ctx) => {
          // ?stale: any server answers, so a lost quorum reads as "no leader", not as a timeout.
          const r = await httpRequest(
            t,
            ctx.tools,
            ctx.address,
            consulPort,
            '/v1/operator/raft/configuration?stale',
            { secret: token },
          );
          if (r.error || r.status !== 200)
            return {
              ok: false,
              expected: 'the Raft configuration',
              got: `from ${host}: ${r.error ?? `HTTP ${r.status} ${r.body.trim().slice(0, 120)}`}`,
            };
          const o = judgeRaft((JSON.parse(r.body) as { Servers: RaftServer[] }).Servers, settings.masters);
          return { ...o, got: `from ${host}: ${o.got}` };
        },
      });
  }
  const master = settings.masters.includes(settings.ip);
  checks.push({
    id: master ? 'cluster/swarm/managers' : 'cluster/swarm/worker',
    service: 'cluster:swarm',
    host,
    description: master
      ? `from ${host}: ${settings.masters.length} swarm managers reachable, every host a ready node`
      : `from ${host}: this host is in the swarm`,
    attempts: 5,
    delayMs: 3000,
    run: async (t) => {
      if (!master) {
        const r = await t.exec(`docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.Error}}'`, {
          sudo: true,
          timeoutMs: 30_000,
        });
        const got = r.stdout.trim() || r.stderr.trim();
        return { ok: got.startsWith('active'), expected: 'swarm state active', got: `from ${host}: ${got}` };
      }
      const r = await t.exec(NODE_LIST_COMMAND, { sudo: true, timeoutMs: 30_000 });
      if (r.code !== 0)
        return {
          ok: false,
          expected: "the swarm's nodes",
          got: `from ${host}: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0]}`,
        };
      const o = judgeSwarm(parseNodeList(r.stdout), settings.masters.length, clusterHosts(settings).length);
      return { ...o, got: `from ${host}: ${o.got}` };
    },
  });
  if (isEnabled(model, settings, 'registry')) {
    const reg = registryScopeOf(settings);
    checks.push({
      id: 'cluster/registry/masters',
      service: 'cluster:registry',
      host,
      description: `from ${host}: each master's image registry over TLS, trusted by this host's docker`,
      attempts: 5,
      delayMs: 3000,
      run: async (t, ctx) => {
        const answers = await Promise.all(
          reg.ips.map(async (m) => {
            const ca = { file: trustPath(registryAddress(m, reg.port)), asUser: true };
            const r = await httpRequest(t, ctx.tools, m, reg.port, '/v2/', { ca });
            return { master: m, status: r.status, ...(r.error ? { error: r.error } : {}) };
          }),
        );
        const o = judgeRegistries(answers);
        return { ...o, got: `from ${host}: ${o.got}` };
      },
    });
  }
  const zkPort = effectivePorts(model, settings, 'zookeeper').find((p) => p.name === 'client')?.port;
  if (isEnabled(model, settings, 'zookeeper') && zkPort !== undefined && settings.masters.length > 1) {
    checks.push({
      id: 'cluster/zookeeper/ensemble',
      service: 'cluster:zookeeper',
      host,
      description: `from ${host}: ZooKeeper on ${settings.masters.length} masters, one leader, the others followers (srvr)`,
      attempts: 10,
      delayMs: 3000,
      run: async (t) => {
        const modes = await Promise.all(
          settings.masters.map(async (m) => ({
            master: m,
            answer: (await t.exec(fourLetterCommand(m, zkPort, 'srvr'), { timeoutMs: 20_000 })).stdout,
          })),
        );
        const o = judgeEnsemble(modes);
        return { ...o, got: `from ${host}: ${o.got}` };
      },
    });
  }
  return checks;
}
