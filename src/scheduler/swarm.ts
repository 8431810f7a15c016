// Scheduler on Docker swarm mode (the swarm built into Debian's docker.io),
// driven over a Target: `docker swarm init` on the manager, `join` on the
// workers, then `docker service` commands for the same Marathon app JSON.
import { PaasboxError } from '../errors.js';
import { checkScale, type AppPolicy } from '../apps/policy.js';
import { normaliseId, type MarathonApp } from '../appspec/app.js';
import type { Progress } from '../progress.js';
import { shq } from '../target/shell.js';
import type { Target } from '../target/target.js';
import { AGENT_LABEL, APP_ID_LABEL, APP_IMAGE_LABEL, marathonToSwarmService, pinnedImage, swarmServiceName } from './swarm-service.js';
import type { AppInstance, AppState, DeployOutcome, Scheduler } from './scheduler.js';

export { marathonToSwarmService, swarmServiceName, APP_ID_LABEL, AGENT_LABEL, WORKER_CONSTRAINT } from './swarm-service.js';

async function run(t: Target, argv: string[] | string, what: string, opts: { stdin?: string; timeoutMs?: number } = {}): Promise<string> {
  const cmd = typeof argv === 'string' ? argv : argv.map(shq).join(' ');
  const r = await t.exec(cmd, { sudo: true, timeoutMs: opts.timeoutMs ?? 120000, ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}) });
  if (r.code !== 0) {
    const err = (r.stderr || r.stdout).trim();
    throw new PaasboxError(`${what} failed on ${t.name}: ${err.split('\n').slice(-1)[0] ?? ''}`, swarmFix(err), err);
  }
  return r.stdout;
}

/**
 * Join the swarm without the token in any process's argv (`docker swarm join
 * --token` would put it in docker's): the Docker Engine API's POST
 * /swarm/join over the unix socket, its JSON body (swarmJoinBody) read from
 * stdin by perl (perl-base is Essential on Debian, curl is not on every host).
 * Prints `HTTP CODE: message` to stderr and exits 1 unless Docker answers 200.
 */
export const swarmJoinCommand = (socket = '/var/run/docker.sock'): string =>
  `perl -MIO::Socket::UNIX -e '${[
    'local $/; my $b = <STDIN>;',
    'my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "$ARGV[0]: $!\\n";',
    'print $s "POST /swarm/join HTTP/1.0\\r\\nHost: docker\\r\\nContent-Type: application/json\\r\\n"',
    '. "Content-Length: " . length($b) . "\\r\\n\\r\\n" . $b;',
    'my $r = <$s>; my ($c) = $r =~ m{^HTTP/\\S+ (\\d+)}; my ($m) = $r =~ m{\\r\\n\\r\\n(.*)}s;',
    'exit 0 if ($c // 0) == 200; print STDERR "HTTP " . ($c // "?") . ": " . ($m // $r // "") . "\\n"; exit 1;',
  ].join(' ')}' ${shq(socket)}`;

/** The body of POST /swarm/join (Docker Engine API): sent over stdin only, it holds the join token. */
export function swarmJoinBody(token: string, remote: string, advertiseAddr?: string): string {
  const advertise = advertiseAddr ? { AdvertiseAddr: advertiseAddr } : {};
  return JSON.stringify({ ListenAddr: '0.0.0.0:2377', ...advertise, RemoteAddrs: [remote], JoinToken: token });
}

function swarmFix(err: string): string {
  if (/docker: (command )?not found|Cannot connect to the Docker daemon/i.test(err)) return 'install docker.io and start dockerd on the host (scripts/install.mjs does both)';
  if (/This node is not a swarm manager/i.test(err)) return 'run it on the swarm manager, or initialise the swarm first (ensureSwarm)';
  if (/advertise address/i.test(err)) return 'give the host\'s own routable IP as the advertise address (not 127.x or 0.0.0.0)';
  if (/No such image/i.test(err)) return 'load the image on every swarm node first (docker save IMG | ssh HOST docker load, or scripts/build-images.mjs)';
  return 'see the detail below';
}

export async function swarmState(t: Target): Promise<{ state: string; isManager: boolean; nodeAddr: string }> {
  const out = await run(t, ['docker', 'info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeAddr}}'], 'docker info');
  const [state = '', ctl = '', addr = ''] = out.trim().split(/\s+/);
  return { state, isManager: ctl === 'true', nodeAddr: addr };
}

