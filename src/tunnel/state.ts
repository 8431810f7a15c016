// Where a tunnel keeps its state on this machine: one directory per instance
// under the state dir (.paasbox/tunnel/NAME/, or $PAASBOX_STATE_DIR/tunnel/NAME/):
//   sshuttle.pid   written by sshuttle -D (--pidfile), removed by it on exit
//   sshuttle.log   everything sshuttle and its ssh print (bin/logger below)
//   state.json     what `up` started and changed, for `status` and `down`
//   known_hosts    the stack sshd's host keys, read over the pinned SSH connection
//   bin/logger     sshuttle -D sends its output to `logger` (syslog); this one,
//                  first on sshuttle's PATH, appends it to sshuttle.log instead
// And whether the pid in the pidfile is still a running sshuttle, and the
// instance name a tunnel's state goes under.

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PaasboxError } from '../errors.js';
import { DEFAULT_INSTANCE, INSTANCE_NAME_RE, stateDir } from '../paths.js';
import { createHash } from 'node:crypto';
import type { ResolverKind } from './resolver.js';

export interface TunnelPaths {
  dir: string;
  pidfile: string;
  log: string;
  state: string;
  knownHosts: string;
  binDir: string;
}

/** The files of `instance`'s tunnel under the state dir (`base`, default .paasbox or $PAASBOX_STATE_DIR). */
export function tunnelPaths(instance: string, base = stateDir()): TunnelPaths {
  const dir = join(base, 'tunnel', instance);
  return {
    dir,
    pidfile: join(dir, 'sshuttle.pid'),
    log: join(dir, 'sshuttle.log'),
    state: join(dir, 'state.json'),
    knownHosts: join(dir, 'known_hosts'),
    binDir: join(dir, 'bin'),
  };
}

/** What `up` did, so `status` can check it and `down` can undo and verify it. */
export interface TunnelRecord {
  version: 1;
  instance: string;
  /** The sshuttle command line (argv after "sshuttle"). */
  argv: string[];
  /** ssh destination: root@HOST:2222. */
  remote: string;
  listenPort: number;
  /** Routed networks. */
  subnets: string[];
  /** DNS servers whose queries go through the tunnel, and where the stack side sends them. */
  nsHosts: string[];
  toNs: string;
  /** The stack's domain (consul) and advertised address. */
  domain: string;
  address: string;
  resolver: { kind: ResolverKind; link?: string; file?: string; server?: string };
  /**
   * Lines (firewall, routes, links, addresses) that were not there before `up` (firewall.ts snapshotLines).
   */
  added: string[];
  startedAt: string;
}

export function readRecord(p: TunnelPaths): TunnelRecord | undefined {
  if (!existsSync(p.state)) return undefined;
  try {
    const r = JSON.parse(readFileSync(p.state, 'utf8')) as TunnelRecord;
    if (r.version !== 1 || !Array.isArray(r.argv)) throw new Error('not a version 1 tunnel record');
    return r;
  } catch (e) {
    throw new PaasboxError(
      `${p.state} is not a tunnel record paasbox can read`,
      `stop sshuttle by hand if it runs (kill $(cat ${p.pidfile})) and delete ${p.dir}`,
      e instanceof Error ? e.message : String(e),
    );
  }
}

export function writeRecord(p: TunnelPaths, r: TunnelRecord): void {
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  const tmp = `${p.state}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(r, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, p.state);
}

export function removeRecord(p: TunnelPaths): void {
  rmSync(p.state, { force: true });
}

/** The pid sshuttle wrote, or undefined (no file, empty, not a number). */
export function readPidfile(p: TunnelPaths): number | undefined {
  if (!existsSync(p.pidfile)) return undefined;
  const n = Number(readFileSync(p.pidfile, 'utf8').trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export type ProcessState = 'sshuttle' | 'other' | 'gone';

export interface ProcFs {
  /**
   * /proc/PID/stat and /proc/PID/cmdline, undefined when the process does not exist or /proc is not there.
   */
  read(pid: number, file: 'stat' | 'cmdline'): string | undefined;
  hasProc: boolean;
  /** process.kill(pid, 0): true when it exists (EPERM counts: someone else's). */
  exists(pid: number): boolean;
}

export const realProcFs: ProcFs = {
  read(pid, file) {
    try {
      return readFileSync(`/proc/${pid}/${file}`, 'utf8');
    } catch {
      return undefined;
    }
  },
  hasProc: existsSync('/proc/self/stat'),
  exists(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
};

/**
 * Is `pid` a live sshuttle? A zombie (exited, not reaped yet) is gone, and a
 * pid reused by another program is "other": never signalled. Without /proc
 * (macOS) existence is all there is to go on.
 */
export function processState(pid: number, fs: ProcFs = realProcFs): ProcessState {
  if (!fs.hasProc) return fs.exists(pid) ? 'sshuttle' : 'gone';
  const stat = fs.read(pid, 'stat');
  if (stat === undefined) return 'gone';
  // "PID (comm) STATE ...": comm may hold spaces and parentheses, the state follows the last ')'.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (state === 'Z' || state === 'X') return 'gone';
  const cmdline = (fs.read(pid, 'cmdline') ?? '').split('\0').join(' ');
  return /sshuttle/.test(cmdline) ? 'sshuttle' : 'other';
}

/** The logger stand-in sshuttle -D finds first on its PATH: its output appended to the log file. */
export function loggerShim(logPath: string): string {
  const q = `'${logPath.replace(/'/g, `'\\''`)}'`;
  return `#!/bin/sh\n# paasbox tunnel: sshuttle -D logs through \`logger\`; keep it in ${logPath} instead.\nexec cat >> ${q}\n`;
}

/**
 * The name a tunnel's state goes under: the instance --target names (default "default"), else one derived
 * from the target.
 */
export function tunnelInstance(target: string | undefined): string {
  if (!target) return DEFAULT_INSTANCE;
  if (INSTANCE_NAME_RE.test(target)) return target;
  return `target-${createHash('sha256').update(target).digest('hex').slice(0, 8)}`;
}
