// Which image each service runs for the chosen source. Built images are tagged
// paasbox/<build>:<source> (src/images); pinned images are used as written; a
// service the source cannot provide runs anyway when its `loadable` image has
// been docker-loaded on the host.
import type { ImageSourceName, StackModel } from '../model/model.js';
import type { Settings } from '../settings/settings.js';
import { servicesOnThisHost } from './generate.js';

export interface ImageRefs {
  images: Record<string, string>;
  unavailable: Record<string, string>;
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
  for (const name of servicesOnThisHost(model, settings)) {
    const spec = model.services[name]!.sources[settings.imageSource];
    if (spec.image) images[name] = spec.image;
    else if (spec.build) images[name] = builtImageRef(spec.build, settings.imageSource);
    else if (spec.unavailable) {
      const { reason, supply, loadable } = spec.unavailable;
      if (loadable && (await hasImage(loadable))) images[name] = loadable;
      else unavailable[name] = `${reason}; to supply it: ${supply}`;
    }
  }
  return { images, unavailable };
}
