// The converge benchmark: a bare docker-in-docker host over SSH converged
// from nothing (its image push timed on its own), then re-converged with
// nothing changed; standalone re-converge as the user runs it (`paasbox
// install` end to end, a new process each time); and pushes to a host lacking
// everything or one image. Each figure comes with the reference it is judged
// by, measured in the same run: `docker-compose up -d` on the same unchanged
// file, a plain `docker save | docker load` of the same images.

import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { StackControl } from '../compose/index.js';
import { PaasboxError } from '../errors.js';
import { describePush, pushImages } from '../images/push.js';
import { Progress } from '../progress.js';
import { provisionTarget } from '../provision/provision.js';
import { localSecretsDir } from '../secrets/store.js';
import { COMPOSE_PATH } from '../stackfile/deployment.js';
import { repoPath } from '../paths.js';
import { createDindHosts } from '../drivers/dind.js';
import { DEFAULT_INSTANCE, readInstance } from '../instance/state.js';
import { openTarget } from '../instance/open.js';
import { LocalTarget } from '../target/local.js';
import { shq } from '../target/shell.js';
import type { Target } from '../target/target.js';
import { median } from './discovery.js';

const run = promisify(execFile);

export interface ConvergeFigure {
  name: string;
  seconds: number;
  /** The reference measured in the same run, and what it is. */
  reference?: { name: string; seconds: number };
  goal?: string;
  note?: string;
}

const quiet = () => new Progress({ json: true });
const since = (t0: number) => (Date.now() - t0) / 1000;

async function timed(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = Date.now();
    await fn();
    out.push(since(t0));
  }
  return out;
}
const runs = (xs: number[]) => `median of ${xs.length}: ${xs.map((x) => x.toFixed(2)).join(', ')} s`;

/** The plain way: `docker save REFS` here streamed into `docker load` there (one stream, nothing skipped). */
async function plainSaveLoad(to: Target, refs: string[]): Promise<number> {
  const t0 = Date.now();
  const { spawn } = await import('node:child_process');
  const { PassThrough } = await import('node:stream');
  const save = spawn('docker', ['save', ...refs], { stdio: ['ignore', 'pipe', 'inherit'] });
  const saved = new Promise<number>((resolve) => save.on('close', (c) => resolve(c ?? 1)));
  const r = await to.exec('docker load', {
    stdin: save.stdout.pipe(new PassThrough()),
    timeoutMs: 3_600_000,
  });
  if ((await saved) !== 0 || r.code !== 0)
    throw new PaasboxError(
      `reference docker save | docker load to ${to.name} failed`,
      'read the detail',
      r.stderr,
    );
  return since(t0);
}

export async function benchConverge(fig: (f: ConvergeFigure) => void): Promise<void> {
  await sshFigures(fig);
  await standaloneFigures(fig);
}

async function sshFigures(fig: (f: ConvergeFigure) => void): Promise<void> {
  const bare = await createDindHosts(1, { prefix: 'pbbench-conv', withDocker: false });
  const withDocker = await createDindHosts(1, { prefix: 'pbbench-ref', withDocker: true }).catch(
    async (e: unknown) => {
      await bare.destroy();
      throw e;
    },
  );
  const target = openTarget({ kind: 'ssh', ssh: bare.hosts[0]!.ssh });
  const ref = openTarget({ kind: 'ssh', ssh: withDocker.hosts[0]!.ssh });
  // A throwaway instance: its secrets are its own, and go with it.
  const instance = 'bench-converge';
  try {
    const p1 = quiet();
    let t0 = Date.now();
    const first = await provisionTarget(target, { progress: p1, skipMissingImages: true, instance });
    fig({
      name: 'converge a bare host from nothing',
      seconds: since(t0),
      note: 'docker.io install, image push, up, healthy',
    });
    const images = first.plan?.images ?? [];
    const push = p1.records.find((r) => r.step === 'images');

    // The same images, the plain way, to a host with docker and no images.
    const plain = await plainSaveLoad(ref, images);
    if (push)
      fig({
        name: `image push to a bare host (${images.length} images)`,
        seconds: push.seconds,
        reference: { name: 'plain docker save | docker load', seconds: plain },
        goal: '< 20 s',
        ...(push.detail ? { note: push.detail } : {}),
      });

    // A host lacking one image: only that one travels, without the layers it has.
    const lacking = images[images.length - 1]!;
    const rmi = async () => {
      const r = await ref.exec(`docker rmi ${shq(lacking)}`);
      if (r.code !== 0)
        throw new PaasboxError(`docker rmi ${lacking} on ${ref.name} failed`, 'read the detail', r.stderr);
    };
    await rmi();
    const local = new LocalTarget();
    t0 = Date.now();
    const one = await pushImages(local, ref, images);
    const oneS = since(t0);
    await rmi();
    const plainOne = await plainSaveLoad(ref, [lacking]);
    fig({
      name: 'image push to a host lacking one image',
      seconds: oneS,
      reference: { name: `plain docker save | docker load of ${lacking}`, seconds: plainOne },
      note: describePush(one),
    });

    // Nothing changed: the whole install run again, then compose up -d on the same file.
    const again = await timed(3, () =>
      provisionTarget(target, { progress: quiet(), skipMissingImages: true, instance }),
    );
    const ctl = new StackControl(target, COMPOSE_PATH, first.plan!.project);
    const up = await timed(3, () => ctl.compose(['up', '-d'], 'docker-compose up -d'));
    fig({
      name: 're-converge over SSH, nothing changed',
      seconds: median(again),
      reference: { name: 'docker-compose up -d, same file, over SSH', seconds: median(up) },
      goal: '< 3 s',
      note: runs(again),
    });
  } finally {
    await target.close().catch(() => undefined);
    await ref.close().catch(() => undefined);
    await Promise.all([bare.destroy(), withDocker.destroy()]);
    rmSync(localSecretsDir(instance), { recursive: true, force: true });
  }
}

/**
 * Standalone, as the user runs it: a new `paasbox install` process each time, on the install recorded here.
 */
async function standaloneFigures(fig: (f: ConvergeFigure) => void): Promise<void> {
  const inst = readInstance(DEFAULT_INSTANCE);
  if (!inst?.deployment || inst.stage.kind !== 'local')
    throw new PaasboxError(
      'standalone re-converge: no standalone install is recorded for this machine (the default instance)',
      'install one first: npx paasbox install --mode standalone',
    );
  const install = () =>
    run(process.execPath, [repoPath('bin', 'paasbox.mjs'), 'install', '--mode', 'standalone', '--json'], {
      timeout: 900_000,
      maxBuffer: 16 << 20,
    });
  // The first run converges whatever another checkout left; the next ones change nothing.
  await install();
  const again = await timed(3, async () => {
    const { stdout } = await install();
    const s = JSON.parse(stdout) as { changed: number };
    if (s.changed)
      throw new PaasboxError(
        `standalone re-converge changed ${s.changed} step(s) on a converged host`,
        'run it by hand: npx paasbox install --mode standalone',
      );
  });
  const ctl = new StackControl(new LocalTarget(), inst.deployment.composePath, inst.deployment.project);
  const up = await timed(3, () => ctl.compose(['up', '-d'], 'docker-compose up -d'));
  fig({
    name: 're-converge standalone, nothing changed (install end to end)',
    seconds: median(again),
    reference: { name: 'docker-compose up -d, same file', seconds: median(up) },
    goal: '< 2 s',
    note: runs(again),
  });
}
