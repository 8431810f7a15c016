#!/usr/bin/env zx
// Prove a stack works, from inside the target: every web UI, four-letter word,
// container state and DNS answer (A and SRV on 53 and 8600 for every service
// in Consul's catalog), derived from stacks/paasbox.yaml.
//   npm run verify -- [--target local|user@host[:port]|KITCHEN-NAME] [--key FILE]
//        [--reporter spec|junit|json] [--out FILE] [--config paasbox.yaml] [--concurrency N] [--only TEXT]
// Default target: the one install recorded in .paasbox/state.json, else this machine.
// Exit 0 when nothing failed (skipped checks say why), 1 otherwise.
import { argv, fs, path } from 'zx';
import { formatError, PaasboxError } from '../dist/src/errors.js';
import { Progress } from '../dist/src/progress.js';
import { loadStackModel } from '../dist/src/stack/load.js';
import { runVerify, render, failureLine, resolveTarget, settingsForTarget } from '../dist/src/verify/index.js';

const REPORTERS = ['spec', 'junit', 'json'];
let target;
try {
  const reporter = String(argv.reporter ?? 'spec');
  if (!REPORTERS.includes(reporter)) throw new PaasboxError(`unknown reporter "${reporter}"`, `use --reporter ${REPORTERS.join('|')}`);
  target = resolveTarget(argv.target === undefined ? undefined : String(argv.target), argv.key ? { keyPath: String(argv.key) } : {});
  const quiet = reporter !== 'spec' && !argv.out;
  const progress = new Progress({ json: quiet });
  const model = loadStackModel();
  const { settings, deployment } = await settingsForTarget(target, model, argv.config ? { configPath: String(argv.config) } : {});
  progress.say(`[${target.name}] verifying ${settings.projectName} (source ${settings.imageSource}, ip ${settings.ip}, domain ${settings.domain})${deployment ? '' : ' — no deployed compose file found, judging by settings'}`);
  const only = argv.only ? String(argv.only) : undefined;
  const report = await runVerify(target, model, settings, {
    progress,
    deployment: deployment ?? null,
    ...(argv.concurrency ? { concurrency: Number(argv.concurrency) } : {}),
    ...(only ? { only: (c) => c.id.includes(only) || c.service.includes(only) } : {}),
  });
  const text = render(report, reporter);
  if (argv.out) {
    await fs.outputFile(path.resolve(String(argv.out)), text);
    if (reporter !== 'spec') process.stdout.write(render(report, 'spec'));
    else process.stdout.write(text);
  } else process.stdout.write(text);
  if (report.failed) {
    console.error(`paasbox: verify failed on ${report.target}: ${report.failed} check${report.failed > 1 ? 's' : ''} failed`);
    // The spec reporter lists failures itself; other formats go to files or machines.
    if (reporter !== 'spec' || argv.out) for (const r of report.results.filter((x) => x.status === 'failed')) console.error(failureLine(r));
    process.exitCode = 1;
  }
} catch (e) {
  console.error(formatError(e));
  process.exitCode = 1;
} finally {
  await target?.close().catch(() => undefined);
}
