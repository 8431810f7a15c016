// Control of the stack's compose project on a Target: up/stop/start/restart/
// down/status/logs and waiting until every service is healthy. The wait rides
// over docker not answering for a while (a dockerd restart): it fails only at
// its deadline, naming docker's last error or each laggard's last health
// check output and log tail.
import { PaasboxError, targetError } from '../errors.js';
import { poll } from '../poll.js';
import type { Progress } from '../progress.js';
import type { ExecResult, Target } from '../target/target.js';
import { shq } from '../target/shell.js';
import { composeFilter } from '../docker/compose.js';
import { detectComposeTool, type ComposeTool } from './tool.js';
import { parsePsIds } from '../docker/facts.js';
import { isReady, parseInspect, type ServiceStatus } from './status.js';

export interface StackControlOptions {
  /** Run docker as root (sudo -n when the login user is not root). Default true. */
  sudo?: boolean;
  /** A known tool (skips detection). */
  tool?: ComposeTool;
}

export class StackControl {
  private tool?: ComposeTool;
  private readonly sudo: boolean;

  constructor(
    readonly target: Target,
    /** The compose file's path on the target. */
    readonly composeFile: string,
    readonly project: string,
    opts: StackControlOptions = {},
  ) {
    this.sudo = opts.sudo ?? true;
    if (opts.tool) this.tool = opts.tool;
  }

  async composeTool(): Promise<ComposeTool> {
    this.tool ??= await detectComposeTool(this.target, { sudo: this.sudo });
    return this.tool;
  }

  /** Run a compose subcommand; a failure becomes a PaasboxError with the output tail. */
  async compose(args: string[], what: string, timeoutMs = 600_000): Promise<ExecResult> {
    const tool = await this.composeTool();
    const cmd = [...tool.argv, '-p', this.project, '-f', this.composeFile, ...args].map(shq).join(' ');
    const r = await this.target.exec(cmd, { sudo: this.sudo, timeoutMs });
    if (r.code !== 0)
      throw new PaasboxError(
        `${what} failed on ${this.target.name} (${tool.argv.join(' ')} ${args.join(' ')}, exit ${r.code})`,
        `read the detail; \`npx zx scripts/stack.mjs status\` and \`logs SERVICE\` show each service`,
        (r.stderr || r.stdout).trim(),
      );
    return r;
  }

  up(services: string[] = []): Promise<ExecResult> {
    return this.compose(['up', '-d', '--remove-orphans', ...services], 'starting the stack');
  }
  stop(service?: string): Promise<ExecResult> {
    return this.compose(['stop', ...opt(service)], `stopping ${service ?? 'the stack'}`);
  }
  start(service?: string): Promise<ExecResult> {
    return this.compose(['start', ...opt(service)], `starting ${service ?? 'the stack'}`);
  }
  restart(service?: string): Promise<ExecResult> {
    return this.compose(['restart', ...opt(service)], `restarting ${service ?? 'the stack'}`);
  }
  /** Remove the containers; named volumes (data) are kept unless volumes is true. */
  down(opts: { volumes?: boolean } = {}): Promise<ExecResult> {
    return this.compose(['down', '--remove-orphans', ...(opts.volumes ? ['-v'] : [])], 'removing the stack');
  }
  async logs(service?: string, tail = 100): Promise<string> {
    const r = await this.compose(
      ['logs', '--no-color', '--tail', String(tail), ...opt(service)],
      `reading logs of ${service ?? 'the stack'}`,
    );
    return r.stdout + r.stderr;
  }

  /** Follow the logs until interrupted, writing them as they come. */
  async followLogs(write: (chunk: Buffer) => void, service?: string, tail = 100): Promise<void> {
    const tool = await this.composeTool();
    const cmd = [
      ...tool.argv,
      '-p',
      this.project,
      '-f',
      this.composeFile,
      'logs',
      '--no-color',
      '--follow',
      '--tail',
      String(tail),
      ...opt(service),
    ]
      .map(shq)
      .join(' ');
    // No timeout: following ends when the user interrupts (or the stack goes away).
    // (setTimeout's ceiling, ~24 days: a longer delay would fire at once.)
    await this.target.exec(cmd, { sudo: this.sudo, onOutput: write, timeoutMs: 2 ** 31 - 1 });
  }

  /** The services the compose file defines. */
  async services(): Promise<string[]> {
    const r = await this.compose(['config', '--services'], 'reading the compose file');
    return r.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  }

  /** One entry per container of the project (and per defined service without one: state "missing"). */
  async status(): Promise<ServiceStatus[]> {
    return this.statusOf(await this.services());
  }

  /** status() for a known list of services: only docker is asked (no compose process). */
  async statusOf(expected: string[]): Promise<ServiceStatus[]> {
    const ps = await this.docker(
      `ps -a ${composeFilter(this.project)} --format '{{json .}}'`,
      'listing containers',
    );
    const ids = parsePsIds(ps.stdout);
    if (!ids.length) return parseInspect('[]', expected);
    // A container can vanish between ps and inspect (compose replacing it):
    // inspect then exits 1 but still prints the others, which is the truth now.
    const insp = await this.target.exec(`docker inspect ${ids.map(shq).join(' ')}`, {
      sudo: this.sudo,
      timeoutMs: 60_000,
    });
    if (insp.code !== 0 && !insp.stdout.trim().startsWith('['))
      throw new PaasboxError(
        `inspecting containers failed on ${this.target.name}`,
        'check that dockerd runs there (systemctl status docker)',
        insp.stderr,
      );
    return parseInspect(insp.stdout, expected);
  }

