// Images onto a target without a registry: `docker save REFS` here streamed
// into `docker load` there (through SSH stdin). Only images whose id differs on
// the target are sent. (H2's src/images/push.ts may supersede this.)

import { spawn } from 'node:child_process';
import { PaasboxError } from '../errors.js';
import { shq } from '../target/shell.js';
import type { Target } from '../target/target.js';

/** Image id per ref on a target ('' when absent). */
export async function imageIds(target: Target, refs: string[]): Promise<Record<string, string>> {
  if (!refs.length) return {};
  const r = await target.exec(refs.map((ref) => `printf '%s\\n' "$(docker image inspect -f '{{.Id}}' ${shq(ref)} 2>/dev/null)"`).join('; '), { sudo: true, timeoutMs: 60_000 });
  const lines = r.stdout.split('\n');
  return Object.fromEntries(refs.map((ref, i) => [ref, (lines[i] ?? '').trim()]));
}

/** Image ids of refs in this machine's docker. */
export function localImageIds(refs: string[]): Promise<Record<string, string>> {
  return new Promise((resolve) => {
    if (!refs.length) return resolve({});
    const out: Record<string, string> = {};
    let pending = refs.length;
    for (const ref of refs) {
      const p = spawn('docker', ['image', 'inspect', '-f', '{{.Id}}', ref], { stdio: ['ignore', 'pipe', 'ignore'] });
      let s = '';
      p.stdout.on('data', (d: Buffer) => (s += d.toString()));
      p.on('close', (code) => {
        out[ref] = code === 0 ? s.trim() : '';
        if (--pending === 0) resolve(out);
      });
    }
  });
}

/** Stream `docker save refs` from this machine into `docker load` on the target. */
export async function pushLocalImages(target: Target, refs: string[]): Promise<void> {
  if (!refs.length) return;
  const save = spawn('docker', ['save', ...refs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let saveErr = '';
  save.stderr.on('data', (d: Buffer) => (saveErr += d.toString()));
  const saved = new Promise<number>((resolve) => save.on('close', (c) => resolve(c ?? 1)));
  const load = await target.exec('docker load', { stdin: save.stdout, sudo: true, timeoutMs: 3_600_000 });
  const code = await saved;
  if (code !== 0)
    throw new PaasboxError(`docker save ${refs.join(' ')} failed here`, 'build the images first (npx zx scripts/build-images.mjs)', saveErr);
  if (load.code !== 0)
    throw new PaasboxError(`docker load on ${target.name} failed`, 'check free space in /var/lib/docker on the target', load.stderr);
}
