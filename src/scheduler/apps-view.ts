// What `paasbox apps` and `paasbox app show` print, from the apps API's
// Marathon shapes: one row per app (instances running/wanted, health, the
// URLs HAProxy routes by name, image, hosts, version), the table people read,
// one app's details, and which version a rollback goes back to. Pure: the
// requests are in ./app-ops.ts.
import { claimedNames } from '../apps/target-checks.js';
import { normaliseId, portMappingsOf } from '../appspec/app.js';
import { PaasboxError } from '../errors.js';
import type { MarathonAppStatus, MarathonTask } from '../marathon/client.js';
import { defaultServiceName } from './swarm-service.js';

export interface AppRow {
  id: string;
  running: number;
  wanted: number;
  /** healthy, unhealthy N, H/W healthy, or none (the app has no health checks). */
  health: string;
  urls: string[];
  image?: string;
  hosts: string[];
  version?: string;
  /** Ids of the deployments still running for it. */
  deployments: string[];
}

const running = (t: MarathonTask) => (t.state ?? 'TASK_RUNNING') === 'TASK_RUNNING';

/** The names HAProxy routes the app by, as http://NAME.service.DOMAIN (none without a port). */
export function appUrls(app: MarathonAppStatus, domain: string): string[] {
  const defs = (app as { portDefinitions?: unknown[] }).portDefinitions ?? [];
  if (!portMappingsOf(app).length && !(app.ports ?? []).length && !defs.length) return [];
  return claimedNames(app, defaultServiceName(app.id)).map((n) => `http://${n}.service.${domain}`);
}

/** The health word for an app and its tasks. */
export function appHealth(app: MarathonAppStatus, tasks: MarathonTask[]): string {
  if (!(app.healthChecks ?? []).length) return 'none';
  const wanted = app.instances ?? 1;
  const live = tasks.filter(running);
  const healthy = live.length
    ? live.filter((t) => (t.healthCheckResults ?? []).length && t.healthCheckResults!.every((h) => h.alive))
        .length
    : (app.tasksHealthy ?? 0);
  const unhealthy = live.length
    ? live.filter((t) => (t.healthCheckResults ?? []).some((h) => !h.alive)).length
    : (app.tasksUnhealthy ?? 0);
  if (unhealthy) return `unhealthy ${unhealthy}`;
  if (healthy >= wanted) return 'healthy';
  return `${healthy}/${wanted} healthy`;
}

/** One row per app, in id order; `tasks` may hold every app's tasks (GET /v2/tasks). */
export function appRows(apps: MarathonAppStatus[], tasks: MarathonTask[], domain: string): AppRow[] {
  return [...apps]
    .sort((a, b) => normaliseId(a.id).localeCompare(normaliseId(b.id)))
    .map((app) => {
      const id = normaliseId(app.id);
      const mine = tasks.filter((t) => normaliseId(t.appId) === id);
      const live = mine.filter(running);
      return {
        id,
        running: mine.length ? live.length : (app.tasksRunning ?? 0),
        wanted: app.instances ?? 1,
        health: appHealth(app, mine),
        urls: appUrls(app, domain),
        ...(app.container?.docker.image ? { image: app.container.docker.image } : {}),
        hosts: [...new Set(live.map((t) => t.host))].sort(),
        ...(app.version ? { version: app.version } : {}),
        deployments: (app.deployments ?? []).map((d) => d.id),
      };
    });
}

/** Columns padded to their widest cell; the last column unpadded. */
export function renderTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

/** The table `paasbox apps` prints (a deploying app's instances are marked *). */
export function renderAppsTable(rows: AppRow[]): string {
  if (!rows.length) return 'no apps yet: paasbox deploy APP.json\n';
  return renderTable(
    ['ID', 'INSTANCES', 'HEALTH', 'URLS', 'IMAGE', 'HOSTS', 'VERSION'],
    rows.map((r) => [
      r.id,
      `${r.running}/${r.wanted}${r.deployments.length ? '*' : ''}`,
      r.health,
      r.urls.join(',') || '-',
      r.image ?? '-',
      r.hosts.join(',') || '-',
      r.version ?? '-',
    ]),
  );
}

/** `paasbox app show ID`: the row's fields, the tasks and the versions. */
export function renderAppDetail(row: AppRow, tasks: MarathonTask[], versions: string[]): string {
  const lines = [
    `app        ${row.id}`,
    `instances  ${row.running} running of ${row.wanted} wanted`,
    `health     ${row.health}`,
    `urls       ${row.urls.join(' ') || '-'}`,
    `image      ${row.image ?? '-'}`,
    `version    ${row.version ?? '-'}`,
    `versions   ${versions.length} stored${versions.length ? ` (newest ${versions[0]}; paasbox rollback ${row.id})` : ''}`,
    `deploying  ${row.deployments.join(', ') || 'no'}`,
    '',
  ];
  const table = tasks.length
    ? renderTable(
        ['TASK', 'HOST', 'PORTS', 'STATE', 'HEALTH', 'STARTED', 'VERSION'],
        tasks.map((t) => [
          t.id,
          t.host,
          t.ports.join(',') || '-',
          t.state ?? 'TASK_RUNNING',
          !(t.healthCheckResults ?? []).length
            ? '-'
            : t.healthCheckResults!.every((h) => h.alive)
              ? 'alive'
              : 'failing',
          t.startedAt ?? '-',
          t.version ?? '-',
        ]),
      )
    : 'no tasks\n';
  return lines.join('\n') + '\n' + table;
}

const time = (v: string) => {
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
};

/** Versions newest first (the API's order is not trusted); those that are not times stay last. */
export function newestFirst(versions: string[]): string[] {
  return [...versions].sort((a, b) => (time(b) ?? -Infinity) - (time(a) ?? -Infinity));
}

/**
 * The version `paasbox rollback` goes back to: `to` when given (it must be
 * stored), else the newest version older than the app's current definition
 * (versionInfo.lastConfigChangeAt, else its version): a scale after the last
 * change of the definition is not a version to go back to. Pure.
 */
export function rollbackVersion(app: MarathonAppStatus, versions: string[], to?: string): string {
  const id = normaliseId(app.id);
  const sorted = newestFirst(versions);
  if (to !== undefined) {
    if (sorted.includes(to)) return to;
    const t = time(to);
    const same = t === undefined ? undefined : sorted.find((v) => time(v) === t);
    if (same) return same;
    throw new PaasboxError(
      `app ${id} has no version ${to}`,
      `give one of its versions (paasbox app show ${id}): ${sorted.slice(0, 5).join(', ') || 'none stored'}`,
    );
  }
  const info = (app as { versionInfo?: { lastConfigChangeAt?: string } }).versionInfo;
  const current = info?.lastConfigChangeAt ?? app.version ?? sorted[0];
  const now = current === undefined ? undefined : time(current);
  const before = sorted.find((v) => now !== undefined && (time(v) ?? Infinity) < now);
  if (!before)
    throw new PaasboxError(
      `app ${id} has no version before its current one (${current ?? 'unknown'})`,
      'there is nothing to roll back to: deploy the definition you want, or give --to VERSION',
    );
  return before;
}
