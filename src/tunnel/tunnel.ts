// `paasbox tunnel up|down|status` on this machine (the laptop): sshuttle in
// the background through the stack's sshd, the resolver set up for the
// stack's domain, and everything it changed recorded so `status` can check it
// and `down` can undo it and prove it is gone. The machine is reached through
// a TunnelSystem, so the unit tests drive the pidfile and status logic with
// a fake one.

import { spawn } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { poll } from '../poll.js';
import { PaasboxError } from '../errors.js';
import { shq } from '../target/shell.js';
import {
  FACT_COMMANDS,
  leftOver,
  nftCleanup,
  ownedLines,
  redirectsOf,
  snapshotLines,
  tunnelFirewallLines,
  type NetworkFacts,
} from './firewall.js';
import {
  addResolvConf,
  detectResolver,
  hasResolvConfLines,
  isOurMacosResolver,
  LOOPBACK_NS,
  macosResolverPath,
  macosResolverText,
  removeResolvConf,
  RESOLV_CONF,
  resolvConfWarnings,
  resolvedDownCommands,
  resolvedUpCommands,
  linkName,
  resolverDomain,
  resolverServer,
  type ResolverKind,
} from './resolver.js';
import {
  checkSubnets,
  commandLine,
  cidrContains,
  ipv4ToInt,
  parseCidr,
  sshuttleArgs,
  type LocalAddress,
} from './sshuttle.js';
import {
  loggerShim,
  processState,
  readPidfile,
  readRecord,
  realProcFs,
  removeRecord,
  writeRecord,
  type ProcFs,
  type TunnelPaths,
  type TunnelRecord,
} from './state.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** This machine, as the tunnel sees it. */
export interface TunnelSystem {
  platform: NodeJS.Platform;
  isRoot: boolean;
  /** A shell command as root (sudo -n when not root). */
  root(command: string, opts?: { stdin?: string; timeoutMs?: number }): Promise<RunResult>;
  /** A shell command as the user (what needs no root: ip route, ip link...). */
  run(command: string): Promise<RunResult>;
  proc: ProcFs;
  /** Signal a process (through sudo when it is root's and we are not). */
  kill(pid: number, signal: NodeJS.Signals): Promise<void>;
  localAddresses(): LocalAddress[];
  /**
   * Run sshuttle with argv, its output into logPath, PATH starting with pathPrefix; resolves with its exit
   * code.
   */
  runSshuttle(
    argv: string[],
    opts: { logPath: string; pathPrefix: string; timeoutMs: number },
  ): Promise<number>;
  readFile(path: string): string | undefined;
  now(): number;
}

export const realSystem: TunnelSystem = {
  platform: process.platform,
  isRoot: process.getuid?.() === 0,
  root(command, opts = {}) {
    const isRoot = process.getuid?.() === 0;
    const [cmd, args] = isRoot ? ['sh', ['-c', command]] : ['sudo', ['-n', 'sh', '-c', command]];
    return runProcess(cmd as string, args as string[], opts);
  },
  run: (command) => runProcess('sh', ['-c', command], {}),
  proc: realProcFs,
  async kill(pid, signal) {
    try {
      process.kill(pid, signal);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EPERM') return;
      await realSystem.root(`kill -${signal.replace(/^SIG/, '')} ${pid}`);
    }
  },
  localAddresses() {
    return Object.entries(networkInterfaces()).flatMap(([iface, list]) =>
      (list ?? [])
        .filter((a) => a.family === 'IPv4' && !a.internal)
        .map((a) => ({ iface, address: a.address })),
    );
  },
  runSshuttle(argv, opts) {
    return new Promise((resolve, reject) => {
      const fd = openSync(opts.logPath, 'a', 0o600);
      // stdin stays the terminal: sshuttle asks sudo (and ssh a key's passphrase) there.
      const p = spawn('sshuttle', argv, {
        stdio: ['inherit', fd, fd],
        env: { ...process.env, PATH: `${opts.pathPrefix}:${process.env['PATH'] ?? '/usr/bin:/bin'}` },
      });
      closeSync(fd);
      const timer = setTimeout(() => p.kill('SIGTERM'), opts.timeoutMs);
      p.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      p.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve(code ?? (signal ? 128 : 1));
      });
    });
  },
  readFile(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  now: () => Date.now(),
};

