// Image ids here and on a target, for the images step's check (the sending
// itself is src/images/push.ts pushImages: docker save | docker load).

import { spawn } from 'node:child_process';
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
