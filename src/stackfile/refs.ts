// Which image each service runs for the chosen source. Built images are tagged
// paasbox/<build>:<source> (src/images); pinned images are used as written; a
// service the source cannot provide runs anyway when its `loadable` image has
// been docker-loaded on the host; a service `replacedBy` another is left out
// when that other one is in the stack (enabled, its image had from the source).
import type { ImageSourceName, ImageSpec, StackModel } from '../model/model.js';
import type { Settings } from '../settings/settings.js';
import { enabledServices, isEnabled } from '../settings/services.js';
import { servicesOnThisHost } from './generate.js';

export interface ImageRefs {
  images: Record<string, string>;
  unavailable: Record<string, string>;
  /** Services left out because the service that replaces them is in the stack: service -> why. */
  replaced: Record<string, string>;
}

/**
 * The tag a build context's image gets for a source: the one place it is spelled (src/images builds it,
 * compose runs it).
 */
export function builtImageRef(build: string, source: ImageSourceName): string {
  return `paasbox/${build}:${source}`;
}

export async function resolveImageRefs(
  model: StackModel,
  settings: Settings,
  hasImage: (ref: string) => boolean | Promise<boolean>,
): Promise<ImageRefs> {
  const images: Record<string, string> = {};
  const unavailable: Record<string, string> = {};
  const replaced: Record<string, string> = {};
  const source = settings.imageSource;
  // The image a source gives a service, wherever it runs; undefined: none to be had.
  const imageOf = async (spec: ImageSpec): Promise<string | undefined> => {
    if (spec.image) return spec.image;
    if (spec.build) return builtImageRef(spec.build, source);
    const loadable = spec.unavailable?.loadable;
    return loadable && (await hasImage(loadable)) ? loadable : undefined;
  };
  // On the whole stack, not this host: the replacing service may run on other hosts, and a replaced
  // service runs on none (it is not "elsewhere" either).
  for (const name of enabledServices(model, settings)) {
    const by = model.services[name]!.replacedBy;
    if (by && isEnabled(model, settings, by) && (await imageOf(model.services[by]!.sources[source])))
      replaced[name] = `replaced by ${by}, which is in the stack (source ${source})`;
  }
  for (const name of servicesOnThisHost(model, settings)) {
    if (replaced[name] !== undefined) continue;
    const spec = model.services[name]!.sources[source];
    const image = await imageOf(spec);
    if (image) images[name] = image;
    else if (spec.unavailable)
      unavailable[name] = `${spec.unavailable.reason}; to supply it: ${spec.unavailable.supply}`;
  }
  return { images, unavailable, replaced };
}
