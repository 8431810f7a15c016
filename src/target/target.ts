// The narrow interface for everything that touches a host. Orchestration code
// (provisioning, image push, verify) talks only to this, so the same steps run
// on this machine, a Vagrant VM or any host over SSH.

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Data written to the command's stdin. */
  stdin?: string | Buffer | NodeJS.ReadableStream;
  cwd?: string;
  env?: Record<string, string>;
  /** Milliseconds before the command is given up on. */
  timeoutMs?: number;
  /** Run as root (sudo -n when the login user is not root). */
  sudo?: boolean;
  /** Output goes here as it arrives (logs -f) instead of being collected. */
  onOutput?: (chunk: Buffer) => void;
  /** Ends the command (its whole process group) when aborted; this machine's targets honour it. */
  signal?: AbortSignal;
}

export interface TargetFacts {
  os: string; // e.g. "debian 12", "ubuntu 22.04", "darwin"
  arch: string; // uname -m
  hostname: string;
  user: string;
  isRoot: boolean;
}

export interface Forward {
  localPort: number;
  close(): Promise<void>;
}

export interface Target {
  /** A short human name: "local", "root@10.0.0.5:22". */
  readonly name: string;
  /** The address other hosts and the user reach this target at. */
  readonly address: string;
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  /**
   * argv with no shell parsing it, where the transport can (this machine);
   * runArgv (shell.ts) quotes it into exec where it cannot (SSH).
   */
  run?(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Copy a local file to a path on the target. */
  copy(localPath: string, remotePath: string): Promise<void>;
  /** Write content to a path on the target. */
  writeFile(remotePath: string, content: string | Buffer, mode?: number): Promise<void>;
  /** Forward a local port to host:port as seen from the target. */
  forward(remoteHost: string, remotePort: number, localPort?: number): Promise<Forward>;
  facts(): Promise<TargetFacts>;
  close(): Promise<void>;
}
