#!/usr/bin/env zx
// test-kitchen style lifecycle for paasbox targets, state in .paasbox/kitchen.json:
//   npx zx scripts/kitchen.mjs create|converge|verify|destroy|test|list [NAME|all]
//        [--kind testhost|ssh|vagrant] [--host user@host[:port]] [--key FILE] [--source local|registry]
//        [--reporter spec|junit|json] [--out FILE] [--json]
// create: testhost = a disposable docker-in-docker host; ssh = record an existing host; vagrant = vagrant up NAME.
// converge: provision the stack (idempotent). verify: run every derived check (see scripts/verify.mjs).
// destroy: remove the instance (an ssh host is only forgotten). test: create, converge, verify, and
// destroy when verify passed; a failed instance is kept for inspection. NAME defaults to "default".
import { argv, fs, path } from 'zx';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { formatError, PaasboxError } from '../dist/src/errors.js';
import { Progress } from '../dist/src/progress.js';
import { loadStackModel } from '../dist/src/stack/load.js';
import { parseHostSpec } from '../dist/src/target/parse.js';
import { provisionTarget } from '../dist/src/provision/provision.js';
import {
  Kitchen, readKitchen, sshDriver, testhostDriver, vagrantDriver, instanceTarget,
  runVerify, render, failureLine, settingsForTarget,
} from '../dist/src/verify/index.js';

const run = promisify(execFile);
const localRun = (cmd, args) => run(cmd, args, { maxBuffer: 64 * 1024 * 1024 });
const COMMANDS = ['create', 'converge', 'verify', 'destroy', 'test', 'list'];
const USAGE = `usage: kitchen.mjs ${COMMANDS.join('|')} [NAME|all] [--kind testhost|ssh|vagrant] [--host user@host[:port]] [--key FILE] [--source local|registry] [--reporter spec|junit|json] [--out FILE]`;

try {
  const [cmd, nameArg] = argv._.map(String);
  if (!cmd || !COMMANDS.includes(cmd)) throw new PaasboxError(`unknown command "${cmd ?? ''}"`, USAGE);
  const reporter = String(argv.reporter ?? 'spec');
  const progress = new Progress({ json: !!argv.json });
  const model = loadStackModel();

  const drivers = { ssh: sshDriver(parseHostSpec), vagrant: vagrantDriver(localRun) };
  // The disposable host driver lives with the test helpers (compiled by npm run build).
  const helpers = new URL('../dist/spec/helpers/testhosts.js', import.meta.url);
  if (existsSync(helpers)) drivers.testhost = testhostDriver((await import(helpers.href)).createTestHosts, localRun, String(argv.prefix ?? 'paasbox-kitchen'));

  const kitchen = new Kitchen({
    drivers,
    progress,
    connect: instanceTarget,
    converge: async (target) => {
      await provisionTarget(target, { progress, ...(argv.source ? { source: String(argv.source) } : {}) });
    },
    verify: async (target) => {
      const { settings, deployment } = await settingsForTarget(target, model);
      return runVerify(target, model, settings, { progress, deployment: deployment ?? null });
    },
  });

  if (cmd === 'list') {
    const all = kitchen.list();
    if (argv.json) console.log(JSON.stringify(all, null, 2));
    else if (!all.length) console.log('no instances (create one: npx zx scripts/kitchen.mjs create default)');
    else for (const i of all) console.log(`${i.name.padEnd(16)} ${i.kind.padEnd(9)} ${`${i.user}@${i.host}:${i.port}`.padEnd(28)} ${i.state.padEnd(10)} ${i.lastVerify ? `last verify: ${i.lastVerify.passed} passed, ${i.lastVerify.failed} failed, ${i.lastVerify.skipped} skipped` : ''}`);
    process.exit(0);
  }

  const known = Object.keys(readKitchen().instances);
  const names = nameArg === 'all' ? known : [nameArg ?? 'default'];
  if (nameArg === 'all' && !names.length) throw new PaasboxError('"all" names no instance: .paasbox/kitchen.json is empty', 'create one first: npx zx scripts/kitchen.mjs create NAME');
  const spec = {
    kind: String(argv.kind ?? (argv.host ? 'ssh' : 'testhost')),
    ...(argv.host ? { hostSpec: String(argv.host) } : {}),
    ...(argv.key ? { keyPath: path.resolve(String(argv.key)) } : {}),
  };
  const reports = [];
  let failed = false;
  for (const name of names) {
    if (cmd === 'create') await kitchen.create(name, spec);
    else if (cmd === 'converge') await kitchen.converge(name);
    else if (cmd === 'destroy') await kitchen.destroy(name);
    else {
      const out = cmd === 'test' ? await kitchen.test(name, spec) : { report: await kitchen.verify(name) };
      reports.push(out.report);
      if (out.report.failed) {
        failed = true;
        if (reporter !== 'spec' || argv.out) for (const r of out.report.results.filter((x) => x.status === 'failed')) console.error(failureLine(r));
        if (cmd === 'test') console.error(`paasbox: ${name} failed verify and was KEPT for inspection (ssh with .paasbox/kitchen.json's key; destroy: npx zx scripts/kitchen.mjs destroy ${name})`);
      } else if (cmd === 'test') progress.say(`[${name}] passed verify and was destroyed`);
    }
  }
  if (reports.length) {
    const text = render(reports.length === 1 ? reports[0] : reports, reporter);
    if (argv.out) await fs.outputFile(path.resolve(String(argv.out)), text);
    else process.stdout.write(text);
  }
  if (!argv.json && !reports.length) progress.finish();
  if (failed) process.exitCode = 1;
} catch (e) {
  console.error(formatError(e));
  process.exitCode = 1;
}
