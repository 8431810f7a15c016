// The settings verify judges a target by: what install deployed there (the
// compose file's x-paasbox record) wins; otherwise paasbox.yaml, PAASBOX_* and
// the target's own hostname and detected address, as install would use them.

import { detectAdvertiseAddress, loadSettings, type Settings } from '../settings/index.js';
import type { StackModel } from '../stack/model.js';
import type { Target } from '../target/target.js';
import { deploymentEnv, readDeployment, type Deployment } from './deployment.js';

export interface TargetSettingsOptions {
  cwd?: string;
  configPath?: string;
  env?: Record<string, string | undefined>;
}

export async function settingsForTarget(
  target: Target,
  model: StackModel,
  opts: TargetSettingsOptions = {},
): Promise<{ settings: Settings; deployment: Deployment | undefined }> {
  const deployment = await readDeployment(target).catch(() => undefined);
  const base = Object.fromEntries(Object.entries(opts.env ?? process.env).filter(([k]) => k.startsWith('PAASBOX_')));
  const env = { ...base, ...(deployment ? deploymentEnv(deployment) : {}) };
  const facts = deployment ? undefined : await target.facts().catch(() => undefined);
  const settings = await loadSettings({
    model,
    env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.configPath ? { configPath: opts.configPath } : {}),
    defaults: facts?.hostname ? { hostname: facts.hostname.split('.')[0] } : {},
    detectIp: () => detectAdvertiseAddress(target),
  });
  return { settings, deployment };
}
