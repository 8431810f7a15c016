// Batched checks: every step's read-only probe command gathered into one
// shell script, run in one exec (one SSH round trip instead of one or more
// per step), its output cut back into one result per step. The script and the
// parser are pure (golden-tested); the runner decides when the results are
// still true (until the first step changes something).

import { randomBytes } from 'node:crypto';
import type { ExecResult } from '../target/target.js';

/** One probe: a name for the parse, and a read-only shell command (run as root under sh). */
export interface Probe {
  id: string;
  command: string;
}

export type ProbeResults = Map<string, ExecResult>;

/** A marker no command's output can contain by chance: a random nonce per run. */
export function probeNonce(): string {
  return randomBytes(8).toString('hex');
}

/**
 * The one script: the probes run side by side (most wait on dockerd), each
 * in its own subshell with stdin from /dev/null and its stdout, stderr and
 * exit code kept in files; then, in order, each probe's stdout between an
 * "out" and an "err" marker line, its exit code on the "err" line, its stderr
 * after it. The markers begin on a fresh line (a printf '\n' the parser takes
 * off again), so output without a final newline is kept byte for byte. A
 * probe that fails never stops the others; the exec's timeout bounds all.
 */
export function probeScript(probes: Probe[], nonce: string): string {
  const lines = ['d=$(mktemp -d) || exit 70', 'trap \'rm -rf "$d"\' EXIT'];
  probes.forEach((p, i) => {
    lines.push(`( ( ${p.command}\n) </dev/null >"$d/${i}.out" 2>"$d/${i}.err"; echo $? >"$d/${i}.code" ) &`);
  });
  lines.push('wait');
  probes.forEach((_, i) => {
    lines.push(
      `printf '%s\\n' '@@${nonce} ${i} out'`,
      `cat "$d/${i}.out"`,
      `printf '\\n%s %s\\n' '@@${nonce} ${i} err' "$(cat "$d/${i}.code")"`,
      `cat "$d/${i}.err"`,
      `printf '\\n%s\\n' '@@${nonce} ${i} end'`,
    );
  });
  return lines.join('\n') + '\n';
}

/**
 * probeScript's output → one ExecResult per probe id; a probe whose section is missing or cut short is left
 * out (its check runs live).
 */
export function parseProbeOutput(probes: Probe[], nonce: string, stdout: string): ProbeResults {
  const out: ProbeResults = new Map();
  probes.forEach((p, i) => {
    const open = `@@${nonce} ${i} out\n`;
    const errAt = stdout.indexOf(`\n@@${nonce} ${i} err `);
    const start = stdout.indexOf(open);
    const endAt = stdout.indexOf(`\n@@${nonce} ${i} end\n`);
    if (start < 0 || errAt < start || endAt < errAt) return;
    const errLineEnd = stdout.indexOf('\n', errAt + 1);
    const code = Number(stdout.slice(errAt + 1, errLineEnd).split(' ')[3]);
    if (!Number.isInteger(code)) return;
    out.set(p.id, {
      code,
      stdout: stdout.slice(start + open.length, errAt),
      stderr: stdout.slice(errLineEnd + 1, endAt),
    });
  });
  return out;
}
