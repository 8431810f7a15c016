// Finding the stack's own containers by their compose labels, in one place.
// Anyone who can set labels (an app deployed before reserved labels were
// refused, anyone with docker access) can put com.docker.compose.* on a
// container: a swarm task or an app carrying them is never taken for a stack
// container, and a lookup that finds two refuses rather than picking one
// (tunnel pins the host key of the sshd it finds, vpn revoke execs in the
// OpenVPN container it finds). Commands to run and pure parsers; the one
// async helper runs its command on a Target.

import { PaasboxError } from '../errors.js';
import { checkReadBack } from '../system/readback.js';
import { shq } from '../target/shell.js';
import type { Target } from '../target/target.js';
import { parseContainers, type ContainerFacts } from './facts.js';
import { COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL } from './labels.js';

const FIX = 'pass a valid compose project name (lower-case letters, digits, "-", "_")';

/**
 * docker ps/inspect --filter arguments for a compose project's containers (of one service). Checked, then
 * quoted.
 */
export function composeFilter(project: string, service?: string): string {
  checkReadBack('the lookup', 'compose project', project, 'project', FIX);
  const f = (k: string, v: string) => `--filter ${shq(`label=${k}=${v}`)}`;
  if (service === undefined) return f(COMPOSE_PROJECT_LABEL, project);
  checkReadBack('the lookup', 'compose service', service, 'service', 'name a service of stacks/paasbox.yaml');
  return `${f(COMPOSE_PROJECT_LABEL, project)} ${f(COMPOSE_SERVICE_LABEL, service)}`;
}

/**
 * Inspects the project's (service's) containers in one command, [] when none; exits 3 when docker does not
 * answer.
 */
export function composeInspectCommand(
  project: string,
  service?: string,
  opts: { all?: boolean } = {},
): string {
  const ps = `docker ps -q${opts.all ? 'a' : ''} ${composeFilter(project, service)}`;
  return `ids=$(${ps}) || exit 3; [ -z "$ids" ] && echo '[]' || docker inspect $ids`;
}

/**
 * From composeInspectCommand's output, the one container of the service:
 * containers that are no stack container are passed over; none left is
 * undefined; two or more is a PaasboxError naming them. Pure.
 */
export function pickStackContainer(
  inspectJson: string,
  project: string,
  service: string,
  host: string,
): ContainerFacts | undefined {
  // parseContainers clears the compose labels of a swarm task or an app: they never match.
  const ours = parseContainers(inspectJson).filter((c) => c.project === project && c.service === service);
  if (ours.length > 1)
    throw new PaasboxError(
      `${ours.length} containers on ${host} carry the compose labels of ${project}'s ${service} service ` +
        `(${ours.map((c) => c.name).join(', ')}): refusing to pick one`,
      `remove the one that is not the stack's (docker rm -f NAME), then npx paasbox stack up ${service}`,
      undefined,
      'target',
    );
  const c = ours[0];
  if (c)
    checkReadBack(
      `docker inspect on ${host}`,
      `the ${service} container's id`,
      c.id,
      'container-id',
      'check docker there',
    );
  return c;
}

/**
 * The running (or with all: any) container of a stack service on the target, or undefined; see
 * pickStackContainer.
 */
export async function findStackContainer(
  t: Target,
  project: string,
  service: string,
  opts: { all?: boolean } = {},
): Promise<ContainerFacts | undefined> {
  const r = await t.exec(composeInspectCommand(project, service, opts), { sudo: true, timeoutMs: 60_000 });
  if (r.code !== 0 && !r.stdout.trim().startsWith('['))
    throw new PaasboxError(
      `looking up the ${service} container on ${t.name} failed`,
      'check that dockerd runs there (systemctl status docker)',
      r.stderr,
      'target',
    );
  return pickStackContainer(r.stdout, project, service, t.name);
}
