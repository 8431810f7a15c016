import { expect } from 'chai';
import { InvalidArgumentError } from 'commander';
import { formatFigure, sectionList } from '../../../src/cli/bench.js';

describe('paasbox bench: sections and figures', () => {
  it('takes comma-separated section names, repeatable, and refuses an unknown one naming it', () => {
    expect(sectionList('generate, verify')).to.deep.equal(['generate', 'verify']);
    expect(sectionList('up', ['generate'])).to.deep.equal(['generate', 'up']);
    expect(() => sectionList('generate,imagez')).to.throw(InvalidArgumentError, /unknown section imagez/);
  });

  it('prints a figure with its unit, then its goal beside it, then the note', () => {
    const line = formatFigure({
      section: 'verify',
      name: 'verify wall time, whole stack',
      value: 3.456,
      unit: 's',
      goal: '< 5 s',
      note: '40 passed',
    });
    expect(line).to.match(/verify wall time, whole stack\s+3\.5 s {2}\[goal < 5 s\] {2}\(40 passed\)$/);
    expect(formatFigure({ section: 'generate', name: 'x', value: 1.234, unit: 'ms' })).to.match(/ 1\.23 ms$/);
    expect(formatFigure({ section: 'images', name: 'cold / warm', value: 7, unit: 'ratio' })).to.match(
      / 7\.00 ratio$/,
    );
  });
});
