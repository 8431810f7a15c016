// `paasbox verify`: prove the stack on a stage works, from inside it: every
// web UI, four-letter word, container state and DNS answer derived from the
// model. --from-here sends the network probes from this machine to the
// advertised address instead (what the user sees); container state is still
// read on the target. Exit 0 when nothing failed (skipped checks say why), 1 otherwise.
// An instance that is a cluster is verified from each of its hosts in turn
// (each report names its host; the cluster checks see the whole from there).

import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { EXIT } from '../errors.js';
import { Progress } from '../progress.js';
import { localSecretsDir } from '../secrets/store.js';
import { loadStackModel } from '../model/load.js';
import { DEFAULT_INSTANCE } from '../instance/state.js';
import { LocalTarget } from '../target/local.js';
import { failureLine, render, REPORTERS, type ReporterName } from '../verify/reporters.js';
import { runVerify } from '../verify/run.js';
import { settingsForTarget } from '../stackfile/deployed-settings.js';
import { intArg, stageOptions } from './program.js';
import { openStage, type StageFlags } from './stage.js';
import { openTarget } from '../instance/open.js';
import type { Instance } from '../instance/state.js';
import type { Target } from '../target/target.js';

interface VerifyFlags extends StageFlags {
  reporter: ReporterName;
  json?: boolean;
  out?: string;
  config?: string;
  concurrency?: number;
  only?: string;
  fromHere?: boolean;
}

export function defineVerify(cmd: Command): Command {
  return stageOptions(cmd)
    .addOption(new Option('--reporter <name>', 'output format').choices(REPORTERS).default('spec'))
    .option('--json', 'shorthand for --reporter json')
    .option('--out <file>', 'write the report to a file (the spec report still goes to the terminal)')
    .option('--config <file>', 'settings file (default ./paasbox.yaml)')
    .option(
      '--concurrency <n>',
      'checks run at once (each is an SSH session: mind MaxSessions)',
      intArg('--concurrency', 1, 64),
    )
    .option('--only <text>', 'only checks whose id or service contains TEXT')
    .option(
      '--from-here',
      "send the web UI, HAProxy-by-name and DNS checks from this machine to the advertised address (logins from this machine's copy of the secrets)",
    )
    .description('every web UI port and DNS answer, checked from inside the target (or --from-here)')
    .action(async (f: VerifyFlags) => {
      const reporter: ReporterName = f.json ? 'json' : f.reporter;
      const stage = await openStage(f);
      const cluster = stage.instance?.cluster;
      // The stage is the first master; the other hosts of a cluster are opened as recorded.
      const others: Target[] = cluster
        ? [...cluster.masters, ...cluster.agents].slice(1).map((m) => openTarget({ kind: 'ssh', ssh: m.ssh }))
        : [];
      try {
        const secretsDir = localSecretsDir(stage.instance?.name ?? DEFAULT_INSTANCE);
        // Each host's file records only what shapes it; the whole cluster is the instance's record.
        const whole = cluster
          ? { masters: cluster.masters.map((m) => m.ip), agents: cluster.agents.map((m) => m.ip) }
          : undefined;
        for (const [i, target] of [stage.target, ...others].entries())
          await verifyOne(
            target,
            i === 0 ? stage.instance : undefined,
            f,
            reporter,
            f.out && i ? `${f.out}.${i + 1}` : f.out,
            secretsDir,
            whole,
          );
      } finally {
        await stage.target.close();
        await Promise.all(others.map((t) => t.close()));
      }
    });
}

/** One host's report; `out` is where --out writes it (a cluster's later hosts: FILE.2, FILE.3, ...). */
async function verifyOne(
  target: Target,
  instance: Instance | undefined,
  f: VerifyFlags,
  reporter: ReporterName,
  out: string | undefined,
  secretsDir: string,
  whole?: { masters: string[]; agents: string[] },
): Promise<void> {
  const quiet = reporter !== 'spec' && !out;
  const progress = new Progress({ json: quiet });
  const model = loadStackModel();
  const { settings, deployment } = await settingsForTarget(target, model, {
    ...(f.config ? { configPath: f.config } : {}),
    ...(instance ? { instance } : {}),
    ...(whole ? { flags: whole } : {}),
  });
  progress.say(
    `[${target.name}] verifying ${settings.projectName} (source ${settings.imageSource}, ip ${settings.ip}, domain ${settings.domain})${deployment ? '' : ' — no deployed compose file found, judging by settings'}${f.fromHere ? '; network checks from this machine' : ''}`,
  );
  const only = f.only;
  const report = await runVerify(target, model, settings, {
    deployment: deployment ?? null,
    // A cluster shares one set of secrets, so every host's logins come from the same copy.
    ...(f.fromHere ? { probeFrom: { target: new LocalTarget(), secretsDir } } : {}),
    ...(f.concurrency ? { concurrency: f.concurrency } : {}),
    ...(only ? { only: (c) => c.id.includes(only) || c.service.includes(only) } : {}),
  });
  const colour = !!process.stdout.isTTY && !process.env['NO_COLOR'];
  if (out) {
    writeFileSync(resolve(out), render(report, reporter));
    process.stdout.write(render(report, 'spec', { colour }));
  } else process.stdout.write(render(report, reporter, { colour: colour && reporter === 'spec' }));
  if (report.failed) {
    // The spec report lists failures itself; other formats go to files or machines.
    if (reporter !== 'spec' && !out)
      for (const r of report.results.filter((x) => x.status === 'failed'))
        process.stderr.write(failureLine(r) + '\n');
    process.exitCode = EXIT.checksFailed;
  }
}
