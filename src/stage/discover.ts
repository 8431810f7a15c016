// Where the stack goes and how to reach it, for every mode: which mode fits
// this machine (pure, from facts), an SSH host as the user wrote it (through
// ~/.ssh/config), a Vagrant machine, and the docker VM tools (docker-machine,
// colima, lima, boot2docker). Each hands back one SshInfo.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PaasboxError } from '../errors.js';
import { parseHostSpec } from '../target/parse.js';
import { stateDir, type InstallMode } from './instances.js';
import { firstExistingIdentity, parseSshConfig, sshG, type SshConfigEntry } from './ssh-config.js';
import type { HostKeyPolicy, SshInfo } from './ssh-info.js';

const run = promisify(execFile);

export const INSTALL_MODES: InstallMode[] = ['standalone', 'ssh', 'vagrant', 'boot2docker'];
export const BOOT2DOCKER_TOOLS = ['docker-machine', 'colima', 'limactl', 'boot2docker'] as const;

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
  mode: InstallMode;
  why: string;
}

export function parseMode(text: string): InstallMode {
  if ((INSTALL_MODES as string[]).includes(text)) return text as InstallMode;
  throw new PaasboxError(`--mode "${text}" is not an install mode`, `use one of: ${INSTALL_MODES.join(', ')} (or omit --mode to detect)`);
}

/** The mode to use when --mode is not given, and why. */
export function detectMode(f: MachineFacts): ModeChoice {
  const has = (c: string) => f.commands.includes(c);
  if (f.hasHost) return { mode: 'ssh', why: '--host was given: provision that host over SSH' };
  if (f.platform === 'darwin' || f.platform === 'win32') {
    const os = f.platform === 'darwin' ? 'macOS' : 'Windows';
    if (has('vagrant')) return { mode: 'vagrant', why: `${os} cannot run the stack natively and vagrant is installed: bring up the VM from ./Vagrantfile` };
    const vm = BOOT2DOCKER_TOOLS.find(has);
    if (vm) return { mode: 'boot2docker', why: `${os} without vagrant; ${vm} manages a docker VM: provision it over SSH` };
    throw new PaasboxError(
      `no way to run the stack on ${f.platform}: no vagrant and no docker VM tool (docker-machine, colima, lima, boot2docker)`,
      'install vagrant (with VirtualBox or libvirt) and run again, or pass --mode ssh --host user@linux-host',
    );
  }
  if (f.dockerRuns) return { mode: 'standalone', why: 'Linux with a running docker engine: install the stack on this machine' };
  if (f.platform === 'linux') return { mode: 'standalone', why: 'Linux without a running docker engine: provisioning installs and starts it here' };
  throw new PaasboxError(`unsupported platform ${f.platform}`, 'pass --mode ssh --host user@linux-host');
}

export async function hasCommand(cmd: string): Promise<boolean> {
  return run('sh', ['-c', 'command -v "$1"', 'sh', cmd]).then(() => true, () => false);
}

export interface SshInfoOptions {
  keyPath?: string;
  knownHostsPath?: string;
  hostKeyPolicy?: HostKeyPolicy;
  /** Reads ~/.ssh/config for a host; default `ssh -G` (injected by tests). */
  lookup?: (host: string) => Promise<SshConfigEntry | undefined>;
}

/**
 * A host as the user wrote it (`user@host[:port]` or an ~/.ssh/config alias),
 * completed from ~/.ssh/config as OpenSSH would (HostName, User, Port,
 * IdentityFile, ProxyJump). What is written explicitly wins over the config.
 */
