// Images as docker describes them, in one format. Every `docker image inspect`
// of src/ prints IMAGE_FORMAT (one line per image: id, tags, digests, layers,
// labels, tab-separated, each list as docker's compact JSON) and reads it back
// with parseImageLine, so the images step, the image push, the image builder
// and the scheduler's pinning all see the same fields. Nothing here runs anything.

import { shq } from '../target/shell.js';

/** The one `docker image inspect --format` of src/ (as an argv word; shq it for a shell line). */
export const IMAGE_FORMAT =
  '{{.Id}}\t{{json .RepoTags}}\t{{json .RepoDigests}}\t{{json .RootFS.Layers}}\t{{json .Config.Labels}}';

/** One image as IMAGE_FORMAT prints it. */
export interface ImageInfo {
  /** sha256:… */
  id: string;
  tags: string[];
  /** repo@sha256:… (empty for an image never pushed or pulled). */
  digests: string[];
  /** The diff ids of its layers, bottom first. */
  layers: string[];
  labels: Record<string, string>;
}

/** `docker image inspect` of some refs (or ids) in IMAGE_FORMAT; a missing one makes it exit 1. */
export function imageInspectCommand(refs: string[]): string {
  return imageInspectArgv(refs).map(shq).join(' ');
}

/** The same as argv, for Target.run (no shell). */
export function imageInspectArgv(refs: string[]): string[] {
  return ['docker', 'image', 'inspect', '--format', IMAGE_FORMAT, ...refs];
}

/** Every image the host's docker has (intermediate ones too), one IMAGE_FORMAT line each. */
export const ALL_IMAGES_COMMAND = `docker image ls -aq --no-trunc | sort -u | xargs -r docker image inspect --format ${shq(IMAGE_FORMAT)}`;

/** One IMAGE_FORMAT line → the image; undefined for a line that is none (blank, an error). Pure. */
export function parseImageLine(line: string): ImageInfo | undefined {
  const [id, tags, digests, layers, labels] = line.trim().split('\t');
  if (!id?.startsWith('sha256:')) return undefined;
  return { id, tags: list(tags), digests: list(digests), layers: list(layers), labels: record(labels) };
}

function json(s: string | undefined): unknown {
  try {
    return JSON.parse(s ?? 'null');
  } catch {
    return null;
  }
}

function list(s: string | undefined): string[] {
  const v = json(s);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function record(s: string | undefined): Record<string, string> {
  const v = json(s);
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, string>) : {};
}
