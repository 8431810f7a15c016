// The layering the project keeps: src/ never imports spec/, scripts and the
// bin import only dist/src (never compiled tests), and verify never reaches
// into provisioning. Read from the sources, so a new import that breaks a
// rule fails here.
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoPath } from '../../src/paths.js';

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p, ext) : ext.test(n) ? [p] : [];
  });
}

/** Every module specifier a file imports or re-exports (static and dynamic). */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\b(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\bimport\s+['"]([^'"]+)['"]|new URL\(\s*['"]([^'"]+\.js)['"]/g))
    out.push(m[1] ?? m[2] ?? m[3] ?? m[4]!);
  return out;
}

describe('module boundaries', () => {
  const root = repoPath();
  const rel = (p: string) => relative(root, p);

  it('finds the imports it judges (static, re-export, dynamic, URL)', () => {
    expect(importsOf(`import { a } from '../x.js';\nexport * from "./y.js";\nawait import('../../spec/z.js');\nnew URL('../dist/spec/w.js', import.meta.url)`))
      .to.deep.equal(['../x.js', './y.js', '../../spec/z.js', '../dist/spec/w.js']);
  });

  it('no file under src/ imports from spec/', () => {
    const bad = files(repoPath('src'), /\.ts$/).flatMap((f) => importsOf(readFileSync(f, 'utf8')).filter((i) => /(^|\/)spec\//.test(i)).map((i) => `${rel(f)} imports ${i}`));
    expect(bad).to.deep.equal([]);
  });

  it('scripts and the bin import only dist/src (and packages), never dist/spec', () => {
    const entry = [...files(repoPath('scripts'), /\.mjs$/), ...files(repoPath('bin'), /\.mjs$/)];
    expect(entry.length).to.be.above(5);
    const bad = entry.flatMap((f) => importsOf(readFileSync(f, 'utf8')).filter((i) => i.startsWith('.') && !i.startsWith('../dist/src/')).map((i) => `${rel(f)} imports ${i}`));
    expect(bad).to.deep.equal([]);
  });

  it('src/verify does not import src/provision', () => {
    const bad = files(repoPath('src', 'verify'), /\.ts$/).flatMap((f) => importsOf(readFileSync(f, 'utf8')).filter((i) => /\/provision\//.test(i)).map((i) => `${rel(f)} imports ${i}`));
    expect(bad).to.deep.equal([]);
  });
});
