// The one reader of OpenSSH client configuration: the text of `vagrant
// ssh-config`, `colima ssh-config`, `limactl show-ssh --format config` and
// `ssh -G HOST` (which applies ~/.ssh/config faithfully: Host aliases, Match,
// Include, User, Port, IdentityFile, ProxyJump). Parsing is pure; sshG runs ssh.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SshConfigEntry {
  /** The Host pattern (first word), or the host `ssh -G` was asked about. */
  name: string;
  hostname?: string;
  port?: number;
  user?: string;
  /** Every IdentityFile in order (ssh -G lists the defaults too). */
  identityFiles: string[];
  proxyJump?: string;
  /** "no" means the tool recreates VMs with new keys at the same address. */
  strictHostKeyChecking?: string;
}

/**
 * Parse config text into one entry per Host block (keywords are case-insensitive; `key value` or
 * `key=value`).
 */
export function parseSshConfig(text: string): SshConfigEntry[] {
  const out: SshConfigEntry[] = [];
  let cur: SshConfigEntry | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\S+?)\s*(?:=\s*|\s+)(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    const value = m[2]!.trim().replace(/^"(.*)"$/, '$1');
    if (key === 'host') {
      cur = { name: value.split(/\s+/)[0]!, identityFiles: [] };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    if (key === 'hostname') cur.hostname = value;
    else if (key === 'port' && /^\d+$/.test(value)) cur.port = Number(value);
    else if (key === 'user') cur.user = value;
    else if (key === 'identityfile') cur.identityFiles.push(value);
    else if (key === 'proxyjump' && value.toLowerCase() !== 'none') cur.proxyJump = value;
    else if (key === 'stricthostkeychecking') cur.strictHostKeyChecking = value.toLowerCase();
  }
  return out;
}

/** ~ and ~/ expanded against the user's home. */
export function expandHome(p: string, home = homedir()): string {
  return p === '~' ? home : p.startsWith('~/') ? `${home}/${p.slice(2)}` : p;
}

/** The first identity file that exists (ssh -G lists ~/.ssh/id_* whether or not they exist). */
export function firstExistingIdentity(
  e: SshConfigEntry,
  exists: (p: string) => boolean = existsSync,
): string | undefined {
  return e.identityFiles.map((p) => expandHome(p)).find((p) => exists(p));
}

/**
 * `ssh -G HOST`: what OpenSSH would use for HOST after ~/.ssh/config. Undefined
 * when no ssh client is installed (then the host is taken as written).
 */
export async function sshG(host: string): Promise<SshConfigEntry | undefined> {
  // "--" keeps a host that starts with "-" from being read as an option.
  const r = await run('ssh', ['-G', '--', host], { timeout: 10_000 }).catch(() => undefined);
  if (!r) return undefined;
  return parseSshConfig(r.stdout)[0];
}
