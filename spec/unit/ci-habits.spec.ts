// The CI habits the run depends on, read from the files themselves: .ci/run sets CI=true itself,
// every spec asks isCI() (one definition, not a mix of "non-empty" and "=== 'true'"), and
// `npm test` (README's command 2) runs the registrator's Go tests before mocha.
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoPath } from '../../src/paths.js';
import { isCI } from '../helpers/ci.js';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.ts$/.test(n) ? [p] : [];
  });
}

describe('CI habits', () => {
  it('isCI() is true for CI=true only', () => {
    expect(isCI({ CI: 'true' })).to.equal(true);
    for (const v of [undefined, '', '1', 'false', 'TRUE', 'yes']) expect(isCI({ CI: v }), String(v)).to.equal(false);
  });

  it('.ci/run exports CI=true before its first npm or install command', () => {
    const lines = readFileSync(repoPath('.ci', 'run'), 'utf8').split('\n').filter((l) => !/^\s*(#|$)/.test(l));
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

  it("npm test runs the registrator's go vet and go test before mocha, and mocha last", () => {
    const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { scripts: Record<string, string> };
    const steps = pkg.scripts['test']!.split('&&').map((s) => s.trim());
    expect(steps[0]).to.equal('npm run test:go');
    expect(steps[steps.length - 1]).to.match(/^mocha\b/);
    expect(pkg.scripts['test:go']!.split('&&').map((s) => s.trim()))
      .to.deep.equal(['cd stacks/images/registrator', 'go vet ./...', 'go test ./...']);
    expect(readdirSync(repoPath('stacks', 'images', 'registrator')).some((f) => f.endsWith('_test.go'))).to.equal(true);
  });

  it("README's command 2 is `npm test`", () => {
    const readme = readFileSync(repoPath('README.md'), 'utf8');
    expect(readme).to.match(/\nnpm test +# 2\. /);
  });
});
