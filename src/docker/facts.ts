// Docker facts about a host, read in one place: containers (`docker inspect`)
// and images (src/docker/images.ts has the image format). Each fact is a
// command to run on a target and a pure parser of what it prints, so compose
// status, verify, the provisioning steps and the image builder all read docker
// the same way and each parser has one unit test. Nothing here runs anything.

import { checkReadBack, isReadBack } from '../system/readback.js';
import { shq } from '../target/shell.js';
import { imageInspectCommand, parseImageLine, type ImageInfo } from './images.js';
import { COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL, notStackReason } from './labels.js';

// ---------------------------------------------------------------- containers

/** One container as `docker inspect` describes it. */
export interface ContainerFacts {
  id: string;
  /** Without docker's leading slash. */
  name: string;
  /**
   * The compose project and service labels; '' when absent, not in their
   * format, or when the container is no stack container (notStack).
   */
  project: string;
  service: string;
  /** Why this container is not the stack's though it may carry compose labels (a swarm task, an app). */
  notStack?: string;
  /** The image ref the container was created from (Config.Image). */
  image: string;
  /** The image id it runs ('' when unknown): it stays on the old id when its tag is rebuilt. */
  imageId: string;
  /** created, running, restarting, exited, paused, dead (unknown when docker does not say). */
  status: string;
  running: boolean;
  /** healthy, unhealthy, starting; undefined when the container has no healthcheck. */
  health?: string;
  /** The last health probe's output, to show why it is unhealthy. */
  healthLog?: string;
  /** no, always, unless-stopped, on-failure. */
  restartPolicy: string;
  restartCount: number;
  networkMode: string;
  /** Host ports published by the container, ascending. */
  publishedPorts: number[];
  exitCode: number;
}

/**
 * Inspects every container in one command (prints [] when there is none); exits 3 when docker does not
 * answer.
 */
export const INSPECT_ALL_COMMAND =
  'ids=$(docker ps -aq) || exit 3; [ -z "$ids" ] && echo "[]" || docker inspect $ids';

/**
 * Whether docker inspect printed its answer. A container removed between `docker ps`
 * and `docker inspect` makes inspect exit 1 while it still prints the others.
 */
export function inspectAnswered(r: { code: number; stdout: string }): boolean {
  return r.code === 0 || r.stdout.trim().startsWith('[');
}

interface InspectJson {
  Id?: string;
  Name?: string;
  Image?: string;
  RestartCount?: number;
  State?: {
    Status?: string;
    Running?: boolean;
    ExitCode?: number;
    Health?: { Status?: string; Log?: { Output?: string }[] | null };
  };
  Config?: { Image?: string; Labels?: Record<string, string> | null };
  HostConfig?: { RestartPolicy?: { Name?: string }; NetworkMode?: string };
  NetworkSettings?: { Ports?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null };
}

/** docker inspect's JSON array (empty output: none) → one record per container. */
export function parseContainers(json: string): ContainerFacts[] {
  const text = json.trim();
  if (!text) return [];
  return (JSON.parse(text) as InspectJson[]).map((c) => {
    const labels = c.Config?.Labels ?? {};
    const ports = new Set<number>();
    for (const bindings of Object.values(c.NetworkSettings?.Ports ?? {}))
      for (const b of bindings ?? []) if (b.HostPort) ports.add(Number(b.HostPort));
    const health = c.State?.Health;
    const lastLog = health?.Log?.at(-1)?.Output?.trim();
    // Compose labels are the stack's only on a container that is no swarm task or app, and only in their
    // formats.
    const notStack = notStackReason(labels);
    const label = (k: string, f: 'project' | 'service') =>
      !notStack && isReadBack(labels[k], f) ? labels[k] : '';
    return {
      id: c.Id ?? '',
      name: (c.Name ?? '').replace(/^\//, ''),
      project: label(COMPOSE_PROJECT_LABEL, 'project'),
      service: label(COMPOSE_SERVICE_LABEL, 'service'),
      ...(notStack ? { notStack } : {}),
      image: c.Config?.Image ?? '',
      imageId: c.Image ?? '',
      status: c.State?.Status ?? 'unknown',
      running: c.State?.Running === true,
      ...(health?.Status ? { health: health.Status } : {}),
      ...(lastLog ? { healthLog: lastLog } : {}),
      restartPolicy: c.HostConfig?.RestartPolicy?.Name || 'no',
      restartCount: c.RestartCount ?? 0,
      networkMode: c.HostConfig?.NetworkMode ?? '',
      publishedPorts: [...ports].sort((a, b) => a - b),
      exitCode: c.State?.ExitCode ?? 0,
    };
  });
}

/**
 * Container ids from `docker ps --format '{{json .}}'` lines; one not in docker's id format is refused
 * (ReadBackError).
 */
export function parsePsIds(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) =>
      checkReadBack(
        'docker ps',
        'a container id',
        (JSON.parse(l) as { ID: unknown }).ID,
        'container-id',
        'check the docker daemon there',
      ),
    );
}

// ---------------------------------------------------------------- images

/** An image as the host has it under some ref: what the images step compares. */
export type ImageFacts = Pick<ImageInfo, 'id' | 'labels'>;

/**
 * Prints "ref<TAB>IMAGE_FORMAT line" per ref ("ref<TAB>" alone when the host
 * lacks it), in one round trip; exits non-zero when docker does not answer.
 * The inspects run side by side (each docker CLI start costs ~50 ms), their
 * lines printed in the refs' order.
 */
export function imagesCommand(refs: string[]): string {
  const uniq = [...new Set(refs)];
  const each = uniq.map(
    (r, i) => `{ printf '%s\\t' ${shq(r)}; ${imageInspectCommand([r])} 2>/dev/null || echo; } >"$d/${i}" &`,
  );
  const files = uniq.map((_, i) => `"$d/${i}"`).join(' ');
  return `docker version --format '{{.Server.Version}}' >/dev/null && { ${uniq.length ? `d=$(mktemp -d) || exit 70; ${each.join(' ')} wait; cat ${files}; rm -rf "$d"; ` : ''}true; }`;
}

/** Output of imagesCommand → the refs the host has, with id and labels; absent refs are left out. */
export function parseImages(out: string): Record<string, ImageFacts> {
  const images: Record<string, ImageFacts> = {};
  for (const line of out.split('\n')) {
    const tab = line.indexOf('\t');
    const img = tab > 0 ? parseImageLine(line.slice(tab + 1)) : undefined;
    if (img) images[line.slice(0, tab)] = { id: img.id, labels: img.labels };
  }
  return images;
}

/** Image id per ref ('' when the host lacks it). */
export function imageIdsOf(images: Record<string, ImageFacts>, refs: string[]): Record<string, string> {
  return Object.fromEntries(refs.map((ref) => [ref, images[ref]?.id ?? '']));
}
