// A host over SSH as a Target (ssh2): one connection per target, reused by
// every exec/copy/forward, through a ProxyJump host when the stage says so;
// host keys pinned in ~/.paasbox/known_hosts (a first-seen key is pinned only
// under the accept-new policy, a changed key is always refused); private keys
// readable by others are refused as OpenSSH does; connect failures become
// PaasboxErrors that say whether the host is unreachable, the key refused or
// the host key changed.

import { createHash, createHmac } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Client, ClientChannel, ConnectConfig } from 'ssh2';
import { PaasboxError, targetError, transientError } from '../errors.js';
import { poll } from '../poll.js';
import type { HostKeyPolicy, SshInfo } from './ssh-info.js';
import { feed, writeThroughExec } from './local.js';
import { formatHostSpec } from './parse.js';
import { checkSudo, FACTS_COMMAND, parseFacts, wrapCommand } from './shell.js';
import type { ExecOptions, ExecResult, Forward, Target, TargetFacts } from './target.js';

export interface SshTargetOptions {
  host: string;
  port?: number;
  user?: string;
  /** Private key file; without it the ssh-agent ($SSH_AUTH_SOCK) or ~/.ssh/id_{ed25519,ecdsa,rsa}. */
  keyPath?: string;
  passphrase?: string;
  /** Agent socket; default $SSH_AUTH_SOCK. */
  agent?: string;
  /** Default ~/.paasbox/known_hosts. */
  knownHostsPath?: string;
  /** Default accept-new: a first-seen host key is pinned; strict: it is refused with its fingerprint. */
  hostKeyPolicy?: HostKeyPolicy;
  /** Reach the host through this one first (OpenSSH ProxyJump). */
  proxyJump?: SshInfo;
  /** Milliseconds a command may run when the caller gives no timeout (default 30 min). */
  defaultExecTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Extra connect attempts when the host does not answer (default 2). */
  retries?: number;
  retryDelayMs?: number;
}

export function defaultKnownHostsPath(): string {
  return join(homedir(), '.paasbox', 'known_hosts');
}

/** SshTarget options from a stage's SshInfo. */
export function sshOptions(info: SshInfo): SshTargetOptions {
  return {
    host: info.host,
    port: info.port,
    user: info.user,
    hostKeyPolicy: info.hostKeyPolicy,
    ...(info.keyPath ? { keyPath: info.keyPath } : {}),
    ...(info.knownHostsPath ? { knownHostsPath: info.knownHostsPath } : {}),
    ...(info.proxyJump ? { proxyJump: info.proxyJump } : {}),
  };
}

