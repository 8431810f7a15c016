// Where install builds the images: here and sent, or on the target (pure choice).
import { expect } from 'chai';
import { chooseBuildHost, type BuildHostFacts } from '../../../src/provision/build-host.js';

const able: BuildHostFacts = {
  targetIsHere: false,
  dockerRunsHere: true,
  debootstrapHere: true,
  archHere: 'x86_64',
  archTarget: 'x86_64',
};

describe('chooseBuildHost', () => {
  it('builds here when this machine can (same architecture, docker, debootstrap)', () => {
    expect(chooseBuildHost('auto', 'local', able).where).to.equal('here');
  });
  it('builds on the target when docker does not run here, or the local source lacks debootstrap here', () => {
    expect(chooseBuildHost('auto', 'local', { ...able, dockerRunsHere: false })).to.deep.equal({
      where: 'target',
      why: 'docker does not run on this machine',
    });
    expect(chooseBuildHost('auto', 'local', { ...able, debootstrapHere: false }).where).to.equal('target');
    expect(chooseBuildHost('auto', 'registry', { ...able, debootstrapHere: false }).where).to.equal('here');
  });
  it('builds on the target for another CPU architecture (amd64 and x86_64 are one)', () => {
    const c = chooseBuildHost('auto', 'local', { ...able, archHere: 'arm64' });
    expect(c.where).to.equal('target');
    expect(c.why).to.include('arm64').and.include('x86_64');
    expect(chooseBuildHost('auto', 'local', { ...able, archHere: 'amd64' }).where).to.equal('here');
  });
  it('a forced choice wins, except that standalone has one machine', () => {
    expect(chooseBuildHost('target', 'local', able)).to.deep.equal({
      where: 'target',
      why: '--build-on target',
    });
    expect(chooseBuildHost('here', 'local', { ...able, dockerRunsHere: false }).where).to.equal('here');
    expect(chooseBuildHost('target', 'local', { ...able, targetIsHere: true })).to.deep.equal({
      where: 'here',
      why: 'the target is this machine',
    });
  });
});
