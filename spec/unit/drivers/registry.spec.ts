// The driver registry: every driver by its name, install's --mode words (a
// mode is a driver; standalone is the local driver), kitchen's drivers, what
// detection picks, and what each driver hands back without touching a real
// host (the local driver, an SSH host as written, a dind host from an
// injected create).
import { expect } from 'chai';
import { createServer, type AddressInfo } from 'node:net';
import type { DindHosts } from '../../../src/drivers/dind.js';
import type { DriverName } from '../../../src/drivers/driver.js';
import {
  detectMode,
  driverFor,
  INSTALL_MODES,
  KITCHEN_DRIVERS,
  kitchenDrivers,
  parseMode,
} from '../../../src/drivers/index.js';
import { vagrantHostState } from '../../../src/drivers/vagrant.js';
import { failure } from '../../helpers/failure.js';

const NAMES: DriverName[] = ['local', 'ssh', 'vagrant', 'boot2docker', 'dind'];

describe('drivers: the registry and mode detection', () => {
  it('has one driver per name, and a mode is the --mode word of a driver', () => {
    expect(NAMES.map((n) => driverFor(n).name)).to.deep.equal(NAMES);
    expect(INSTALL_MODES).to.deep.equal(['standalone', 'ssh', 'vagrant', 'boot2docker']);
    expect(INSTALL_MODES.map(parseMode)).to.deep.equal(['local', 'ssh', 'vagrant', 'boot2docker']);
    // dind is kitchen's only: no install mode selects it.
    expect(() => parseMode('dind')).to.throw(/not an install mode/);
    expect(Object.keys(kitchenDrivers())).to.deep.equal(KITCHEN_DRIVERS);
    expect(KITCHEN_DRIVERS).to.deep.equal(['dind', 'ssh', 'vagrant']);
  });

  it('detection picks a driver, with the mode word and the reason', () => {
    const f = {
      platform: 'linux' as NodeJS.Platform,
      commands: [] as string[],
      dockerRuns: true,
      hasHost: false,
    };
    expect(detectMode(f)).to.deep.include({ mode: 'standalone', driver: 'local' });
    expect(detectMode({ ...f, hasHost: true })).to.deep.include({ mode: 'ssh', driver: 'ssh' });
    expect(detectMode({ ...f, platform: 'darwin', commands: ['vagrant'] })).to.deep.include({
      mode: 'vagrant',
      driver: 'vagrant',
    });
    expect(detectMode({ ...f, platform: 'win32', commands: ['limactl'] })).to.deep.include({
      mode: 'boot2docker',
      driver: 'boot2docker',
    });
  });

  it('the local driver is this machine, whose seed names describe it', async () => {
    expect(await driverFor('local').create({ instance: 'default' })).to.deep.equal({
      ref: { kind: 'local', address: '127.0.0.1' },
      seedNames: true,
    });
  });

  it('the ssh driver reaches a host as written, with the key and host key policy given; it needs a host', async () => {
    const ssh = driverFor('ssh', { lookup: async () => undefined });
    const made = await ssh.create({
      instance: 'x',
      host: 'deploy@10.0.0.7:2222',
      keyPath: '/k/id',
      hostKeyPolicy: 'strict',
    });
    expect(made).to.deep.equal({
      ref: {
        kind: 'ssh',
        ssh: { host: '10.0.0.7', port: 2222, user: 'deploy', keyPath: '/k/id', hostKeyPolicy: 'strict' },
      },
      seedNames: false,
    });
    expect((await failure(ssh.create({ instance: 'x' }))).fix).to.match(/--host user@host/);
  });

  it('the dind driver names its host after the instance and records what destroy needs', async () => {
    const seen: string[] = [];
    const ssh = { host: '172.30.0.2', port: 22, user: 'root', hostKeyPolicy: 'accept-new' as const };
    const create = async (n: number, o: { prefix: string }): Promise<DindHosts> => {
      seen.push(`${n} ${o.prefix}`);
      const h = {
        name: `${o.prefix}-p1-h1`,
        address: ssh.host,
        port: 22,
        user: 'root',
        keyPath: '/tmp/pk-x/id_ed25519',
        ssh,
      };
      return {
        hosts: [h],
        network: `${o.prefix}-p1-net`,
        keyPath: h.keyPath,
        knownHostsPath: '/tmp/pk-x/known_hosts',
        destroy: async () => undefined,
      };
    };
    const made = await driverFor('dind', { dind: { prefix: 'pk', create } }).create({ instance: 'k1' });
    expect(seen).to.deep.equal(['1 pk-k1']);
    expect(made).to.deep.equal({
      ref: { kind: 'ssh', ssh },
      seedNames: false,
      dind: { container: 'pk-k1-p1-h1', network: 'pk-k1-p1-net', workDir: '/tmp/pk-x' },
    });
  });
});

