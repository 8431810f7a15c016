// The commands drivers run on this machine (vagrant, colima, limactl,
// docker-machine, docker): whether one is installed, running one so that a
// failure names the fix, and a tool's ssh-config entry as SshInfo with its
// host key pinned per instance.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PaasboxError } from '../errors.js';
import { stateDir } from '../paths.js';
import type { SshInfo } from '../target/ssh-info.js';
import { firstExistingIdentity, type SshConfigEntry } from './ssh-config.js';

const run = promisify(execFile);

export async function hasCommand(cmd: string): Promise<boolean> {
  return run('sh', ['-c', 'command -v "$1"', 'sh', cmd]).then(
    () => true,
    () => false,
  );
}

/** Runs a command on this machine (docker, vagrant); injected for tests. */
export type LocalRun = (cmd: string, args: string[]) => Promise<{ stdout: string }>;
export const execRun: LocalRun = (cmd, args) => run(cmd, args, { maxBuffer: 64 << 20 });

/** A tool's output; its failure is a PaasboxError with the tool's stderr. */
export async function tool(
  cmd: string,
  args: string[],
  what: string,
  fix: string,
  cwd?: string,
  env?: Record<string, string>,
): Promise<string> {
  try {
    const extra = { ...(cwd ? { cwd } : {}), ...(env ? { env: { ...process.env, ...env } } : {}) };
    return (await run(cmd, args, { maxBuffer: 16 * 1024 * 1024, ...extra })).stdout;
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
export function infoFromEntry(
  e: SshConfigEntry,
  instance: string,
  opts: { keyPath?: string; knownHostsPath?: string } = {},
): SshInfo {
  if (!e.hostname)
    throw new PaasboxError(
      `the ssh-config for ${e.name} has no HostName`,
      'check that the machine is up (vagrant status, colima status, limactl list)',
    );
  const keyPath = opts.keyPath ?? firstExistingIdentity(e) ?? e.identityFiles[0];
  const pinnedHere = e.strictHostKeyChecking === 'no';
  const knownHostsPath = opts.knownHostsPath ?? (pinnedHere ? vmKnownHostsPath(instance) : undefined);
  return {
    host: e.hostname,
    port: e.port ?? 22,
    user: e.user ?? 'root',
    hostKeyPolicy: 'accept-new',
    alias: e.name,
    ...(keyPath ? { keyPath } : {}),
    ...(knownHostsPath ? { knownHostsPath } : {}),
  };
}
