// The current target, remembered by install so later commands (verify, stack,
// deploy, tunnel) act on the same host without repeating --mode/--host.

import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type TargetRef =
  | { kind: 'local'; address: string }
  | { kind: 'ssh'; host: string; port: number; user: string; keyPath?: string };

export interface PaasboxState {
  mode: 'standalone' | 'ssh' | 'vagrant' | 'boot2docker';
  target: TargetRef;
  imageSource: 'registry' | 'local';
  /** The advertised address of the stack on the target. */
  ip: string;
  composePath: string;
  project: string;
  updatedAt: string;
}

/** ./.paasbox/state.json, or $PAASBOX_STATE_DIR/state.json (tests keep theirs apart from the user's). */
export function statePath(cwd = process.cwd()): string {
  const dir = process.env['PAASBOX_STATE_DIR'];
  return dir ? join(dir, 'state.json') : join(cwd, '.paasbox', 'state.json');
}

export function readState(cwd = process.cwd()): PaasboxState | undefined {
  const p = statePath(cwd);
  if (!existsSync(p)) return undefined;
  return JSON.parse(readFileSync(p, 'utf8')) as PaasboxState;
}

export function writeState(state: PaasboxState, cwd = process.cwd()): void {
  const p = statePath(cwd);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, JSON.stringify(state, null, 2) + '\n');
}
