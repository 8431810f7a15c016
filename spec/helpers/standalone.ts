// The standalone install on this machine, as the integration specs that
// drive it use it: install.mjs run as a user runs it (with the spec's own
// state directory), the stack's advertised address, the container of a
// compose service found by its label, and the paasbox CLI as a user runs it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { repoPath } from '../../src/paths.js';

const run = promisify(execFile);

/** A shell line on this machine; its stdout, trimmed. */
export const sh = async (cmd: string): Promise<string> =>
  (await run('sh', ['-c', cmd], { maxBuffer: 16 << 20 })).stdout.trim();

/**
 * `install.mjs --mode standalone` (all ok when the stack runs already), with `args` added (e.g. `--config
 * FILE`); the stack's address.
 */
export async function installStandalone(env: NodeJS.ProcessEnv, args: string[] = []): Promise<string> {
  const script = repoPath('scripts', 'install.mjs');
  const r = await run('npx', ['zx', script, '--mode', 'standalone', '--json', ...args], {
    cwd: repoPath(),
    env,
    maxBuffer: 64 << 20,
  });
  return (JSON.parse(r.stdout) as { ip: string }).ip;
}

/** The running container of the stack's compose service `service` (fails the spec when there is none). */
export async function stackContainer(service: string): Promise<string> {
  const id =
    (await sh(`docker ps -q --filter label=com.docker.compose.service=${service}`)).split('\n')[0] ?? '';
  expect(id, `the standalone stack has a ${service} container`).to.not.equal('');
  return id;
}

/** What a command printed and its exit code. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** `paasbox ARGS` as a user runs it (this checkout's bin, from the repo) with `env`; never throws. */
export function paasboxCli(env: NodeJS.ProcessEnv): (args: string[]) => Promise<Ran> {
  return (args) =>
    run('node', [repoPath('bin', 'paasbox.mjs'), ...args], {
      cwd: repoPath(),
      env,
      maxBuffer: 64 << 20,
    }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code?: number | string; stdout?: string; stderr?: string }) => ({
        code: typeof e.code === 'number' ? e.code : -1,
        stdout: e.stdout ?? '',
        stderr: e.stderr ?? '',
      }),
    );
}
