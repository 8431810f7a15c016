#!/usr/bin/env zx
// Control the generated stack on this host:
//   npx zx scripts/stack.mjs up|stop|start|restart|down|status|logs [SERVICE]
//        [--file .paasbox/docker-compose.yml] [--json] [--tail N] [--timeout SECONDS] [--no-wait] [--volumes]
// up starts detached and waits until every service is healthy; down keeps the
// data volumes unless --volumes is given. The project name comes from the file.
import { argv, path } from 'zx';
import { parse } from 'yaml';
import { formatError, PaasboxError } from '../dist/src/errors.js';
import { Progress } from '../dist/src/progress.js';
import { LocalTarget } from '../dist/src/target/local.js';
import { StackControl } from '../dist/src/compose/index.js';
import { readState } from '../dist/src/state.js';
import { resolveTarget } from '../dist/src/verify/targets.js';

const USAGE = 'usage: stack.mjs up|stop|start|restart|down|status|logs [SERVICE] [--file F] [--json] [--tail N] [--timeout S] [--no-wait] [--volumes]';

try {
  const [cmd, service] = argv._.map(String);
  // Default: the stack install recorded (.paasbox/state.json), on its target; else this host.
  const state = readState();
  const onState = !argv.file && !!state;
  const target = onState ? resolveTarget(undefined) : new LocalTarget();
  const file = onState ? state.composePath : path.resolve(String(argv.file ?? '.paasbox/docker-compose.yml'));
  const text = await target.exec(`cat ${JSON.stringify(file)}`, { sudo: true });
  if (text.code !== 0)
    throw new PaasboxError(`compose file ${file} does not exist on ${target.name}`, 'install first (npx zx scripts/install.mjs), or generate one (npx zx scripts/genstack.mjs) and pass --file');
  const project = parse(text.stdout)?.['x-paasbox']?.project ?? 'paasbox';
  const ctl = new StackControl(target, file, project);
  const json = !!argv.json;
  const progress = new Progress({ json });

  if (cmd === 'status') {
    const st = await ctl.status();
    if (json) console.log(JSON.stringify(st, null, 2));
    else for (const s of st) console.log(`${s.service.padEnd(14)} ${s.state.padEnd(11)} ${s.health.padEnd(10)} restart=${s.restartPolicy} restarts=${s.restartCount}`);
    process.exit(st.every((s) => s.state === 'running' && s.health !== 'unhealthy') ? 0 : 3);
  } else if (cmd === 'logs') {
    process.stdout.write(await ctl.logs(service, Number(argv.tail ?? 100)));
  } else if (cmd === 'up') {
    await progress.step(`compose up (${project})`, target.name, async () => { await ctl.up(service ? [service] : []); return { status: 'changed' }; });
    if (argv.wait !== false) {
      const timeout = Number(argv.timeout ?? 300) * 1000;
      await progress.step('wait until healthy', target.name, async () => { await ctl.waitHealthy(timeout, progress, service ? { services: [service] } : {}); });
    }
    progress.finish();
  } else if (cmd === 'down') {
    await progress.step(`compose down (${project}${argv.volumes ? ', with volumes' : ', volumes kept'})`, target.name, async () => { await ctl.down({ volumes: !!argv.volumes }); return { status: 'changed' }; });
    progress.finish();
  } else {
    await progress.step(`${cmd} ${service ?? project}`, target.name, async () => { await ctl[cmd](service); return { status: 'changed' }; });
    progress.finish();
  }
} catch (e) {
  console.error(formatError(e));
  process.exit(1);
}
