// An app's image that exists only where deploy runs reaches the swarm
// through the stack's registry: deploy pushes it there (paasbox push's path)
// and deploys the app by the pushed digest, which every node pulls with the
// manager's login. An image the manager already has, or one this machine
// lacks too (a registry image, pulled as before), is left as the app names it.
import { imageInspectArgv, parseImageLine } from '../docker/images.js';
import { deployedRegistryPort, pushToStackRegistry } from '../images/registry-push.js';
import type { MarathonApp } from '../appspec/app.js';
import type { Progress } from '../progress.js';
import { inStackRegistry } from '../secrets/registry.js';
import type { Deployment } from '../stackfile/deployment.js';
import { runArgv } from '../target/shell.js';
import type { Target } from '../target/target.js';

/** Where an image goes through the stack's registry: from here to each master's. */
export interface RegistryRoute {
  here: Target;
  /** The masters, the swarm manager first, each with its advertised address. */
  masters: { target: Target; ip: string }[];
  port: number;
}

export type ShipChoice = 'none' | 'in-registry' | 'on-manager' | 'not-here' | 'push';

/** What deploy does with an app's image, from where it is found. Pure. */
export function shipChoice(
  image: string | undefined,
  port: number,
  found: { onManager: boolean; here: boolean },
): ShipChoice {
  if (!image) return 'none';
  if (inStackRegistry(image, port)) return 'in-registry';
  if (found.onManager) return 'on-manager';
  return found.here ? 'push' : 'not-here';
}

async function has(t: Target, image: string): Promise<boolean> {
  const r = await runArgv(t, imageInspectArgv([image]), { sudo: true, timeoutMs: 30_000 });
  return r.code === 0 && parseImageLine(r.stdout) !== undefined;
}

/**
 * The app as deploy sends it: by the registry's digest when its image was
 * only here (pushed first), else unchanged. The step says which.
 */
export async function shipImage(
  app: MarathonApp,
  route: RegistryRoute,
  progress: Progress,
): Promise<MarathonApp> {
  const image = app.container?.docker.image;
  const manager = route.masters[0]!.target;
  let out = app;
  await progress.step(`image ${image ?? '(none)'}`, manager.name, async () => {
    const quick = shipChoice(image, route.port, { onManager: false, here: false });
    if (quick === 'none' || quick === 'in-registry') return { status: 'ok', detail: quick };
    const onManager = await has(manager, image!);
    const here = !onManager && (await has(route.here, image!));
    const choice = shipChoice(image, route.port, { onManager, here });
    if (choice !== 'push')
      return {
        status: 'ok',
        detail: choice === 'on-manager' ? 'on the manager' : 'not here: the nodes pull it as named',
      };
    const pushed = await pushToStackRegistry(route.here, route.masters, image!, route.port);
    out = {
      ...app,
      container: { ...app.container!, docker: { ...app.container!.docker, image: pushed.pinned } },
    };
    return { status: 'changed', detail: `only here: pushed to the stack's registry as ${pushed.pinned}` };
  });
  return out;
}

/**
 * The way to the stack's registry for deploy: on a stage that is not this
 * machine, whose stack runs the registry, from `here` to its masters (the
 * recorded cluster's, else the one host). None on this machine: the swarm
 * pulls what this very docker has.
 */
export function registryRoute(
  kind: string,
  deployment: Pick<Deployment, 'services' | 'ports'> | undefined,
  targets: Target[],
  cluster: { masters: { ip: string; ssh: { host: string } }[] } | undefined,
  here: Target,
  /** One host's advertised address (the registry's certificate names it), when it is not its SSH address. */
  advertised?: string,
): { registry?: RegistryRoute } {
  if (kind === 'local' || !deployment?.services.includes('registry')) return {};
  // A cluster's masters in their recorded order (the manager first), each at its advertised address.
  const masters = cluster
    ? cluster.masters.flatMap((m) => {
        const t = targets.find((x) => x.address === m.ssh.host || x.address === m.ip);
        return t ? [{ target: t, ip: m.ip }] : [];
      })
    : targets.slice(0, 1).map((t) => ({ target: t, ip: advertised ?? t.address }));
  if (!masters.length) return {};
  return { registry: { here, masters, port: deployedRegistryPort(deployment) } };
}
