// `paasbox kitchen VERB [NAME|all]`: test-kitchen's lifecycle over instances
// (src/instance/lifecycle.ts) with the drivers of src/drivers/, converge
// through the one install path (src/install/install.ts) and the real verify.

import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { EXIT, PaasboxError } from '../errors.js';
import { Progress } from '../progress.js';
import { DEFAULT_LOCK_TIMEOUT_S } from '../instance/lock.js';
import { install } from '../install/install.js';
import { loadStackModel } from '../model/load.js';
import type { ImageSourceName } from '../model/model.js';
import type { DriverName } from '../drivers/driver.js';
import { kitchenDrivers, KITCHEN_DRIVERS } from '../drivers/index.js';
import { Kitchen } from '../instance/lifecycle.js';
import { failureLine, render, REPORTERS, type ReporterName } from '../verify/reporters.js';
import { runVerify } from '../verify/run.js';
import { settingsForTarget } from '../stackfile/deployed-settings.js';
import type { VerifyReport } from '../verify/types.js';
import { jsonOption, sourceOption, subcommand } from './program.js';

interface KitchenFlags {
  kind?: DriverName;
  host?: string;
  key?: string;
  source?: ImageSourceName;
  reporter: ReporterName;
  out?: string;
  json?: boolean;
  prefix: string;
}

function kitchenFor(f: KitchenFlags, progress: Progress): Kitchen<VerifyReport> {
  const model = loadStackModel();
  return new Kitchen<VerifyReport>({
    drivers: kitchenDrivers({ dind: { prefix: f.prefix } }),
    progress,
    converge: async (inst) => {
      // The install path on the host the driver brought up; its secrets are its own
      // (.paasbox/secrets/NAME/), and the stack's sshd (when enabled) lets in the key it is reached with.
      await install({
        instance: inst.name,
        reached: { driver: inst.driver, ref: inst.stage },
        env: {},
        flags: f.source ? { imageSource: f.source } : {},
        ...(f.key ? { keyPath: f.key } : {}),
        healthTimeoutS: 300,
        lockTimeoutS: DEFAULT_LOCK_TIMEOUT_S,
        progress,
      });
    },
    verify: async (target, inst) => {
      const { settings, deployment } = await settingsForTarget(target, model, { instance: inst });
      return runVerify(target, model, settings, { progress, deployment: deployment ?? null });
    },
  });
}

export function defineKitchen(cmd: Command): Command {
  cmd.description('test-kitchen style lifecycle over stages: create, converge, verify, destroy, test, list');
  const common = (c: Command) =>
    c
      .addOption(
        new Option(
          '--kind <kind>',
          'dind: a disposable docker-in-docker host; ssh: an existing host; vagrant: a machine of ./Vagrantfile',
        ).choices(KITCHEN_DRIVERS),
      )
      .option('--host <host>', 'ssh: user@host[:port] or an ~/.ssh/config alias')
      .option('--key <file>', 'ssh: private key')
      .addOption(sourceOption())
      .addOption(new Option('--reporter <name>', 'verify output format').choices(REPORTERS).default('spec'))
      .option('--out <file>', 'write the verify report to a file')
      .option('--prefix <prefix>', 'dind: container name prefix', 'paasbox-kitchen')
      .addOption(jsonOption());
  const run =
    (verb: 'create' | 'converge' | 'verify' | 'destroy' | 'test') =>
    async (nameArg: string | undefined, f: KitchenFlags) => {
      const progress = new Progress({ json: !!f.json });
      const kitchen = kitchenFor(f, progress);
      const names = nameArg === 'all' ? kitchen.list().map((i) => i.name) : [nameArg ?? 'default'];
      if (nameArg === 'all' && !names.length)
        throw new PaasboxError(
          '"all" names no kitchen instance',
          'create one first: npx paasbox kitchen create NAME',
        );
      const spec = {
        kind: f.kind ?? (f.host ? 'ssh' : 'dind'),
        ...(f.host ? { hostSpec: f.host } : {}),
        ...(f.key ? { keyPath: resolve(f.key) } : {}),
      } as const;
      const reports: VerifyReport[] = [];
      for (const name of names) {
        if (verb === 'create') await kitchen.create(name, spec);
        else if (verb === 'converge') await kitchen.converge(name);
        else if (verb === 'destroy') await kitchen.destroy(name);
        else {
          const out =
            verb === 'test'
              ? await kitchen.test(name, spec)
              : { report: await kitchen.verify(name), destroyed: false };
          reports.push(out.report);
          if (out.report.failed) {
            process.exitCode = EXIT.checksFailed;
            if (f.reporter !== 'spec' || f.out)
              for (const r of out.report.results.filter((x) => x.status === 'failed'))
                process.stderr.write(failureLine(r) + '\n');
            if (verb === 'test')
              process.stderr.write(
                `paasbox: ${name} failed verify and was KEPT for inspection (destroy: npx paasbox kitchen destroy ${name})\n`,
              );
          } else if (verb === 'test') progress.say(`[${name}] passed verify and was destroyed`);
        }
      }
      if (reports.length) {
        const text = render(reports.length === 1 ? reports[0]! : reports, f.reporter);
        if (f.out) writeFileSync(resolve(f.out), text);
        else process.stdout.write(text);
      } else if (!f.json) progress.finish();
    };
  for (const verb of ['create', 'converge', 'verify', 'destroy', 'test'] as const)
    common(subcommand(cmd, `${verb} [name]`, `${verb} an instance (NAME, default "default", or all)`)).action(
      run(verb),
    );
  subcommand(cmd, 'list', 'the kitchen instances and where they stand')
    .addOption(jsonOption())
    .action(async (f: { json?: boolean }) => {
      const all = await kitchenFor(
        { reporter: 'spec', prefix: 'paasbox-kitchen' },
        new Progress({ json: true }),
      ).listWithState();
      if (f.json) {
        const out = all.map(({ instance, host }) => ({ ...instance, host }));
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      } else if (!all.length)
        process.stdout.write('no instances (create one: npx paasbox kitchen create default)\n');
      else
        for (const { instance: i, host } of all) {
          const where =
            i.stage.kind === 'ssh' ? `${i.stage.ssh.user}@${i.stage.ssh.host}:${i.stage.ssh.port}` : 'local';
          const last = i.lastVerify
            ? `last verify: ${i.lastVerify.passed} passed, ${i.lastVerify.failed} failed, ${i.lastVerify.skipped} skipped`
            : '';
          process.stdout.write(
            `${i.name.padEnd(16)} ${i.driver.padEnd(8)} ${where.padEnd(28)} ${i.lifecycle.padEnd(10)} ` +
              `${`host ${host.state}`.padEnd(17)} ${last}\n`,
          );
        }
    });
  return cmd;
}