/**
 * Make `manager` a swarm manager (advertising advertiseAddr) and join each
 * worker; the join token travels over the targets' own channel (stdin), never
 * through a file. Idempotent: nodes already in the swarm are left alone.
 */
export async function ensureSwarm(
  manager: Target,
  workers: Target[] = [],
  opts: { advertiseAddr?: string; progress?: Progress } = {},
): Promise<{ initialised: boolean; joined: string[]; managerAddr: string }> {
  const addr = opts.advertiseAddr ?? manager.address;
  if (/^(127\.|0\.0\.0\.0|localhost$)/.test(addr)) {
    throw new PaasboxError(`swarm advertise address ${addr} is not reachable from other hosts`, 'install records it (npx paasbox install); or pass the manager\'s routable IP with --advertise-addr');
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
      await run(manager, ['docker', 'swarm', 'init', '--advertise-addr', addr], 'docker swarm init');
      return true;
    });
  } else if (!s.isManager) {
    throw new PaasboxError(`${manager.name} is in a swarm but not a manager`, 'pick the swarm\'s manager as the deploy target, or `docker swarm leave` on it');
  }
  const managerAddr = s.state === 'active' && s.nodeAddr ? s.nodeAddr : addr;
  const joined: string[] = [];
  if (workers.length) {
    const token = (await run(manager, ['docker', 'swarm', 'join-token', '-q', 'worker'], 'docker swarm join-token')).trim();
    for (const w of workers) {
      const ws = await swarmState(w);
      if (ws.state === 'active') continue;
      await step('swarm join', w.name, async () => {
        const body = swarmJoinBody(token, `${managerAddr}:2377`);
        await run(w, swarmJoinCommand(), 'docker swarm join (Engine API)', { stdin: body });
        return true;
      });
      joined.push(w.name);
    }
  }
  return { initialised, joined, managerAddr };
}

interface TaskLine {
  ID: string;
  Name: string;
  Node: string;
  DesiredState: string;
  CurrentState: string;
  Error: string;
  Ports: string;
}

/**
 * Host ports of a task from `docker service ps` Ports ("*:32772->8080/tcp, ..."),
 * one per container port: docker lists its IPv4 binding first, then the IPv6
 * one, whose host port differs once its allocators drift apart. Pure.
 */
export function parseTaskPorts(ports: string): number[] {
  const byTarget = new Map<string, number>();
  for (const m of ports.matchAll(/:(\d+)->(\d+\/\w+)/g)) if (!byTarget.has(m[2]!)) byTarget.set(m[2]!, Number(m[1]));
  return [...byTarget.values()];
}

export class SwarmScheduler implements Scheduler {
  readonly kind = 'swarm' as const;
  readonly where: string;

  constructor(readonly manager: Target, private readonly opts: { pollMs?: number; policy?: AppPolicy } = {}) {
    this.where = manager.name;
  }

