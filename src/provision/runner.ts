// The provisioning runner: ordered steps, each check → apply → check again,
// reported Ansible-style as ok (already converged), changed or failed through
// Progress. The first failure stops the run with a PaasboxError naming the
// step, the host, the command and its stderr tail (a StepFailure, which says
// which step it belongs to). Steps only ever converge forward: nothing here
// stops or removes a running stack.

import { PaasboxError, isPaasboxError, type ErrorKind } from '../errors.js';
import type { Progress, StepRecord } from '../progress.js';
import type { ExecResult, Target } from '../target/target.js';
import { parseProbeOutput, probeNonce, probeScript, type Probe, type ProbeResults } from './probe.js';

/** What a step's check found. */
export interface StepCheck {
  /** true when the host already is as the step wants it. */
  ok: boolean;
  /** What is missing (not ok) or what was found (ok). */
  detail?: string;
}

export interface ProvisionStep {
  name: string;
  /**
   * A read-only shell command (run as root) whose result is all check needs.
   * The runner runs every step's probe in one exec before the first step
   * (src/provision/probe.ts) and passes each check its result, as long as no
   * earlier step has changed the host; otherwise check runs without one and
   * asks the host itself.
   */
  probe?: string;
  check(target: Target, probed?: ExecResult): Promise<StepCheck>;
  /** Converge; may return a detail line for the report. */
  apply(target: Target): Promise<string | void>;
  /** What the user does when apply fails (default: read the detail). */
  fix?: string;
  /** A pre-flight gate: its check failing stops even a dry run. */
  gate?: boolean;
}

/** A shell command on the target that failed: what ran and what it said. */
export class CommandFailure extends Error {
  constructor(
    readonly command: string,
    readonly code: number,
    readonly stderr: string,
    readonly fix?: string,
  ) {
    super(`\`${command}\` exited ${code}`);
  }
}

/**
 * A step that failed on a host: the error runSteps throws, marked with its step and host so it is never
 * wrapped twice.
 */
export class StepFailure extends PaasboxError {
  constructor(
    readonly step: string,
    readonly host: string,
    problem: string,
    fix: string,
    detail?: string,
    kind: ErrorKind = 'target',
  ) {
    super(problem, fix, detail, kind);
  }
}

export interface ProvisionResult {
  host: string;
  steps: StepRecord[];
  changed: number;
  ok: number;
}

export interface RunOptions {
  /** Check only (--dry-run): a step that would change is reported skipped with what it would do. */
  checkOnly?: boolean;
  /** Run the steps' probes in one exec first (default true); false: each check asks on its own. */
  batch?: boolean;
}

/**
 * Every step's probe in one exec. A host that cannot run the script (no sh,
 * sudo refused, a timeout) gives no results: each check then runs on its own
 * and reports the real problem.
 */
export async function runProbes(target: Target, steps: ProvisionStep[]): Promise<ProbeResults> {
  // Steps asking the same thing (compose up and healthy both read the containers) share one run of it.
  const byCommand = new Map<string, string>();
  const probes: Probe[] = [];
  steps.forEach((s, i) => {
    if (!s.probe || byCommand.has(s.probe)) return;
    byCommand.set(s.probe, String(i));
    probes.push({ id: String(i), command: s.probe });
  });
  if (!probes.length) return new Map();
  const nonce = probeNonce();
  try {
    const r = await target.exec('sh -s', {
      stdin: probeScript(probes, nonce),
      sudo: true,
      timeoutMs: 120_000,
    });
    const got = parseProbeOutput(probes, nonce, r.stdout);
    const out: ProbeResults = new Map();
    steps.forEach((s, i) => {
      const res = s.probe ? got.get(byCommand.get(s.probe)!) : undefined;
      if (res) out.set(String(i), res);
    });
    return out;
  } catch {
    return new Map();
  }
}

