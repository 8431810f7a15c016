// This machine as a Target: commands run through `bash -c`, as root via
// `sudo -n` when the user is not root; forward is the identity (the port is
// already local).

import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { hostname } from 'node:os';
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
    const line = wrapCommand(command, opts, this.isRoot, 'bash');
    return new Promise((resolve, reject) => {
      const p = spawn('bash', ['-c', line], { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer = opts.timeoutMs ? setTimeout(() => { timedOut = true; p.kill('SIGTERM'); }, opts.timeoutMs) : undefined;
      p.stdout.on('data', (d: Buffer) => { if (opts.onOutput) opts.onOutput(d); else out.push(d); });
      p.stderr.on('data', (d: Buffer) => { if (opts.onOutput) opts.onOutput(d); else err.push(d); });
      p.stdin.on('error', () => undefined); // the command may exit without reading stdin
      p.on('error', reject);
      p.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        let stderr = Buffer.concat(err).toString();
        if (timedOut) stderr += `\npaasbox: timed out after ${opts.timeoutMs} ms`;
        const r = { code: timedOut ? 124 : code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr };
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

/** Write stdin to PATH atomically (temp file + rename), creating the directory. */
export function atomicWriteCommand(path: string, mode?: number): string {
  const p = shq(path);
  const tmp = shq(`${path}.paasbox-tmp`);
  const chmod = mode !== undefined ? `chmod ${mode.toString(8)} ${tmp} && ` : '';
  return `mkdir -p "$(dirname ${p})" && cat > ${tmp} && ${chmod}mv -f ${tmp} ${p}`;
}

/** copy/writeFile for any Target: the data goes through exec's stdin into an atomic write. */
export async function writeThroughExec(t: Target, path: string, data: string | Buffer | NodeJS.ReadableStream, mode?: number): Promise<void> {
  const r = await t.exec(atomicWriteCommand(path, mode), { stdin: data, sudo: true });
  if (r.code !== 0) throw new PaasboxError(`writing ${path} on ${t.name} failed`, 'check free disk space and permissions on the target', r.stderr);
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
