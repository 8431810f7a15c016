// Which image each enabled service will run on a target for the settings'
// source, and for those the source cannot provide, why and how to supply them.
import type { Settings } from '../settings/settings.js';
import { enabledServices } from '../settings/settings.js';
import type { ImageSourceName, StackModel } from '../stack/model.js';
import type { Target } from '../target/target.js';
import { builtRef, type ImageSnapshot } from './plan.js';
import { snapshotImages } from './snapshot.js';

export type Availability = { ok: true; image: string } | { ok: false; reason: string; supply: string };

/** Pure: decide from a snapshot of the target's images. */
export function availabilityFrom(model: StackModel, source: ImageSourceName, services: string[], images: ImageSnapshot): Record<string, Availability> {
  const out: Record<string, Availability> = {};
  for (const name of services) {
    const spec = model.services[name]?.sources[source];
    if (!spec) continue;
    if (spec.build) {
      const ref = builtRef(spec.build, source);
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

/** Availability of every enabled service on the target. */
export async function resolveAvailability(model: StackModel, settings: Settings, target: Target): Promise<Record<string, Availability>> {
  const source = settings.imageSource;
  const services = enabledServices(model, settings);
  const refs: string[] = [];
  for (const n of services) {
    const s = model.services[n]!.sources[source];
    if (s.build) refs.push(builtRef(s.build, source));
    if (s.image) refs.push(s.image);
    if (s.unavailable?.loadable) refs.push(s.unavailable.loadable);
  }
  return availabilityFrom(model, source, services, await snapshotImages(target, refs));
}
