// Where the project's own files are (stacks/, schemas, goldens), whether the
// code runs from src/ (ts-node style) or from the compiled dist/src/: every
// module that reads a file of the repository asks here.
import { fileURLToPath } from 'node:url';

/** A path inside the repository root (this file is src/ or dist/src/). */
export function repoPath(...parts: string[]): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const up = here.includes('/dist/src/') ? '../../' : '../';
  const root = fileURLToPath(new URL(up, import.meta.url));
  return [root.replace(/\/$/, ''), ...parts].join('/');
}
