// Container and image state on the target for verify: one `docker inspect` of
// every container (parsed by src/docker/facts.ts: running, health, restart
// policy and count, published ports, compose labels), and which images are there.

import {
  INSPECT_ALL_COMMAND,
  inspectAnswered,
  parseContainers,
  type ContainerFacts,
} from '../docker/facts.js';
import { snapshotImages } from '../images/snapshot.js';
import { asRoot } from '../target/sudo.js';
import type { Target } from '../target/target.js';

export type ContainerState = ContainerFacts;

/** Every container on the target (one exec); throws when docker is unreachable. */
export async function inspectAll(target: Target): Promise<ContainerState[]> {
  const r = await target.exec(INSPECT_ALL_COMMAND, { sudo: true, timeoutMs: 60_000 });
  if (!inspectAnswered(r))
    throw new Error(
      `docker on ${target.name}: ${r.stderr.trim().split('\n').slice(-1)[0] || `exit ${r.code}`}`,
    );
  return parseContainers(r.stdout);
}

/** Which of the given images exist on the target (none when docker does not answer). */
export async function presentImages(target: Target, images: string[]): Promise<Set<string>> {
  const snap = await snapshotImages(asRoot(target), images).catch(() => ({}));
  return new Set(Object.keys(snap));
}

export function forService(all: ContainerState[], project: string, service: string): ContainerState[] {
  const p = project.toLowerCase();
  return all.filter((c) => c.project.toLowerCase() === p && c.service === service);
}
