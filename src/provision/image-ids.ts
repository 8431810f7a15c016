// Image ids here and on a target, for the images step's check (the sending
// itself is src/images/push.ts pushImages: docker save | docker load).

import { imageIdsOf } from '../docker/facts.js';
import { snapshotImages } from '../images/snapshot.js';
import { LocalTarget } from '../target/local.js';
import { asRoot } from '../target/sudo.js';
import type { Target } from '../target/target.js';

/** Image id per ref on a target ('' when absent). */
export async function imageIds(target: Target, refs: string[]): Promise<Record<string, string>> {
  return imageIdsOf(await snapshotImages(asRoot(target), refs), refs);
}

/** Image ids of refs in this machine's docker. */
export function localImageIds(refs: string[]): Promise<Record<string, string>> {
  return imageIds(new LocalTarget(), refs);
}
