// Where the project's own files are (stacks/, schemas, goldens), whether the
// code runs from src/ (ts-node style) or from the compiled dist/src/: every
// module that reads a file of the repository asks here. And where paasbox
// keeps its state on this machine (.paasbox: instances, secrets, tunnels), with
// the rule for the instance names its files carry.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PaasboxError } from './errors.js';

/** A path inside the repository root (this file is src/ or dist/src/). */
export function repoPath(...parts: string[]): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const up = here.includes('/dist/src/') ? '../../' : '../';
  const root = fileURLToPath(new URL(up, import.meta.url));
  return [root.replace(/\/$/, ''), ...parts].join('/');
}

/**
 * ./.paasbox, or $PAASBOX_STATE_DIR (tests keep theirs apart from the user's): instances, secrets, tunnels,
 * VM host keys.
 */
export function stateDir(cwd = process.cwd()): string {
  return process.env['PAASBOX_STATE_DIR'] ?? join(cwd, '.paasbox');
}

/** An instance's name, as its files under stateDir carry it (instances/NAME.json, secrets/NAME/). */
export const INSTANCE_NAME_RE = /^[a-z0-9][a-z0-9-]{0,40}$/;
/** The instance a command means when none is named. */
export const DEFAULT_INSTANCE = 'default';

export function checkInstanceName(name: string): string {
  if (!INSTANCE_NAME_RE.test(name))
    throw new PaasboxError(
      `instance name "${name}" is not usable`,
      'use lowercase letters, digits and hyphens, e.g. default or ssh-1',
    );
  return name;
}