/** OpenSSH's fingerprint form: SHA256:base64 without padding. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

export class SshTarget implements Target {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly user: string;
  private client?: Promise<Client>;
  private jump?: SshTarget;
  private factsCache?: TargetFacts;
  private readonly knownHostsPath: string;

  constructor(private readonly opts: SshTargetOptions) {
    this.port = opts.port ?? 22;
    this.user = opts.user ?? 'root';
    this.address = opts.host;
    this.name = formatHostSpec({ user: this.user, host: opts.host, port: this.port });
    this.knownHostsPath = opts.knownHostsPath ?? defaultKnownHostsPath();
  }

  /** The private key this target logs in with (recorded so later commands reuse it). */
  get keyPath(): string | undefined {
    return this.opts.keyPath;
  }

  private get isRoot(): boolean {
    return this.user === 'root';
  }

  /** Connect once (with retries); later calls reuse the connection. */
  connect(): Promise<Client> {
    if (!this.client) {
      const p = this.connectWithRetries();
      this.client = p;
      // Forget this connection when it fails or drops (and only this one: a newer may exist).
      const forget = () => {
        if (this.client === p) this.client = undefined;
      };
      p.then((c) => c.on('close', forget), forget);
    }
    return this.client;
  }

  private async connectWithRetries(): Promise<Client> {
    const auth = this.authConfig();
    const base = this.opts.retryDelayMs ?? 1000;
    // Only a transient fault (refused, reset, timed out) is tried again, with a
    // growing pause; when the tries run out, the fault itself is the error.
    return poll(
      {
        what: `an SSH connection to ${this.name}`,
        timeoutMs: Number.POSITIVE_INFINITY,
        attempts: (this.opts.retries ?? 2) + 1,
        everyMs: (attempt) => base * attempt,
        fix: 'check that the host is up and its sshd answers',
        fatal: (e) => !(e instanceof PaasboxError && e.kind === 'transient'),
      },
      () => this.connectOnce(auth),
    );
  }

  private authConfig(): Pick<ConnectConfig, 'privateKey' | 'passphrase' | 'agent'> {
    const agent = this.opts.agent ?? process.env.SSH_AUTH_SOCK;
    let keyPath = this.opts.keyPath;
    if (!keyPath && !agent) {
      keyPath = ['id_ed25519', 'id_ecdsa', 'id_rsa']
        .map((k) => join(homedir(), '.ssh', k))
        .find((p) => existsSync(p));
      if (!keyPath)
        throw new PaasboxError(
          `no SSH key to log in to ${this.name}`,
          'pass --key PATH_TO_PRIVATE_KEY, or start ssh-agent and ssh-add your key',
        );
    }
    let privateKey: Buffer | undefined;
    if (keyPath) {
      // As OpenSSH: a key others can read is not a secret any more.
      const mode = (() => {
        try {
          return statSync(keyPath).mode;
        } catch {
          return undefined;
        }
      })();
      if (mode !== undefined && (mode & 0o077) !== 0)
        throw new PaasboxError(
          `SSH key ${keyPath} is readable by others (mode ${(mode & 0o777).toString(8)})`,
          `chmod 600 ${keyPath}`,
        );
      try {
        privateKey = readFileSync(keyPath);
      } catch (e) {
        throw new PaasboxError(
          `cannot read SSH key ${keyPath}: ${(e as NodeJS.ErrnoException).code ?? e}`,
          'pass --key with the path of an existing private key file',
        );
      }
    }
    return {
      ...(privateKey ? { privateKey } : {}),
      ...(this.opts.passphrase ? { passphrase: this.opts.passphrase } : {}),
      ...(agent && !privateKey ? { agent } : {}),
    };
  }

  private async connectOnce(
    auth: Pick<ConnectConfig, 'privateKey' | 'passphrase' | 'agent'>,
  ): Promise<Client> {
    const known = await this.readKnownKey();
    const hostLabel = this.knownHostsLabel();
    let hostKeyProblem: { seen: string; type: string } | undefined;
    let newKey: { type: string; b64: string } | undefined;
    let unknownKey: { type: string; fp: string } | undefined;
    // ssh2 loads at the first connection: a command on this host never needs it.
    const { Client: SshClient } = await import('ssh2');
    const conn = new SshClient();
    return new Promise<Client>((resolve, reject) => {
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        conn.end();
        reject(e);
      };
      conn.on('ready', () => {
        settled = true;
        conn.removeAllListeners('error');
        // A dropped connection is re-opened by the next call.
        conn.on('error', () => undefined);
        const done = () => resolve(conn);
        if (newKey)
          appendFile(this.knownHostsPath, `${hostLabel} ${newKey.type} ${newKey.b64}\n`).then(done, done);
        else done();
      });
      conn.on('error', (e: Error & { level?: string; code?: string }) => {
        if (unknownKey) {
          fail(
            new PaasboxError(
              `host key of ${this.address}:${this.port} is not known yet (${unknownKey.type} ${unknownKey.fp})`,
              `compare the fingerprint with the host's own (ssh-keygen -lf /etc/ssh/ssh_host_${unknownKey.type.replace(/^ssh-|-.*$/g, '')}_key.pub on it) and run again with --accept-new-host-key`,
            ),
          );
        } else if (hostKeyProblem) {
          fail(
            new PaasboxError(
              `host key for ${this.address}:${this.port} changed (now ${hostKeyProblem.type} ${hostKeyProblem.seen.slice(0, 16)}...): possibly a rebuilt host, possibly someone in between`,
              `if the host was reinstalled on purpose, delete the line "${hostLabel} ..." from ${this.knownHostsPath} and run again`,
            ),
          );
        } else fail(this.connectError(e, auth));
      });
      Promise.all([
        mkdir(dirname(this.knownHostsPath), { recursive: true, mode: 0o700 }),
        this.jumpSocket(),
      ]).then(([, sock]) => {
        try {
          conn.connect({
            ...(sock ? { sock } : {}),
            host: this.opts.host,
            port: this.port,
            username: this.user,
            readyTimeout: this.opts.connectTimeoutMs ?? 10000,
            keepaliveInterval: 15000,
            ...auth,
            hostVerifier: (key: Buffer) => {
              const b64 = key.toString('base64');
              const type = keyType(key);
              if (!known) {
                if ((this.opts.hostKeyPolicy ?? 'accept-new') === 'strict') {
                  unknownKey = { type, fp: fingerprint(key) };
                  return false;
                }
                newKey = { type, b64 };
                return true;
              }
              if (known === b64) return true;
              hostKeyProblem = { seen: b64, type };
              return false;
            },
          });
        } catch (e) {
          fail(this.connectError(e as Error, auth));
        }
      }, fail);
    });
  }

  private connectError(
    e: Error & { level?: string; code?: string },
    auth: { agent?: unknown },
  ): PaasboxError {
    const where = `${this.address}:${this.port}`;
    if (e.level === 'client-authentication') {
      const how = this.opts.keyPath
        ? `key ${this.opts.keyPath}`
        : auth.agent
          ? 'the ssh-agent keys'
          : 'the default key';
      return targetError(
        `${this.user}@${where} refused ${how} (authentication failed)`,
        `pass --key with a key whose public half is in ~${this.user}/.ssh/authorized_keys on ${this.address}, or add it there (ssh-copy-id)`,
        e.message,
      );
    }
    if (/encrypted private key|passphrase/i.test(e.message)) {
      return new PaasboxError(
        `SSH key ${this.opts.keyPath ?? ''} is encrypted`,
        'load it into ssh-agent (ssh-add KEY) and omit --key, or use an unencrypted deploy key',
        e.message,
      );
    }
    if (/Cannot parse privateKey|Unsupported key format/i.test(e.message)) {
      return new PaasboxError(
        `SSH key ${this.opts.keyPath ?? ''} is not a private key ssh2 can read`,
        'pass --key with an OpenSSH private key (ssh-keygen -t ed25519)',
        e.message,
      );
    }
    if (e.code === 'ECONNREFUSED') {
      return transientError(
        `cannot reach ${where}: connection refused (nothing listens for SSH there)`,
        `check the address and port in --host, and that sshd runs on ${this.address}`,
      );
    }
    if (
      e.code === 'EHOSTUNREACH' ||
      e.code === 'ENETUNREACH' ||
      e.code === 'ETIMEDOUT' ||
      e.level === 'client-timeout' ||
      /timed out/i.test(e.message)
    ) {
      return transientError(
        `cannot reach ${where}: host unreachable or not answering (${e.code ?? e.message})`,
        `check that ${this.address} is up and on your network, and that port ${this.port} is not firewalled`,
      );
    }
    if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') {
      return new PaasboxError(
        `cannot resolve host name ${this.address}`,
        'check the spelling in --host, or use the IP address',
      );
    }
    if (e.code === 'ECONNRESET' || /handshake|Connection lost/i.test(e.message)) {
      return transientError(
        `SSH handshake with ${where} failed: ${e.message}`,
        `check that port ${this.port} on ${this.address} is an SSH server`,
      );
    }
    return new PaasboxError(
      `SSH connection to ${where} failed: ${e.message}`,
      `check that "ssh -p ${this.port} ${this.user}@${this.address}" works`,
    );
  }

  private knownHostsLabel(): string {
    return `[${this.address}]:${this.port}`;
  }

  /** The pinned key: paasbox's own known_hosts first, then the user's ~/.ssh/known_hosts (read only). */
  private async readKnownKey(): Promise<string | undefined> {
    const own = findKnownKey(
      await readFile(this.knownHostsPath, 'utf8').catch(() => ''),
      this.address,
      this.port,
    );
    if (own || this.opts.knownHostsPath) return own;
    return findKnownKey(
      await readFile(join(homedir(), '.ssh', 'known_hosts'), 'utf8').catch(() => ''),
      this.address,
      this.port,
    );
  }

  /** Run a command; stdout/stderr collected, stdin fed from a string, Buffer or stream. */
  /**
   * Open an exec channel; a connection that dropped since the last call is re-opened once.
   * Its exit status is caught synchronously in the open callback: output can arrive in the
   * same socket read, before an awaiting caller could attach a listener.
   */
  private async openChannel(line: string): Promise<{ ch: ClientChannel; exit: { code?: number } }> {
    for (let attempt = 0; ; attempt++) {
      const conn = await this.connect();
      try {
        return await new Promise<{ ch: ClientChannel; exit: { code?: number } }>((resolve, reject) => {
          try {
            conn.exec(line, (err, ch) => {
              if (err) return reject(err);
              const exit: { code?: number } = {};
              ch.on('exit', (c: number | null, signal?: string) => {
                exit.code = c ?? (signal ? 128 : 1);
              });
              resolve({ ch, exit });
            });
          } catch (e) {
            reject(e as Error);
          }
        });
      } catch (e) {
        const dropped = /not connected|no response|closed|ECONNRESET|write after end/i.test(
          (e as Error).message,
        );
        if (attempt === 0 && dropped) {
          this.client = undefined;
          conn.end();
          continue;
        }
        throw new PaasboxError(
          `cannot run a command on ${this.name}: ${(e as Error).message}`,
          'check the SSH server allows sessions (MaxSessions) and run again',
        );
      }
    }
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    // Nothing waits forever on a host that stopped answering.
    opts = { ...opts, timeoutMs: opts.timeoutMs ?? this.opts.defaultExecTimeoutMs ?? 30 * 60_000 };
    const line = wrapCommand(command, opts, this.isRoot);
    const { ch, exit } = await this.openChannel(line);
    const r = await new Promise<ExecResult>((resolve) => {
      {
        const out: Buffer[] = [];
        const errs: Buffer[] = [];
        let timedOut = false;
        let settled = false;
        const finish = () => {
          if (settled) return;
          settled = true;
          if (timer) clearTimeout(timer);
          let stderr = Buffer.concat(errs).toString();
          if (timedOut) stderr += `\npaasbox: timed out after ${opts.timeoutMs} ms`;
          resolve({
            code: timedOut ? 124 : (exit.code ?? 255),
            stdout: Buffer.concat(out).toString(),
            stderr,
          });
        };
        // On timeout: signal the remote command, close the channel, and return at once
        // (sshd only closes the channel when the command has exited).
        const timer = opts.timeoutMs
          ? setTimeout(() => {
              timedOut = true;
              try {
                ch.signal('KILL');
              } catch {
                /* not supported by every server */
              }
              ch.close();
              finish();
            }, opts.timeoutMs)
          : undefined;
        ch.on('data', (d: Buffer) => {
          if (opts.onOutput) opts.onOutput(d);
          else out.push(d);
        });
        ch.stderr.on('data', (d: Buffer) => {
          if (opts.onOutput) opts.onOutput(d);
          else errs.push(d);
        });
        ch.on('error', () => undefined);
        ch.on('close', finish);
        feed(ch, opts.stdin);
      }
    });
    checkSudo(r, opts, this.isRoot, this.user, this.address);
    return r;
  }

  copy(localPath: string, remotePath: string): Promise<void> {
    return writeThroughExec(this, remotePath, createReadStream(localPath));
  }

  writeFile(remotePath: string, content: string | Buffer, mode?: number): Promise<void> {
    return writeThroughExec(this, remotePath, content, mode);
  }

  /**
   * Listen on 127.0.0.1:localPort (0 = any free port) and tunnel each connection to remoteHost:remotePort as
   * seen from the target.
   */
  async forward(remoteHost: string, remotePort: number, localPort = 0): Promise<Forward> {
    const conn = await this.connect();
    const sockets = new Set<Socket>();
    const server: Server = createServer((sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
      conn.forwardOut('127.0.0.1', sock.remotePort ?? 0, remoteHost, remotePort, (err, stream) => {
        if (err) return sock.destroy();
        sock.pipe(stream).pipe(sock);
        stream.on('error', () => sock.destroy());
        sock.on('error', () => stream.close());
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(localPort, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : localPort;
    return {
      localPort: port,
      close: () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    };
  }

  async facts(): Promise<TargetFacts> {
    if (!this.factsCache) {
      const r = await this.exec(FACTS_COMMAND);
      if (r.code !== 0)
        throw new PaasboxError(
          `cannot read facts of ${this.name}`,
          'check that the target is a Linux host with a POSIX shell',
          r.stderr,
        );
      this.factsCache = parseFacts(r.stdout);
    }
    return this.factsCache;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) (await c.catch(() => undefined))?.end();
    await this.jump?.close();
  }

  /** Through a ProxyJump host: a channel from it to this host's SSH port (undefined: connect directly). */
  private async jumpSocket(): Promise<ClientChannel | undefined> {
    if (!this.opts.proxyJump) return undefined;
    this.jump ??= new SshTarget(sshOptions(this.opts.proxyJump));
    const via = await this.jump.connect();
    return new Promise((resolve, reject) => {
      via.forwardOut('127.0.0.1', 0, this.opts.host, this.port, (err, stream) =>
        err
          ? reject(
              transientError(
                `jump host ${this.jump!.name} cannot reach ${this.address}:${this.port}: ${err.message}`,
                `check that ${this.address} is reachable from ${this.jump!.name}`,
              ),
            )
          : resolve(stream),
      );
    });
  }
}

/** The key type name at the start of an SSH public key blob. */
function keyType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const n = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + n).toString('ascii') || 'unknown';
}

/**
 * A host's key (base64) in known_hosts text, as OpenSSH matches it: the name is
 * "host" on port 22 and "[host]:port" otherwise (paasbox always writes the
 * bracketed form), in a comma list or hashed (|1|salt|HMAC-SHA1 of the name).
 * Negated patterns and @cert-authority/@revoked lines are not keys to trust.
 */
export function findKnownKey(text: string, host: string, port: number): string | undefined {
  const names = new Set([`[${host}]:${port}`, ...(port === 22 ? [host] : [])]);
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (!parts[0] || parts[0].startsWith('#') || parts[0].startsWith('@') || !parts[2]) continue;
    const [pattern, , b64] = parts as [string, string, string];
    for (const p of pattern.split(',')) {
      if (p.startsWith('|1|')) {
        const [, , salt, hash] = p.split('|');
        if (!salt || !hash) continue;
        for (const n of names)
          if (createHmac('sha1', Buffer.from(salt, 'base64')).update(n).digest('base64') === hash) return b64;
      } else if (names.has(p)) return b64;
    }
  }
  return undefined;
}
