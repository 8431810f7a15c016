// deploy/scale/destroy of one Marathon app file through whichever scheduler
// the stack has, as steps with progress and a summary (scripts/deploy.mjs).
import { readFile } from 'node:fs/promises';
import { PaasboxError } from '../errors.js';
import { normaliseId, parseApp, type AppSafety, type MarathonApp } from '../marathon/app.js';
import type { Progress } from '../progress.js';
import type { Target } from '../target/target.js';
import type { AppInstance, Scheduler } from './scheduler.js';
import { selectScheduler, type SchedulerChoice } from './select.js';

export interface DeployRequest {
  file: string;
  action: 'deploy' | 'scale' | 'destroy';
  /** For scale: the new instance count. */
  instances?: number;
  wait?: boolean;
  timeoutMs?: number;
  scheduler?: SchedulerChoice;
  target?: Target;
  workers?: Target[];
  marathonUrl?: string;
  /** The stack's advertised address (swarm advertise address, Marathon's host). */
  advertiseAddr?: string;
  /** What the user allowed beyond the safe default (--allow-host-mounts, --allow-docker-parameters): validation and the swarm back-end both honour it. */
  safety?: AppSafety;
}

export interface DeployReport {
  app: string;
  action: DeployRequest['action'];
  scheduler: string;
  where: string;
  created?: boolean;
  existed?: boolean;
  warnings: string[];
  instances?: AppInstance[];
  seconds: number;
}

export async function readAppFile(file: string, safety: AppSafety = {}): Promise<MarathonApp> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new PaasboxError(`cannot read app file ${file}: ${(e as Error).message}`, 'pass the path of a Marathon app JSON file');
  }
  return parseApp(text, file, safety);
}

export async function runDeploy(req: DeployRequest, progress: Progress): Promise<DeployReport> {
  const t0 = Date.now();
  const host = req.target?.name ?? 'local';
  let app: MarathonApp;
  try {
    app = await readAppFile(req.file, req.safety);
  } catch (e) {
    progress.record(`validate ${req.file}`, host, 'failed', t0, e instanceof PaasboxError ? e.problem : String(e));
    throw e;
  }
  const id = normaliseId(app.id);
  progress.record(`validate ${req.file}`, host, 'ok', t0, id);

  let sched!: Scheduler;
  await progress.step('select scheduler', host, async () => {
    sched = await selectScheduler({
      choice: req.scheduler ?? 'auto',
      ...(req.target ? { target: req.target } : {}),
      ...(req.workers ? { workers: req.workers } : {}),
      ...(req.marathonUrl ? { marathonUrl: req.marathonUrl } : {}),
      ...(req.advertiseAddr ? { advertiseAddr: req.advertiseAddr } : {}),
      ...(req.safety ? { safety: req.safety } : {}),
      progress,
    });
    return { status: 'ok', detail: `${sched.kind} at ${sched.where}` };
  });
  const report: DeployReport = { app: id, action: req.action, scheduler: sched.kind, where: sched.where, warnings: [], seconds: 0 };

  if (req.action === 'destroy') {
    await progress.step(`destroy ${id}`, sched.where, async () => {
      report.existed = await sched.destroy(id);
      return report.existed ? { status: 'changed', detail: 'removed' } : { status: 'ok', detail: 'was not deployed' };
    });
  } else {
    if (req.action === 'scale') {
      const n = req.instances;
      if (n === undefined || !Number.isInteger(n) || n < 0) throw new PaasboxError(`--scale ${String(n)} is not an instance count`, 'give a whole number >= 0, e.g. --scale 4');
      await progress.step(`scale ${id} to ${n}`, sched.where, async () => {
        await sched.scale(id, n);
        return { status: 'changed' };
      });
    } else {
      await progress.step(`deploy ${id} (${app.instances ?? 1} x ${app.container?.docker.image ?? 'cmd'})`, sched.where, async () => {
        const r = await sched.deploy(app);
        report.created = r.created;
        report.warnings = r.warnings;
        return { status: 'changed', detail: r.created ? 'created' : 'updated' };
      });
      for (const w of report.warnings) progress.say(`warning: ${w}`);
    }
    if (req.wait) {
      await progress.step(`wait until ${id} is ready`, sched.where, async () => {
        report.instances = await sched.waitReady(id, req.timeoutMs ?? 300000);
        return { status: 'ok', detail: report.instances.map((i) => `${i.host}:${i.ports.join(',')}`).join(' ') };
      });
    }
  }
  report.seconds = (Date.now() - t0) / 1000;
  return report;
}
