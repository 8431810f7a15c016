// A step whose logic is a readable shell script in provision/: the script is
// sent on stdin (`sh -s -- check|apply`), so nothing is left on the target.

import { readFileSync } from 'node:fs';
import { repoPath } from '../paths.js';
import type { Target } from '../target/target.js';
import { CommandFailure, type StepCheck, type ProvisionStep } from './runner.js';
import { shq } from '../target/shell.js';
import type { ExecResult } from '../target/target.js';

const EOF_MARK = 'PAASBOX_STEP_SCRIPT_EOF';

/**
 * `sh -s -- check` with the script as a here-document, for the batched probe (the script must not contain the
 * end mark).
 */
export function shellCheckProbe(script: string, env: Record<string, string> = {}): string {
  if (script.split('\n').includes(EOF_MARK)) throw new Error(`a provision script contains ${EOF_MARK}`);
  const exports = Object.entries(env)
    .map(([k, v]) => `export ${k}=${shq(v)}; `)
    .join('');
  return `${exports}sh -s -- check <<'${EOF_MARK}'\n${script.endsWith('\n') ? script : `${script}\n`}${EOF_MARK}`;
}

export function shellStep(
  name: string,
  file: string,
  fix: string,
  env: Record<string, string> = {},
): ProvisionStep {
  const script = readFileSync(repoPath('provision', file), 'utf8');
  const run = (t: Target, mode: 'check' | 'apply') =>
    t.exec(`sh -s -- ${mode}`, { stdin: script, sudo: true, timeoutMs: 900_000, env });
  return {
    name,
    fix,
    probe: shellCheckProbe(script, env),
    async check(t: Target, probed?: ExecResult): Promise<StepCheck> {
      const r = probed ?? (await run(t, 'check'));
      if (r.code === 0) return { ok: true };
      if (r.code === 1) return { ok: false, detail: r.stdout.trim() || undefined };
      throw new CommandFailure(`provision/${file} check`, r.code, r.stderr || r.stdout, fix);
    },
    async apply(t: Target): Promise<void> {
      const r = await run(t, 'apply');
      if (r.code !== 0)
        throw new CommandFailure(`provision/${file} apply`, r.code, r.stderr || r.stdout, fix);
    },
  };
}

export const basePackagesStep = () =>
  shellStep(
    'base packages',
    'base-packages.sh',
    'the target needs apt (Debian/Ubuntu) and a reachable package mirror; check `apt-get update` on it',
  );
export const dockerEngineStep = () =>
  shellStep(
    'docker engine',
    'docker-engine.sh',
    'check `apt-get install docker.io` and the dockerd log on the target (/var/log/paasbox-dockerd.log or journalctl -u docker)',
  );
export const composeToolStep = () =>
  shellStep(
    'compose tool',
    'compose-tool.sh',
    'install `docker compose` (v2) or docker-compose 1.27+ on the target',
  );
export const buildToolsStep = () =>
  shellStep(
    'build tools (debootstrap, go)',
    'build-tools.sh',
    "install Go 1.22+ (https://go.dev/doc/install or your distribution's backports) and `apt-get install debootstrap` on this machine, or use --source registry",
  );
