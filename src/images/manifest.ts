// stacks/images/<name>/image.yaml: optional per-image steps run on the build
// host before `docker build` (e.g. `go install` of a binary Debian lacks), and
// files outside the context those steps copy in. Schema: stacks/schema/image.schema.json.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { PaasboxError } from '../errors.js';
import { assertValid, projectValidator } from '../model/validate.js';

export type PrepareStep = { goInstall: string; binary: string } | { script: string };

export interface ImageManifest {
  prepare: PrepareStep[];
  inputs: string[];
}

/** Validate a parsed image.yaml (pure). */
export function parseImageManifest(obj: unknown, where: string): ImageManifest {
  const data = obj ?? {};
  assertValid(
    projectValidator('image'),
    data,
    where,
    'correct it, see stacks/schema/image.schema.json and stacks/images/README.md',
  );
  const m = data as Partial<ImageManifest>;
  return { prepare: m.prepare ?? [], inputs: m.inputs ?? [] };
}

/** Read <context>/image.yaml; no file means no prepare steps. */
export async function readImageManifest(contextDir: string): Promise<ImageManifest> {
  const path = join(contextDir, 'image.yaml');
  const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (text === undefined) return { prepare: [], inputs: [] };
  let obj: unknown;
  try {
    obj = parse(text);
  } catch (e) {
    throw new PaasboxError(
      `${path} is not valid YAML: ${(e as Error).message.split('\n')[0]}`,
      'fix the YAML syntax',
    );
  }
  return parseImageManifest(obj, path);
}
