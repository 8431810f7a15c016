// Parsing what docker reports about a compose project's containers. Pure.

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
}

interface InspectEntry {
  Id?: string;
  Name?: string;
  Image?: string;
  RestartCount?: number;
  State?: { Status?: string; Health?: { Status?: string } };
  HostConfig?: { RestartPolicy?: { Name?: string } };
  Config?: { Labels?: Record<string, string> };
}

/** Container ids from `docker ps -a --format '{{json .}}'` lines. */
export function parsePsIds(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { ID: string }).ID);
}

/** Statuses from `docker inspect` JSON, plus expected services with no container. */
export function parseInspect(json: string, expected: string[] = []): ServiceStatus[] {
  const entries = (json.trim() ? JSON.parse(json) : []) as InspectEntry[];
  const out: ServiceStatus[] = entries.map((e) => ({
    service: e.Config?.Labels?.['com.docker.compose.service'] ?? (e.Name ?? '').replace(/^\//, ''),
    state: e.State?.Status ?? 'unknown',
    health: e.State?.Health?.Status ?? 'none',
    restartPolicy: e.HostConfig?.RestartPolicy?.Name || 'no',
    restartCount: e.RestartCount ?? 0,
    container: (e.Name ?? '').replace(/^\//, ''),
    ...(e.Image ? { imageId: e.Image } : {}),
  }));
  for (const s of expected) if (!out.some((o) => o.service === s)) out.push({ service: s, state: 'missing', health: 'none', restartPolicy: 'no', restartCount: 0 });
  const order = (s: string) => (expected.includes(s) ? expected.indexOf(s) : expected.length);
  return out.sort((a, b) => order(a.service) - order(b.service) || a.service.localeCompare(b.service));
}

/** Ready: running, and healthy when the service has a healthcheck. */
export function isReady(s: ServiceStatus): boolean {
  return s.state === 'running' && (s.health === 'healthy' || s.health === 'none');
}
