#!/usr/bin/env zx
// Deploy a Marathon app JSON through Marathon, or Docker swarm when the stack
// has no Marathon:
//   npx zx scripts/deploy.mjs FILE.json [--wait] [--timeout SECONDS] [--scale N | --destroy]
//        [--scheduler auto|marathon|swarm] [--target user@host[:port]] [--key PATH] [--known-hosts PATH]
//        [--worker user@host ...] [--marathon URL] [--advertise-addr IP] [--json]
// Without --target the swarm runs on this machine (give --advertise-addr).
import { argv } from 'zx';
import { formatError, PaasboxError } from '../dist/src/errors.js';
import { Progress } from '../dist/src/progress.js';
import { LocalTarget } from '../dist/src/target/local.js';
import { SshTarget } from '../dist/src/target/ssh.js';
import { parseHostSpec } from '../dist/src/target/parse.js';
import { runDeploy } from '../dist/src/scheduler/deploy.js';

const USAGE = 'usage: deploy.mjs FILE.json [--wait] [--scale N | --destroy] [--scheduler auto|marathon|swarm] [--target user@host[:port]] [--key PATH] [--known-hosts PATH] [--worker user@host] [--marathon URL] [--advertise-addr IP] [--json]';
const targets = [];
try {
  const file = argv._[0] === undefined ? undefined : String(argv._[0]);
  if (!file) throw new PaasboxError('no app file given', USAGE);
  const scheduler = String(argv.scheduler ?? 'auto');
  if (!['auto', 'marathon', 'swarm'].includes(scheduler)) throw new PaasboxError(`--scheduler ${scheduler} is unknown`, 'use auto, marathon or swarm');
  if (argv.scale !== undefined && argv.destroy) throw new PaasboxError('--scale and --destroy together', 'give one of them');
  const ssh = (spec) => {
    const h = parseHostSpec(String(spec));
    const t = new SshTarget({ host: h.host, port: h.port, user: h.user, ...(argv.key ? { keyPath: String(argv.key) } : {}), ...(argv['known-hosts'] ? { knownHostsPath: String(argv['known-hosts']) } : {}) });
    targets.push(t);
    return t;
  };
  const target = argv.target ? ssh(argv.target) : argv['advertise-addr'] ? new LocalTarget({ address: String(argv['advertise-addr']) }) : new LocalTarget();
  const workers = [argv.worker ?? []].flat().map(ssh);
  const json = !!argv.json;
  const progress = new Progress({ json });
  const report = await runDeploy(
    {
      file,
      action: argv.destroy ? 'destroy' : argv.scale !== undefined ? 'scale' : 'deploy',
      ...(argv.scale !== undefined ? { instances: Number(argv.scale) } : {}),
      wait: !!argv.wait,
      timeoutMs: Number(argv.timeout ?? 300) * 1000,
      scheduler,
      target,
      workers,
      ...(argv.marathon ? { marathonUrl: String(argv.marathon) } : {}),
    },
    progress,
  );
  if (json) console.log(JSON.stringify({ ...report, summary: progress.summary() }, null, 2));
  else {
    progress.finish();
    if (report.instances) for (const i of report.instances) console.log(`  instance ${i.id.slice(0, 12)} on ${i.host}:${i.ports.join(',')}`);
  }
} catch (e) {
  console.error(formatError(e));
  process.exitCode = 1;
} finally {
  for (const t of targets) await t.close().catch(() => undefined);
}
