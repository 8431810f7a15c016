// The target lock with real holders on this machine (LocalTarget, a lock file
// of the test's own): a second run waits for the first, or fails naming it.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireTargetLock, describeHolder, withTargetLock } from '../../../src/instance/lock.js';
import { LocalTarget } from '../../../src/target/local.js';
import { AnsweringTarget } from '../../helpers/answering-target.js';
import { failure } from '../../helpers/failure.js';

describe('target lock (flock on the target)', function () {
  this.timeout(30_000);
  const t = new LocalTarget();
  let dir: string;
  let path: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pb-lock-'));
    path = join(dir, 'run', 'paasbox.lock');
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('the holder records who it is; a second run fails after its timeout naming the holder', async () => {
    const first = await acquireTargetLock(t, { command: 'install', path });
    try {
      const record = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
      expect(record).to.include({ command: 'install', pid: process.pid, host: hostname() });
      const waited: string[] = [];
      const t0 = Date.now();
      const e = await failure(
        acquireTargetLock(t, { command: 'stack up', path, timeoutS: 1, onWait: (h) => waited.push(h) }),
      );
      expect(Date.now() - t0).to.be.at.least(1000);
      expect(e.kind).to.equal('transient');
      expect(e.problem).to.equal(
        `another paasbox install (pid ${process.pid} on ${hostname()}, started ${String(record['started'])}) holds the lock on local (${path}); gave up after 1s`,
      );
      expect(e.fix).to.include('--lock-timeout');
      expect(waited).to.deep.equal([
        `another paasbox install (pid ${process.pid} on ${hostname()}, started ${String(record['started'])})`,
      ]);
    } finally {
      await first.release();
    }
    // Released: the record is cleared and the next run gets the lock at once.
    expect(await readFile(path, 'utf8')).to.equal('');
    const again = await acquireTargetLock(t, { command: 'uninstall', path, timeoutS: 0 });
    await again.release();
  });

  it('--lock-timeout 0 fails at once', async () => {
    const first = await acquireTargetLock(t, { command: 'deploy', path });
    try {
      const t0 = Date.now();
      const e = await failure(acquireTargetLock(t, { command: 'install', path, timeoutS: 0 }));
      expect(Date.now() - t0).to.be.below(1500);
      expect(e.problem).to.match(/^another paasbox deploy \(pid \d+ on .*\) holds the lock on local/);
    } finally {
      await first.release();
    }
  });

  it('a second run waits while the first holds the lock, then runs: never both at once', async () => {
    const events: string[] = [];
    const run = (name: string, ms: number) =>
      withTargetLock(t, { command: name, path, timeoutS: 20 }, async () => {
        events.push(`${name} in`);
        await new Promise((r) => setTimeout(r, ms));
        events.push(`${name} out`);
      });
    const a = run('a', 1500);
    await new Promise((r) => setTimeout(r, 300));
    let waitedFor = '';
    const b = withTargetLock(
      t,
      { command: 'b', path, timeoutS: 20, onWait: (h) => (waitedFor = h) },
      async () => {
        events.push('b in');
        events.push('b out');
      },
    );
    await Promise.all([a, b]);
    expect(events).to.deep.equal(['a in', 'a out', 'b in', 'b out']);
    expect(waitedFor).to.match(/^another paasbox a \(pid \d+/);
  });

  it('is released when the operation throws', async () => {
    const e = await withTargetLock(t, { command: 'install', path }, async () => {
      throw new Error('step failed');
    }).then(
      () => undefined,
      (x: Error) => x,
    );
    expect(e?.message).to.equal('step failed');
    const next = await acquireTargetLock(t, { command: 'install', path, timeoutS: 0 });
    await next.release();
  });

  it('is freed when the paasbox holding it dies (killed -9: no stale lock)', async () => {
    const lockModule = new URL('../../../src/instance/lock.js', import.meta.url).href;
    const localModule = new URL('../../../src/target/local.js', import.meta.url).href;
    const script = `const { acquireTargetLock } = await import(${JSON.stringify(lockModule)});
      const { LocalTarget } = await import(${JSON.stringify(localModule)});
      await acquireTargetLock(new LocalTarget(), { command: 'install', path: ${JSON.stringify(path)} });
      console.log('held'); setInterval(() => undefined, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
      child.on('exit', (c) => reject(new Error(`holder exited ${c}`)));
    });
    const e = await failure(acquireTargetLock(t, { command: 'stack up', path, timeoutS: 0 }));
    expect(e.problem).to.include(`another paasbox install (pid ${child.pid} on`);
    child.kill('SIGKILL');
    const next = await acquireTargetLock(t, { command: 'stack up', path, timeoutS: 5 });
    await next.release();
  });

  it("names the missing flock, and a lock file it cannot open, as the target's failures", async () => {
    const noFlock = new AnsweringTarget('h', '10.0.0.5', () => ({ code: 3, stdout: '' }));
    const e1 = await failure(acquireTargetLock(noFlock, { command: 'install' }));
    expect(e1.kind).to.equal('target');
    expect(e1.problem).to.equal('flock is missing on h, so paasbox cannot lock it');
    const e2 = await failure(
      acquireTargetLock(t, { command: 'install', path: '/proc/paasbox.lock', timeoutS: 0 }),
    );
    expect(e2.kind).to.equal('target');
    expect(e2.problem).to.match(/^cannot take the lock \/proc\/paasbox.lock on local/);
  });

  it("describes a record that is not paasbox's as another run", () => {
    expect(describeHolder('')).to.equal('another paasbox run');
    expect(
      describeHolder('{"command":"stack down","pid":7,"host":"ci","started":"2024-01-01T00:00:00.000Z"}'),
    ).to.equal('another paasbox stack down (pid 7 on ci, started 2024-01-01T00:00:00.000Z)');
  });
});
