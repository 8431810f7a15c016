// Content hashes of build contexts (I/O): sha256 over the sorted relative paths,
// executable bits and contents of every file, plus the manifest's extra inputs
// (a file, or a directory: every file under it). .bin/ (prepare output, derived
// from the manifest) and VCS dirs are left out.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { PaasboxError } from '../errors.js';
import { readImageManifest } from './manifest.js';

const SKIP = new Set(['.bin', '.git', 'node_modules']);

async function listFiles(dir: string, root = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name) && dir === root) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p, root)));
    else if (e.isFile() || e.isSymbolicLink()) out.push(p);
  }
  return out;
}

/** sha256 (hex) of a build context directory and its manifest inputs. */
export async function hashContext(contextDir: string): Promise<string> {
  const h = createHash('sha256');
  const files = (await listFiles(contextDir)).map((p) => relative(contextDir, p)).sort();
  const manifest = await readImageManifest(contextDir);
  const inputs = (await Promise.all(manifest.inputs.map((rel) => inputFiles(contextDir, rel)))).flat().sort();
  for (const [kind, list] of [
    ['file', files],
    ['input', inputs],
  ] as const) {
    for (const rel of list) {
      const abs = resolve(contextDir, rel);
      const [st, data] = await Promise.all([stat(abs), readFile(abs)]).catch(() => {
        throw new PaasboxError(
          `${abs} (listed in ${contextDir}) cannot be read`,
          'restore the file or remove it from image.yaml inputs',
        );
      });
      h.update(`${kind}\0${rel}\0${st.mode & 0o111 ? 'x' : '-'}\0${data.length}\0`);
      h.update(data);
    }
  }
  return h.digest('hex');
}

/** An input's files, relative to the context: the file itself, or every file under a directory. */
async function inputFiles(contextDir: string, rel: string): Promise<string[]> {
  const abs = resolve(contextDir, rel);
  const st = await stat(abs).catch(() => {
    throw new PaasboxError(
      `${abs} (an input in ${contextDir}/image.yaml) cannot be read`,
      'restore it (dist/: npm run build) or remove it from image.yaml inputs',
    );
  });
  if (!st.isDirectory()) return [rel];
  return (await listFiles(abs)).map((p) => relative(contextDir, p));
}

/** The build args a Dockerfile declares (`ARG NAME[=default]`), so only those are passed. */
export function declaredArgs(dockerfile: string): string[] {
  const out = new Set<string>();
  for (const line of dockerfile.split(/\r?\n/)) {
    const m = /^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)/i.exec(line);
    if (m) out.add(m[1]!);
  }
  return [...out];
}
