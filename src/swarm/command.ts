// One docker command for the swarm, run as root on a Target: a non-zero exit
// becomes a PaasboxError naming the command and the host, whose fix reads
// docker's message (no daemon, not a manager, a bad advertise address, an
// image missing on a node). Membership and the app scheduler both run their
// docker commands through here.
import { PaasboxError } from '../errors.js';
import { runArgv } from '../target/shell.js';
import type { ExecOptions, Target } from '../target/target.js';

/** Run argv (no shell where t can, else quoted word by word) or a shell line on t as root; its stdout. */
export async function swarmRun(
  t: Target,
  argv: string[] | string,
  what: string,
  opts: Pick<ExecOptions, 'stdin' | 'timeoutMs' | 'onOutput' | 'signal'> = {},
): Promise<string> {
  const execOpts: ExecOptions = { ...opts, sudo: true, timeoutMs: opts.timeoutMs ?? 120000 };
  // argv runs with no shell where the target can (Target.run): the apps API's values never meet one.
  const r = typeof argv === 'string' ? await t.exec(argv, execOpts) : await runArgv(t, argv, execOpts);
  if (r.code !== 0) {
    const err = (r.stderr || r.stdout).trim();
    throw new PaasboxError(
      `${what} failed on ${t.name}: ${err.split('\n').slice(-1)[0] ?? ''}`,
      swarmFix(err),
      err,
    );
  }
  return r.stdout;
}

/** What to do about a docker error message of the swarm's. */
export function swarmFix(err: string): string {
  if (/docker: (command )?not found|Cannot connect to the Docker daemon/i.test(err))
    return 'install docker.io and start dockerd on the host (scripts/install.mjs does both)';
  if (/This node is not a swarm manager/i.test(err))
    return 'run it on the swarm manager, or initialise the swarm first (ensureSwarm)';
  if (/advertise address/i.test(err))
    return "give the host's own routable IP as the advertise address (not 127.x or 0.0.0.0)";
  if (/No such image/i.test(err))
    return (
      'load the image on every swarm node first ' +
      '(docker save IMG | ssh HOST docker load, or scripts/build-images.mjs)'
    );
  return 'see the detail below';
}
