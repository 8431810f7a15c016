// The project's own source lines, for the specs that grep src/ for a pattern
// only one module may spell (a compose label, an image inspect format): every
// .ts file under src/, each line with its comments blanked and its place.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoPath } from '../../src/paths.js';

/** Every .ts file under dir (default src/). */
export function tsFiles(dir: string = repoPath('src')): string[] {
  return readdirSync(dir).flatMap((n) =>
    statSync(join(dir, n)).isDirectory() ? tsFiles(join(dir, n)) : n.endsWith('.ts') ? [join(dir, n)] : [],
  );
}

/** The lines of src/ (but the files `except` ends with) whose code, comments aside, matches. */
export function codeLinesMatching(match: (code: string) => boolean, except: string): string[] {
  return tsFiles()
    .filter((f) => !f.endsWith(except))
    .flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .map((l, i) => ({
          at: `${f}:${i + 1}`,
          code: l.replace(/\/\*.*?\*\/|(^|\s)\/\/.*$/g, '').replace(/^\s*\*.*$/, ''),
        }))
        .filter((l) => match(l.code))
        .map((l) => l.at),
    );
}