function runProcess(
  cmd: string,
  args: string[],
  opts: { stdin?: string; timeoutMs?: number },
): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.stdin.on('error', () => undefined);
    p.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: stderr + String(e) });
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    p.stdin.end(opts.stdin ?? '');
  });
}

/** Routes, rules, links, addresses and firewall of this machine; each part only when it can be read. */
export async function readNetworkFacts(sys: TunnelSystem): Promise<NetworkFacts> {
  const facts: NetworkFacts = {};
  if (sys.platform !== 'linux') return facts;
  for (const [k, cmd] of Object.entries(FACT_COMMANDS) as Array<[keyof NetworkFacts, string]>) {
    // Reading the firewall needs root; routes, rules, links and addresses do not.
    const r =
      k === 'iptablesSave' || k === 'nftRuleset'
        ? await sys.root(`${cmd} 2>/dev/null`)
        : await sys.run(`${cmd} 2>/dev/null`);
    if (r.code === 0) facts[k] = r.stdout;
  }
  return facts;
}

// ---------------------------------------------------------------- status

export type TunnelState = 'up' | 'down' | 'broken';

export interface TunnelStatus {
  instance: string;
  state: TunnelState;
  pid?: number;
  record?: TunnelRecord;
  /** What sshuttle's firewall rules route now (TCP destinations) and which DNS servers they capture. */
  routes: string[];
  dns: string[];
  /** Firewall rules were readable (root or passwordless sudo, Linux). */
  rulesChecked: boolean;
  resolver?: { kind: ResolverKind; present: boolean; detail: string };
  problems: string[];
  log: string;
}

/** Whether the resolver change `up` made is in place now. */
function resolverPresent(
  sys: TunnelSystem,
  r: TunnelRecord,
  facts: NetworkFacts,
): { present: boolean; detail: string } {
  switch (r.resolver.kind) {
    case 'resolved': {
      const link = r.resolver.link ?? '';
      const present = (facts.links ?? '').split('\n').some((l) => new RegExp(`^\\d+: ${link}[:@]`).test(l));
      return { present, detail: `${link}: DNS ${r.resolver.server} for ~${r.domain} (systemd-resolved)` };
    }
    case 'resolv.conf':
      return {
        present: hasResolvConfLines(sys.readFile(RESOLV_CONF) ?? '', r.instance),
        detail: `${RESOLV_CONF}: nameserver ${LOOPBACK_NS} first`,
      };
    case 'macos': {
      const file = r.resolver.file ?? macosResolverPath(r.domain);
      return {
        present: isOurMacosResolver(sys.readFile(file) ?? '', r.instance),
        detail: `${file}: nameserver ${r.resolver.server}`,
      };
    }
    default:
      return { present: true, detail: 'left alone (--resolver none)' };
  }
}

export async function tunnelStatus(
  sys: TunnelSystem,
  paths: TunnelPaths,
  instance: string,
): Promise<TunnelStatus> {
  const record = readRecord(paths);
  const pid = readPidfile(paths);
  const ps = pid ? processState(pid, sys.proc) : 'gone';
  const facts = await readNetworkFacts(sys);
  const rulesChecked = facts.iptablesSave !== undefined || facts.nftRuleset !== undefined;
  const port = record?.listenPort;
  const fw = port ? tunnelFirewallLines(facts, port) : [];
  const { tcp, dns } = redirectsOf(fw);
  const st: TunnelStatus = {
    instance,
    state: 'down',
    routes: tcp,
    dns,
    rulesChecked,
    problems: [],
    log: paths.log,
    ...(record ? { record } : {}),
    ...(pid && ps === 'sshuttle' ? { pid } : {}),
  };
  if (record) st.resolver = { kind: record.resolver.kind, ...resolverPresent(sys, record, facts) };
  const running = ps === 'sshuttle';
  if (!record && !running) return st;
  if (!record) st.problems.push(`sshuttle (pid ${pid}) runs but ${paths.state} is missing`);
  if (record && !running)
    st.problems.push(
      pid && ps === 'other'
        ? `pid ${pid} in ${paths.pidfile} is no longer sshuttle`
        : 'sshuttle is not running (it exits when the SSH connection drops; see the log)',
    );
  if (record && rulesChecked) {
    if (running && !fw.length) st.problems.push(`no firewall rules of sshuttle-${port}`);
    if (!running && fw.length)
      st.problems.push(`sshuttle is gone but its rules are left: ${fw.length} lines of sshuttle-${port}`);
    if (running) for (const s of record.subnets) if (!tcp.includes(s)) st.problems.push(`${s} is not routed`);
  }
  if (record && st.resolver && !st.resolver.present)
    st.problems.push(`the resolver change is missing: ${st.resolver.detail}`);
  if (record && !running && st.resolver?.present && record.resolver.kind !== 'none')
    st.problems.push(`the resolver still sends .${record.domain} to the tunnel: ${st.resolver.detail}`);
  st.state = running && !st.problems.length ? 'up' : 'broken';
  return st;
}

