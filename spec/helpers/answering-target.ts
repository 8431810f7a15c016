// A Target that answers every command from a function (exit 0 and empty output
// unless it says otherwise) and records the calls and writes, for unit tests of code that
// drives hosts (compose control, swarm) without a host.
import type { ExecOptions, ExecResult, Target } from '../../src/target/target.js';

export class AnsweringTarget implements Target {
  readonly calls: { command: string; stdin?: string }[] = [];
  /** What writeFile was asked to write, in order. */
  readonly writes: { path: string; content: string; mode?: number }[] = [];
  constructor(
    readonly name: string,
    readonly address: string,
    private readonly answer: (command: string) => Partial<ExecResult>,
  ) {}
  /** The commands run, in order. */
  get ran(): string[] {
    return this.calls.map((c) => c.command);
  }
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.calls.push({ command, ...(typeof opts.stdin === 'string' ? { stdin: opts.stdin } : {}) });
    return { code: 0, stdout: '', stderr: '', ...this.answer(command) };
  }
  async copy(): Promise<void> {}
  async writeFile(path: string, content: string | Buffer, mode?: number): Promise<void> {
    this.writes.push({ path, content: content.toString(), ...(mode !== undefined ? { mode } : {}) });
  }
  async forward(): Promise<never> {
    throw new Error('not used');
  }
  async facts(): Promise<never> {
    throw new Error('not used');
  }
  async close(): Promise<void> {}
}
