// The closing summary of a build run, grouped by outcome (pure).
import type { BuildAllResult, ImageOutcome } from './builder.js';

const ORDER: ImageOutcome[] = [
  'planned',
  'built',
  'pulled',
  'up-to-date',
  'present',
  'unavailable',
  'failed',
];

export function formatBuildSummary(r: BuildAllResult): string {
  const lines = [`\nImages (${r.seconds.toFixed(1)}s): ${r.ok ? 'ok' : 'FAILED'}`];
  for (const outcome of ORDER) {
    const group = r.images.filter((i) => i.outcome === outcome);
    if (group.length === 0) continue;
    lines.push(`  ${outcome} (${group.length}):`);
    for (const i of group) {
      const who = i.services.length ? ` [${i.services.join(', ')}]` : '';
      lines.push(`    ${i.ref}${who} ${i.seconds.toFixed(1)}s: ${i.reason}`);
      if (i.supply) lines.push(`      supply: ${i.supply}`);
      if (i.failedStep) lines.push(`      failed step: ${i.failedStep}`);
      if (i.detail)
        lines.push(
          ...i.detail
            .trim()
            .split('\n')
            .slice(-12)
            .map((l) => `      | ${l}`),
        );
    }
  }
  return lines.join('\n');
}
