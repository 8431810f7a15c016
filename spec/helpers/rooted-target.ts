// This machine as a target whose SECRETS_DIR (/opt/paasbox/secrets), or
// another root-owned path given as `from`, is a temp dir instead: the real
// shell commands run, nothing touches the real path.
// Records every command line and stdin, so a test can look for a secret there.
import { SECRETS_DIR } from '../../src/secrets/secrets.js';
import { LocalTarget } from '../../src/target/local.js';
import type { ExecOptions, ExecResult, Target } from '../../src/target/target.js';

export class RootedTarget implements Target {
  readonly name = 'rooted';
  readonly address = '127.0.0.1';
  readonly commands: string[] = [];
  readonly stdins: string[] = [];
  private readonly local = new LocalTarget();
  constructor(
    readonly root: string,
    private readonly from: string = SECRETS_DIR,
  ) {}
  private move(s: string): string {
    return s.split(this.from).join(this.root);
  }
  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.commands.push(command);
    if (typeof opts.stdin === 'string') this.stdins.push(opts.stdin);
    // A script on stdin (the batched checks) names the path too.
    return this.local.exec(
      this.move(command),
      typeof opts.stdin === 'string' ? { ...opts, stdin: this.move(opts.stdin) } : opts,
    );
  }
  writeFile(path: string, content: string | Buffer, mode?: number): Promise<void> {
    this.commands.push(`writeFile ${path} ${mode?.toString(8)}`);
    return this.local.writeFile(this.move(path), content, mode);
  }
  copy(): Promise<void> {
    throw new Error('not used');
  }
  forward(): Promise<never> {
    throw new Error('not used');
  }
  facts() {
    return this.local.facts();
  }
  async close(): Promise<void> {}
}
