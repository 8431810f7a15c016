// A compose project's services as docker reports them (pure): the containers
// parsed by src/docker/facts.ts, keyed by compose service, in the compose
// file's order, with the services that have no container as "missing".

import { parseContainers } from '../docker/facts.js';

export interface ServiceStatus {
  service: string;
  /** created|running|restarting|exited|paused|dead, or missing (no container). */
  state: string;
  /** healthy|unhealthy|starting, or none (no healthcheck). */
  health: string;
  restartPolicy: string;
  restartCount: number;
  container?: string;
  /** The image id the container runs (it stays on the old id when its tag is rebuilt). */
  imageId?: string;
  /** The last health probe's output (why it is unhealthy). */
  healthLog?: string;
}

/**
 * Statuses from `docker inspect` JSON, plus expected services with no container; a swarm task or app carrying
 * compose labels is left out.
 */
export function parseInspect(json: string, expected: string[] = []): ServiceStatus[] {
  const out: ServiceStatus[] = parseContainers(json)
    .filter((c) => !c.notStack)
    .map((c) => ({
      service: c.service || c.name,
      state: c.status,
      health: c.health ?? 'none',
      restartPolicy: c.restartPolicy,
      restartCount: c.restartCount,
      container: c.name,
      ...(c.imageId ? { imageId: c.imageId } : {}),
      ...(c.healthLog ? { healthLog: c.healthLog } : {}),
    }));
  for (const s of expected)
    if (!out.some((o) => o.service === s))
      out.push({ service: s, state: 'missing', health: 'none', restartPolicy: 'no', restartCount: 0 });
  const order = (s: string) => (expected.includes(s) ? expected.indexOf(s) : expected.length);
  return out.sort((a, b) => order(a.service) - order(b.service) || a.service.localeCompare(b.service));
}

/** Ready: running, and healthy when the service has a healthcheck. */
export function isReady(s: ServiceStatus): boolean {
  return s.state === 'running' && (s.health === 'healthy' || s.health === 'none');
}
