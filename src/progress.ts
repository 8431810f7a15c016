// Progress for long operations: each step is shown with its host and elapsed
// time as it runs, and the run ends with a summary of what changed. With
// json=true nothing human is printed and the summary is one JSON document.

export type StepStatus = 'ok' | 'changed' | 'failed' | 'skipped';

export interface StepRecord {
  step: string;
  host: string;
  status: StepStatus;
  seconds: number;
  detail?: string;
}

export interface ProgressOptions {
  json?: boolean;
  /** Where human lines go; stderr by default so stdout stays for results. */
  write?: (line: string) => void;
}

export class Progress {
  readonly records: StepRecord[] = [];
  private readonly started = Date.now();
  private readonly write: (line: string) => void;

  constructor(private readonly opts: ProgressOptions = {}) {
    this.write = opts.write ?? ((line) => process.stderr.write(line + '\n'));
  }

  /** Run fn as a step; its return value decides ok/changed/skipped. */
  async step<T extends StepOutcome | void>(step: string, host: string, fn: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    this.say(`[${host}] ${step} ...`);
    try {
      const result = await fn();
      const outcome = (result ?? { status: 'ok' }) as StepOutcome;
      this.record(step, host, outcome.status, t0, outcome.detail);
      return result;
    } catch (e) {
      this.record(step, host, 'failed', t0, e instanceof Error ? e.message : String(e));
      throw e;
    }
  }

  record(step: string, host: string, status: StepStatus, startedAt: number, detail?: string): void {
    const seconds = (Date.now() - startedAt) / 1000;
    this.records.push({ step, host, status, seconds, ...(detail ? { detail } : {}) });
    this.say(`[${host}] ${step}: ${status} (${seconds.toFixed(1)}s)${detail ? ` ${detail}` : ''}`);
  }

  /** A free-form progress line (suppressed in json mode). */
  say(line: string): void {
    if (!this.opts.json) this.write(`${elapsed(this.started)} ${line}`);
  }

  summary(): {
    ok: number;
    changed: number;
    failed: number;
    skipped: number;
    seconds: number;
    steps: StepRecord[];
  } {
    const count = (s: StepStatus) => this.records.filter((r) => r.status === s).length;
    return {
      ok: count('ok'),
      changed: count('changed'),
      failed: count('failed'),
      skipped: count('skipped'),
      seconds: (Date.now() - this.started) / 1000,
      steps: this.records,
    };
  }

  /** Print the closing summary: a table for people, one JSON object for machines. */
  finish(out: (s: string) => void = (s) => process.stdout.write(s + '\n')): void {
    const s = this.summary();
    if (this.opts.json) {
      out(JSON.stringify(s, null, 2));
      return;
    }
    out(
      `\nSummary (${s.seconds.toFixed(1)}s): ok=${s.ok} changed=${s.changed} failed=${s.failed} skipped=${s.skipped}`,
    );
    for (const r of s.steps)
      out(`  ${r.status.padEnd(8)} ${r.host.padEnd(22)} ${r.step}${r.detail ? `: ${r.detail}` : ''}`);
  }
}

export interface StepOutcome {
  status: StepStatus;
  detail?: string;
}

function elapsed(since: number): string {
  const s = Math.floor((Date.now() - since) / 1000);
  return `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}]`;
}
