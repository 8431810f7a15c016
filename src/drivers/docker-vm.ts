// The docker VM driver (`install --mode boot2docker`): the VM a docker VM
// tool manages on a machine that cannot run the stack natively
// (docker-machine, colima, lima, the original boot2docker), or the VM named
// with --host. The first tool found here says how to reach its VM; the VM's
// host key is pinned per instance. The seed's HOSTNAME/IP describe that VM.
// The VM is the tool's: destroy leaves it.

import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { PaasboxError } from '../errors.js';
import type { SshInfo } from '../target/ssh-info.js';
import type { Driver } from './driver.js';
import { parseSshConfig } from './ssh-config.js';
import { sshHostState, sshInfoFor, sshInfoOptions } from './ssh.js';
import { hasCommand, infoFromEntry, tool, vmKnownHostsPath } from './tools.js';

export const BOOT2DOCKER_TOOLS = ['docker-machine', 'colima', 'limactl', 'boot2docker'] as const;

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
    if (t === 'colima')
      return { tool: t, ssh: first(await tool('colima', ['ssh-config'], 'colima ssh-config', fix)) };
    if (t === 'limactl') {
      const name = process.env['LIMA_INSTANCE'] ?? 'default';
      return {
        tool: t,
        ssh: first(await tool('limactl', ['show-ssh', '--format', 'config', name], 'limactl show-ssh', fix)),
      };
    }
    if (t === 'docker-machine') {
      const name =
        process.env['DOCKER_MACHINE_NAME'] ??
        ((await tool('docker-machine', ['ls', '-q'], 'docker-machine ls', fix)).split('\n')[0] ?? '').trim();
      if (!name)
        throw new PaasboxError(
          'docker-machine has no machine',
          'create one: docker-machine create -d virtualbox default',
        );
      return {
        tool: t,
        ssh: dockerMachineInfo(
          await tool('docker-machine', ['inspect', name], 'docker-machine inspect', fix),
          instance,
        ),
      };
    }
    // The original boot2docker CLI: NAT port 2022 on localhost, user docker.
    const key = join(homedir(), '.ssh', 'id_boot2docker');
    return {
      tool: t,
      ssh: {
        host: '127.0.0.1',
        port: 2022,
        user: 'docker',
        hostKeyPolicy: 'accept-new',
        knownHostsPath: vmKnownHostsPath(instance),
        alias: 'boot2docker-vm',
        ...(existsSync(key) ? { keyPath: key } : {}),
      },
    };
  }
  throw new PaasboxError(
    `no docker VM tool found (${BOOT2DOCKER_TOOLS.join(', ')})`,
    'install one (e.g. colima) and start it, or use --mode vagrant or --mode ssh --host user@vm',
  );
}

/** `docker-machine inspect` JSON → SshInfo; its host key is pinned per instance like every VM's. */
export function dockerMachineInfo(json: string, instance: string): SshInfo {
  const info = JSON.parse(json) as {
    Name?: string;
    DriverName?: string;
    Driver?: { IPAddress?: string; SSHPort?: number; SSHUser?: string; SSHKeyPath?: string };
  };
  const d = info.Driver ?? {};
  // VirtualBox machines are reached through a NAT port on 127.0.0.1.
  const host = info.DriverName === 'virtualbox' ? '127.0.0.1' : (d.IPAddress ?? '');
  if (!host)
    throw new PaasboxError(
      `docker-machine ${info.Name ?? ''} has no IP address`,
      'start it: docker-machine start NAME',
    );
  return {
    host,
    port: d.SSHPort ?? 22,
    user: d.SSHUser ?? 'docker',
    hostKeyPolicy: 'accept-new',
    knownHostsPath: vmKnownHostsPath(instance),
    ...(info.Name ? { alias: info.Name } : {}),
    ...(d.SSHKeyPath ? { keyPath: d.SSHKeyPath } : {}),
  };
}

export function dockerVmDriver(): Driver {
  return {
    name: 'boot2docker',
    mode: 'boot2docker',
    async create(o) {
      const vm = o.host
        ? { tool: '--host', ssh: await sshInfoFor(o.host, sshInfoOptions(o)) }
        : await dockerVmInfo(o.instance);
      o.log?.(`docker VM via ${vm.tool}: ${vm.ssh.user}@${vm.ssh.host}:${vm.ssh.port}`);
      return {
        ref: { kind: 'ssh', ssh: { ...vm.ssh, ...(o.keyPath ? { keyPath: o.keyPath } : {}) } },
        seedNames: true,
      };
    },
    async destroy() {},
    state: sshHostState,
  };
}
