// The kitchen lifecycle with in-memory drivers and a stub verify: state is kept
// in .paasbox/kitchen.json between calls, `test` destroys on pass and keeps on
// failure, unknown instances and kinds are PaasboxErrors naming the fix.
import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PaasboxError } from '../../../src/errors.js';
import { Kitchen, kitchenPath, parseVagrantSshConfig, readKitchen, sshDriver, testhostDriver, type KitchenDriver, type KitchenInstance } from '../../../src/verify/kitchen.js';
import { parseHostSpec } from '../../../src/target/parse.js';
import { LocalTarget } from '../../../src/target/local.js';
import type { VerifyReport } from '../../../src/verify/types.js';

function report(failed: number): VerifyReport {
  return {
    target: 't',
    startedAt: new Date().toISOString(),
    seconds: 1,
    passed: 3,
    failed,
    skipped: 0,
    results: failed ? [{ id: 'haproxy/stats/http:/', service: 'haproxy', host: 't', description: 'd', status: 'failed', expected: 'HTTP 200', got: 'no answer', attempts: 1, seconds: 0 }] : [],
  };
}

describe('kitchen lifecycle', () => {
  let cwd: string;
  const log: string[] = [];
  const fakeDriver: KitchenDriver = {
    create: async (name) => {
      log.push(`create ${name}`);
      return { name, kind: 'testhost', host: '10.9.0.2', port: 22, user: 'root', container: `x-${name}` };
    },
    destroy: async (inst) => void log.push(`destroy ${inst.name}`),
  };
  let verifyFails = 0;
  const kitchen = () =>
    new Kitchen({
      cwd,
      drivers: { testhost: fakeDriver, ssh: sshDriver(parseHostSpec) },
      connect: () => new LocalTarget(),
      converge: async (_t, inst) => void log.push(`converge ${inst.name}`),
      verify: async (_t, inst) => (log.push(`verify ${inst.name}`), report(verifyFails)),
    });

  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), 'pbh4-kitchen-unit-'));
    log.length = 0;
    verifyFails = 0;
  });

  afterEach(() => rmSync(cwd, { recursive: true, force: true }));

  it('keeps instances in .paasbox/kitchen.json across Kitchen objects (a later verify finds them)', async () => {
    await kitchen().create('k1', { kind: 'testhost' });
    expect(existsSync(kitchenPath(cwd))).to.equal(true);
    await kitchen().converge('k1');
    const r = await kitchen().verify('k1');
    expect(r.failed).to.equal(0);
    const inst = readKitchen(cwd).instances['k1'] as KitchenInstance;
    expect(inst).to.include({ state: 'verified', host: '10.9.0.2', container: 'x-k1' });
    expect(inst.lastVerify).to.include({ passed: 3, failed: 0 });
    await kitchen().create('k1', { kind: 'testhost' }); // already there: not created twice
    expect(log).to.deep.equal(['create k1', 'converge k1', 'verify k1']);
    await kitchen().destroy('k1');
    expect(readKitchen(cwd).instances).to.deep.equal({});
  });

  it('test: destroys a passing instance', async () => {
    const out = await kitchen().test('k2', { kind: 'testhost' });
    expect(out.destroyed).to.equal(true);
    expect(log).to.deep.equal(['create k2', 'converge k2', 'verify k2', 'destroy k2']);
    expect(readKitchen(cwd).instances['k2']).to.equal(undefined);
  });

  it('test: keeps a failing instance and records the failures', async () => {
    verifyFails = 1;
    const out = await kitchen().test('k3', { kind: 'testhost' });
    expect(out.destroyed).to.equal(false);
    expect(log).to.not.include('destroy k3');
    const inst = readKitchen(cwd).instances['k3'];
    expect(inst?.state).to.equal('failed');
    expect(inst?.lastVerify?.failures).to.deep.equal(['haproxy/stats/http:/']);
  });

  it('records an existing SSH host and forgets it on destroy', async () => {
    const inst = await kitchen().create('box', { kind: 'ssh', hostSpec: 'deploy@10.0.0.7:2222', keyPath: '/k/id' });
    expect(inst).to.include({ kind: 'ssh', host: '10.0.0.7', port: 2222, user: 'deploy', keyPath: '/k/id' });
    await kitchen().destroy('box');
    expect(readKitchen(cwd).instances).to.deep.equal({});
  });

  it('names the fix for unknown instances, kinds, bad names and a missing --host', async () => {
    const err = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        expect(e).to.be.instanceOf(PaasboxError);
        return e as PaasboxError;
      }
      throw new Error('expected a PaasboxError');
    };
    expect((await err(kitchen().verify('nope'))).fix).to.match(/kitchen\.mjs create nope/);
    expect((await err(kitchen().create('v', { kind: 'vagrant' }))).problem).to.match(/no kitchen driver for "vagrant"/);
    expect((await err(kitchen().create('Bad Name', { kind: 'testhost' }))).fix).to.match(/lowercase/);
    expect((await err(kitchen().create('s', { kind: 'ssh' }))).fix).to.match(/--host user@host/);
  });

  it('testhost destroy removes exactly the recorded container, network and temp dir', async () => {
    const calls: string[] = [];
    const d = testhostDriver(async () => ({ hosts: [], network: '', keyPath: '', knownHostsPath: '' }), async (cmd, args) => (calls.push([cmd, ...args].join(' ')), { stdout: '' }));
    await d.destroy({ name: 'k', kind: 'testhost', host: 'h', port: 22, user: 'root', container: 'pk-k-h1', network: 'pk-k-net', workDir: '/tmp/pk-k-abc', state: 'created', updatedAt: '' });
    await d.destroy({ name: 'k', kind: 'testhost', host: 'h', port: 22, user: 'root', workDir: '/home/me', state: 'created', updatedAt: '' });
    expect(calls).to.deep.equal(['docker rm -f pk-k-h1', 'docker network rm pk-k-net', 'rm -rf /tmp/pk-k-abc']);
  });

  it('parses vagrant ssh-config', () => {
    const out = 'Host default\n  HostName 127.0.0.1\n  User vagrant\n  Port 2200\n  IdentityFile "/home/me/.vagrant/machines/default/virtualbox/private_key"\n';
    expect(parseVagrantSshConfig(out)).to.deep.equal({ host: '127.0.0.1', port: 2200, user: 'vagrant', keyPath: '/home/me/.vagrant/machines/default/virtualbox/private_key' });
  });

});