  /**
   * The service of app `id`, if there is one: its mounts' targets. A service
   * of that name that is another app's (ids /a/b and /a-b share a name) or
   * no app's is refused: deploy never takes over what it did not make.
   */
  private async existing(id: string, name: string): Promise<{ mounts: string[] } | undefined> {
    const format = `{{index .Spec.Labels "${APP_ID_LABEL}"}}{{range .Spec.TaskTemplate.ContainerSpec.Mounts}} {{.Target}}{{end}}`;
    const r = await this.manager.exec(`docker service inspect --format ${shq(format)} ${shq(name)}`, { sudo: true, timeoutMs: 60000 });
    if (r.code !== 0) return undefined;
    const [owner = '', ...mounts] = r.stdout.trim().split(/\s+/);
    if (owner !== normaliseId(id)) {
      throw new PaasboxError(
        `the swarm service ${name} is ${owner ? `app ${owner}'s` : 'no app\'s'}, not ${normaliseId(id)}'s`,
        'give the app an id of its own (slashes become dashes in service names)',
      );
    }
    return { mounts };
  }

  /** Whether the swarm has a cluster's agents (nodes labelled AGENT_LABEL by install), where apps then go. */
  async hasWorkers(): Promise<boolean> {
    return (await agentNodes(this.manager)).length > 0;
  }

  async deploy(app: MarathonApp): Promise<DeployOutcome> {
    // Refused apps are refused before any command runs, the swarm's question included.
    marathonToSwarmService(app, this.opts.policy);
    const [workers, pinned] = await Promise.all([this.hasWorkers(), this.pinned(app)]);
    const svc = marathonToSwarmService(app, this.opts.policy, { workers, ...(pinned ? { pinnedImage: pinned } : {}) });
    const existing = await this.existing(app.id, svc.name);
    // An update adds: the mounts the app no longer has are removed (--mount-add alone would keep them).
    const update = existing ? [...svc.update.slice(0, -1), ...mountRemovals(existing.mounts, app), svc.name] : [];
    await run(this.manager, existing ? update : svc.create, `docker service ${existing ? 'update' : 'create'} ${svc.name}`);
    return { created: !existing, warnings: svc.warnings };
  }

  /** The app's image by digest or ID as the manager has it (pinnedImage), unless the app forces a pull. */
  private async pinned(app: MarathonApp): Promise<string | undefined> {
    const image = app.container?.docker.image;
    if (!image || app.container?.docker.forcePullImage) return undefined;
    const r = await this.manager.exec(`docker image inspect --format '{{.Id}}{{range .RepoDigests}} {{.}}{{end}}' ${shq(image)}`, { sudo: true, timeoutMs: 30_000 });
    return r.code === 0 ? pinnedImage(image, r.stdout) : undefined;
  }

  async scale(id: string, instances: number): Promise<void> {
    checkScale(id, instances, this.opts.policy?.bounds);
    const name = swarmServiceName(id);
    if (!(await this.existing(id, name))) throw new PaasboxError(`no app ${id} in the swarm on ${this.manager.name}`, 'deploy it first');
    await run(this.manager, ['docker', 'service', 'scale', '--detach', `${name}=${instances}`], `docker service scale ${name}`);
  }

  async destroy(id: string): Promise<boolean> {
    const name = swarmServiceName(id);
    if (!(await this.existing(id, name))) return false;
    await run(this.manager, ['docker', 'service', 'rm', name], `docker service rm ${name}`);
    return true;
  }

  async list(): Promise<AppState[]> {
    const out = await run(
      this.manager,
      ['docker', 'service', 'ls', '--filter', `label=${APP_ID_LABEL}`, '--format', '{{.Name}}\t{{.Replicas}}\t{{.Image}}'],
      'docker service ls',
    );
    const lines = out.split('\n').filter(Boolean);
    if (!lines.length) return [];
    const names = lines.map((l) => l.split('\t')[0] ?? '');
    const labels = (await run(this.manager, ['docker', 'service', 'inspect', '--format', `{{index .Spec.Labels "${APP_ID_LABEL}"}}\t{{index .Spec.Labels "${APP_IMAGE_LABEL}"}}`, ...names], 'docker service inspect'))
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t'));
    return lines.map((l, i) => {
      const [, replicas = '0/0', image = ''] = l.split('\t');
      const [ready = '0', wanted = '0'] = replicas.split(' ')[0]!.split('/');
      const [id, named] = labels[i] ?? [];
      // The image as the app named it (the service may run it pinned by digest or ID).
      return { id: id || `/${names[i]}`, instances: Number(wanted), ready: Number(ready), image: named || image.replace(/@sha256:.*/, '') };
    });
  }

  /**
   * Wait until the service runs exactly the wanted number of tasks. Swarm keeps
   * a task with a health check in "starting" until it passes, so a Running
   * task is a healthy one, as Marathon's waitForHealthy means it.
   */
  async waitReady(id: string, timeoutMs: number): Promise<AppInstance[]> {
    const name = swarmServiceName(id);
    const until = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      // The wanted count, and whether an update still rolls (a task of the previous version runs): one inspect.
      const [wantedText = '', updating = ''] = (
        await run(this.manager, ['docker', 'service', 'inspect', '--format', '{{.Spec.Mode.Replicated.Replicas}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}', name], `docker service inspect ${name}`)
      ).trim().split(/\s+/);
      const wanted = Number(wantedText);
      const tasks = (await run(this.manager, ['docker', 'service', 'ps', '--no-trunc', '--format', '{{json .}}', name], `docker service ps ${name}`))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as TaskLine);
      const current = tasks.filter((t) => t.DesiredState === 'Running');
      const running = current.filter((t) => t.CurrentState.startsWith('Running'));
      // Tasks being stopped (scale down, replaced by an update) still serve until they exit.
      let stopping = tasks.filter((t) => t.DesiredState !== 'Running' && /^(Running|Starting)/.test(t.CurrentState));
      // A lost node never reports its tasks' end: they stay "Running" there, and serve nothing.
      let nodes: Map<string, SwarmNodeFacts> | undefined;
      if (stopping.length) {
        nodes = await swarmNodeFacts(this.manager);
        stopping = stopping.filter((t) => nodes!.get(t.Node)?.state === 'ready');
      }
      if (running.length === wanted && current.length === wanted && stopping.length === 0 && updating !== 'updating' && updating !== 'rollback_started') {
        nodes ??= await swarmNodeFacts(this.manager);
        return running.map((t) => ({ id: t.ID, host: nodes!.get(t.Node)?.addr ?? t.Node, ports: parseTaskPorts(t.Ports), healthy: true }));
      }
      const fatal = tasks.find((t) => /No such image|invalid reference format|pull access denied/i.test(t.Error));
      if (fatal) {
        throw new PaasboxError(`app ${id} cannot start on node ${fatal.Node}: ${fatal.Error}`, swarmFix(fatal.Error), fatal.Error);
      }
      last = `${running.length}/${wanted} running${updating ? ` (update ${updating})` : ''}${tasks.find((t) => t.Error)?.Error ? `, last error: ${tasks.find((t) => t.Error)!.Error}` : ''}`;
      if (Date.now() >= until) {
        throw new PaasboxError(`app ${id} not ready after ${Math.round(timeoutMs / 1000)}s: ${last}`, `look at \`docker service ps --no-trunc ${name}\` and the task logs on its nodes`);
      }
      await new Promise((r) => setTimeout(r, this.opts.pollMs ?? 1000));
    }
  }
}

