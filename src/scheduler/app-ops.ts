// The app commands' requests to the apps API (Marathon's REST API v2):
// reading apps (paasbox apps, app show) and changing one (scale, restart,
// rollback, destroy) as progress steps that end, unless told not to wait,
// when the deployment the change started is no longer running.
import { normaliseId } from '../appspec/app.js';
import { PaasboxError } from '../errors.js';
import type { MarathonClient, MarathonTask } from '../marathon/client.js';
import type { Progress } from '../progress.js';
import { appRows, newestFirst, rollbackVersion, type AppRow } from './apps-view.js';

export type AppChange =
  | { action: 'scale'; id: string; instances: number }
  | { action: 'restart'; id: string }
  | { action: 'rollback'; id: string; to?: string }
  | { action: 'destroy'; id: string };

export interface AppChangeReport {
  app: string;
  action: AppChange['action'];
  /** false: destroy found no such app. */
  existed: boolean;
  deploymentId?: string;
  /** The app's version the change made (Marathon's answer). */
  version?: string;
  /** rollback: the version gone back to, and the one before. */
  to?: string;
  from?: string;
  waited: boolean;
  seconds: number;
}

/** Every app as a row, with its tasks (GET /v2/apps and GET /v2/tasks). */
export async function listAppRows(client: MarathonClient, domain: string): Promise<AppRow[]> {
  const [apps, tasks] = await Promise.all([client.listApps(), client.listTasks()]);
  return appRows(apps, tasks, domain);
}

/** One app: its row, its tasks and its stored versions (newest first). */
export async function showApp(
  client: MarathonClient,
  id: string,
  domain: string,
): Promise<{ row: AppRow; tasks: MarathonTask[]; versions: string[] }> {
  const app = await client.getApp(id);
  if (!app)
    throw new PaasboxError(`there is no app ${normaliseId(id)}`, 'paasbox apps lists the apps you may see');
  const [tasks, versions] = await Promise.all([client.listTasks(id), client.listVersions(id)]);
  return { row: appRows([app], tasks, domain)[0]!, tasks, versions: newestFirst(versions) };
}

/** A change to one app as steps on `progress`; waits for its deployment unless `wait` is false. */
export async function runAppChange(
  client: MarathonClient,
  change: AppChange,
  opts: { wait: boolean; timeoutMs: number },
  progress: Progress,
): Promise<AppChangeReport> {
  const t0 = Date.now();
  const id = normaliseId(change.id);
  const where = client.baseUrl;
  const report: AppChangeReport = {
    app: id,
    action: change.action,
    existed: true,
    waited: false,
    seconds: 0,
  };
  let started: { deploymentId: string; version: string } | undefined;

  switch (change.action) {
    case 'scale':
      started = await progress.step(`scale ${id} to ${change.instances}`, where, async () => {
        const r = await client.scaleApp(id, change.instances);
        return { status: 'changed', detail: `deployment ${r.deploymentId}`, ...r };
      });
      break;
    case 'restart':
      started = await progress.step(`restart ${id} (rolling)`, where, async () => {
        const r = await client.restartApp(id);
        return { status: 'changed', detail: `deployment ${r.deploymentId}`, ...r };
      });
      break;
    case 'rollback': {
      const chosen = await progress.step(`choose the version of ${id}`, where, async () => {
        const app = await client.getApp(id);
        if (!app)
          throw new PaasboxError(`there is no app ${id}`, 'paasbox apps lists the apps you may roll back');
        const to = rollbackVersion(app, await client.listVersions(id), change.to);
        const from = app.version ?? '?';
        return { status: 'ok', detail: `${to} (now ${from})`, to, from };
      });
      report.to = chosen.to;
      report.from = chosen.from;
      started = await progress.step(`roll ${id} back to ${chosen.to}`, where, async () => {
        const r = await client.rollbackApp(id, chosen.to);
        return { status: 'changed', detail: `deployment ${r.deploymentId}`, ...r };
      });
      break;
    }
    case 'destroy':
      started = await progress.step(`destroy ${id}`, where, async () => {
        const r = await client.destroyApp(id);
        report.existed = r !== undefined;
        return r
          ? { status: 'changed', detail: `deployment ${r.deploymentId}`, ...r }
          : { status: 'ok', detail: 'was not deployed', deploymentId: '', version: '' };
      });
      break;
  }
  if (started?.deploymentId) {
    report.deploymentId = started.deploymentId;
    if (started.version) report.version = started.version;
    if (opts.wait) {
      const dep = started.deploymentId;
      await progress.step(`wait for deployment ${dep}`, where, async () => {
        await client.waitForDeployment(dep, { timeoutMs: opts.timeoutMs });
        return { status: 'ok', detail: 'finished' };
      });
      report.waited = true;
    } else progress.say(`not waiting: deployment ${started.deploymentId} goes on (paasbox app show ${id})`);
  }
  report.seconds = (Date.now() - t0) / 1000;
  return report;
}
