// The one command-line frame every paasbox command runs in (commander):
// --help and --version exit 0 having touched nothing, an unknown flag or
// subcommand is one line naming it and exit 2, numbers are validated at the
// door, and an error from the action becomes the one-line PaasboxError form
// with the exit code of its kind (errors.ts). Scripts and the `paasbox` bin
// build their commands from the same definitions in src/cli/.

import { realpathSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXIT, exitCodeFor, formatError, isPaasboxError } from '../errors.js';
import { DEFAULT_LOCK_TIMEOUT_S } from '../instance/lock.js';
import { repoPath } from '../paths.js';

export const VERSION: string = (
  JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string }
).version;

/** A command with paasbox's conventions; subcommands made with .command() inherit them. */
export function paasboxCommand(name: string, description: string): Command {
  // Errors are runCli's one line (outputError); writeErr is then only the help of a
  // parent command run without its subcommand (`paasbox cert`), shown on stderr.
  return new Command(name)
    .description(description)
    .version(VERSION, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'print this help and exit (touches nothing)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: () => undefined })
    .showSuggestionAfterError(true);
}

/** A subcommand of `parent`, with the same conventions. */
export function subcommand(parent: Command, nameAndArgs: string, description: string): Command {
  return parent
    .command(nameAndArgs)
    .description(description)
    .helpOption('-h, --help', 'print this help and exit (touches nothing)');
}

/** The arguments after the script (under `zx script.mjs` or `node script.mjs` alike). */
export function scriptArgs(scriptUrl: string, argv: string[] = process.argv): string[] {
  const self = fileURLToPath(scriptUrl);
  const real = (p: string) => {
    try {
      return realpathSync(resolve(p));
    } catch {
      return resolve(p);
    }
  };
  const i = argv.findIndex((a, k) => k > 0 && real(a) === real(self));
  return argv.slice(i >= 0 ? i + 1 : 2);
}

/** Parse and run; never returns normally with a failure unreported. Exit code per errors.ts. */
export async function runCli(program: Command, args: string[]): Promise<never> {
  const json = args.includes('--json');
  try {
    await program.parseAsync(args, { from: 'user' });
    process.exit(process.exitCode ?? EXIT.ok);
  } catch (e) {
    if (e instanceof CommanderError) {
      // A command of subcommands run without one: its help is on stderr; a usage error.
      if (e.code === 'commander.help' && e.exitCode !== 0) process.exit(EXIT.user);
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
      )
        process.exit(EXIT.ok);
      const line = e.message
        .replace(/^error: /, '')
        .replace(/\n\(Did you mean (.*)\?\)/, ' (did you mean $1?)')
        .split('\n')[0];
      const who = program.name() === 'paasbox' ? 'paasbox' : `paasbox ${program.name()}`;
      process.stderr.write(`${who}: ${line}; see --help\n`);
      if (json) process.stdout.write(JSON.stringify({ error: line, kind: 'usage' }) + '\n');
      process.exit(EXIT.user);
    }
    process.stderr.write(formatError(e) + '\n');
    if (json && isPaasboxError(e))
      process.stdout.write(JSON.stringify({ error: e.problem, fix: e.fix, kind: e.kind }) + '\n');
    process.exit(exitCodeFor(e));
  }
}

/** --flag N: a whole number in [min, max], refused at the door otherwise. */
export function intArg(what: string, min: number, max: number): (v: string) => number {
  return (v) => {
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
      throw new InvalidArgumentError(`${what} must be a whole number from ${min} to ${max}`);
    return Number(v);
  };
}

/** A comma-separated list (repeatable flags add up). */
export function listArg(v: string, prev: string[] = []): string[] {
  return [
    ...prev,
    ...v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

/**
 * --masters/--agents A,B,C: a comma-separated list, at least one entry (the settings pipeline checks each
 * address).
 */
export function addressList(what: string, v: string): string[] {
  const list = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!list.length) throw new InvalidArgumentError(`${what} needs at least one address, comma separated`);
  return list;
}

/** --source local|registry. */
export function sourceOption(): Option {
  return new Option(
    '--source <source>',
    'image source: local (built here from Debian packages, offline) or registry (pinned official images)',
  ).choices(['local', 'registry']);
}

/** --json: one JSON document on stdout, nothing human. */
export function jsonOption(): Option {
  return new Option('--json', 'print one JSON document for machines instead of human output');
}

/**
 * --lock-timeout SECONDS: how long a command that changes the target waits for another paasbox run's lock.
 */
export function lockTimeoutOption(): Option {
  return new Option(
    '--lock-timeout <seconds>',
    "seconds to wait while another paasbox run holds the target's lock (0: fail at once)",
  )
    .argParser(intArg('--lock-timeout', 0, 86_400))
    .default(DEFAULT_LOCK_TIMEOUT_S);
}

/**
 * The stage options every command after install shares. keyFlag: the SSH key's flag where --key means
 * something else (`cert add --key`).
 */
export function stageOptions(cmd: Command, keyFlag = '--key'): Command {
  return cmd
    .option(
      '--target <target>',
      'local, an instance name (.paasbox/instances), user@host[:port] or an ~/.ssh/config alias (default: the instance install recorded)',
    )
    .option(`${keyFlag} <file>`, 'SSH private key (default: the recorded one, ~/.ssh/config, ssh-agent)')
    .option(
      '--known-hosts <file>',
      'where host keys are pinned (default: the recorded file, else ~/.paasbox/known_hosts)',
    )
    .option(
      '--accept-new-host-key',
      'pin the host key of a host seen for the first time (otherwise it is refused with its fingerprint)',
    );
}