/** `--mount-rm TARGET` for each mount of the running service that `app` no longer has. Pure. */
export function mountRemovals(running: string[], app: MarathonApp): string[] {
  const wanted = new Set((app.container?.volumes ?? []).map((v) => v.containerPath));
  return running.filter((t) => !wanted.has(t)).flatMap((t) => ['--mount-rm', t]);
}

// ---------------------------------------------------------------- a cluster's swarm

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
  return out.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
    const [id = '', hostname = '', status = '', managerStatus = ''] = l.split(/\s+/);
    return { id, hostname, status, managerStatus };
  });
}

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
  for (const m of masters) if (!live(m).some((n) => n.managerStatus === 'Leader' || n.managerStatus === 'Reachable')) gaps.push(`${m} no reachable manager`);
  for (const a of agents) if (!live(a).length) gaps.push(`${a} no ready worker`);
  for (const n of nodes) if (n.status !== 'Ready' && [...masters, ...agents].includes(n.hostname)) gaps.push(`${n.hostname} stale node ${n.id.slice(0, 12)} (${n.status})`);
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

/** What `docker node inspect` says of a node: its swarm address, state (ready, down, unknown) and AGENT_LABEL's value. */
export interface SwarmNodeFacts {
  addr: string;
  state: string;
  role: string;
}

/** Every node's facts by hostname, in one `docker node inspect` on a manager. */
export async function swarmNodeFacts(manager: Target): Promise<Map<string, SwarmNodeFacts>> {
  const out = await run(manager, `docker node inspect --format '{{.Description.Hostname}} {{.Status.Addr}} {{.Status.State}} {{index .Spec.Labels "${AGENT_LABEL.key}"}}' $(docker node ls -q)`, 'docker node inspect');
  return new Map(out.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
    const [host = '', addr = '', state = '', role = ''] = l.split(/\s+/);
    return [host, { addr, state, role }];
  }));
}

/** Hostnames of the nodes labelled as a cluster's agents (AGENT_LABEL), as a manager sees them. */
export async function agentNodes(manager: Target): Promise<string[]> {
  return [...(await swarmNodeFacts(manager))].filter(([, f]) => f.role === AGENT_LABEL.value).map(([h]) => h);
}

/** The swarm's nodes as a manager lists them. */
export async function swarmNodes(manager: Target): Promise<SwarmNode[]> {
  return parseNodeList(await run(manager, NODE_LIST_COMMAND, 'docker node ls'));
}

/**
 * The check half of ensureClusterSwarm: what is missing (empty: converged),
 * as the leading manager sees it.
 */
