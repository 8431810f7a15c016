// Provision one target from nothing to a running, healthy stack: the ordered
// step list every install mode (standalone, ssh, vagrant, boot2docker) runs,
// holding the target's lock (src/instance/lock.ts) unless it only checks.

import { StackControl } from '../compose/index.js';
import { Progress } from '../progress.js';
import type { Target } from '../target/target.js';
import { planStack, type StackPlan, type StackPlanOptions } from './plan.js';
import { runSteps, type ProvisionResult, type ProvisionStep } from './runner.js';
import { basePackagesStep, composeToolStep, dockerEngineStep } from './shell-step.js';
import { COMPOSE_PATH } from '../stackfile/deployment.js';
import { healthyStep, imagesStep, portsPreflightStep, stackFileStep, startStep } from './steps.js';
import { sshdKeysSteps, type AuthorizedKeys } from './access.js';
import { openvpnSteps } from './openvpn.js';
import { DEFAULT_LOCK_TIMEOUT_S, withTargetLock } from '../instance/lock.js';
import { DEFAULT_INSTANCE } from '../instance/state.js';
import { consulAclStep, InstallSecrets, secretsStep } from './secrets.js';
import { registryTrustStep } from './registry-trust.js';

export interface ProvisionOptions extends StackPlanOptions {
  progress?: Progress;
  /** Seconds to wait for every service to be healthy (default 300). */
  healthTimeoutS?: number;
  /** Stop after the host steps (docker + compose), no stack. */
  hostOnly?: boolean;
  /** Only check and report what would change (nothing on the target changes). */
  dryRun?: boolean;
  /** Seconds to wait while another paasbox run holds the target's lock (default 60). */
  lockTimeoutS?: number;
  /** Who may log in to the stack's sshd (needed when the stack runs sshd). */
  authorizedKeys?: AuthorizedKeys;
  /** The instance whose secrets this machine keeps in .paasbox/secrets/INSTANCE/ (default "default"). */
  instance?: string;
  /** The secrets shared by a cluster's hosts (default: this instance's, resolved on this target). */
  secrets?: InstallSecrets;
  /**
   * Set up Consul's ACLs here (default true); a cluster does it once, after all its hosts
   * (src/provision/cluster.ts).
   */
  consulAcl?: boolean;
}

export interface ProvisionOutcome extends ProvisionResult {
  plan?: StackPlan;
}

export async function provisionTarget(
  target: Target,
  opts: ProvisionOptions = {},
): Promise<ProvisionOutcome> {
  if (opts.dryRun) return provision(target, opts);
  const timeoutS = opts.lockTimeoutS ?? DEFAULT_LOCK_TIMEOUT_S;
  const onWait = (holder: string) =>
    opts.progress?.say(`[${target.name}] ${holder} holds the lock; waiting up to ${timeoutS}s`);
  return withTargetLock(target, { command: 'install', timeoutS, onWait }, () => provision(target, opts));
}

async function provision(target: Target, opts: ProvisionOptions): Promise<ProvisionOutcome> {
  const progress = opts.progress ?? new Progress();
  const host = target.name;
  // Reach the target first: an unreachable host, a refused login or an unknown
  // host key fails every run, a dry run included (its checks would only be skipped).
  await target.facts();
  // The plan is made first (it reads the stack, settings and local images) so
  // bad input fails before anything on the target changes.
  let plan: StackPlan | undefined;
  if (!opts.hostOnly) {
    await progress.step('plan the stack', host, async () => {
      plan = await planStack(target, opts);
      const omitted = Object.keys(plan.omitted);
      return {
        status: 'ok',
        detail: `${Object.keys(plan.compose.services).length} services, hostname ${plan.settings.hostname}, ip ${plan.settings.ip}, source ${plan.settings.imageSource}${omitted.length ? `; left out: ${omitted.join(', ')}` : ''}`,
      };
    });
  }
  const steps: ProvisionStep[] = [];
  if (plan) steps.push(portsPreflightStep(plan));
  steps.push(basePackagesStep(), dockerEngineStep(), composeToolStep());
  if (plan) steps.push(...sshdKeysSteps(plan, opts.authorizedKeys));
  if (plan) steps.push(...openvpnSteps(plan, opts.instance ?? DEFAULT_INSTANCE, opts.cwd));
  if (plan) {
    const ctl = new StackControl(target, COMPOSE_PATH, plan.project);
    const secrets = opts.secrets ?? new InstallSecrets(opts.instance ?? DEFAULT_INSTANCE, opts.cwd);
    steps.push(
      imagesStep(plan),
      secretsStep(secrets, plan.settings),
      registryTrustStep(secrets, plan.settings),
      stackFileStep(plan),
      startStep(plan, ctl),
      healthyStep(plan, ctl, (opts.healthTimeoutS ?? 300) * 1000, progress),
    );
    if (plan.compose.services['consul'] && opts.consulAcl !== false)
      steps.push(consulAclStep(plan, secrets, ctl));
  }
  const result = await runSteps(target, steps, progress, { checkOnly: !!opts.dryRun });
  return { ...result, ...(plan ? { plan } : {}) };
}
