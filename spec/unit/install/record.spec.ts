// The one record builder of the install path: one host (a cluster of one
// master) and a cluster are recorded by the same function, each host's key
// pinned strictly, the deployment from the first master, and the settings
// the user chose kept (a cluster keeps only the image source given by flag).
// Every record it builds passes the instance schema.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { instanceRecord, pinsToKeep, recordedPins, type InstalledHost } from '../../../src/install/record.js';
import { readInstance, writeInstance, type Instance } from '../../../src/instance/state.js';
import { loadStackModel } from '../../../src/model/load.js';
import { resolveSettings } from '../../../src/settings/settings.js';
import type { SshInfo } from '../../../src/target/ssh-info.js';

const model = loadStackModel();
const settings = resolveSettings({ flags: { ip: '10.3.0.1', hostname: 'm1', imageSource: 'local' } }, model);
const ssh = (host: string): SshInfo => ({
  host,
  port: 22,
  user: 'root',
  keyPath: '/k/id',
  hostKeyPolicy: 'accept-new',
});
const at = (host: string, role: 'master' | 'agent', ip = host): InstalledHost => ({
  ref: { kind: 'ssh', ssh: ssh(host) },
  role,
  ip,
  hostname: `n${host.slice(-1)}`,
});
const base = {
  name: 'cl',
  driver: 'ssh' as const,
  mode: 'ssh',
  settings,
  project: 'paasbox',
  composePath: '/opt/paasbox/docker-compose.yml',
};

describe('install: the instance record, one host or many', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'pb-record-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const roundTrip = (i: Instance) => (writeInstance(i, dir), readInstance(i.name, dir));

  it('one host: its stage with the key now pinned, the deployment, no cluster', () => {
    const one = instanceRecord({
      ...base,
      cluster: false,
      hosts: [at('10.3.0.1', 'master')],
      pinned: { imageSource: 'local' },
    });
    expect(one).to.deep.include({
      driver: 'ssh',
      mode: 'ssh',
      lifecycle: 'converged',
      stage: { kind: 'ssh', ssh: { ...ssh('10.3.0.1'), hostKeyPolicy: 'strict' } },
    });
    expect(one.deployment).to.deep.equal({
      ip: '10.3.0.1',
      hostname: 'm1',
      imageSource: 'local',
      composePath: base.composePath,
      project: 'paasbox',
      pinned: { imageSource: 'local' },
    });
    expect(one.cluster).to.equal(undefined);
    expect(roundTrip(one)?.stage).to.deep.equal(one.stage);
  });

  it('this machine: the stage is the address the stack advertises; nothing pinned, nothing recorded as pinned', () => {
    const local = instanceRecord({
      ...base,
      driver: 'local',
      mode: 'standalone',
      cluster: false,
      hosts: [{ ref: { kind: 'local', address: '127.0.0.1' }, role: 'master', ip: '10.3.0.1' }],
      pinned: {},
    });
    expect(local.stage).to.deep.equal({ kind: 'local', address: '10.3.0.1' });
    expect(local.deployment).to.not.have.property('pinned');
    expect(roundTrip(local)?.driver).to.equal('local');
  });

  it('a cluster: the same builder, its first master the stage, every host kept by role with its key pinned', () => {
    const hosts = [at('10.3.0.1', 'master'), at('10.3.0.2', 'master'), at('10.3.0.9', 'agent')];
    const cl = instanceRecord({ ...base, cluster: true, hosts, pinned: {} });
    const member = (h: string) => ({
      ssh: { ...ssh(h), hostKeyPolicy: 'strict' },
      ip: h,
      hostname: `n${h.slice(-1)}`,
    });
    expect(cl.stage).to.deep.equal({ kind: 'ssh', ssh: { ...ssh('10.3.0.1'), hostKeyPolicy: 'strict' } });
    expect(cl.cluster).to.deep.equal({
      masters: [member('10.3.0.1'), member('10.3.0.2')],
      agents: [member('10.3.0.9')],
    });
    // A cluster of one master is still recorded as a cluster (its hosts named as such).
    expect(instanceRecord({ ...base, cluster: true, hosts: [hosts[0]!], pinned: {} }).cluster).to.deep.equal({
      masters: [member('10.3.0.1')],
      agents: [],
    });
    expect(roundTrip(cl)?.cluster).to.deep.equal(cl.cluster);
  });

  it('pins what the user chose by flag or environment over what was pinned; a cluster only --source', () => {
    const before: Instance = {
      ...instanceRecord({
        ...base,
        cluster: false,
        hosts: [at('10.3.0.1', 'master')],
        pinned: { hostname: 'old', imageSource: 'registry' },
      }),
    };
    expect(recordedPins(before, false)).to.deep.equal({ hostname: 'old', imageSource: 'registry' });
    expect(recordedPins(before, false, ['sshd'])).to.deep.equal({
      hostname: 'old',
      imageSource: 'registry',
      services: { sshd: { enabled: true } },
    });
    expect(recordedPins(before, true)).to.deep.equal({ imageSource: 'registry' });
    expect(recordedPins(undefined, true)).to.equal(undefined);
    const env = { PAASBOX_DOMAIN: 'lab', PAASBOX_IP: '10.3.0.7' };
    expect(pinsToKeep({ hostname: 'old' }, env, { imageSource: 'local' }, false)).to.deep.equal({
      hostname: 'old',
      ip: '10.3.0.7',
      imageSource: 'local',
      domain: 'lab',
    });
    expect(pinsToKeep({ imageSource: 'registry' }, env, {}, true)).to.deep.equal({});
    expect(pinsToKeep(undefined, env, { imageSource: 'local' }, true)).to.deep.equal({
      imageSource: 'local',
    });
  });
});
