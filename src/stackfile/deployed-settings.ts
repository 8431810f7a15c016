// The settings verify (and every command after install) judges a target by,
// through the one pipeline: flags, PAASBOX_*, paasbox.yaml, then what is
// recorded (the compose file's x-paasbox record on the target, else the
// instance's deployment record), then the target's own hostname and address.

import {
  detectAdvertiseAddress,
  loadSettings,
  type Settings,
  type SettingsValues,
} from '../settings/index.js';
import { readDeployment, recordedValues, type Deployment } from './deployment.js';
import { keepReadBackError } from '../system/readback.js';
import type { ImageSourceName, StackModel } from '../model/model.js';
import type { Target } from '../target/target.js';

/** What install recorded of the deployment, as far as it is read here (a lower layer than src/instance/). */
interface RecordedDeployment {
  composePath: string;
  ip: string;
  hostname?: string;
  imageSource: ImageSourceName;
  project: string;
}

export interface TargetSettingsOptions {
  cwd?: string;
  configPath?: string;
  flags?: SettingsValues;
  env?: Record<string, string | undefined>;
  /**
   * The recorded instance (src/instance/state.ts): its deployment record, when the target has no stack file.
   */
  instance?: { deployment?: RecordedDeployment };
}

export async function settingsForTarget(
  target: Target,
  model: StackModel,
  opts: TargetSettingsOptions = {},
): Promise<{ settings: Settings; deployment: Deployment | undefined }> {
  const deployment = await readDeployment(target, opts.instance?.deployment?.composePath).catch(
    keepReadBackError,
  );
  const rec = opts.instance?.deployment;
  const recorded: SettingsValues | undefined = deployment
    ? recordedValues(deployment)
    : rec
      ? {
          ip: rec.ip,
          imageSource: rec.imageSource,
          projectName: rec.project,
          ...(rec.hostname ? { hostname: rec.hostname } : {}),
        }
      : undefined;
  const facts = recorded?.hostname ? undefined : await target.facts().catch(() => undefined);
  const { env, cwd, configPath, flags } = opts;
  const settings = await loadSettings({
    model,
    env,
    cwd,
    configPath,
    flags,
    recorded,
    defaults: facts?.hostname ? { hostname: facts.hostname.split('.')[0] } : {},
    detectIp: () => detectAdvertiseAddress(target),
  });
  return { settings, deployment };
}
