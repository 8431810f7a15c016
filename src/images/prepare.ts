// Per-image prepare steps (stacks/images/<name>/image.yaml), run on the build
// host before `docker build`: `go install` of a pinned module into .bin/
// (cached by its module@version), or a script in the context.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PaasboxError } from '../errors.js';
import type { ImageManifest } from './manifest.js';

const run = promisify(execFile);

export interface PrepareResult {
  step: string;
  cached: boolean;
}

/** Run every prepare step of one context; throws PaasboxError naming the step. */
export async function runPrepare(contextDir: string, manifest: ImageManifest): Promise<PrepareResult[]> {
  const out: PrepareResult[] = [];
  for (const step of manifest.prepare) {
    if ('goInstall' in step) out.push(await goInstall(contextDir, step.goInstall, step.binary));
    else out.push(await script(contextDir, step.script));
  }
  return out;
}

async function goInstall(contextDir: string, spec: string, binary: string): Promise<PrepareResult> {
  const bin = join(contextDir, '.bin');
  const stamp = join(bin, `.${binary}.goinstall`);
  const have = await stat(join(bin, binary))
    .then((s) => s.isFile())
    .catch(() => false);
  if (have && (await readFile(stamp, 'utf8').catch(() => '')).trim() === spec)
    return { step: `go install ${spec}`, cached: true };
  await run('go', ['version']).catch(() => {
    throw new PaasboxError(
      `go is not installed on the build host (needed for go install ${spec})`,
      "install Go >= 1.22 (https://go.dev/doc/install) or your distribution's golang package",
    );
  });
  // Outside any module, so `go install pkg@version` resolves on its own.
  const tmp = await mkdtemp(join(tmpdir(), 'paasbox-goinstall-'));
  try {
    await run('go', ['install', spec], {
      cwd: tmp,
      env: { ...process.env, CGO_ENABLED: '0', GOBIN: bin, GOFLAGS: '-trimpath' },
      maxBuffer: 16 * 1024 * 1024,
      timeout: 15 * 60_000,
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new PaasboxError(
      `go install ${spec} failed`,
      'check that the Go module proxy is reachable (go env GOPROXY) and the version exists',
      err.stderr || err.message,
    );
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  await writeFile(stamp, spec + '\n');
  return { step: `go install ${spec}`, cached: false };
}

async function script(contextDir: string, name: string): Promise<PrepareResult> {
  try {
    // 40 min: consul's prepare.sh compiles Consul (~10-20 min cold on 2 cores).
    await run('sh', [name], { cwd: contextDir, maxBuffer: 16 * 1024 * 1024, timeout: 40 * 60_000 });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new PaasboxError(
      `prepare script ${join(contextDir, name)} failed`,
      'run it by hand to see why, then fix it',
      `${err.stdout ?? ''}${err.stderr ?? err.message}`,
    );
  }
  return { step: `sh ${name}`, cached: false };
}
