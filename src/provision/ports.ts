// Pre-flight port check: which of the stack's host ports are already held on
// the target, and by what. Pure: the listening sockets are parsed by
// src/system/ports.ts, the process tree here, so every form gets a unit test;
// the command that gathers them is portsCommand().

import { composeFilter } from '../docker/compose.js';
import { LISTENING_COMMAND, parseListening, type ListeningSocket } from '../system/ports.js';
import { notStackReason } from '../docker/labels.js';

export interface WantedPort {
  port: number;
  protocol: 'tcp' | 'udp';
  service: string;
  /** The addresses the service binds; undefined: every address (0.0.0.0). */
  addresses?: string[];
}

export interface PortConflict extends WantedPort {
  holder: string;
}

/** All descendants of the roots (inclusive) from `ps -e -o pid=,ppid=` output. */
export function descendants(psOut: string, roots: number[]): Set<number> {
  const children = new Map<number, number[]>();
  for (const line of psOut.split('\n')) {
    const [pid, ppid] = line.trim().split(/\s+/).map(Number);
    if (!pid || ppid === undefined || Number.isNaN(ppid)) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const seen = new Set<number>();
  const stack = roots.filter((r) => r > 0);
  while (stack.length) {
    const p = stack.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    stack.push(...(children.get(p) ?? []));
  }
  return seen;
}

const WILDCARD = new Set(['0.0.0.0', '::', '*', '']);

/**
 * Two binds of one port collide when either takes every address or both name
 * the same one: systemd-resolved on 127.0.0.53:53 leaves dnsmasq, bound to
 * 127.0.0.1 and the stack's address, alone.
 */
export function bindsOverlap(listener: string, wanted: string[] | undefined): boolean {
  return !wanted || WILDCARD.has(listener) || wanted.includes(listener);
}

/** Wanted ports held by a process that is not one of ownPids. */
export function findPortConflicts(
  listeners: ListeningSocket[],
  wanted: WantedPort[],
  ownPids: Set<number>,
): PortConflict[] {
  const out: PortConflict[] = [];
  for (const w of wanted) {
    const l = listeners.find(
      (x) =>
        x.port === w.port &&
        x.protocol === w.protocol &&
        bindsOverlap(x.address, w.addresses) &&
        !(x.pid !== undefined && ownPids.has(x.pid)),
    );
    if (l) out.push({ ...w, holder: l.process ? `${l.process} (pid ${l.pid})` : 'an unknown process' });
  }
  return out;
}

/**
 * Ports a generated compose file's services hold on the host, from their
 * paasbox.ports labels ("http=8500/tcp,dns=8600/udp"); a service whose command
 * names --listen-address (dnsmasq) binds those and loopback only.
 */
export function composeHostPorts(compose: {
  services: Record<string, { labels?: Record<string, string>; command?: string[] }>;
}): WantedPort[] {
  const out: WantedPort[] = [];
  for (const [service, svc] of Object.entries(compose.services)) {
    const listen = (svc.command ?? [])
      .map((a) => /^--listen-address=(.+)$/.exec(a)?.[1])
      .filter((a): a is string => !!a);
    const addresses = listen.length ? ['127.0.0.1', ...listen.flatMap((a) => a.split(','))] : undefined;
    for (const item of (svc.labels?.['paasbox.ports'] ?? '').split(',').filter(Boolean)) {
      const m = /=(\d+)\/(tcp|udp)$/.exec(item);
      if (m)
        out.push({
          service,
          port: Number(m[1]),
          protocol: m[2] as 'tcp' | 'udp',
          ...(addresses ? { addresses } : {}),
        });
    }
  }
  return out;
}

/** Gathers listeners, this project's container pids and the process tree, separated by "---". */
export function portsCommand(project: string): string {
  return [
    'command -v ss >/dev/null || { echo "no ss" >&2; exit 3; }',
    LISTENING_COMMAND,
    'echo ---',
    // One inspect for all the project's containers (no docker: none), each pid with its labels (a swarm task
    // or an app carrying the project's labels holds no port of the stack's).
    `ids=$(docker ps -q ${composeFilter(project)} 2>/dev/null) && [ -n "$ids" ] && docker inspect -f '{{.State.Pid}} {{json .Config.Labels}}' $ids 2>/dev/null || true`,
    'echo ---',
    'ps -e -o pid=,ppid=',
  ].join('\n');
}

/**
 * The pids of the project's containers from portsCommand's "PID LABELS-JSON"
 * lines, without those of a swarm task or an app carrying the project's labels. Pure.
 */
export function stackPids(lines: string): number[] {
  const out: number[] = [];
  for (const l of lines.split('\n')) {
    const m = /^\s*(\d+)(?:\s+(\{.*\}|null))?\s*$/.exec(l);
    if (!m || Number(m[1]) <= 0) continue;
    let labels: Record<string, string>;
    try {
      labels = (JSON.parse(m[2] ?? 'null') as Record<string, string> | null) ?? {};
    } catch {
      continue;
    }
    if (!notStackReason(labels)) out.push(Number(m[1]));
  }
  return out;
}

/** Conflicts from the output of portsCommand(). */
export function conflictsFromPortsOutput(out: string, wanted: WantedPort[]): PortConflict[] {
  const [ss = '', pids = '', ps = ''] = out.split(/^---$/m);
  const roots = stackPids(pids);
  // ss ran before ps: a listener's process missing from ps has exited since (an old
  // HAProxy worker after a hitless reload), so it holds nothing any more.
  const alive = new Set(
    ps
      .split('\n')
      .map((l) => Number(l.trim().split(/\s+/)[0]))
      .filter((n) => n > 0),
  );
  const listeners = parseListening(ss).filter(
    (l) => l.pid === undefined || alive.size === 0 || alive.has(l.pid),
  );
  return findPortConflicts(listeners, wanted, descendants(ps, roots));
}
