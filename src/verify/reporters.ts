// Reporters for a VerifyReport: spec-like text for people (grouped by host and
// service), JUnit XML for CI, JSON for machines.

import type { CheckResult, VerifyReport } from './types.js';

export type ReporterName = 'spec' | 'junit' | 'json';

export const REPORTERS: ReporterName[] = ['spec', 'junit', 'json'];

export function render(
  report: VerifyReport | VerifyReport[],
  reporter: ReporterName,
  opts: { colour?: boolean } = {},
): string {
  const reports = Array.isArray(report) ? report : [report];
  switch (reporter) {
    case 'spec':
      return reports.map((r) => renderSpec(r, opts)).join('\n');
    case 'junit':
      return renderJunit(reports);
    case 'json':
      return JSON.stringify(Array.isArray(report) ? reports : report, null, 2) + '\n';
  }
}

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}

const MARK = { passed: '✓', failed: '✗', skipped: '-' } as const;
const COLOUR = { passed: 32, failed: 31, skipped: 33 } as const;

/**
 * The human report: each check once, under its host and service; a skip
 * reason once per service when its checks share it; one summary line.
 * colour: ANSI colours (a terminal).
 */
export function renderSpec(r: VerifyReport, opts: { colour?: boolean } = {}): string {
  const paint = (status: keyof typeof MARK, text: string) =>
    opts.colour ? `\x1b[${COLOUR[status]}m${text}\x1b[0m` : text;
  const lines: string[] = [];
  for (const [host, byHost] of groupBy(r.results, (x) => x.host)) {
    lines.push(host);
    for (const [service, items] of groupBy(byHost, (x) => x.service)) {
      const reasons = new Set(items.filter((x) => x.status === 'skipped').map((x) => x.reason ?? ''));
      const shared =
        items.every((x) => x.status === 'skipped') && reasons.size === 1 ? [...reasons][0] : undefined;
      lines.push(
        shared !== undefined ? `  ${service} ${paint('skipped', `(skipped: ${shared})`)}` : `  ${service}`,
      );
      for (const x of items) {
        let line = `    ${paint(x.status, MARK[x.status])} ${x.description}`;
        if (x.status === 'skipped' && shared === undefined) line += ` (skipped: ${x.reason ?? ''})`;
        if (x.status === 'failed') line += `\n        expected: ${x.expected}\n        got:      ${x.got}`;
        lines.push(line);
      }
    }
  }
  const summary = `${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped in ${r.seconds.toFixed(1)}s on ${r.target}`;
  lines.push('', r.failed ? paint('failed', summary) : summary);
  return lines.join('\n') + '\n';
}

/** One line naming the failing check, its host, expected vs got. */
export function failureLine(f: CheckResult): string {
  return `  ✗ [${f.host}] ${f.id}: expected ${f.expected}, got ${f.got}`;
}

export function xmlEscape(s: string): string {
  // Characters XML 1.0 forbids are dropped; the five specials escaped.
  return s
    .replace(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** One <testsuite> per host, one <testcase> per check (classname = host.service). */
export function renderJunit(reports: VerifyReport[]): string {
  const all = reports.flatMap((r) => r.results);
  const count = (s: CheckResult['status']) => all.filter((x) => x.status === s).length;
  const time = reports.reduce((a, r) => a + r.seconds, 0);
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(
    `<testsuites name="paasbox verify" tests="${all.length}" failures="${count('failed')}" skipped="${count('skipped')}" time="${time.toFixed(3)}">`,
  );
  for (const r of reports) {
    for (const [host, items] of groupBy(r.results, (x) => x.host)) {
      const f = items.filter((x) => x.status === 'failed').length;
      const s = items.filter((x) => x.status === 'skipped').length;
      const t = items.reduce((a, x) => a + x.seconds, 0);
      out.push(
        `  <testsuite name="${xmlEscape(host)}" tests="${items.length}" failures="${f}" errors="0" skipped="${s}" time="${t.toFixed(3)}" timestamp="${xmlEscape(r.startedAt.replace(/\.\d+Z$/, ''))}">`,
      );
      for (const x of items) {
        const open = `    <testcase classname="${xmlEscape(`${host}.${x.service}`)}" name="${xmlEscape(`${x.id}: ${x.description}`)}" time="${x.seconds.toFixed(3)}"`;
        if (x.status === 'passed') out.push(`${open}/>`);
        else if (x.status === 'skipped')
          out.push(`${open}>\n      <skipped message="${xmlEscape(x.reason ?? '')}"/>\n    </testcase>`);
        else
          out.push(
            `${open}>\n      <failure message="${xmlEscape(`expected ${x.expected}, got ${x.got}`)}" type="CheckFailed">${xmlEscape(`host: ${host}\ncheck: ${x.id}\nexpected: ${x.expected}\ngot: ${x.got}\nattempts: ${x.attempts}`)}</failure>\n    </testcase>`,
          );
      }
      out.push('  </testsuite>');
    }
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}
