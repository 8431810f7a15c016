// The vagrant driver (`install --mode vagrant`, kitchen's vagrant
// instances): a machine of the Vagrantfile in the working directory, brought
// up with `vagrant up` and reached as `vagrant ssh-config` says. A VM's
// default route is its NAT or management network, which this machine cannot
// reach: the stack advertises the Vagrantfile's private network address
// instead (a settings default). destroy runs `vagrant destroy`.

import { rmSync } from 'node:fs';
import { PaasboxError } from '../errors.js';
import type { SshInfo } from '../target/ssh-info.js';
import type { Driver, HostState } from './driver.js';
import { parseSshConfig } from './ssh-config.js';
import { execRun, hasCommand, infoFromEntry, tool, vmKnownHostsPath, type LocalRun } from './tools.js';

// The Vagrantfile's trigger calls install itself; when install drives vagrant, it is skipped.
export const VAGRANT_ENV = { PAASBOX_VAGRANT_TRIGGER: '0' };

/** `vagrant up` (in cwd, with an optional provider) then the machine's `vagrant ssh-config`. */
export async function vagrantInfo(
  opts: {
    cwd?: string;
    provider?: string;
    machine?: string;
    up?: boolean;
    instance?: string;
    log?: (l: string) => void;
  } = {},
): Promise<SshInfo> {
  if (!(await hasCommand('vagrant')))
    throw new PaasboxError(
      'vagrant is not installed',
      'install it (Debian/Ubuntu: apt-get install vagrant; macOS: brew install --cask vagrant), or use --mode ssh',
    );
  const fix = 'run `vagrant up` yourself to see the error; `vagrant status` shows the machine';
  const machine = opts.machine ? [opts.machine] : [];
  if (opts.up !== false) {
    opts.log?.(`vagrant up${opts.provider ? ` --provider=${opts.provider}` : ''}`);
    await tool(
      'vagrant',
      ['up', ...(opts.provider ? [`--provider=${opts.provider}`] : []), ...machine],
      'vagrant up',
      fix,
      opts.cwd,
      VAGRANT_ENV,
    );
  }
  const e = parseSshConfig(
    await tool('vagrant', ['ssh-config', ...machine], 'vagrant ssh-config', fix, opts.cwd, VAGRANT_ENV),
  )[0];
  if (!e) throw new PaasboxError('vagrant ssh-config printed no host', fix);
  return infoFromEntry(e, opts.instance ?? 'default');
}

/** The provider of a Vagrant machine, from `vagrant status --machine-readable` (pure). */
export function vagrantProvider(machineReadable: string): string | undefined {
  return /^\d*,[^,]*,provider-name,([a-z0-9_-]+)$/m.exec(machineReadable)?.[1];
}

/** `vagrant status` of the machine: its provider (docker, virtualbox, libvirt, ...). */
export async function vagrantMachineProvider(
  opts: { cwd?: string; machine?: string } = {},
): Promise<string | undefined> {
  const out = await tool(
    'vagrant',
    ['status', '--machine-readable', ...(opts.machine ? [opts.machine] : [])],
    'vagrant status',
    'run `vagrant status` to see the machine',
    opts.cwd,
    VAGRANT_ENV,
  );
  return vagrantProvider(out);
}

/** The private network address ./Vagrantfile gives its VMs (PAASBOX_IP, as the Vagrantfile reads it). */
export function vagrantPrivateIp(env: Record<string, string | undefined> = process.env): string {
  return env['PAASBOX_IP'] ?? '192.168.59.103';
}

/** Vagrant's machine states as a HostState, from `vagrant status --machine-readable` (pure). */
export function vagrantHostState(machineReadable: string): HostState {
  const s = /^\d*,[^,]*,state,([a-z_]+)$/m.exec(machineReadable)?.[1];
  if (!s) return { state: 'unknown', detail: 'vagrant status printed no state' };
  const detail = `vagrant: ${s}`;
  if (s === 'running') return { state: 'running', detail };
  if (s === 'not_created') return { state: 'absent', detail };
  const off = ['poweroff', 'shutoff', 'stopped', 'saved', 'aborted', 'paused', 'suspended', 'preparing'];
  return { state: off.includes(s) ? 'stopped' : 'unknown', detail };
}

export function vagrantDriver(run: LocalRun = execRun): Driver {
  return {
    name: 'vagrant',
    mode: 'vagrant',
    async create(o) {
      const ssh = await vagrantInfo({
        ...(o.provider ? { provider: o.provider } : {}),
        ...(o.machine ? { machine: o.machine } : {}),
        instance: o.instance,
        ...(o.log ? { log: o.log } : {}),
      });
      const provider = await vagrantMachineProvider(o.machine ? { machine: o.machine } : {});
      const defaults = provider && provider !== 'docker' ? { ip: vagrantPrivateIp() } : undefined;
      const ip = defaults ? `, advertising the private network address ${defaults.ip}` : '';
      o.log?.(
        `vagrant machine ${ssh.alias ?? ''} (${provider ?? 'provider unknown'}): ${ssh.user}@${ssh.host}:${ssh.port}${ip}`,
      );
      const ref = { kind: 'ssh' as const, ssh: { ...ssh, ...(o.keyPath ? { keyPath: o.keyPath } : {}) } };
      return { ref, seedNames: false, ...(defaults ? { defaults } : {}) };
    },
    async destroy(state) {
      await run('vagrant', ['destroy', '-f', state.name]);
      // The next VM of that name has a new host key.
      rmSync(vmKnownHostsPath(state.name), { force: true });
    },
    async state(state) {
      const out = await run('vagrant', ['status', '--machine-readable', state.name]).then(
        (r) => r.stdout,
        (e: Error) => e,
      );
      if (out instanceof Error) return { state: 'unknown', detail: `vagrant status failed: ${out.message}` };
      return vagrantHostState(out);
    },
  };
}
