#!/usr/bin/env zx
// Control the generated stack on this host:
//   npx zx scripts/stack.mjs up|stop|start|restart|down|status|logs [SERVICE]
//        [--file .paasbox/docker-compose.yml] [--json] [--tail N] [--timeout SECONDS] [--no-wait] [--volumes]
// up starts detached and waits until every service is healthy; down keeps the
// data volumes unless --volumes is given. The project name comes from the file.
import { argv, fs, path } from 'zx';
import { parse } from 'yaml';
import { formatError, PaasboxError } from '../dist/src/errors.js';
import { Progress } from '../dist/src/progress.js';
import { LocalTarget } from '../dist/src/target/local.js';
import { StackControl } from '../dist/src/compose/index.js';

const USAGE = 'usage: stack.mjs up|stop|start|restart|down|status|logs [SERVICE] [--file F] [--json] [--tail N] [--timeout S] [--no-wait] [--volumes]';

try {
  const [cmd, service] = argv._.map(String);
  const file = path.resolve(String(argv.file ?? '.paasbox/docker-compose.yml'));
  if (!cmd || !['up', 'stop', 'start', 'restart', 'down', 'status', 'logs'].includes(cmd))
    throw new PaasboxError(`unknown command "${cmd ?? ''}"`, USAGE);
  if (!(await fs.pathExists(file)))
    throw new PaasboxError(`compose file ${file} does not exist`, 'generate it first: npx zx scripts/genstack.mjs (or pass --file)');
  const project = parse(await fs.readFile(file, 'utf8'))?.['x-paasbox']?.project ?? 'paasbox';
  const ctl = new StackControl(new LocalTarget(), file, project);
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
    await progress.step(`compose up (${project})`, 'local', async () => { await ctl.up(service ? [service] : []); return { status: 'changed' }; });
    if (argv.wait !== false) {
      const timeout = Number(argv.timeout ?? 300) * 1000;
      await progress.step('wait until healthy', 'local', async () => { await ctl.waitHealthy(timeout, progress, service ? { services: [service] } : {}); });
    }
    progress.finish();
  } else if (cmd === 'down') {
    await progress.step(`compose down (${project}${argv.volumes ? ', with volumes' : ', volumes kept'})`, 'local', async () => { await ctl.down({ volumes: !!argv.volumes }); return { status: 'changed' }; });
    progress.finish();
  } else {
    await progress.step(`${cmd} ${service ?? project}`, 'local', async () => { await ctl[cmd](service); return { status: 'changed' }; });
    progress.finish();
  }
} catch (e) {
  console.error(formatError(e));
  process.exit(1);
}
