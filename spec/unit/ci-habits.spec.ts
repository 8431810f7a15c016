// The CI habits the run depends on, read from the files themselves: .ci/run sets CI=true itself
// and lints right after `npm ci`, every spec asks isCI() (one definition, not a mix of
// "non-empty" and "=== 'true'"), `npm test` (README's command 2) runs the registrator's Go tests
// before mocha, and no lint rule is switched off for a whole file.
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoPath } from '../../src/paths.js';
import { isCI } from '../helpers/ci.js';

function files(dir: string, ext = /\.ts$/): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p, ext) : ext.test(n) ? [p] : [];
  });
}

/**
 * The lines of `text` whose eslint directive turns rules off beyond one line: `eslint-disable`
 * (to the end of the file, or to an `eslint-enable`) and an inline `eslint rule: off` config.
 * `eslint-disable-line` and `eslint-disable-next-line` are allowed when they give a reason after
 * ` -- ` (one line, and the reader learns why).
 */
export function fileWideDisables(text: string): number[] {
  return text
    .split('\n')
    .flatMap((l, i) =>
      /\/[/*]\s*eslint-disable(?!-line|-next-line)\b/.test(l) ||
      /\/[/*]\s*eslint-disable-(?:next-)?line\b(?![^\n]*\s--\s+\S)/.test(l) ||
      /\/\*\s*eslint\s+[^*]*:\s*(['"]?off['"]?|0)\b/.test(l)
        ? [i + 1]
        : [],
    );
}

describe('CI habits', () => {
  it('isCI() is true for CI=true only', () => {
    expect(isCI({ CI: 'true' })).to.equal(true);
    for (const v of [undefined, '', '1', 'false', 'TRUE', 'yes'])
      expect(isCI({ CI: v }), String(v)).to.equal(false);
  });

  it('.ci/run exports CI=true before its first npm or install command', () => {
    const lines = readFileSync(repoPath('.ci', 'run'), 'utf8')
      .split('\n')
      .filter((l) => !/^\s*(#|$)/.test(l));
    const set = lines.findIndex((l) => /^export CI=true$/.test(l.trim()));
    const first = lines.findIndex((l) => /^(npm|npx)\b/.test(l.trim()));
    expect(set, 'no `export CI=true` line in .ci/run').to.be.at.least(0);
    expect(first).to.be.at.least(0);
    expect(set).to.be.below(first);
  });

  it('no spec reads CI from the environment itself: spec/helpers/ci.ts is the one place', () => {
    const reads = /\benv\s*(?:\.\s*CI\b|\[\s*['"`]CI['"`]\s*\])|\{[^}]*\bCI\b[^}]*\}\s*=\s*process\.env/;
    const bad = ['spec/unit', 'spec/integration', 'spec/vm', 'spec/helpers']
      .flatMap((d) => files(repoPath(d)))
      .filter((f) => !f.endsWith(join('helpers', 'ci.ts')) && reads.test(readFileSync(f, 'utf8')))
      .map((f) => relative(repoPath(), f));
    expect(bad).to.deep.equal([]);
  });

  it('npm test runs go vet and go test of each Go module here (registrator, lego) before mocha, and mocha last', () => {
    const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const steps = pkg.scripts['test']!.split('&&').map((s) => s.trim());
    expect(steps[0]).to.equal('npm run test:go');
    expect(steps[steps.length - 1]).to.match(/^mocha\b/);
    const modules = ['registrator', 'apps-api/lego'];
    expect(pkg.scripts['test:go']).to.equal(
      modules.map((m) => `(cd stacks/images/${m} && go vet ./... && go test ./...)`).join(' && '),
    );
    for (const m of modules)
      expect(
        readdirSync(repoPath('stacks', 'images', ...m.split('/'))).some((f) => f.endsWith('_test.go')),
        m,
      ).to.equal(true);
  });

  it("README's command 2 is `npm test`", () => {
    const readme = readFileSync(repoPath('README.md'), 'utf8');
    expect(readme).to.match(/\nnpm test +# 2\. /);
  });

  it('finds a file-wide eslint-disable or one without a reason; a one-line one with a reason passes', () => {
    // Spelled in pieces so that this file does not hold the directives it tests for.
    const [off, on] = ['eslint' + '-disable', 'eslint' + ' no-console'];
    expect(fileWideDisables(`/* ${off} */\nconst a = 1;`)).to.deep.equal([1]);
    expect(fileWideDisables(`x;\n// ${off} no-console\n`)).to.deep.equal([2]);
    expect(fileWideDisables(`/* ${on}: "off" */`)).to.deep.equal([1]);
    expect(fileWideDisables(`/* ${off}-next-line no-control-regex -- sanitizer */\nx;`)).to.deep.equal([]);
    expect(fileWideDisables(`x; // ${off}-line no-console -- CLI output`)).to.deep.equal([]);
    expect(fileWideDisables(`x; // ${off}-line no-console`)).to.deep.equal([1]);
    expect(fileWideDisables(`// ${off}-next-line\nx;`)).to.deep.equal([1]);
  });

  it('no file under src, spec, scripts or bin switches a lint rule off beyond one line', () => {
    const all = [
      ...['src', 'spec'].flatMap((d) => files(repoPath(d))),
      ...['scripts', 'bin'].flatMap((d) => files(repoPath(d), /\.mjs$/)),
    ];
    expect(all.length).to.be.above(100);
    const bad = all.flatMap((f) =>
      fileWideDisables(readFileSync(f, 'utf8')).map((n) => `${relative(repoPath(), f)}:${n}`),
    );
    expect(bad).to.deep.equal([]);
  });

  it('eslint.config.js switches no rule off for some files only', async () => {
    const config = (await import(pathToFileURL(repoPath('eslint.config.js')).href)) as {
      default: { name?: string; files?: unknown; rules?: Record<string, unknown> }[];
    };
    const off = (v: unknown) =>
      v === 'off' || v === 0 || (Array.isArray(v) && (v[0] === 'off' || v[0] === 0));
    // typescript-eslint's own block turns off, for .ts files, the core rules the compiler checks
    // better (no-undef, no-redeclare, …): that is the shared config's choice, not ours.
    const shared = /^typescript-eslint\/eslint-recommended$/;
    const scoped = config.default.filter((c) => c.files !== undefined && !shared.test(c.name ?? ''));
    const bad = scoped.flatMap((c) =>
      Object.entries(c.rules ?? {})
        .filter(([, v]) => off(v))
        .map(([r]) => `${JSON.stringify(c.files)}: ${r}`),
    );
    expect(bad).to.deep.equal([]);
  }).timeout(60_000); // loading ESLint and its plugins takes seconds on a busy machine

  it('`npm run lint` runs eslint and prettier --check over src, spec and scripts; .ci/run runs it after npm ci', () => {
    const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const [eslint, prettier] = pkg.scripts['lint']!.split('&&').map((s) => s.trim());
    for (const d of ['src', 'spec', 'scripts']) {
      expect(eslint!.split(/\s+/), `eslint over ${d}`).to.include(d);
      expect(prettier, `prettier over ${d}`).to.include(`"${d}/**/`);
    }
    expect(eslint).to.match(/^eslint\b/);
    expect(prettier).to.match(/^prettier --check\b/);
    const lines = readFileSync(repoPath('.ci', 'run'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => !/^(#|$)/.test(l));
    const ci = lines.findIndex((l) => /^npm ci\b/.test(l));
    expect(ci, 'no `npm ci` in .ci/run').to.be.at.least(0);
    expect(lines[ci + 1]).to.equal('npm run lint');
  });
});
