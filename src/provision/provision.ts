// Provision one target from nothing to a running, healthy stack: the ordered
// step list every install mode (standalone, ssh, vagrant, boot2docker) runs.

import { StackControl } from '../compose/index.js';
import { Progress } from '../progress.js';
import type { Target } from '../target/target.js';
import { planStack, type StackPlan, type StackPlanOptions } from './plan.js';
import { runSteps, type ProvisionResult, type ProvisionStep } from './runner.js';
import { basePackagesStep, composeToolStep, dockerEngineStep } from './shell-step.js';
import { COMPOSE_PATH } from '../stack/deployment.js';
import { healthyStep, imagesStep, portsPreflightStep, stackFileStep, startStep } from './steps.js';

export interface ProvisionOptions extends StackPlanOptions {
  progress?: Progress;
  /** Seconds to wait for every service to be healthy (default 300). */
  healthTimeoutS?: number;
  /** Stop after the host steps (docker + compose), no stack. */
  hostOnly?: boolean;
  /** Only check and report what would change (nothing on the target changes). */
  dryRun?: boolean;
}

export interface ProvisionOutcome extends ProvisionResult {
  plan?: StackPlan;
}

export async function provisionTarget(target: Target, opts: ProvisionOptions = {}): Promise<ProvisionOutcome> {
  const progress = opts.progress ?? new Progress();
  const host = target.name;
  // The plan is made first (it reads the stack, settings and local images) so
  // bad input fails before anything on the target changes.
  let plan: StackPlan | undefined;
  if (!opts.hostOnly) {
    await progress.step('plan the stack', host, async () => {
      plan = await planStack(target, opts);
      const omitted = Object.keys(plan.omitted);
      return { status: 'ok', detail: `${Object.keys(plan.compose.services).length} services, hostname ${plan.settings.hostname}, ip ${plan.settings.ip}, source ${plan.settings.imageSource}${omitted.length ? `; left out: ${omitted.join(', ')}` : ''}` };
    });
  }
  const steps: ProvisionStep[] = [];
  if (plan) steps.push(portsPreflightStep(plan));
  steps.push(basePackagesStep(), dockerEngineStep(), composeToolStep());
  if (plan) {
    const ctl = new StackControl(target, COMPOSE_PATH, plan.project);
    steps.push(imagesStep(plan), stackFileStep(plan), startStep(plan, ctl), healthyStep(plan, ctl, (opts.healthTimeoutS ?? 300) * 1000, progress));
  }
  const result = await runSteps(target, steps, progress, { checkOnly: !!opts.dryRun });
  return { ...result, ...(plan ? { plan } : {}) };
}