const DEFAULT_FIX =
  'read the detail, fix the host, and run the install again (steps already done are skipped)';

export async function runSteps(
  target: Target,
  steps: ProvisionStep[],
  progress: Progress,
  opts: RunOptions = {},
): Promise<ProvisionResult> {
  const host = target.name;
  const before = progress.records.length;
  // The probes say how the host was before this run: true until a step changes it.
  let probed: ProbeResults = opts.batch === false ? new Map() : await runProbes(target, steps);
  for (const [i, step] of steps.entries()) {
    try {
      await progress.step(step.name, host, async () => {
        let first: StepCheck;
        try {
          first = await step.check(target, probed.get(String(i)));
        } catch (e) {
          // In a dry run a later step cannot always be checked (no docker yet): say so, go on.
          if (opts.checkOnly && !step.gate)
            return {
              status: 'skipped' as const,
              detail: `cannot check before earlier steps apply (${e instanceof PaasboxError ? e.problem : e instanceof Error ? e.message : String(e)})`,
            };
          throw e;
        }
        if (first.ok) return { status: 'ok' as const, ...(first.detail ? { detail: first.detail } : {}) };
        if (opts.checkOnly)
          return { status: 'skipped' as const, detail: `would change: ${first.detail ?? 'apply'}` };
        probed = new Map();
        const applied = await step.apply(target);
        const again = await step.check(target);
        if (!again.ok)
          throw new StepFailure(
            step.name,
            host,
            `step "${step.name}" on ${host} did not converge: after apply its check still says: ${again.detail ?? 'not ok'}`,
            step.fix ?? DEFAULT_FIX,
          );
        const detail = applied || first.detail;
        return { status: 'changed' as const, ...(detail ? { detail } : {}) };
      });
    } catch (e) {
      throw stepError(step, host, e);
    }
  }
  // Other hosts' steps may run meanwhile (a cluster converges hosts in parallel).
  const mine = progress.records.slice(before).filter((r) => r.host === host);
  return {
    host,
    steps: mine,
    changed: mine.filter((r) => r.status === 'changed').length,
    ok: mine.filter((r) => r.status === 'ok').length,
  };
}

/**
 * The StepFailure for an error a step threw; one already raised for this step and host passes through as is.
 */
function stepError(step: ProvisionStep, host: string, e: unknown): StepFailure {
  if (e instanceof StepFailure && e.step === step.name && e.host === host) return e;
  const failed = (problem: string, fix: string, detail?: string, kind?: ErrorKind) =>
    new StepFailure(step.name, host, `step "${step.name}" failed on ${host}: ${problem}`, fix, detail, kind);
  if (e instanceof CommandFailure) return failed(e.message, e.fix ?? step.fix ?? DEFAULT_FIX, tail(e.stderr));
  // A wrapped error keeps its kind: a refused login stays the target's, a bad setting the user's.
  if (isPaasboxError(e)) return failed(e.problem, e.fix, e.detail, e.kind);
  return failed(e instanceof Error ? e.message : String(e), step.fix ?? DEFAULT_FIX);
}

/** The last lines of a command's output, for the error detail. */
export function tail(text: string, lines = 15): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** Run a command on the target as root; a non-zero exit becomes a CommandFailure. */
export async function sh(
  target: Target,
  command: string,
  opts: {
    stdin?: string | Buffer | NodeJS.ReadableStream;
    timeoutMs?: number;
    fix?: string;
    env?: Record<string, string>;
  } = {},
): Promise<string> {
  const r = await target.exec(command, {
    sudo: true,
    timeoutMs: opts.timeoutMs ?? 600_000,
    ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}),
    ...(opts.env ? { env: opts.env } : {}),
  });
  if (r.code !== 0)
    throw new CommandFailure(
      command.length > 200 ? `${command.slice(0, 200)}...` : command,
      r.code,
      r.stderr || r.stdout,
      opts.fix,
    );
  return r.stdout;
}
