// One docker command for the swarm, run as root on a Target: a non-zero exit
// becomes a PaasboxError naming the command and the host, whose fix reads
// docker's message (no daemon, not a manager, a bad advertise address, an
// image missing on a node). Membership and the app scheduler both run their
// docker commands through here.
import { PaasboxError } from '../errors.js';
import { shq } from '../target/shell.js';
import type { Target } from '../target/target.js';

/** Run argv (quoted word by word) or a shell line on t as root; its stdout, or a PaasboxError. */
export async function swarmRun(
  t: Target,
  argv: string[] | string,
  what: string,
  opts: { stdin?: string; timeoutMs?: number } = {},
): Promise<string> {
  const cmd = typeof argv === 'string' ? argv : argv.map(shq).join(' ');
  const stdin = opts.stdin !== undefined ? { stdin: opts.stdin } : {};
  const r = await t.exec(cmd, { sudo: true, timeoutMs: opts.timeoutMs ?? 120000, ...stdin });
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
