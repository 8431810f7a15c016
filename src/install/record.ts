// What an install keeps for its instance, built in one place for one host
// and for a cluster alike: how to reach each host (its key now pinned, so
// later commands check it strictly), what was deployed (the first master's
// settings and project), and the settings the user chose, so that a later
// run without them keeps them (what was detected is detected again). Pure.

import type { DriverName } from '../drivers/driver.js';
import { PaasboxError } from '../errors.js';
import { envValues, type Settings, type SettingsValues } from '../settings/settings.js';
import type { DeploymentRecord, Instance } from '../instance/state.js';
import type { StageRef } from '../target/ssh-info.js';

export type Pinned = NonNullable<DeploymentRecord['pinned']>;

/** One host of the install as provisioned: how it was reached, its role, and what it advertises. */
export interface InstalledHost {
  ref: StageRef;
  role: 'master' | 'agent';
  ip: string;
  hostname?: string;
}

export interface RecordInput {
  name: string;
  driver: DriverName;
  /** install's --mode word for the driver. */
  mode: string;
  /** Every host, the first master first (the stage every one-host command reaches). */
  hosts: InstalledHost[];
  /** Named as a cluster (--masters/--agents or paasbox.yaml's cluster:): every host is recorded. */
  cluster: boolean;
  /** The first master's settings and compose project. */
  settings: Settings;
  project: string;
  composePath: string;
  pinned: Pinned;
}

/**
 * The settings a run starts from for this instance: what an earlier install
 * pinned, with the services this run switches on (tunnel up: sshd). A
 * cluster's hosts advertise their own name and address: only its image source is kept.
 */
export function recordedPins(
  previous: Instance | undefined,
  cluster: boolean,
  enableServices: string[] = [],
): Pinned | undefined {
  const before = previous?.deployment?.pinned;
  if (cluster) return before?.imageSource ? { imageSource: before.imageSource } : undefined;
  if (!enableServices.length) return before;
  return {
    ...before,
    services: {
      ...before?.services,
      ...Object.fromEntries(enableServices.map((n) => [n, { enabled: true }])),
    },
  };
}

/**
 * What this run pins: over the recorded pins, what the user chose by flag or
 * environment (hostname, ip, image source, domain). A cluster pins the image source given by flag only.
 */
export function pinsToKeep(
  recorded: Pinned | undefined,
  env: Record<string, string | undefined>,
  flags: SettingsValues,
  cluster: boolean,
): Pinned {
  if (cluster) return flags.imageSource ? { imageSource: flags.imageSource } : {};
  const chosen = { ...envValues(env), ...flags };
  return {
    ...recorded,
    ...(chosen.hostname ? { hostname: chosen.hostname } : {}),
    ...(chosen.ip ? { ip: chosen.ip } : {}),
    ...(chosen.imageSource ? { imageSource: chosen.imageSource } : {}),
    ...(chosen.domain ? { domain: chosen.domain } : {}),
  };
}

/** The instance record of an install, one host or many. */
export function instanceRecord(i: RecordInput): Instance {
  const first = i.hosts[0]!;
  const s = i.settings;
  // The keys are pinned now: later commands check them strictly.
  const stageOf = (h: InstalledHost): StageRef =>
    h.ref.kind === 'local'
      ? { kind: 'local', address: h.ip }
      : { kind: 'ssh', ssh: { ...h.ref.ssh, hostKeyPolicy: 'strict' } };
  const member = (h: InstalledHost) => {
    if (h.ref.kind !== 'ssh')
      throw new PaasboxError(
        'a cluster host must be reached over SSH, not this machine',
        'name each host as user@address',
      );
    return {
      ssh: { ...h.ref.ssh, hostKeyPolicy: 'strict' as const },
      ip: h.ip,
      ...(h.hostname ? { hostname: h.hostname } : {}),
    };
  };
  const pinned = Object.keys(i.pinned).length ? { pinned: i.pinned } : {};
  return {
    name: i.name,
    driver: i.driver,
    mode: i.mode,
    stage: stageOf(first),
    lifecycle: 'converged',
    deployment: {
      ip: s.ip,
      hostname: s.hostname,
      imageSource: s.imageSource,
      composePath: i.composePath,
      project: i.project,
      ...pinned,
    },
    ...(i.cluster
      ? {
          cluster: {
            masters: i.hosts.filter((h) => h.role === 'master').map(member),
            agents: i.hosts.filter((h) => h.role === 'agent').map(member),
          },
        }
      : {}),
    updatedAt: '',
  };
}