export async function clusterSwarmGaps(masters: SwarmMember[], agents: SwarmMember[]): Promise<string[]> {
  const lead = await swarmLead(masters);
  if (!lead) return ['no swarm yet'];
  try {
    const gaps = swarmGaps(await swarmNodes(lead.target), masters.map((m) => m.hostname), agents.map((a) => a.hostname));
    if (gaps.length || !agents.length) return gaps;
    // Apps go where this label is (deploy's placement).
    const labelled = await agentNodes(lead.target);
    return agents.filter((a) => !labelled.includes(a.hostname)).map((a) => `${a.hostname} not labelled ${AGENT_LABEL.key}=${AGENT_LABEL.value}`);
  } catch (e) {
    return [`the swarm does not answer on ${lead.hostname}: ${e instanceof PaasboxError ? e.problem : String(e)}`];
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
    await run(lead.target, ['docker', 'swarm', 'init', '--advertise-addr', lead.ip], 'docker swarm init');
    changed.push(`init on ${lead.hostname}`);
  }
  // A lost quorum that cannot come back: this manager answers no node list (no
  // leader) and no other master is a swarm manager any more (they returned with
  // an emptied docker). Docker's recovery: a new cluster from this manager's
  // state (docker swarm init --force-new-cluster); the others then join again.
  // Never while another master still holds the swarm (it may only be unreachable).
  const lost = await swarmNodes(lead.target).then(() => false, (e: unknown) => NO_LEADER.test(e instanceof PaasboxError ? `${e.problem} ${e.detail ?? ''}` : String(e)));
  if (lost) {
    const others = await Promise.all(masters.filter((m) => m !== lead).map((m) => swarmState(m.target).catch(() => undefined)));
    if (others.every((o) => o !== undefined && o.state !== 'active')) {
      await run(lead.target, ['docker', 'swarm', 'init', '--force-new-cluster', '--advertise-addr', lead.ip], 'docker swarm init --force-new-cluster');
      changed.push(`new cluster from ${lead.hostname} (the quorum was lost: the other managers came back without their swarm state)`);
      // It leads alone once its Raft has elected it: wait for the node list (at most 60 s).
      for (let i = 0; i < 30 && !(await swarmNodes(lead.target).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 2000));
    } else {
      throw new PaasboxError(
        `the swarm on ${lead.hostname} has no leader, and other masters still hold swarm state`,
        'bring the other masters back (their docker running), then run install again',
      );
    }
  }
  const leadAddr = `${lead.ip}:2377`;
  const join = async (m: SwarmMember, role: 'manager' | 'worker') => {
    const s = await swarmState(m.target);
    if (s.state === 'active') {
      if (role === 'manager' && !s.isManager) {
        await run(lead.target, ['docker', 'node', 'promote', m.hostname], `docker node promote ${m.hostname}`);
        changed.push(`promote ${m.hostname}`);
      }
      return;
    }
    for (const n of (await swarmNodes(lead.target)).filter((x) => x.hostname === m.hostname && x.status !== 'Ready')) {
      if (n.managerStatus) await run(lead.target, ['docker', 'node', 'demote', n.id], `docker node demote ${n.id}`);
      await run(lead.target, ['docker', 'node', 'rm', '--force', n.id], `docker node rm ${n.id}`);
      changed.push(`remove stale node of ${m.hostname}`);
    }
    const token = (await run(lead.target, ['docker', 'swarm', 'join-token', '-q', role], 'docker swarm join-token')).trim();
    const body = swarmJoinBody(token, leadAddr, m.ip);
    await run(m.target, swarmJoinCommand(), 'docker swarm join (Engine API)', { stdin: body });
    changed.push(`${m.hostname} joins as ${role}`);
  };
  // One at a time: each join changes the managers' Raft membership.
  for (const m of masters) if (m !== lead) await join(m, 'manager');
  for (const a of agents) await join(a, 'worker');
  // The agents carry the label deploy places apps by.
  if (agents.length) {
    const labelled = await agentNodes(lead.target);
    for (const a of agents.filter((x) => !labelled.includes(x.hostname))) {
      await run(lead.target, ['docker', 'node', 'update', '--label-add', `${AGENT_LABEL.key}=${AGENT_LABEL.value}`, a.hostname], `docker node update ${a.hostname}`);
      changed.push(`${a.hostname} labelled ${AGENT_LABEL.key}=${AGENT_LABEL.value}`);
    }
  }
  return changed;
}
