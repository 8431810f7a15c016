// The one interface every driver implements, as test-kitchen's driver/ and
// Vagrant's provider do: a driver brings up (or finds) a host and says how to
// reach it (the SshInfo of Vagrant's ssh_info, or this machine), with what the
// kind of host implies for the settings; destroy takes down what it made,
// from the state it recorded. install and kitchen both use the drivers
// (src/drivers/index.ts is the registry); an instance (src/instance/) records
// the hosts a driver brought up.

import type { SettingsValues } from '../settings/settings.js';
import type { HostKeyPolicy, StageRef } from '../target/ssh-info.js';

/** Every driver: this machine, an SSH host, a Vagrant VM, a docker VM tool's VM, a docker-in-docker host. */
export type DriverName = 'local' | 'ssh' | 'vagrant' | 'boot2docker' | 'dind';

/** What a docker-in-docker host's driver made: its container, network and key directory. */
export interface DindState {
  container?: string;
  network?: string;
  workDir?: string;
}

/** What destroy and state read back from the state file: the name, the host, the driver's record. */
export interface DriverState {
  name: string;
  stage?: StageRef;
  dind?: DindState;
}

/**
 * Where a host stands now, as Vagrant's `state`: running (it answers), stopped
 * (it exists, switched off), absent (gone, or never made), unreachable (its
 * SSH port does not answer), unknown (the driver cannot tell, and says why).
 */
export interface HostState {
  state: 'running' | 'stopped' | 'absent' | 'unreachable' | 'unknown';
  detail: string;
}

export interface CreateOptions {
  /** The instance the host is for (a VM's host key is pinned per instance). */
  instance: string;
  /** ssh, boot2docker: user@address[:port] or an ~/.ssh/config alias. */
  host?: string;
  /** A private key over what the tool or ~/.ssh/config says. */
  keyPath?: string;
  /** ssh: where its host key is pinned; hostKeyPolicy: how a first-seen key is treated. */
  knownHostsPath?: string;
  hostKeyPolicy?: HostKeyPolicy;
  /** vagrant: the provider to bring the machine up with, and the machine of the Vagrantfile. */
  provider?: string;
  machine?: string;
  /** A line for the user about what was found. */
  log?: (line: string) => void;
}

/** A host a driver brought up: how to reach it, and what that means for the settings. */
export interface ReachedHost {
  ref: StageRef;
  /**
   * The seed's HOSTNAME/IP describe this host (this machine, or the docker VM it drives), not a host over
   * SSH.
   */
  seedNames: boolean;
  /** Defaults the kind of host knows, over the target's own facts (a Vagrant VM's private address). */
  defaults?: SettingsValues;
  /** What destroy needs again (a docker-in-docker host). */
  dind?: DindState;
}

export interface Driver {
  readonly name: DriverName;
  /** The word `install --mode` selects it by (the local driver is "standalone"); none: kitchen only. */
  readonly mode?: string;
  create(opts: CreateOptions): Promise<ReachedHost>;
  /** Take down what create made; a host the driver only found (ssh, a docker VM) stays. */
  destroy(state: DriverState): Promise<void>;
  /** Where the recorded host stands now (asks the tool or the host; changes nothing). */
  state(state: DriverState): Promise<HostState>;
}
