// Install modes: which one fits this machine (pure, from detected facts) and
// how to reach the VM of a vagrant/boot2docker-style setup (ssh-config parsing).

import { PaasboxError } from '../errors.js';

export type InstallMode = 'standalone' | 'ssh' | 'vagrant' | 'boot2docker';
export const INSTALL_MODES: InstallMode[] = ['standalone', 'ssh', 'vagrant', 'boot2docker'];

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
    if (has('vagrant')) return { mode: 'vagrant', why: `${f.platform === 'darwin' ? 'macOS' : 'Windows'} cannot run the stack natively and vagrant is installed: bring up the VM from ./Vagrantfile` };
    const vm = BOOT2DOCKER_TOOLS.find(has);
    if (vm) return { mode: 'boot2docker', why: `${f.platform === 'darwin' ? 'macOS' : 'Windows'} without vagrant; ${vm} manages a docker VM: provision it over SSH` };
    throw new PaasboxError(
      `no way to run the stack on ${f.platform}: no vagrant and no docker VM tool (docker-machine, colima, lima, boot2docker)`,
      'install vagrant (with VirtualBox or libvirt) and run again, or pass --mode ssh --host user@linux-host',
    );
  }
  if (f.dockerRuns) return { mode: 'standalone', why: 'Linux with a running docker engine: install the stack on this machine' };
  if (f.platform === 'linux') return { mode: 'standalone', why: 'Linux without a running docker engine: provisioning installs and starts it here' };
  throw new PaasboxError(`unsupported platform ${f.platform}`, 'pass --mode ssh --host user@linux-host');
}

export const BOOT2DOCKER_TOOLS = ['docker-machine', 'colima', 'limactl', 'boot2docker'] as const;

export interface SshEndpoint {
  name: string;
  host: string;
  port: number;
  user: string;
  identityFile?: string;
  /** The config says not to check host keys (Vagrant, colima): a VM recreated at the same address has a new key. */
  ignoreHostKey: boolean;
}

/** Parse OpenSSH client config text (`vagrant ssh-config`, `colima ssh-config`, `limactl show-ssh --format config`). */
export function parseSshConfig(text: string): SshEndpoint[] {
  const out: SshEndpoint[] = [];
  let cur: Partial<SshEndpoint> & { name?: string } | undefined;
  const push = () => {
    if (cur?.name && cur.host) out.push({ name: cur.name, host: cur.host, port: cur.port ?? 22, user: cur.user ?? 'root', ignoreHostKey: cur.ignoreHostKey ?? false, ...(cur.identityFile ? { identityFile: cur.identityFile } : {}) });
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\S+)\s*(?:=\s*|\s+)(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    const value = m[2]!.trim().replace(/^"(.*)"$/, '$1');
    if (key === 'host') {
      push();
      cur = { name: value.split(/\s+/)[0]! };
    } else if (cur) {
      if (key === 'hostname') cur.host = value;
      else if (key === 'port') cur.port = Number(value);
      else if (key === 'user') cur.user = value;
      else if (key === 'identityfile' && !cur.identityFile) cur.identityFile = value;
      else if (key === 'stricthostkeychecking') cur.ignoreHostKey = /^no$/i.test(value);
    }
  }
  push();
  return out;
}