export function formatStatus(s: TunnelStatus): string {
  const r = s.record;
  const lines: string[] = [];
  if (s.state === 'down') return `tunnel ${s.instance}: down (no sshuttle running; nothing of it left)\n`;
  lines.push(
    `tunnel ${s.instance}: ${s.state}${s.pid ? ` (sshuttle pid ${s.pid}` : ' ('}${r ? `${s.pid ? ', ' : ''}via ${r.remote}, since ${r.startedAt}` : ''})`,
  );
  if (r) {
    const asStarted = (now: string[], started: string[]) =>
      now.length ? now.join(', ') : `none now (started with ${started.join(', ')})`;
    lines.push(
      `  routes:   ${s.rulesChecked ? asStarted(s.routes, r.subnets) : `${r.subnets.join(', ')} (as started; the firewall rules are not readable here: run as root)`}`,
    );
    lines.push(
      `  dns:      queries to ${s.rulesChecked ? asStarted(s.dns, r.nsHosts) : r.nsHosts.join(', ')} → the stack's dnsmasq (${r.toNs})`,
    );
    if (s.resolver)
      lines.push(
        `  resolver: ${r.resolver.kind}: ${s.resolver.detail}${s.resolver.present ? '' : ' (MISSING)'}`,
      );
  }
  for (const p of s.problems) lines.push(`  problem:  ${p}`);
  lines.push(`  log:      ${s.log}`);
  if (s.state === 'broken')
    lines.push('  fix:      npx paasbox tunnel down (removes what is left), then npx paasbox tunnel up');
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------- down

export interface DownResult {
  /** The sshuttle stopped, if one ran. */
  stopped?: number;
  /** Lines `up` added that are verified gone now. */
  removed: string[];
  /** What was undone besides (resolver, leftovers removed by paasbox itself). */
  undone: string[];
  wasRunning: boolean;
}

/** Whether fn came true within ms (looked at every 200 ms). */
function waitUntil(what: string, ms: number, fn: () => Promise<boolean> | boolean): Promise<boolean> {
  const fix = 'npx paasbox tunnel status';
  return poll({ what, timeoutMs: ms, everyMs: 200, fix, fatal: () => true }, async () =>
    (await fn()) ? true : undefined,
  ).catch((e: unknown) =>
    e instanceof PaasboxError && e.problem.startsWith('timed out') ? false : Promise.reject(e),
  );
}

async function undoResolver(sys: TunnelSystem, r: TunnelRecord): Promise<string | undefined> {
  switch (r.resolver.kind) {
    case 'resolved': {
      const link = r.resolver.link!;
      for (const c of resolvedDownCommands(link)) {
        const x = await sys.root(c);
        if (x.code !== 0)
          throw new PaasboxError(
            `removing the resolver link ${link} failed`,
            `remove it by hand: sudo resolvectl revert ${link}; sudo ip link del ${link}`,
            x.stderr,
          );
      }
      return `resolver link ${link} removed`;
    }
    case 'resolv.conf': {
      const text = sys.readFile(RESOLV_CONF);
      if (text === undefined || !hasResolvConfLines(text, r.instance)) return undefined;
      await writeInPlace(sys, RESOLV_CONF, removeResolvConf(text, r.instance));
      return `${RESOLV_CONF}: nameserver ${LOOPBACK_NS} removed`;
    }
    case 'macos': {
      // Made from the recorded domain (checked: a DNS name), not taken from the record as a path.
      const file = macosResolverPath(r.domain);
      if (!isOurMacosResolver(sys.readFile(file) ?? '', r.instance)) return undefined;
      const x = await sys.root(`rm -f ${shq(file)}`);
      if (x.code !== 0) throw new PaasboxError(`removing ${file} failed`, `sudo rm ${file}`, x.stderr);
      return `${file} removed`;
    }
    default:
      return undefined;
  }
}

/**
 * Write a file in place (cat >): /etc/resolv.conf may be a symlink or a bind mount that a rename would break.
 */
async function writeInPlace(sys: TunnelSystem, path: string, text: string): Promise<void> {
  const x = await sys.root(`cat > ${shq(path)}`, { stdin: text });
  if (x.code !== 0)
    throw new PaasboxError(
      `writing ${path} failed`,
      `run as root or with passwordless sudo; or --resolver none and set up .consul DNS yourself`,
      x.stderr,
    );
}

/** Remove sshuttle's chain of `port` when sshuttle could not (it was killed hard). */
async function removeChain(sys: TunnelSystem, port: number): Promise<void> {
  const c = `sshuttle-${port}`;
  await sys.root(
    `for t in nat mangle; do for h in OUTPUT PREROUTING; do while iptables -t $t -D $h -j ${c} 2>/dev/null; do :; done; done; ` +
      `iptables -t $t -F ${c} 2>/dev/null; iptables -t $t -X ${c} 2>/dev/null; done; ` +
      `command -v nft >/dev/null && { nft delete table ip sshuttle-ipv4-${port} 2>/dev/null; nft delete table ip6 sshuttle-ipv6-${port} 2>/dev/null; }; true`,
  );
}

export async function tunnelDown(sys: TunnelSystem, paths: TunnelPaths): Promise<DownResult> {
  const record = readRecord(paths);
  const pid = readPidfile(paths);
  const live = pid !== undefined && processState(pid, sys.proc) === 'sshuttle';
  const out: DownResult = { removed: [], undone: [], wasRunning: live };
  if (!record && !live) {
    rmSync(paths.pidfile, { force: true });
    return out;
  }
  if (live) {
    await sys.kill(pid!, 'SIGTERM');
    if (
      !(await waitUntil(
        `sshuttle (pid ${pid}) to stop`,
        15_000,
        () => processState(pid!, sys.proc) !== 'sshuttle',
      ))
    ) {
      await sys.kill(pid!, 'SIGKILL');
      await waitUntil(
        `sshuttle (pid ${pid}) to die`,
        5_000,
        () => processState(pid!, sys.proc) !== 'sshuttle',
      );
    }
    if (processState(pid!, sys.proc) === 'sshuttle')
      throw new PaasboxError(
        `sshuttle (pid ${pid}) does not stop`,
        `kill it: sudo kill -9 ${pid}; then npx paasbox tunnel down again`,
      );
    out.stopped = pid;
  }
  rmSync(paths.pidfile, { force: true });
  if (!record) return out;
  const undone = await undoResolver(sys, record);
  if (undone) out.undone.push(undone);
  // sshuttle's firewall helper restores its rules when the client exits; give it a moment, then do it
  // ourselves.
  const port = record.listenPort;
  let facts = await readNetworkFacts(sys);
  const gone = await waitUntil(`sshuttle's firewall rules to go`, 10_000, async () => {
    facts = await readNetworkFacts(sys);
    return tunnelFirewallLines(facts, port).length === 0;
  });
  if (!gone) {
    await removeChain(sys, port);
    out.undone.push(`sshuttle-${port} rules left by sshuttle removed by paasbox`);
    facts = await readNetworkFacts(sys);
  }
  // iptables-nft made base chains (nat PREROUTING...) for sshuttle's jumps and leaves them empty: remove the
  // ones up saw appear.
  const cleanup = nftCleanup(record.added, snapshotLines(facts));
  if (cleanup.length) {
    const x = await sys.root(cleanup.join(' && '));
    if (x.code === 0)
      out.undone.push(
        `empty nft ${cleanup.map((c) => c.replace(/^nft delete /, '')).join(', ')} (made for sshuttle's rules) removed`,
      );
    facts = await readNetworkFacts(sys);
  }
  const left = leftOver(record.added, snapshotLines(facts));
  const fw = tunnelFirewallLines(facts, port);
  if (left.length || fw.length) {
    throw new PaasboxError(
      `tunnel ${record.instance}: ${left.length + fw.length} route(s) or rule(s) it added are still there`,
      'remove them by hand (the lines below), then npx paasbox tunnel down again',
      [...new Set([...left, ...fw])].join('\n'),
      'target',
    );
  }
  out.removed = record.added;
  removeRecord(paths);
  return out;
}

// ---------------------------------------------------------------- up

export interface UpInput {
  instance: string;
  paths: TunnelPaths;
  /** The stack's advertised address and domain, its DNS port. */
  address: string;
  domain: string;
  dnsPort: number;
  /** Where ssh connects (the stack host as this machine reaches it) and the stack sshd's port. */
  sshHost: string;
  sshPort: number;
  user: string;
  keyPath?: string;
  proxyJump?: string;
  /** known_hosts lines of the stack's sshd, read over the pinned SSH connection. */
  knownHosts: string;
  /** More networks (--subnet). */
  extraSubnets: string[];
  resolver: ResolverKind | 'auto';
  /** The redirector port; default: a free one from 12300 down. */
  listenPort?: number;
  log?: (line: string) => void;
}

export interface UpPlan {
  argv: string[];
  subnets: string[];
  nsHosts: string[];
  toNs: string;
  excludes: string[];
  resolver: ResolverKind;
  resolverWhy: string;
  remote: string;
}

/** Everything `up` will run, decided without touching anything (also --print). */
export function planTunnel(
  sys: TunnelSystem,
  u: Omit<UpInput, 'knownHosts' | 'listenPort'> & { listenPort: number },
): UpPlan {
  if (ipv4ToInt(u.address) === undefined)
    throw new PaasboxError(
      `the stack's address "${u.address}" is not an IPv4 address`,
      'install again so the stack records its address',
    );
  // The domain goes into root shell lines and a path (src/tunnel/resolver.ts): refused here, before anything
  // is built.
  resolverDomain(u.domain);
  resolverServer(u.address);
  const local = sys.localAddresses();
  const self = local.find((l) => l.address === u.address);
  if (self)
    throw new PaasboxError(
      `the stack's address ${u.address} is this machine's own (${self.iface})`,
      'no tunnel is needed: the stack runs here; use its address directly',
    );
  const subnets = checkSubnets([`${u.address}/32`, ...u.extraSubnets], local);
  const choice =
    u.resolver === 'auto'
      ? detectResolver({
          platform: sys.platform,
          ...optional('resolvConf', sys.readFile(RESOLV_CONF)),
          ...optional('nsswitch', sys.readFile('/etc/nsswitch.conf')),
          resolvedRunning: !!sys.readFile('/run/systemd/resolve/stub-resolv.conf'),
        })
      : { kind: u.resolver, why: `--resolver ${u.resolver}` };
  if (choice.kind === 'resolved' && sys.platform !== 'linux')
    throw new PaasboxError('--resolver resolved is for Linux with systemd-resolved', 'use --resolver auto');
  if (choice.kind === 'macos' && sys.platform !== 'darwin')
    throw new PaasboxError('--resolver macos is for macOS', 'use --resolver auto');
  const nsHosts = [u.address, ...(choice.kind === 'resolv.conf' ? [LOOPBACK_NS] : [])];
  const toNs = u.dnsPort === 53 ? u.address : `${u.address}:${u.dnsPort}`;
  // The ssh connection itself must never be redirected into the tunnel it carries.
  const excludes =
    ipv4ToInt(u.sshHost) !== undefined && subnets.some((s) => cidrContains(parseCidr(s)!, u.sshHost))
      ? [`${u.sshHost}/32:${u.sshPort}`]
      : [];
  const argv = sshuttleArgs({
    host: u.sshHost,
    port: u.sshPort,
    user: u.user,
    subnets,
    nsHosts,
    toNs,
    excludes,
    listenPort: u.listenPort,
    knownHostsPath: u.paths.knownHosts,
    pidfile: u.paths.pidfile,
    ...(u.keyPath ? { keyPath: u.keyPath } : {}),
    ...(u.proxyJump ? { proxyJump: u.proxyJump } : {}),
  });
  return {
    argv,
    subnets,
    nsHosts,
    toNs,
    excludes,
    resolver: choice.kind,
    resolverWhy: choice.why,
    remote: `${u.user}@${u.sshHost}:${u.sshPort}`,
  };
}

function optional<K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };
}

