// Shell helpers shared by the targets: quoting, wrapping a command with
// cwd/env/sudo, reading facts, and recognising a refused sudo.

import { PaasboxError } from '../errors.js';
import type { ExecOptions, ExecResult, Target, TargetFacts } from './target.js';

/** Quote a string for POSIX sh. */
export function shq(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The command line a target runs: cwd and env applied, under `sudo -n` when needed. */
export function wrapCommand(command: string, opts: ExecOptions, isRoot: boolean, shell = 'sh'): string {
  const env = Object.entries(opts.env ?? {})
    .map(([k, v]) => `export ${k}=${shq(v)}; `)
    .join('');
  const cwd = opts.cwd ? `cd ${shq(opts.cwd)} && ` : '';
  const script = `${env}${cwd}${command}`;
  if (opts.sudo && !isRoot) return `sudo -n ${shell} -c ${shq(script)}`;
  return env || cwd ? `${shell} -c ${shq(script)}` : command;
}

/** Throw when a sudo-wrapped command failed because sudo itself refused. */
export function checkSudo(
  r: ExecResult,
  opts: ExecOptions,
  isRoot: boolean,
  user: string,
  host: string,
): void {
  if (!opts.sudo || isRoot || r.code === 0) return;
  if (
    /sudo: (a password is required|.*not in the sudoers|.*command not found)|sudo: not found|is not allowed to run sudo/i.test(
      r.stderr,
    )
  ) {
    throw new PaasboxError(
      `user ${user} on ${host} is not root and has no passwordless sudo`,
      `log in as root (--host root@${host}), or on the target run: echo '${user} ALL=(ALL) NOPASSWD:ALL' | sudo tee /etc/sudoers.d/${user}`,
      r.stderr,
    );
  }
}

/** One command that prints everything facts() needs, one value a line. */
export const FACTS_COMMAND = `. /etc/os-release 2>/dev/null; echo "\${ID:-$(uname -s | tr A-Z a-z)} \${VERSION_ID:-$(uname -r)}"; uname -m; hostname; id -un; id -u`;

export function parseFacts(stdout: string): TargetFacts {
  const [os = '', arch = '', hostname = '', user = '', uid = ''] = stdout.split('\n').map((l) => l.trim());
  return { os, arch, hostname, user, isRoot: uid === '0' };
}

/** argv on t: with no shell where t can (Target.run), else each word quoted into one exec line. */
export function runArgv(t: Target, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return t.run ? t.run(argv, opts) : t.exec(argv.map(shq).join(' '), opts);
}
