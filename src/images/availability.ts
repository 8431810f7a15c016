// Which image each service will run on a target for an image source, decided
// from a snapshot of the target's images, and for those the source cannot
// provide, why and how to supply them.
import type { ImageSourceName, StackModel } from '../stack/model.js';
import { builtImageRef } from '../stack/refs.js';
import type { ImageSnapshot } from './plan.js';

export type Availability = { ok: true; image: string } | { ok: false; reason: string; supply: string };

/** Pure: decide from a snapshot of the target's images. */
export function availabilityFrom(model: StackModel, source: ImageSourceName, services: string[], images: ImageSnapshot): Record<string, Availability> {
  const out: Record<string, Availability> = {};
  for (const name of services) {
    const spec = model.services[name]?.sources[source];
    if (!spec) continue;
    if (spec.build) {
      const ref = builtImageRef(spec.build, source);
      out[name] = images[ref]
        ? { ok: true, image: ref }
        : { ok: false, reason: `${ref} is not on the target`, supply: `npx zx scripts/build-images.mjs --source ${source} --only ${spec.build}, then push it to the target` };
    } else if (spec.image) {
      // The registry source pulls pinned images when the stack starts; local needs them loaded.
      out[name] =
        images[spec.image] || source === 'registry'
          ? { ok: true, image: spec.image }
          : { ok: false, reason: `${spec.image} is not on the target`, supply: `docker load a saved ${spec.image} on the target` };
    } else if (spec.unavailable) {
      const u = spec.unavailable;
      out[name] = u.loadable && images[u.loadable] ? { ok: true, image: u.loadable } : { ok: false, reason: u.reason, supply: u.supply };
    }
  }
  return out;
}