/** A free TCP port on 127.0.0.1, from 12300 down (sshuttle's own range). */
export async function freePort(from = 12300, to = 12000): Promise<number> {
  for (let p = from; p >= to; p--) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
  throw new PaasboxError(
    `no free port for sshuttle between ${to} and ${from} on 127.0.0.1`,
    'stop other sshuttle runs, or wait a minute',
  );
}

export interface UpResult {
  already: boolean;
  plan?: UpPlan;
  status: TunnelStatus;
  warnings: string[];
}

function logTail(sys: TunnelSystem, paths: TunnelPaths): string {
  return (sys.readFile(paths.log) ?? '').trim().split('\n').slice(-15).join('\n');
}

export async function tunnelUp(sys: TunnelSystem, u: UpInput): Promise<UpResult> {
  const { paths } = u;
  const say = u.log ?? (() => undefined);
  const current = await tunnelStatus(sys, paths, u.instance);
  if (current.state === 'up') {
    const r = current.record!;
    const want = checkSubnets([`${u.address}/32`, ...u.extraSubnets], sys.localAddresses());
    if (r.address !== u.address || want.join(',') !== r.subnets.join(','))
      throw new PaasboxError(
        `a tunnel for ${u.instance} already runs, routing ${r.subnets.join(', ')}`,
        'stop it first (npx paasbox tunnel down), then up with the new settings',
      );
    return { already: true, status: current, warnings: [] };
  }
  if (current.state === 'broken') {
    say(
      `a previous tunnel of ${u.instance} is half there (${current.problems.join('; ')}): cleaning up first`,
    );
    await tunnelDown(sys, paths);
  }
  const listenPort = u.listenPort ?? (await freePort());
  const plan = planTunnel(sys, { ...u, listenPort });
  const warnings: string[] = [];

  mkdirSync(paths.binDir, { recursive: true, mode: 0o700 });
  chmodSync(paths.dir, 0o700);
  writeFileSync(paths.knownHosts, u.knownHosts, { mode: 0o600 });
  writeFileSync(`${paths.binDir}/logger`, loggerShim(paths.log), { mode: 0o755 });
  rmSync(paths.pidfile, { force: true });
  writeFileSync(
    paths.log,
    `--- ${new Date(sys.now()).toISOString()} paasbox tunnel up: sshuttle ${commandLine(plan.argv)}\n`,
    { flag: 'a', mode: 0o600 },
  );

  const before = snapshotLines(await readNetworkFacts(sys));
  say(`sshuttle ${commandLine(plan.argv)}`);
  const code = await sys.runSshuttle(plan.argv, {
    logPath: paths.log,
    pathPrefix: paths.binDir,
    timeoutMs: 90_000,
  });
  if (code !== 0)
    throw new PaasboxError(
      `sshuttle could not connect to ${plan.remote} (exit ${code})`,
      `read ${paths.log}; the stack's sshd must be enabled (services: { sshd: { enabled: true } }) and let in your key (install --authorized-key, or --key KEY with KEY.pub beside it)`,
      logTail(sys, paths),
      'target',
    );
  // sshuttle -D returns once connected; its firewall rules follow when the server says it is ready.
  let pid: number | undefined;
  let facts: NetworkFacts = {};
  const ready = await waitUntil(`sshuttle's firewall rules`, 20_000, async () => {
    pid = readPidfile(paths);
    if (!pid || processState(pid, sys.proc) !== 'sshuttle') return false;
    if (sys.platform !== 'linux') return true;
    facts = await readNetworkFacts(sys);
    if (facts.iptablesSave === undefined && facts.nftRuleset === undefined) return true;
    const r = redirectsOf(tunnelFirewallLines(facts, listenPort));
    return plan.subnets.every((s) => r.tcp.includes(s)) && plan.nsHosts.every((n) => r.dns.includes(n));
  });
  const record: TunnelRecord = {
    version: 1,
    instance: u.instance,
    argv: plan.argv,
    remote: plan.remote,
    listenPort,
    subnets: plan.subnets,
    nsHosts: plan.nsHosts,
    toNs: plan.toNs,
    domain: u.domain,
    address: u.address,
    resolver: { kind: plan.resolver },
    added: [],
    startedAt: new Date(sys.now()).toISOString(),
  };
  if (plan.resolver === 'resolved')
    record.resolver = { kind: 'resolved', link: linkName(u.instance), server: u.address };
  if (plan.resolver === 'macos')
    record.resolver = { kind: 'macos', file: macosResolverPath(u.domain), server: u.address };
  // Recorded before the resolver changes, so `down` undoes a half-done up too.
  writeRecord(paths, record);
  if (!ready) {
    const tail = logTail(sys, paths);
    await tunnelDown(sys, paths).catch(() => undefined);
    throw new PaasboxError(
      `sshuttle started but its tunnel to ${plan.remote} did not come up within 20 s`,
      `read ${paths.log}`,
      tail,
      'target',
    );
  }
  try {
    switch (plan.resolver) {
      case 'resolved':
        for (const c of resolvedUpCommands(record.resolver.link!, u.address, u.domain)) {
          const x = await sys.root(c);
          if (x.code !== 0)
            throw new PaasboxError(
              `setting up systemd-resolved for .${u.domain} failed: ${c}`,
              'run as root (or with passwordless sudo), or use --resolver none and point .consul at the stack yourself',
              x.stderr,
            );
        }
        break;
      case 'resolv.conf': {
        const text = sys.readFile(RESOLV_CONF) ?? '';
        warnings.push(...resolvConfWarnings(text));
        await writeInPlace(sys, RESOLV_CONF, addResolvConf(text, u.instance));
        break;
      }
      case 'macos': {
        const file = record.resolver.file!;
        const have = sys.readFile(file);
        if (have !== undefined && !isOurMacosResolver(have, u.instance)) {
          warnings.push(
            `${file} exists and is not paasbox's: left as it is (.${u.domain} resolves through it)`,
          );
          record.resolver = { kind: 'none' };
          break;
        }
        const x = await sys.root(`mkdir -p /etc/resolver && cat > ${shq(file)}`, {
          stdin: macosResolverText(u.instance, u.address),
        });
        if (x.code !== 0)
          throw new PaasboxError(`writing ${file} failed`, 'run with sudo, or --resolver none', x.stderr);
        break;
      }
      default:
        break;
    }
  } catch (e) {
    await tunnelDown(sys, paths).catch(() => undefined);
    throw e;
  }
  const after = snapshotLines(await readNetworkFacts(sys));
  record.added = ownedLines(before, after, listenPort);
  writeRecord(paths, record);
  const status = await tunnelStatus(sys, paths, u.instance);
  return { already: false, plan, status, warnings };
}

/** The known_hosts lines for the stack's sshd at host:port from its `ssh_host_*_key.pub` files. Pure. */
export function knownHostsLines(host: string, port: number, pubKeys: string): string {
  const name = port === 22 ? host : `[${host}]:${port}`;
  const lines = pubKeys
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((w) => w.length >= 2 && /^(ssh-|ecdsa-)/.test(w[0]!) && /^AAAA/.test(w[1]!));
  return lines.map((w) => `${name} ${w[0]} ${w[1]}`).join('\n') + (lines.length ? '\n' : '');
}
