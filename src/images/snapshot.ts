// What images a target's docker has, for the refs a plan asks about (the
// command and its parser are src/docker/facts.ts).
import { imagesCommand, parseImages } from '../docker/facts.js';
import { PaasboxError } from '../errors.js';
import type { Target } from '../target/target.js';
import type { ImageSnapshot } from './plan.js';

/** Inspect refs on the target in one round trip; absent refs are left out. */
export async function snapshotImages(target: Target, refs: string[]): Promise<ImageSnapshot> {
  if (refs.length === 0) return {};
  const res = await target.exec(imagesCommand(refs));
  if (res.code !== 0) {
    throw new PaasboxError(
      `docker on ${target.name} does not answer`,
      'start dockerd (systemctl start docker) and make sure this user may use it',
      res.stderr,
    );
  }
  return parseImages(res.stdout);
}