  /**
   * Poll status until every service is ready. docker failing to answer (a
   * dockerd restart) is waited out, said once per outage; at the deadline a
   * PaasboxError names docker's last error, or the laggards with their last
   * health check output and log tails.
   */
  async waitHealthy(
    timeoutMs: number,
    progress?: Progress,
    opts: { intervalMs?: number; services?: string[] } = {},
  ): Promise<ServiceStatus[]> {
    const secs = `${Math.round(timeoutMs / 1000)}s`;
    let last = '';
    let dockerDown: PaasboxError | undefined;
    /** The services not ready at the last look (undefined when docker did not answer it). */
    let waiting: ServiceStatus[] | undefined;
    // The compose file is read once (a broken one fails at once); then only docker is polled.
    const expected = await this.services();
    const look = async (): Promise<ServiceStatus[] | undefined> => {
      let all: ServiceStatus[];
      try {
        all = await this.statusOf(expected);
        dockerDown = undefined;
      } catch (e) {
        if (!(e instanceof PaasboxError)) throw e;
        if (!dockerDown)
          progress?.say(
            `[${this.target.name}] docker does not answer (${why(e)}); retrying until the deadline`,
          );
        dockerDown = e;
        waiting = undefined;
        last = '';
        return undefined;
      }
      const st = opts.services ? all.filter((s) => opts.services!.includes(s.service)) : all;
      const summary = st
        .map((s) => `${s.service}=${s.state}${s.health !== 'none' ? `/${s.health}` : ''}`)
        .join(' ');
      if (summary !== last) progress?.say(`[${this.target.name}] ${summary}`);
      last = summary;
      waiting = st.filter((s) => !isReady(s));
      return waiting.length ? undefined : st;
    };
    const fix =
      'look at the logs shown (`npx zx scripts/stack.mjs logs SERVICE`), fix the cause, then `stack.mjs up` again';
    const what = `a healthy stack on ${this.target.name}`;
    try {
      return await poll({ what, timeoutMs, everyMs: opts.intervalMs ?? 2000, fix, fatal: () => true }, look);
    } catch (e) {
      // Only poll's deadline is a PaasboxError here (look keeps docker's own): say what the last look saw.
      if (!(e instanceof PaasboxError)) throw e;
      if (waiting) throw await this.notHealthy(waiting, secs);
      throw targetError(
        `stack not healthy on ${this.target.name} after ${secs}: docker did not answer (${why(dockerDown!)})`,
        'check dockerd there (systemctl status docker, or its log), then `npx paasbox stack up`; data volumes are kept',
        dockerDown!.detail,
      );
    }
  }

  /**
   * The timeout error for services still not ready: each one's state, last health check output and log tail.
   */
  private async notHealthy(waiting: ServiceStatus[], secs: string): Promise<PaasboxError> {
    const tails: string[] = [];
    for (const s of waiting.slice(0, 3)) {
      const log = await this.logs(s.service, 15).catch((e: unknown) => String(e));
      const check = s.healthLog ? `last health check: ${s.healthLog}\n` : '';
      tails.push(
        `--- ${s.service} (${s.state}/${s.health}, restarts ${s.restartCount}) ---\n${check}${log.trim()}`,
      );
    }
    // The last check's first line, in the one-line problem (the detail shows only its last lines).
    const said = (s: ServiceStatus) => {
      const first = s.healthLog
        ?.split('\n')
        .find((l) => l.trim())
        ?.trim();
      return first ? ` (health check: ${first.length > 120 ? `${first.slice(0, 117)}...` : first})` : '';
    };
    return new PaasboxError(
      `stack not healthy on ${this.target.name} after ${secs}: ${waiting.map((s) => `${s.service} ${s.state}/${s.health}${said(s)}`).join(', ')}`,
      'look at the logs shown (`npx zx scripts/stack.mjs logs SERVICE`), fix the cause, then `stack.mjs up` again; data volumes are kept',
      tails.join('\n'),
    );
  }

  private async docker(args: string, what: string): Promise<ExecResult> {
    const r = await this.target.exec(`docker ${args}`, { sudo: this.sudo, timeoutMs: 60_000 });
    if (r.code !== 0)
      throw new PaasboxError(
        `${what} failed on ${this.target.name}`,
        'check that dockerd runs there (systemctl status docker)',
        r.stderr,
      );
    return r;
  }
}

/** An error as one phrase: its problem and the first line of its detail (docker's own words). */
function why(e: PaasboxError): string {
  const said = e.detail?.trim().split('\n')[0];
  return said ? `${e.problem}: ${said}` : e.problem;
}

function opt(s?: string): string[] {
  return s ? [s] : [];
}