export async function sshInfoFor(spec: string, opts: SshInfoOptions = {}, depth = 0): Promise<SshInfo> {
  if (depth > 4) throw new PaasboxError(`ProxyJump chain for ${spec} is longer than 4 hops`, 'shorten the ProxyJump chain in ~/.ssh/config');
  const h = parseHostSpec(spec);
  const userGiven = spec.includes('@');
  const portGiven = /:\d+$/.test(spec.trim());
  const cfg = await (opts.lookup ?? sshG)(h.host);
  const keyPath = opts.keyPath ?? (cfg ? firstExistingIdentity(cfg) : undefined);
  let proxyJump: SshInfo | undefined;
  if (cfg?.proxyJump) {
    // "a,b": a first, then b, then the host: the last hop is reached through the ones before it.
    const hops = cfg.proxyJump.split(',').map((s) => s.trim()).filter(Boolean);
    for (const hop of hops) {
      const info: SshInfo = await sshInfoFor(hop.replace(/^ssh:\/\//, ''), { ...(opts.knownHostsPath ? { knownHostsPath: opts.knownHostsPath } : {}), ...(opts.hostKeyPolicy ? { hostKeyPolicy: opts.hostKeyPolicy } : {}), ...(opts.lookup ? { lookup: opts.lookup } : {}) }, depth + 1);
      proxyJump = proxyJump ? { ...info, proxyJump } : info;
    }
  }
  return {
    host: cfg?.hostname ?? h.host,
    port: portGiven ? h.port : cfg?.port ?? h.port,
    user: userGiven ? h.user : cfg?.user ?? h.user,
    hostKeyPolicy: opts.hostKeyPolicy ?? 'accept-new',
    ...(keyPath ? { keyPath } : {}),
    ...(opts.knownHostsPath ? { knownHostsPath: opts.knownHostsPath } : {}),
    ...(proxyJump ? { proxyJump } : {}),
    ...(cfg?.hostname && cfg.hostname !== h.host ? { alias: h.host } : {}),
  };
}

async function tool(cmd: string, args: string[], what: string, fix: string, cwd?: string, env?: Record<string, string>): Promise<string> {
  try {
    return (await run(cmd, args, { maxBuffer: 16 * 1024 * 1024, ...(cwd ? { cwd } : {}), ...(env ? { env: { ...process.env, ...env } } : {}) })).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new PaasboxError(`${what} failed (${cmd} ${args.join(' ')})`, fix, err.stderr || err.message);
  }
}

/**
 * VM tools write "StrictHostKeyChecking no": a recreated VM has a new key at
 * the same address. paasbox still pins the key, per instance, so a stranger
 * at that address is refused; recreating the VM through paasbox forgets it.
 */
export function vmKnownHostsPath(instance: string): string {
  return join(stateDir(), 'instances', `${instance}.known_hosts`);
}

/** A tool's ssh-config entry as SshInfo. */
export function infoFromEntry(e: SshConfigEntry, instance: string, opts: { keyPath?: string; knownHostsPath?: string } = {}): SshInfo {
  if (!e.hostname) throw new PaasboxError(`the ssh-config for ${e.name} has no HostName`, 'check that the machine is up (vagrant status, colima status, limactl list)');
  const keyPath = opts.keyPath ?? firstExistingIdentity(e) ?? e.identityFiles[0];
  const pinnedHere = e.strictHostKeyChecking === 'no';
  return {
    host: e.hostname,
    port: e.port ?? 22,
    user: e.user ?? 'root',
    hostKeyPolicy: 'accept-new',
    alias: e.name,
    ...(keyPath ? { keyPath } : {}),
    ...(opts.knownHostsPath ?? (pinnedHere ? vmKnownHostsPath(instance) : undefined) ? { knownHostsPath: opts.knownHostsPath ?? vmKnownHostsPath(instance) } : {}),
  };
}

// The Vagrantfile's trigger calls install itself; when install drives vagrant, it is skipped.
export const VAGRANT_ENV = { PAASBOX_VAGRANT_TRIGGER: '0' };

/** `vagrant up` (in cwd, with an optional provider) then the machine's `vagrant ssh-config`. */
export async function vagrantInfo(opts: { cwd?: string; provider?: string; machine?: string; up?: boolean; instance?: string; log?: (l: string) => void } = {}): Promise<SshInfo> {
  if (!(await hasCommand('vagrant'))) throw new PaasboxError('vagrant is not installed', 'install it (Debian/Ubuntu: apt-get install vagrant; macOS: brew install --cask vagrant), or use --mode ssh');
  const fix = 'run `vagrant up` yourself to see the error; `vagrant status` shows the machine';
  const machine = opts.machine ? [opts.machine] : [];
  if (opts.up !== false) {
    opts.log?.(`vagrant up${opts.provider ? ` --provider=${opts.provider}` : ''}`);
    await tool('vagrant', ['up', ...(opts.provider ? [`--provider=${opts.provider}`] : []), ...machine], 'vagrant up', fix, opts.cwd, VAGRANT_ENV);
  }
  const e = parseSshConfig(await tool('vagrant', ['ssh-config', ...machine], 'vagrant ssh-config', fix, opts.cwd, VAGRANT_ENV))[0];
  if (!e) throw new PaasboxError('vagrant ssh-config printed no host', fix);
  return infoFromEntry(e, opts.instance ?? 'default');
}

/** The provider of a Vagrant machine, from `vagrant status --machine-readable` (pure). */
export function vagrantProvider(machineReadable: string): string | undefined {
  return /^\d*,[^,]*,provider-name,([a-z0-9_-]+)$/m.exec(machineReadable)?.[1];
}

/** `vagrant status` of the machine: its provider (docker, virtualbox, libvirt, ...). */
export async function vagrantMachineProvider(opts: { cwd?: string; machine?: string } = {}): Promise<string | undefined> {
  const out = await tool('vagrant', ['status', '--machine-readable', ...(opts.machine ? [opts.machine] : [])], 'vagrant status', 'run `vagrant status` to see the machine', opts.cwd, VAGRANT_ENV);
  return vagrantProvider(out);
}

/** The private network address ./Vagrantfile gives its VMs (PAASBOX_IP, as the Vagrantfile reads it). */
export function vagrantPrivateIp(env: Record<string, string | undefined> = process.env): string {
  return env['PAASBOX_IP'] ?? '192.168.59.103';
}

/** The first docker VM tool found here, and how to reach its VM. */
export async function dockerVmInfo(instance = 'default'): Promise<{ tool: string; ssh: SshInfo }> {
  for (const t of BOOT2DOCKER_TOOLS) {
    if (!(await hasCommand(t))) continue;
    const fix = `start the VM (${t === 'limactl' ? 'limactl start' : `${t} start`}) and run again`;
    const first = (text: string) => {
      const e = parseSshConfig(text)[0];
      if (!e) throw new PaasboxError(`${t} printed no SSH host`, fix);
      return infoFromEntry(e, instance);
    };
    if (t === 'colima') return { tool: t, ssh: first(await tool('colima', ['ssh-config'], 'colima ssh-config', fix)) };
    if (t === 'limactl') {
      const name = process.env['LIMA_INSTANCE'] ?? 'default';
      return { tool: t, ssh: first(await tool('limactl', ['show-ssh', '--format', 'config', name], 'limactl show-ssh', fix)) };
    }
    if (t === 'docker-machine') {
      const name = process.env['DOCKER_MACHINE_NAME'] ?? ((await tool('docker-machine', ['ls', '-q'], 'docker-machine ls', fix)).split('\n')[0] ?? '').trim();
      if (!name) throw new PaasboxError('docker-machine has no machine', 'create one: docker-machine create -d virtualbox default');
      return { tool: t, ssh: dockerMachineInfo(await tool('docker-machine', ['inspect', name], 'docker-machine inspect', fix), instance) };
    }
    // The original boot2docker CLI: NAT port 2022 on localhost, user docker.
    const key = join(homedir(), '.ssh', 'id_boot2docker');
    return { tool: t, ssh: { host: '127.0.0.1', port: 2022, user: 'docker', hostKeyPolicy: 'accept-new', knownHostsPath: vmKnownHostsPath(instance), alias: 'boot2docker-vm', ...(existsSync(key) ? { keyPath: key } : {}) } };
  }
  throw new PaasboxError(`no docker VM tool found (${BOOT2DOCKER_TOOLS.join(', ')})`, 'install one (e.g. colima) and start it, or use --mode vagrant or --mode ssh --host user@vm');
}

/** `docker-machine inspect` JSON → SshInfo; its host key is pinned per instance like every VM's. */
export function dockerMachineInfo(json: string, instance: string): SshInfo {
  const info = JSON.parse(json) as { Name?: string; DriverName?: string; Driver?: { IPAddress?: string; SSHPort?: number; SSHUser?: string; SSHKeyPath?: string } };
  const d = info.Driver ?? {};
  // VirtualBox machines are reached through a NAT port on 127.0.0.1.
  const host = info.DriverName === 'virtualbox' ? '127.0.0.1' : d.IPAddress ?? '';
  if (!host) throw new PaasboxError(`docker-machine ${info.Name ?? ''} has no IP address`, 'start it: docker-machine start NAME');
  return { host, port: d.SSHPort ?? 22, user: d.SSHUser ?? 'docker', hostKeyPolicy: 'accept-new', knownHostsPath: vmKnownHostsPath(instance), ...(info.Name ? { alias: info.Name } : {}), ...(d.SSHKeyPath ? { keyPath: d.SSHKeyPath } : {}) };
}
