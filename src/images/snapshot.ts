// What images a target's docker has, for the refs a plan asks about.
import type { Target } from '../target/target.js';
import { PaasboxError } from '../errors.js';
import type { ImageSnapshot } from './plan.js';
import { shq } from '../target/shell.js';

/** Inspect refs on the target in one round trip; absent refs are left out. */
export async function snapshotImages(target: Target, refs: string[]): Promise<ImageSnapshot> {
  const unique = [...new Set(refs)];
  if (unique.length === 0) return {};
  const script = unique
    .map((r) => `printf '%s\\t' ${shq(r)}; docker image inspect --format '{{.Id}}\t{{json .Config.Labels}}' ${shq(r)} 2>/dev/null || echo`)
    .join('; ');
  const res = await target.exec(`docker version --format '{{.Server.Version}}' >/dev/null && { ${script}; }`);
  if (res.code !== 0) {
    throw new PaasboxError(`docker on ${target.name} does not answer`, 'start dockerd (systemctl start docker) and make sure this user may use it', res.stderr);
  }
  const out: ImageSnapshot = {};
  for (const line of res.stdout.split('\n')) {
    const [ref, id, labels] = line.split('\t');
    if (!ref || !id) continue;
    out[ref] = { id, labels: (labels && labels !== 'null' ? JSON.parse(labels) : {}) as Record<string, string> };
  }
  return out;
}
