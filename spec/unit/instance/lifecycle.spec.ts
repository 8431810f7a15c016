// The instance lifecycle (kitchen) with an in-memory driver and a stub verify: each
// instance is kept in its own state file between calls, `test` destroys on
// pass and keeps on failure, unknown instances and kinds are PaasboxErrors
// naming the fix.
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PaasboxError } from '../../../src/errors.js';
import { dindDriver } from '../../../src/drivers/dind.js';
import type { Driver } from '../../../src/drivers/driver.js';
import { sshDriver } from '../../../src/drivers/ssh.js';
import { Kitchen, type VerifyOutcome } from '../../../src/instance/lifecycle.js';
import { instancePath, readInstance, type Instance } from '../../../src/instance/state.js';
import { failure } from '../../helpers/failure.js';

function report(failed: number): VerifyOutcome {
  return {
    seconds: 1,
    passed: 3,
    failed,
    skipped: 0,
    results: failed ? [{ id: 'haproxy/stats/http:/', status: 'failed' }] : [],
  };
}

describe('kitchen lifecycle', () => {
  let cwd: string;
  let saved: string | undefined;
  const log: string[] = [];
  const fakeDriver: Driver = {
    name: 'dind',
    create: async ({ instance: name }) => {
      log.push(`create ${name}`);
      const ssh = { host: '10.9.0.2', port: 22, user: 'root', hostKeyPolicy: 'accept-new' as const };
      return { ref: { kind: 'ssh', ssh }, seedNames: false, dind: { container: `x-${name}` } };
    },
    destroy: async (inst) => void log.push(`destroy ${inst.name}`),
    state: async (inst) =>
      inst.dind?.container === 'x-gone'
        ? { state: 'absent', detail: 'container x-gone is gone' }
        : { state: 'running', detail: `container ${inst.dind?.container ?? '?'}: running` },
  };
  let verifyFails = 0;
  const kitchen = () =>
    new Kitchen({
      cwd,
      drivers: { dind: fakeDriver, ssh: sshDriver(async () => undefined) },
      converge: async (inst) => void log.push(`converge ${inst.name}`),
      verify: async (_t, inst) => (log.push(`verify ${inst.name}`), report(verifyFails)),
    });

  beforeEach(() => {
    cwd = mkdtempSync(join(tmpdir(), 'pb-kitchen-unit-'));
    saved = process.env['PAASBOX_STATE_DIR'];
    delete process.env['PAASBOX_STATE_DIR'];
    log.length = 0;
    verifyFails = 0;
  });

  afterEach(() => {
    rmSync(cwd, { recursive: true, force: true });
    if (saved !== undefined) process.env['PAASBOX_STATE_DIR'] = saved;
  });

  it('keeps each instance in .paasbox/instances/NAME.json across Kitchen objects (a later verify finds it)', async () => {
    await kitchen().create('k1', { kind: 'dind' });
    expect(existsSync(join(cwd, '.paasbox', 'instances', 'k1.json'))).to.equal(true);
    await kitchen().converge('k1');
    const r = await kitchen().verify('k1');
    expect(r.failed).to.equal(0);
    const inst = readInstance('k1', cwd) as Instance;
    expect(inst).to.deep.include({ lifecycle: 'verified', driver: 'dind', dind: { container: 'x-k1' } });
    expect(inst.lastVerify).to.include({ passed: 3, failed: 0 });
    await kitchen().create('k1', { kind: 'dind' }); // already there: not created twice
    expect(log).to.deep.equal(['create k1', 'converge k1', 'verify k1']);
    await kitchen().destroy('k1');
    expect(readInstance('k1', cwd)).to.equal(undefined);
  });

  it('test: destroys a passing instance', async () => {
    const out = await kitchen().test('k2', { kind: 'dind' });
    expect(out.destroyed).to.equal(true);
    expect(log).to.deep.equal(['create k2', 'converge k2', 'verify k2', 'destroy k2']);
    expect(readInstance('k2', cwd)).to.equal(undefined);
  });

  it('test: keeps a failing instance and records the failures', async () => {
    verifyFails = 1;
    const out = await kitchen().test('k3', { kind: 'dind' });
    expect(out.destroyed).to.equal(false);
    expect(log).to.not.include('destroy k3');
    const inst = readInstance('k3', cwd);
    expect(inst?.lifecycle).to.equal('failed');
    expect(inst?.lastVerify?.failures).to.deep.equal(['haproxy/stats/http:/']);
  });

  it('records an existing SSH host and forgets it on destroy', async () => {
    const inst = await kitchen().create('box', {
      kind: 'ssh',
      hostSpec: 'deploy@10.0.0.7:2222',
      keyPath: '/k/id',
    });
    expect(inst.stage).to.deep.equal({
      kind: 'ssh',
      ssh: { host: '10.0.0.7', port: 2222, user: 'deploy', keyPath: '/k/id', hostKeyPolicy: 'accept-new' },
    });
    await kitchen().destroy('box');
    expect(readInstance('box', cwd)).to.equal(undefined);
  });

  it('lists each instance with where its host stands, as its driver says', async () => {
    await kitchen().create('k5', { kind: 'dind' });
    await kitchen().create('gone', { kind: 'dind' });
    const all = await kitchen().listWithState();
    const states = Object.fromEntries(all.map(({ instance, host }) => [instance.name, host]));
    expect(states['k5']).to.deep.equal({ state: 'running', detail: 'container x-k5: running' });
    expect(states['gone']).to.deep.equal({ state: 'absent', detail: 'container x-gone is gone' });
    await kitchen().destroy('k5');
    await kitchen().destroy('gone');
  });

  it('names the fix for unknown instances, kinds, bad names and a missing --host', async () => {
    expect((await failure(kitchen().verify('nope'))).fix).to.match(/kitchen create nope/);
    expect((await failure(kitchen().create('v', { kind: 'vagrant' }))).problem).to.match(
      /no kitchen driver for "vagrant"/,
    );
    expect((await failure(kitchen().create('Bad Name', { kind: 'dind' }))).fix).to.match(/lowercase/);
    expect((await failure(kitchen().create('s', { kind: 'ssh' }))).fix).to.match(/--host user@host/);
  });

  it('refuses a state file that does not match its schema, naming the field', async () => {
    await kitchen().create('k4', { kind: 'dind' });
    const p = instancePath('k4', cwd);
    const { readFileSync, writeFileSync } = await import('node:fs');
    writeFileSync(p, readFileSync(p, 'utf8').replace('"10.9.0.2"', '"10.9.0.2; rm -rf /"'));
    expect(() => readInstance('k4', cwd)).to.throw(PaasboxError, /k4\.json is invalid: stage/);
  });

  it('dind destroy removes exactly the recorded container, network and temp dir', async () => {
    const calls: string[] = [];
    const d = dindDriver({
      run: async (cmd, args) => (calls.push([cmd, ...args].join(' ')), { stdout: '' }),
    });
    const work = mkdtempSync('/tmp/pk-k-');
    mkdirSync(join(work, 'authorized_keys'));
    await d.destroy({ name: 'k', dind: { container: 'pk-k-h1', network: 'pk-k-net', workDir: work } });
    await d.destroy({ name: 'k', dind: { workDir: '/home/me' } }); // never a path the driver did not make
    expect(calls).to.deep.equal(['docker rm -f pk-k-h1', 'docker network rm pk-k-net']);
    expect(existsSync(work)).to.equal(false);
  });
});
