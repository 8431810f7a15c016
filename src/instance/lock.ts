// One lock per target: install, stack up/stop/start/restart/down, deploy and
// uninstall each hold an exclusive flock on the target for the whole
// operation, so two of them never interleave (two installs at once wrote a
// compose file mixing both). The lock is held by a process on the target (a
// shell holding the file's flock, then `cat` until paasbox closes its stdin),
// so it works the same here and over SSH, and the kernel frees it whenever
// that process ends: the operation done, paasbox interrupted, or the
// connection gone. The holder writes who it is (command, pid and host of the
// paasbox process, start time) into the file; a run that waits, or gives up
// after --lock-timeout seconds, names it. /run, not the stack directory:
// uninstall removes that, and nothing that ran before a reboot holds a lock.

import { hostname } from 'node:os';
import { posix } from 'node:path';
import { PassThrough } from 'node:stream';
import { targetError, transientError } from '../errors.js';
import { shq } from '../target/shell.js';
import type { Target } from '../target/target.js';

export const LOCK_PATH = '/run/paasbox.lock';
/** Seconds a run waits for another one's lock before it fails. */
export const DEFAULT_LOCK_TIMEOUT_S = 60;

/** Who holds a lock: the paasbox run, as its lock file records it. */
export interface LockHolder {
  /** The paasbox command: install, stack up, deploy, uninstall, ... */
  command: string;
  /** Process id of paasbox on the machine it runs on. */
  pid: number;
  /** The machine paasbox runs on (not the target). */
  host: string;
  /** ISO time the lock was taken. */
  started: string;
}

export interface LockOptions {
  /** What this run is, as others will see it: 'install', 'stack up', ... */
  command: string;
  /** Seconds to wait while another run holds the lock (0: fail at once); default 60. */
  timeoutS?: number;
  /** The lock file on the target (default /run/paasbox.lock). */
  path?: string;
  /** Called once when another run holds the lock and this one starts waiting. */
  onWait?: (holder: string) => void;
}

export interface TargetLock {
  /** Free the lock (idempotent); resolves once the target's process has ended. */
  release(): Promise<void>;
}

// The holder process's output: one marker a line.
const MARK = 'paasbox-lock:';
/** Exit codes of the lock script. */
const NO_FLOCK = 3;
const TIMED_OUT = 5;
/** setTimeout's ceiling (~24 days): the holder lives as long as the operation. */
const HOLD_FOREVER_MS = 2 ** 31 - 1;

/**
 * The holder's shell script (POSIX sh; flock from util-linux or busybox): open
 * the file without truncating it, take the lock (polling each second up to
 * timeoutS while another holds it, printing who), write this holder in, say
 * so, and keep the lock until stdin closes; then clear the record.
 */
export function lockScript(path: string, timeoutS: number, holder: LockHolder): string {
  const f = shq(path);
  return [
    `mkdir -p ${shq(posix.dirname(path))} && exec 9>>${f} || exit 4`,
    `command -v flock >/dev/null 2>&1 || { echo '${MARK} no-flock'; exit ${NO_FLOCK}; }`,
    `if ! flock -x -n 9; then`,
    `  echo "${MARK} busy $(head -n 1 ${f})"`,
    `  n=0; until flock -x -n 9; do n=$((n + 1)); if [ "$n" -gt ${timeoutS} ]; then echo "${MARK} timeout $(head -n 1 ${f})"; exit ${TIMED_OUT}; fi; sleep 1; done`,
    `fi`,
    `printf '%s\\n' ${shq(JSON.stringify(holder))} > ${f}`,
    `echo '${MARK} acquired'`,
    `cat >/dev/null`,
    `: > ${f}`,
  ].join('\n');
}

/** A holder record as one phrase: "another paasbox install (pid 42 on laptop, started ...)". */
export function describeHolder(record: string): string {
  try {
    const h = JSON.parse(record) as Partial<LockHolder>;
    if (typeof h.command === 'string' && typeof h.pid === 'number')
      return `another paasbox ${h.command} (pid ${h.pid} on ${h.host ?? 'an unknown host'}, started ${h.started ?? 'at an unknown time'})`;
  } catch {
    /* not a record: the holder has not written it yet, or it is not paasbox's */
  }
  return 'another paasbox run';
}

/**
 * Take the target's lock, waiting up to timeoutS for another holder; throws naming the holder when it does
 * not come free.
 */
export async function acquireTargetLock(t: Target, opts: LockOptions): Promise<TargetLock> {
  const path = opts.path ?? LOCK_PATH;
  const timeoutS = opts.timeoutS ?? DEFAULT_LOCK_TIMEOUT_S;
  const holder: LockHolder = {
    command: opts.command,
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
  };
  const stdin = new PassThrough();
  let busy = '';
  let other = '';
  const said: string[] = [];
  let pending = '';
  let onAcquired: () => void = () => undefined;
  const acquired = new Promise<void>((resolve) => (onAcquired = resolve));
  const line = (l: string) => {
    if (!l.startsWith(MARK)) {
      if (l.trim()) said.push(l);
      return;
    }
    const [word = '', ...rest] = l.slice(MARK.length).trim().split(' ');
    const record = rest.join(' ');
    if (word === 'acquired') onAcquired();
    else if (word === 'busy') {
      busy = record;
      opts.onWait?.(describeHolder(record));
    } else if (word === 'timeout') other = record;
  };
  const done = t.exec(lockScript(path, timeoutS, holder), {
    sudo: true,
    stdin,
    timeoutMs: HOLD_FOREVER_MS,
    onOutput: (chunk) => {
      pending += chunk.toString();
      for (let i = pending.indexOf('\n'); i >= 0; i = pending.indexOf('\n')) {
        line(pending.slice(0, i));
        pending = pending.slice(i + 1);
      }
    },
  });
  const ended = await Promise.race([acquired.then(() => undefined), done]);
  if (ended) {
    if (ended.code === TIMED_OUT) {
      throw transientError(
        `${describeHolder(other || busy)} holds the lock on ${t.name} (${path}); gave up after ${timeoutS}s`,
        `wait for it to finish and run again, or wait longer with --lock-timeout SECONDS (the lock frees itself when that run ends)`,
      );
    }
    if (ended.code === NO_FLOCK)
      throw targetError(
        `flock is missing on ${t.name}, so paasbox cannot lock it`,
        `install util-linux there (apt-get install util-linux)`,
      );
    throw targetError(
      `cannot take the lock ${path} on ${t.name} (exit ${ended.code})`,
      `check that ${posix.dirname(path)} is writable by root there`,
      [...said, pending].join('\n'),
    );
  }
  let released: Promise<void> | undefined;
  return {
    release() {
      released ??= (async () => {
        stdin.end();
        await done.catch(() => undefined);
      })();
      return released;
    },
  };
}

/** Run fn holding the target's lock; it is released however fn ends. */
export async function withTargetLock<T>(t: Target, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireTargetLock(t, opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