describe('drivers: where a recorded host stands (state)', () => {
  const ssh = (host: string, port: number) => ({
    kind: 'ssh' as const,
    ssh: { host, port, user: 'root', hostKeyPolicy: 'strict' as const },
  });

  it('the local driver: this machine runs', async () => {
    expect(await driverFor('local').state({ name: 'x' })).to.deep.equal({
      state: 'running',
      detail: 'this machine',
    });
  });

  it('ssh and docker VM hosts: running when their sshd port answers, unreachable when it does not', async () => {
    const srv = createServer((s) => s.on('error', () => undefined).end('SSH-2.0-test\r\n'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    try {
      for (const d of ['ssh', 'boot2docker'] as const) {
        const up = await driverFor(d).state({ name: 'x', stage: ssh('127.0.0.1', port) });
        expect(up, d).to.deep.equal({ state: 'running', detail: `sshd answers on 127.0.0.1:${port}` });
      }
    } finally {
      await new Promise((r) => srv.close(r));
    }
    const down = await driverFor('ssh').state({ name: 'x', stage: ssh('127.0.0.1', port) });
    expect(down.state).to.equal('unreachable');
    expect(down.detail).to.match(new RegExp(`^127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    const jump = { ...ssh('10.0.0.9', 22), ssh: { ...ssh('10.0.0.9', 22).ssh, proxyJump: ssh('b', 22).ssh } };
    expect((await driverFor('ssh').state({ name: 'x', stage: jump })).state).to.equal('unknown');
    expect((await driverFor('ssh').state({ name: 'x' })).state).to.equal('unknown');
  });

  it("vagrant: the machine's state from vagrant status, unknown when vagrant fails", async () => {
    const line = (st: string) => `1700000000,x,provider-name,docker\n1700000000,x,state,${st}\n`;
    expect(vagrantHostState(line('running')).state).to.equal('running');
    expect(vagrantHostState(line('poweroff')).state).to.equal('stopped');
    expect(vagrantHostState(line('not_created'))).to.deep.equal({
      state: 'absent',
      detail: 'vagrant: not_created',
    });
    expect(vagrantHostState('garbage').state).to.equal('unknown');
    const asked: string[][] = [];
    const run = async (cmd: string, args: string[]) => {
      asked.push([cmd, ...args]);
      if (args.includes('gone')) throw new Error('vagrant exploded');
      return { stdout: line('saved') };
    };
    expect((await driverFor('vagrant', { run }).state({ name: 'k1' })).state).to.equal('stopped');
    expect(asked).to.deep.equal([['vagrant', 'status', '--machine-readable', 'k1']]);
    const failed = await driverFor('vagrant', { run }).state({ name: 'gone' });
    expect(failed).to.deep.equal({ state: 'unknown', detail: 'vagrant status failed: vagrant exploded' });
  });

  it("dind: the recorded container's state from docker inspect; absent once it is gone", async () => {
    const inspect = (status: string, running: boolean) =>
      JSON.stringify([{ Id: 'c1', Name: '/pk-k1-p1-h1', State: { Status: status, Running: running } }]);
    const answers: Record<string, () => string> = {
      up: () => inspect('running', true),
      off: () => inspect('exited', false),
      gone: () => {
        throw Object.assign(new Error('exit 1'), { stderr: 'Error: No such container: gone' });
      },
    };
    const run = async (_cmd: string, args: string[]) => ({ stdout: answers[args.at(-1)!]!() });
    const state = (container: string) =>
      driverFor('dind', { dind: { run } }).state({ name: 'k1', dind: { container } });
    expect(await state('up')).to.deep.equal({ state: 'running', detail: 'container up: running' });
    expect(await state('off')).to.deep.equal({ state: 'stopped', detail: 'container off: exited' });
    expect(await state('gone')).to.deep.equal({ state: 'absent', detail: 'container gone is gone' });
    expect((await driverFor('dind').state({ name: 'k1' })).state).to.equal('unknown');
  });
});
