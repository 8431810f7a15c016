// What an image push sends (pure): from the images here (id and layer diff
// ids) and every image the target's docker has, the refs to load, the refs
// the target only needs tagged (it has that image id under another name), and
// the layers it already has. docker load skips a layer whose chain (the layer
// and all below it) it has without opening its file, so those layer files
// can be left out of the archive; shared base layers go once per stream.

import { parseImageLine } from '../docker/images.js';
import { createHash } from 'node:crypto';

export interface ImageLayers {
  id: string;
  /** RootFS diff ids, bottom first. */
  layers: string[];
}

/** One image as `docker image inspect` shows it on the target. */
export interface TargetImage extends ImageLayers {
  tags: string[];
}

export interface PushPlan {
  /** Refs already right on the target (same image id under that ref). */
  present: string[];
  /** Refs whose image the target has under another name: a `docker tag` there, nothing sent. */
  tag: { ref: string; id: string }[];
  /** Refs to send (docker save here, docker load there). */
  load: string[];
  /** Chain ids of the layers the target has (their files need not be sent). */
  targetChains: Set<string>;
  /** Of the layers of the images to load (counted once): how many the target has, and how many travel. */
  layersPresent: number;
  layersToSend: number;
}

/** The chain id of each layer (docker's layer identity: the layer with everything below it). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}`);
  }
  return out;
}

export function planPush(refs: string[], here: Record<string, ImageLayers>, there: TargetImage[]): PushPlan {
  const byId = new Map(there.map((i) => [i.id, i]));
  const targetChains = new Set(there.flatMap((i) => chainIds(i.layers)));
  const present: string[] = [];
  const tag: PushPlan['tag'] = [];
  const load: string[] = [];
  for (const ref of [...new Set(refs)]) {
    const img = here[ref];
    if (!img) continue;
    const hit = byId.get(img.id);
    if (hit && (hit.tags.includes(ref) || hit.tags.includes(`${ref}:latest`))) present.push(ref);
    else if (hit) tag.push({ ref, id: img.id });
    else load.push(ref);
  }
  const chains = new Set(load.flatMap((r) => chainIds(here[r]!.layers)));
  const layersPresent = [...chains].filter((c) => targetChains.has(c)).length;
  return { present, tag, load, targetChains, layersPresent, layersToSend: chains.size - layersPresent };
}

/** `docker save`'s manifest.json: one entry per image. */
export interface SaveManifestEntry {
  Config: string;
  Layers: string[];
}

/**
 * The layer files of a saved archive that must travel: those whose chain the
 * target lacks, and the files their symlinks point at (docker save links a
 * layer shared under two names). Every other layer file can be left out.
 */
export function layerFilesToKeep(
  manifest: SaveManifestEntry[],
  diffIdsOf: (config: string) => string[],
  targetChains: Set<string>,
  symlinks: Record<string, string>,
): Set<string> {
  const keep = new Set<string>();
  for (const m of manifest) {
    const chains = chainIds(diffIdsOf(m.Config));
    m.Layers.forEach((path, i) => {
      if (targetChains.has(chains[i]!)) return;
      for (let p: string | undefined = path, hops = 0; p && hops < 8 && !keep.has(p); p = symlinks[p], hops++)
        keep.add(p);
    });
  }
  return keep;
}

/**
 * A symlink entry's target as an archive path ("abc/layer.tar" -> "../def/layer.tar" gives "def/layer.tar").
 */
export function resolveLink(entry: string, linkname: string): string {
  const parts = entry.split('/').slice(0, -1);
  for (const seg of linkname.split('/')) {
    if (seg === '..') parts.pop();
    else if (seg && seg !== '.') parts.push(seg);
  }
  return parts.join('/');
}

/** Parse the inventory: a "zstd" line when the target has it, then one IMAGE_FORMAT line per image. */
export function parseInventory(out: string): TargetImage[] {
  return out
    .split('\n')
    .map(parseImageLine)
    .filter((i) => i !== undefined)
    .map((i) => ({ id: i.id, layers: i.layers, tags: i.tags }));
}
