// Container state on the target, from one `docker inspect` of every container,
// reduced to what verify judges: running, health, restart policy and count,
// published ports, and the compose project/service labels.

import type { Target } from '../target/target.js';

export interface ContainerState {
  id: string;
  name: string;
  project: string;
  service: string;
  image: string;
  status: string; // running, exited, restarting, ...
  running: boolean;
  /** healthy, unhealthy, starting; undefined when the container has no healthcheck. */
  health?: string;
  /** The last health probe's output, to show why it is unhealthy. */
  healthLog?: string;
  restartPolicy: string;
  restartCount: number;
  networkMode: string;
  /** Host ports published by the container. */
  publishedPorts: number[];
  exitCode: number;
}

interface InspectJson {
  Id?: string;
  Name?: string;
  RestartCount?: number;
  State?: { Status?: string; Running?: boolean; ExitCode?: number; Health?: { Status?: string; Log?: { Output?: string }[] } };
  Config?: { Image?: string; Labels?: Record<string, string> | null };
  HostConfig?: { RestartPolicy?: { Name?: string }; NetworkMode?: string };
  NetworkSettings?: { Ports?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null };
}

/** Pure: docker inspect's JSON array → ContainerState[]. */
export function parseInspect(json: string): ContainerState[] {
  const text = json.trim();
  if (!text) return [];
  const arr = JSON.parse(text) as InspectJson[];
  return arr.map((c) => {
    const labels = c.Config?.Labels ?? {};
    const ports = new Set<number>();
    for (const bindings of Object.values(c.NetworkSettings?.Ports ?? {})) {
      for (const b of bindings ?? []) if (b.HostPort) ports.add(Number(b.HostPort));
    }
    const health = c.State?.Health;
    const lastLog = health?.Log?.at(-1)?.Output?.trim();
    return {
      id: (c.Id ?? '').slice(0, 12),
      name: (c.Name ?? '').replace(/^\//, ''),
      project: labels['com.docker.compose.project'] ?? '',
      service: labels['com.docker.compose.service'] ?? '',
      image: c.Config?.Image ?? '',
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

/** Every container on the target (one exec), or an error string when docker is unreachable. */
export async function inspectAll(target: Target): Promise<ContainerState[]> {
  const r = await target.exec('ids=$(docker ps -aq) || exit 3; [ -z "$ids" ] && echo "[]" || docker inspect $ids', {
    sudo: true,
    timeoutMs: 60_000,
  });
  // A container removed between ps and inspect makes inspect exit 1 while it still prints the others.
  if (r.code !== 0 && !r.stdout.trim().startsWith('[')) throw new Error(`docker on ${target.name}: ${r.stderr.trim().split('\n').slice(-1)[0] || `exit ${r.code}`}`);
  return parseInspect(r.stdout);
}

/** Which of the given images exist on the target. */
export async function presentImages(target: Target, images: string[]): Promise<Set<string>> {
  const present = new Set<string>();
  if (images.length === 0) return present;
  const script = images.map((i) => `docker image inspect ${i.replace(/[^\w./:@-]/g, '')} >/dev/null 2>&1 && echo ${i.replace(/[^\w./:@-]/g, '')}`).join('; ');
  const r = await target.exec(`${script}; true`, { sudo: true, timeoutMs: 60_000 });
  for (const line of r.stdout.split('\n')) if (line.trim()) present.add(line.trim());
  return present;
}

export function forService(all: ContainerState[], project: string, service: string): ContainerState[] {
  const p = project.toLowerCase();
  return all.filter((c) => c.project.toLowerCase() === p && c.service === service);
}
