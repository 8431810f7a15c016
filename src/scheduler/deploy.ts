// deploy/scale/destroy of one Marathon app file (or the app JSON the CLI read
// from stdin) through whichever scheduler the stack has, as steps with
// progress and a summary (scripts/deploy.mjs).
// The app policy runs first (src/apps/): the app's form and what it asks of
// the hosts, then its host directories and its names on the targets; a
// refused app never reaches a scheduler.
import { readFile } from 'node:fs/promises';
import { checkScale, parseAllowedApp, type AppPolicy } from '../apps/policy.js';
import { claimedKeys, prepareHostMounts } from '../apps/target-checks.js';
import { AppNames, type ConsulOnTarget } from '../consul/app-names.js';
import { PaasboxError } from '../errors.js';
import { normaliseId, type MarathonApp } from '../appspec/app.js';
import { parseApp } from '../appspec/validate.js';
import type { Progress } from '../progress.js';
import type { Deployment } from '../stackfile/deployment.js';
import type { Target } from '../target/target.js';
import type { ApiLogin } from './api-endpoint.js';
import type { AppInstance, Scheduler } from './scheduler.js';
import { selectScheduler, type SchedulerChoice } from './select.js';
import { shipImage, type RegistryRoute } from './ship-image.js';
import { defaultServiceName } from './swarm-service.js';

