// The driver registry: every driver by name, the install modes (a mode is a
// driver's --mode word; standalone is the local driver), the drivers kitchen
// creates instances with, and which driver fits this machine when --mode is
// not given (pure, from the machine's facts, with the reason).

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PaasboxError } from '../errors.js';
import { dindDriver, type DindDriverOptions } from './dind.js';
import { BOOT2DOCKER_TOOLS, dockerVmDriver } from './docker-vm.js';
import type { Driver, DriverName } from './driver.js';
import { localDriver } from './local.js';
import { sshDriver, type SshInfoOptions } from './ssh.js';
import { hasCommand, type LocalRun } from './tools.js';
import { vagrantDriver } from './vagrant.js';

const run = promisify(execFile);

export interface DriverDeps {
  /** kitchen's docker-in-docker hosts: their name prefix (and, in tests, the docker calls). */
  dind?: DindDriverOptions;
  /** Reads ~/.ssh/config for a host (tests inject it). */
  lookup?: SshInfoOptions['lookup'];
  /** Runs vagrant (tests inject it). */
  run?: LocalRun;
}

/** The driver of that name. */
export function driverFor(name: DriverName, deps: DriverDeps = {}): Driver {
  switch (name) {
    case 'local':
      return localDriver();
    case 'ssh':
      return sshDriver(deps.lookup);
    case 'vagrant':
      return vagrantDriver(deps.run);
    case 'boot2docker':
      return dockerVmDriver();
    case 'dind':
      return dindDriver(deps.dind);
  }
}

/** The drivers install brings a host up with, in --mode order. */
const INSTALL_DRIVERS = (['local', 'ssh', 'vagrant', 'boot2docker'] as const).map((n) => driverFor(n));
/** install --mode's words: standalone, ssh, vagrant, boot2docker. */
export const INSTALL_MODES: string[] = INSTALL_DRIVERS.map((d) => d.mode!);
/** The drivers kitchen creates instances with (--kind). */
export const KITCHEN_DRIVERS: DriverName[] = ['dind', 'ssh', 'vagrant'];

/** kitchen's drivers, by name. */
export function kitchenDrivers(deps: DriverDeps = {}): Partial<Record<DriverName, Driver>> {
  return Object.fromEntries(KITCHEN_DRIVERS.map((n) => [n, driverFor(n, deps)]));
}

export interface MachineFacts {
  platform: NodeJS.Platform;
  /** Commands found on PATH (vagrant, docker, docker-machine, colima, limactl, boot2docker). */
  commands: string[];
  /** `docker info` answers here. */
  dockerRuns: boolean;
  /** --host was given. */
  hasHost: boolean;
}

export interface ModeChoice {
  mode: string;
  driver: DriverName;
  why: string;
}

/** The driver an install --mode word selects. */
export function parseMode(text: string): DriverName {
  const d = INSTALL_DRIVERS.find((x) => x.mode === text);
  if (d) return d.name;
  throw new PaasboxError(
    `--mode "${text}" is not an install mode`,
    `use one of: ${INSTALL_MODES.join(', ')} (or omit --mode to detect)`,
  );
}

/** The mode to use when --mode is not given, and why. */
export function detectMode(f: MachineFacts): ModeChoice {
  const c = detectModeWord(f);
  return { ...c, driver: parseMode(c.mode) };
}

function detectModeWord(f: MachineFacts): Omit<ModeChoice, 'driver'> {
  const has = (c: string) => f.commands.includes(c);
  if (f.hasHost) return { mode: 'ssh', why: '--host was given: provision that host over SSH' };
  if (f.platform === 'darwin' || f.platform === 'win32') {
    const os = f.platform === 'darwin' ? 'macOS' : 'Windows';
    if (has('vagrant'))
      return {
        mode: 'vagrant',
        why: `${os} cannot run the stack natively and vagrant is installed: bring up the VM from ./Vagrantfile`,
      };
    const vm = BOOT2DOCKER_TOOLS.find(has);
    if (vm)
      return {
        mode: 'boot2docker',
        why: `${os} without vagrant; ${vm} manages a docker VM: provision it over SSH`,
      };
    throw new PaasboxError(
      `no way to run the stack on ${f.platform}: no vagrant and no docker VM tool (docker-machine, colima, lima, boot2docker)`,
      'install vagrant (with VirtualBox or libvirt) and run again, or pass --mode ssh --host user@linux-host',
    );
  }
  if (f.dockerRuns)
    return {
      mode: 'standalone',
      why: 'Linux with a running docker engine: install the stack on this machine',
    };
  if (f.platform === 'linux')
    return {
      mode: 'standalone',
      why: 'Linux without a running docker engine: provisioning installs and starts it here',
    };
  throw new PaasboxError(`unsupported platform ${f.platform}`, 'pass --mode ssh --host user@linux-host');
}

/** This machine's facts for detectMode: the tools on PATH and whether docker answers. */
export async function machineFacts(hasHost: boolean): Promise<MachineFacts> {
  const commands: string[] = [];
  for (const c of ['vagrant', 'docker', 'docker-machine', 'colima', 'limactl', 'boot2docker'])
    if (await hasCommand(c)) commands.push(c);
  const dockerRuns =
    commands.includes('docker') &&
    (await run('docker', ['info'], { timeout: 20_000 }).then(
      () => true,
      () => false,
    ));
  return { platform: process.platform, commands, dockerRuns, hasHost };
}
