// `paasbox push IMAGE`: an image that exists only on this machine, into the
// stack's private registry (stacks/images/registry) on every master, so any
// swarm node can pull it, by digest. For each master: the image goes over
// with pushImages (docker save here, streamed into docker load there, only
// what it lacks), is tagged MASTER:PORT/NAME:TAG there and pushed to that
// master's own registry with the login install keeps in REGISTRY_LOGIN_DIR
// (docker --config: the password is never in argv). Each master's registry
// then holds it: that is the replication, and the digest printed is the
// first master's. The plan (which references, which commands) is pure.

import { imageInspectArgv, parseImageLine } from '../docker/images.js';
import { PaasboxError } from '../errors.js';
import type { Progress } from '../progress.js';
import { registryAddress, REGISTRY_LOGIN_DIR, REGISTRY_PORT } from '../secrets/registry.js';
import { composePort, type Deployment } from '../stackfile/deployment.js';
import { runArgv } from '../target/shell.js';
import { asRoot } from '../target/sudo.js';
import type { Target } from '../target/target.js';
import { pushImages } from './push.js';

/** A docker image reference as this command takes it: [REGISTRY/]PATH[:TAG], lower-case path components. */
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const REFERENCE = new RegExp(
  `^(?:(?<host>[A-Za-z0-9.-]+(?::\\d+)?|\\[[0-9a-fA-F:]+\\](?::\\d+)?)/)?(?<path>${COMPONENT}(?:/${COMPONENT})*)(?::(?<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?$`,
);

export interface RegistryPushPlan {
  /** The image as given (this machine's name for it). */
  source: string;
  /** Its path in the stack's registry (a registry host of the source left out). */
  name: string;
  tag: string;
  /** One per master: its registry's host:port and the reference pushed there. */
  pushes: { address: string; ref: string }[];
}

/**
 * The references `image` gets in the registry of each master (ips, in the
 * cluster's order). Refuses what is no plain NAME[:TAG] (a digest, upper
 * case, spaces): the one-line error names the fix. Pure.
 */
export function planRegistryPush(image: string, ips: string[], port = REGISTRY_PORT): RegistryPushPlan {
  const m = REFERENCE.exec(image);
  if (!m?.groups || image.length > 255)
    throw new PaasboxError(
      `"${image}" is not an image reference paasbox push takes`,
      'give NAME[:TAG] as `docker images` lists it (lower-case name; no @sha256: digest)',
    );
  const { host, path, tag = 'latest' } = m.groups;
  // A first component that is no registry host (no dot, port or "localhost") is part of the path.
  const isHost = host !== undefined && (/[.:[]/.test(host) || host === 'localhost');
  const name = isHost || host === undefined ? path! : `${host}/${path!}`;
  if (!ips.length)
    throw new PaasboxError(
      'the stack records no master to push to',
      'install the stack first (npx paasbox install), then push',
    );
  const pushes = ips.map((ip) => {
    const address = registryAddress(ip, port);
    return { address, ref: `${address}/${name}:${tag}` };
  });
  return { source: image, name, tag, pushes };
}

/** The registry's port in a deployed stack (its compose file's label), 5000 when the file does not say. */
export function deployedRegistryPort(d: Pick<Deployment, 'ports' | 'services'>): number {
  if (!d.services.includes('registry'))
    throw new PaasboxError(
      'the installed stack has no image registry',
      'install this version of paasbox first (npx paasbox install): it adds the registry service',
    );
  return composePort(d.ports['registry'], 'https') ?? REGISTRY_PORT;
}

/** The argv that tag and push one reference on a master (as root, with the stack's login). */
export function registryPushArgv(source: string, ref: string): { tag: string[]; push: string[] } {
  return {
    tag: ['docker', 'tag', source, ref],
    push: ['docker', '--config', REGISTRY_LOGIN_DIR, 'push', ref],
  };
}

/** The repo@sha256 digest of `ref` among an image's digests (the reference's own repository's). Pure. */
export function digestOf(ref: string, digests: string[]): string | undefined {
  const repo = ref.replace(/:[^:/]*$/, '');
  return digests.find((d) => d.startsWith(`${repo}@sha256:`) && /@sha256:[0-9a-f]{64}$/.test(d));
}

export interface RegistryPushResult {
  source: string;
  /** The first master's reference by digest: what an app's image names. */
  pinned: string;
  pushed: { address: string; ref: string; digest: string; host: string }[];
  seconds: number;
}

/**
 * Push `image` from this machine (`here`) into the registry of each master
 * (targets with their advertised address, the first master first).
 */
export async function pushToStackRegistry(
  here: Target,
  masters: { target: Target; ip: string }[],
  image: string,
  port: number,
  progress?: Progress,
): Promise<RegistryPushResult> {
  const t0 = Date.now();
  const plan = planRegistryPush(
    image,
    masters.map((m) => m.ip),
    port,
  );
  const pushed: RegistryPushResult['pushed'] = [];
  for (const [i, { target }] of masters.entries()) {
    const { address, ref } = plan.pushes[i]!;
    const root = asRoot(target);
    const one = async () => {
      await pushImages(here, root, [image]);
      const argv = registryPushArgv(image, ref);
      await must(target, argv.tag, `docker tag ${ref}`, 60_000);
      await must(target, argv.push, `docker push ${ref}`, 1_800_000);
      const inspected = await must(target, imageInspectArgv([ref]), `reading the digests of ${ref}`);
      const digest = digestOf(ref, parseImageLine(inspected)?.digests ?? []);
      if (!digest)
        throw new PaasboxError(
          `the registry on ${address} took ${ref} but docker on ${target.name} records no digest for it`,
          `look at the RepoDigests of ${ref} on ${target.name} (docker inspect), then push again`,
        );
      pushed.push({ address, ref, digest, host: target.name });
      return { status: 'changed' as const, detail: digest };
    };
    if (progress) await progress.step(`push ${image} to ${address}`, target.name, one);
    else await one();
  }
  const digests = new Set(pushed.map((p) => p.digest.replace(/^.*@/, '')));
  if (digests.size > 1)
    progress?.say(
      `note: the masters' registries gave different digests (${[...digests].join(', ')}): ` +
        'their docker versions compress layers differently; each reference is valid on its own master',
    );
  return { source: image, pinned: pushed[0]!.digest, pushed, seconds: (Date.now() - t0) / 1000 };
}

async function must(t: Target, argv: string[], what: string, timeoutMs = 30_000): Promise<string> {
  const r = await runArgv(t, argv, { sudo: true, timeoutMs });
  if (r.code !== 0) {
    const err = (r.stderr || r.stdout).trim();
    throw new PaasboxError(
      `${what} failed on ${t.name}: ${err.split('\n').slice(-1)[0] ?? ''}`,
      pushFix(err),
      err,
    );
  }
  return r.stdout;
}

/** What to do about a docker error of the push. */
export function pushFix(err: string): string {
  if (/x509|certificate/i.test(err))
    return "run install again: it puts the registry's CA into /etc/docker/certs.d on every node";
  if (/no basic auth credentials|unauthorized|authentication required/i.test(err))
    return `run install again: it writes the registry login (${REGISTRY_LOGIN_DIR}) on every master`;
  if (/connection refused|no route|i\/o timeout/i.test(err))
    return 'the registry service is not answering: npx paasbox status, then npx paasbox stack up';
  return 'see the detail below';
}
