// Reaching the VM of the vagrant and boot2docker-style modes: run the tool
// here, read its SSH endpoint, and hand back an SshTarget.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PaasboxError } from '../errors.js';
import { SshTarget } from '../target/ssh.js';
import { BOOT2DOCKER_TOOLS, parseSshConfig, type SshEndpoint } from './modes.js';

const run = promisify(execFile);

export async function hasCommand(cmd: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${cmd}`]).then(() => true, () => false);
}

async function tool(cmd: string, args: string[], what: string, fix: string, cwd?: string, env?: Record<string, string>): Promise<string> {
  try {
    return (await run(cmd, args, { maxBuffer: 16 * 1024 * 1024, ...(cwd ? { cwd } : {}), ...(env ? { env: { ...process.env, ...env } } : {}) })).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new PaasboxError(`${what} failed (${cmd} ${args.join(' ')})`, fix, err.stderr || err.message);
  }
}

/** An SshTarget for an endpoint; a VM that says "do not check host keys" gets a throwaway known_hosts. */
export function targetFor(ep: SshEndpoint, opts: { knownHostsPath?: string; keyPath?: string } = {}): SshTarget {
  const knownHostsPath = ep.ignoreHostKey ? join(mkdtempSync(join(tmpdir(), 'paasbox-kh-')), 'known_hosts') : opts.knownHostsPath;
  const keyPath = opts.keyPath ?? ep.identityFile;
  return new SshTarget({ host: ep.host, port: ep.port, user: ep.user, ...(keyPath ? { keyPath } : {}), ...(knownHostsPath ? { knownHostsPath } : {}) });
}

// The Vagrantfile's after-up trigger provisions by itself; here we provision, so it is skipped.
const VAGRANT_ENV = { PAASBOX_VAGRANT_TRIGGER: '0' };

/** `vagrant up` (in cwd, with an optional provider) then the machine's `vagrant ssh-config`. */
export async function vagrantEndpoint(opts: { cwd?: string; provider?: string; machine?: string; up?: boolean; log?: (l: string) => void } = {}): Promise<SshEndpoint> {
  if (!(await hasCommand('vagrant'))) throw new PaasboxError('vagrant is not installed', 'install it (Debian/Ubuntu: apt-get install vagrant; macOS: brew install --cask vagrant), or use --mode ssh');
  const fix = 'run `vagrant up` yourself to see the error; `vagrant status` shows the machine';
  if (opts.up !== false) {
    opts.log?.(`vagrant up${opts.provider ? ` --provider=${opts.provider}` : ''}`);
    await tool('vagrant', ['up', ...(opts.provider ? [`--provider=${opts.provider}`] : []), ...(opts.machine ? [opts.machine] : [])], 'vagrant up', fix, opts.cwd, VAGRANT_ENV);
  }
  const eps = parseSshConfig(await tool('vagrant', ['ssh-config', ...(opts.machine ? [opts.machine] : [])], 'vagrant ssh-config', fix, opts.cwd, VAGRANT_ENV));
  const ep = eps[0];
  if (!ep) throw new PaasboxError('vagrant ssh-config printed no host', fix);
  return ep;
}

/** The first docker VM tool found here, and its SSH endpoint. */
export async function boot2dockerEndpoint(): Promise<{ tool: string; endpoint: SshEndpoint }> {
  for (const t of BOOT2DOCKER_TOOLS) {
    if (!(await hasCommand(t))) continue;
    const fix = `start the VM (${t === 'limactl' ? 'limactl start' : `${t} start`}) and run again`;
    if (t === 'colima') return { tool: t, endpoint: first(parseSshConfig(await tool('colima', ['ssh-config'], 'colima ssh-config', fix)), fix) };
    if (t === 'limactl') {
      const name = process.env['LIMA_INSTANCE'] ?? 'default';
      return { tool: t, endpoint: first(parseSshConfig(await tool('limactl', ['show-ssh', '--format', 'config', name], 'limactl show-ssh', fix)), fix) };
    }
    if (t === 'docker-machine') {
      const name = process.env['DOCKER_MACHINE_NAME'] ?? ((await tool('docker-machine', ['ls', '-q'], 'docker-machine ls', fix)).split('\n')[0] ?? '').trim();
      if (!name) throw new PaasboxError('docker-machine has no machine', 'create one: docker-machine create -d virtualbox default');
      const info = JSON.parse(await tool('docker-machine', ['inspect', name], 'docker-machine inspect', fix)) as { DriverName?: string; Driver?: { IPAddress?: string; SSHPort?: number; SSHUser?: string; SSHKeyPath?: string } };
      const d = info.Driver ?? {};
      // VirtualBox machines are reached through a NAT port on 127.0.0.1.
      const host = info.DriverName === 'virtualbox' ? '127.0.0.1' : d.IPAddress ?? '';
      return { tool: t, endpoint: { name, host, port: d.SSHPort ?? 22, user: d.SSHUser ?? 'docker', ignoreHostKey: true, ...(d.SSHKeyPath ? { identityFile: d.SSHKeyPath } : {}) } };
    }
    // The original boot2docker CLI: NAT port 2022 on localhost, user docker.
    const key = join(homedir(), '.ssh', 'id_boot2docker');
    return { tool: t, endpoint: { name: 'boot2docker-vm', host: '127.0.0.1', port: 2022, user: 'docker', ignoreHostKey: true, ...(existsSync(key) ? { identityFile: key } : {}) } };
  }
  throw new PaasboxError(`no docker VM tool found (${BOOT2DOCKER_TOOLS.join(', ')})`, 'install one (e.g. colima) and start it, or use --mode vagrant or --mode ssh --host user@vm');
}

function first(eps: SshEndpoint[], fix: string): SshEndpoint {
  const e = eps[0];
  if (!e) throw new PaasboxError('the VM tool printed no SSH host', fix);
  return e;
}
