// This machine as a Target: commands run through `bash -c`, as root via
// `sudo -n` when the user is not root; forward is the identity (the port is
// already local). Each command runs in its own process group, so a timeout
// ends it with everything it started (SIGTERM, then SIGKILL after a grace),
// and an interrupt of paasbox reaches the groups still running.

import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { hostname } from 'node:os';
import { posix } from 'node:path';
import { PaasboxError } from '../errors.js';
import type { ExecOptions, ExecResult, Forward, Target, TargetFacts } from './target.js';
import { checkSudo, FACTS_COMMAND, parseFacts, shq, wrapCommand } from './shell.js';

export interface LocalTargetOptions {
  /** The address other hosts reach this machine at (default 127.0.0.1). */
  address?: string;
}

export class LocalTarget implements Target {
  readonly name = 'local';
  readonly address: string;
  private readonly isRoot = process.getuid?.() === 0;

  constructor(opts: LocalTargetOptions = {}) {
    this.address = opts.address ?? '127.0.0.1';
  }

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    // detached: bash leads a process group of its own, which the timeout kills whole.
    return this.spawnGroup('bash', ['-c', wrapCommand(command, opts, this.isRoot, 'bash')], opts);
  }

  /**
   * argv run with no shell in between: a word is never parsed, whatever it
   * holds (the apps API passes values from requests this way). env and cwd
   * go to spawn; sudo, when not root, is `sudo -n --`.
   */
  run(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const [file, ...args] = opts.sudo && !this.isRoot ? ['sudo', '-n', '--', ...argv] : argv;
    if (!file) throw new PaasboxError('an empty command', 'give the program to run');
    return this.spawnGroup(file, args, opts, true);
  }

  private spawnGroup(file: string, args: string[], opts: ExecOptions, direct = false): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const where = direct
        ? {
            ...(opts.cwd ? { cwd: opts.cwd } : {}),
            ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
          }
        : {};
      const p = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, ...where });
      const group = p.pid;
      if (group !== undefined) trackGroup(group);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      // A stream (docker events, logs -f) ends when its reader goes away.
      const abort = () => group !== undefined && killGroup(group, 'SIGTERM');
      opts.signal?.addEventListener('abort', abort, { once: true });
      if (opts.signal?.aborted) abort();
      const timer = opts.timeoutMs
        ? setTimeout(() => {
            timedOut = true;
            if (group === undefined) return;
            killGroup(group, 'SIGTERM');
            // Unref'd: it may outlive the command (a survivor that ignored SIGTERM), never paasbox.
            setTimeout(() => killGroup(group, 'SIGKILL'), KILL_GRACE_MS).unref();
          }, opts.timeoutMs)
        : undefined;
      p.stdout.on('data', (d: Buffer) => {
        if (opts.onOutput) opts.onOutput(d);
        else out.push(d);
      });
      p.stderr.on('data', (d: Buffer) => {
        if (opts.onOutput) opts.onOutput(d);
        else err.push(d);
      });
      p.stdin.on('error', () => undefined); // the command may exit without reading stdin
      p.on('error', (e) => {
        if (group !== undefined) untrackGroup(group);
        reject(e);
      });
      p.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', abort);
        if (group !== undefined) untrackGroup(group);
        let stderr = Buffer.concat(err).toString();
        if (timedOut) stderr += `\npaasbox: timed out after ${opts.timeoutMs} ms`;
        const r = {
          code: timedOut ? 124 : (code ?? (signal ? 128 : 1)),
          stdout: Buffer.concat(out).toString(),
          stderr,
        };
        try {
          checkSudo(r, opts, this.isRoot, process.env.USER ?? 'user', 'this machine');
          resolve(r);
        } catch (e) {
          reject(e);
        }
      });
      feed(p.stdin, opts.stdin);
    });
  }

  copy(localPath: string, remotePath: string): Promise<void> {
    return writeThroughExec(this, remotePath, createReadStream(localPath));
  }

  writeFile(remotePath: string, content: string | Buffer, mode?: number): Promise<void> {
    return writeThroughExec(this, remotePath, content, mode);
  }

  async forward(_remoteHost: string, remotePort: number): Promise<Forward> {
    return { localPort: remotePort, close: async () => undefined };
  }

  async facts(): Promise<TargetFacts> {
    const r = await this.exec(FACTS_COMMAND);
    const f = parseFacts(r.stdout);
    return { ...f, hostname: f.hostname || hostname() };
  }

  async close(): Promise<void> {}
}

/**
 * Write stdin to PATH atomically, creating the directory: a temp file of its
 * own (mktemp beside PATH, so concurrent writers never share one and the
 * rename stays on one file system), its mode set before the rename (MODE, or
 * what the umask gives a new file, as `cat > PATH` would), removed on failure.
 */
export function atomicWriteCommand(path: string, mode?: number): string {
  const dir = posix.dirname(path);
  const template = posix.join(dir, `.${posix.basename(path)}.paasbox-tmp.XXXXXX`);
  const perm = mode !== undefined ? mode.toString(8) : '"$(printf %o $((0666 & ~0$(umask))))"';
  return `mkdir -p ${shq(dir)} && tmp=$(mktemp ${shq(template)}) && { cat > "$tmp" && chmod ${perm} "$tmp" && mv -f "$tmp" ${shq(path)} || { rm -f "$tmp"; false; }; }`;
}

/** copy/writeFile for any Target: the data goes through exec's stdin into an atomic write. */
export async function writeThroughExec(
  t: Target,
  path: string,
  data: string | Buffer | NodeJS.ReadableStream,
  mode?: number,
): Promise<void> {
  const r = await t.exec(atomicWriteCommand(path, mode), { stdin: data, sudo: true });
  if (r.code !== 0)
    throw new PaasboxError(
      `writing ${path} on ${t.name} failed`,
      'check free disk space and permissions on the target',
      r.stderr,
    );
}

/** Milliseconds between SIGTERM and SIGKILL for a timed-out command's group. */
const KILL_GRACE_MS = 3000;

/** Process groups of the commands running now: an interrupt of paasbox is passed on to them. */
const groups = new Set<number>();
const RELAYED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* the group has ended */
  }
}

/**
 * A detached group does not get the terminal's Ctrl-C: pass the signal on to
 * every running group, then let it act on paasbox as it would have (unless
 * someone else handles it).
 */
function relay(signal: NodeJS.Signals): void {
  for (const g of groups) killGroup(g, signal);
  for (const s of RELAYED) process.removeListener(s, relay);
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

/** On exit (process.exit included) no command paasbox started outlives it. */
function killAllOnExit(): void {
  for (const g of groups) killGroup(g, 'SIGTERM');
}

function trackGroup(pgid: number): void {
  if (groups.size === 0) {
    for (const s of RELAYED) process.on(s, relay);
    process.on('exit', killAllOnExit);
  }
  groups.add(pgid);
}

function untrackGroup(pgid: number): void {
  if (!groups.delete(pgid) || groups.size > 0) return;
  for (const s of RELAYED) process.removeListener(s, relay);
  process.removeListener('exit', killAllOnExit);
}

/** Write opts.stdin into a child's stdin and close it. */
export function feed(stdin: NodeJS.WritableStream, data: ExecOptions['stdin']): void {
  if (data === undefined) {
    stdin.end();
  } else if (typeof data === 'string' || Buffer.isBuffer(data)) {
    stdin.end(data);
  } else {
    (data as Readable).on('error', (e) => stdin.emit('error', e));
    (data as Readable).pipe(stdin);
  }
}