export interface DeployRequest {
  /** The app file, or "-" with `text`. */
  file: string;
  /** The app JSON already read (from stdin for file "-"). */
  text?: string;
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
  /**
   * The app policy: the operator's --allow-… flags and the stack's bounds; validation and the swarm back-end
   * both honour it.
   */
  policy?: AppPolicy;
  /** The deployed stack as recorded on the target: which scheduler it has. */
  stack?: Pick<Deployment, 'services'>;
  /** Every host apps may run on: the app's host directories are made and checked there. */
  hosts?: Target[];
  /** The stack's Consul, where names are claimed (absent: names are not recorded). */
  consul?: ConsulOnTarget;
  /**
   * The stack's registry, from this machine to the masters: an app's image that only this machine has is
   * pushed there and deployed by digest (absent: the image is left as named).
   */
  registry?: RegistryRoute;
  /** Whose login .paasbox/secrets/INSTANCE/ holds (default "default"), unless `login` is given. */
  instance?: string;
  /** The API's login: a team's token or the operator's (src/scheduler/api-endpoint.ts). */
  login?: ApiLogin;
  /** marathonUrl is paasbox's apps API (--api): the app goes as written; the server judges it too. */
  appsApi?: boolean;
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

/**
 * The app file, checked against `policy`; `formOnly` for scale and destroy,
 * which act on an app already there by its id (an app deployed before a
 * stricter policy can still be scaled down and removed).
 */
export async function readAppFile(
  file: string,
  policy: AppPolicy = {},
  formOnly = false,
  given?: string,
): Promise<MarathonApp> {
  let text: string;
  try {
    text = given ?? (await readFile(file, 'utf8'));
  } catch (e) {
    throw new PaasboxError(
      `cannot read app file ${file}: ${(e as Error).message}`,
      'pass the path of a Marathon app JSON file',
    );
  }
  return formOnly ? parseApp(text, file) : parseAllowedApp(text, file, policy);
}

export async function runDeploy(req: DeployRequest, progress: Progress): Promise<DeployReport> {
  const t0 = Date.now();
  const host = req.target?.name ?? 'local';
  let app: MarathonApp;
  try {
    app = await readAppFile(req.file, req.policy, req.action !== 'deploy', req.text);
    if (req.action === 'scale') {
      const n = req.instances;
      if (n === undefined)
        throw new PaasboxError('--scale without a count', 'give a whole number >= 0, e.g. --scale 4');
      checkScale(normaliseId(app.id), n, req.policy?.bounds);
    }
  } catch (e) {
    progress.record(
      `validate ${req.file}`,
      host,
      'failed',
      t0,
      e instanceof PaasboxError ? e.problem : String(e),
    );
    throw e;
  }
  const id = normaliseId(app.id);
  progress.record(`validate ${req.file}`, host, 'ok', t0, id);
  if (req.action === 'deploy') {
    await hostChecks(req, app, progress, host);
    // An image only this machine has goes to the swarm through the stack's registry.
    if (req.registry) app = await shipImage(app, req.registry, progress);
  }

  let sched!: Scheduler;
  await progress.step('select scheduler', host, async () => {
    sched = await selectScheduler({
      choice: req.scheduler ?? 'auto',
      ...(req.target ? { target: req.target } : {}),
      ...(req.workers ? { workers: req.workers } : {}),
      ...(req.marathonUrl ? { marathonUrl: req.marathonUrl } : {}),
      ...(req.advertiseAddr ? { advertiseAddr: req.advertiseAddr } : {}),
      ...(req.policy ? { policy: req.policy } : {}),
      ...(req.stack ? { stack: req.stack } : {}),
      ...(req.instance ? { instance: req.instance } : {}),
      ...(req.login ? { login: req.login } : {}),
      ...(req.appsApi !== undefined ? { appsApi: req.appsApi } : {}),
      progress,
    });
    return { status: 'ok', detail: `${sched.kind} at ${sched.where}` };
  });
  const report: DeployReport = {
    app: id,
    action: req.action,
    scheduler: sched.kind,
    where: sched.where,
    warnings: [],
    seconds: 0,
  };

  if (req.action === 'destroy') {
    await progress.step(`destroy ${id}`, sched.where, async () => {
      report.existed = await sched.destroy(id);
      return report.existed
        ? { status: 'changed', detail: 'removed' }
        : { status: 'ok', detail: 'was not deployed' };
    });
    if (req.consul) {
      const consul = req.consul;
      await progress.step(`release the names of ${id}`, consul.target.name, async () => {
        const names = await new AppNames(consul).release(id);
        return names.length
          ? { status: 'changed', detail: names.join(', ') }
          : { status: 'ok', detail: 'none recorded' };
      });
    }
  } else {
    if (req.action === 'scale') {
      const n = req.instances!;
      await progress.step(`scale ${id} to ${n}`, sched.where, async () => {
        await sched.scale(id, n);
        return { status: 'changed' };
      });
    } else {
      await progress.step(
        `deploy ${id} (${app.instances ?? 1} x ${app.container?.docker.image ?? 'cmd'})`,
        sched.where,
        async () => {
          const r = await sched.deploy(app);
          report.created = r.created;
          report.warnings = r.warnings;
          return { status: 'changed', detail: r.created ? 'created' : 'updated' };
        },
      );
      for (const w of report.warnings) progress.say(`warning: ${w}`);
    }
    if (req.wait) {
      await progress.step(`wait until ${id} is ready`, sched.where, async () => {
        report.instances = await sched.waitReady(id, req.timeoutMs ?? 300000);
        return {
          status: 'ok',
          detail: report.instances.map((i) => `${i.host}:${i.ports.join(',')}`).join(' '),
        };
      });
    }
  }
  report.seconds = (Date.now() - t0) / 1000;
  return report;
}

/**
 * What the policy checks on the hosts, before any scheduler: the app's host
 * directories (made, their symlinks resolved within its data root) and its
 * names (claimed for its id in Consul K/V, refused when another app has one).
 */
async function hostChecks(
  req: DeployRequest,
  app: MarathonApp,
  progress: Progress,
  host: string,
): Promise<void> {
  const hosts = req.hosts ?? (req.target ? [req.target] : []);
  const allow = req.policy?.allow ?? {};
  await progress.step(`host directories of ${normaliseId(app.id)}`, host, async () => {
    const made = await prepareHostMounts(hosts, app, allow);
    return { status: 'ok', detail: made.length ? `${made.join(', ')} on ${hosts.length} host(s)` : 'none' };
  });
  if (req.consul) {
    const consul = req.consul;
    await progress.step(`names of ${normaliseId(app.id)}`, consul.target.name, async () => {
      const keys = claimedKeys(app, defaultServiceName(app.id));
      const added = await new AppNames(consul).claim(app.id, keys, app);
      return added.length
        ? { status: 'changed', detail: `claimed ${added.join(', ')}` }
        : { status: 'ok', detail: keys.join(', ') };
    });
  }
}
