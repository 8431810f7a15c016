// LocalTarget on this machine: a timed-out command dies with everything it
// started (its process group), argv runs with no shell, an abort ends a
// command, and atomic writes never share a temp file.
import { expect } from 'chai';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atomicWriteCommand, LocalTarget } from '../../../src/target/local.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('LocalTarget', () => {
  let dir: string;
  const t = new LocalTarget();
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pb-local-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('a timeout kills the whole process group: a child in the background dies with bash', async () => {
    const pidFile = join(dir, 'child.pid');
    // The child keeps no pipe of paasbox's open, as a daemonised helper would.
    const r = await t.exec(`sleep 30 >/dev/null 2>&1 </dev/null & echo $! > ${pidFile}; wait`, {
      timeoutMs: 500,
    });
    expect(r.code).to.equal(124);
    expect(r.stderr).to.include('timed out after 500 ms');
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    expect(pid).to.be.above(0);
    const end = Date.now() + 5000;
    while (alive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(alive(pid), `child ${pid} still runs`).to.equal(false);
  });

  it('a child ignoring SIGTERM is killed after the grace', async function () {
    this.timeout(15_000);
    const pidFile = join(dir, 'stubborn.pid');
    const r = await t.exec(
      `bash -c 'trap "" TERM; echo $$ > ${pidFile}; while :; do sleep 0.1; done' >/dev/null 2>&1 & wait`,
      { timeoutMs: 500 },
    );
    expect(r.code).to.equal(124);
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    const end = Date.now() + 8000;
    while (alive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    expect(alive(pid), `stubborn child ${pid} still runs`).to.equal(false);
  });

  it('without a timeout, a command and its output are as before', async () => {
    const r = await t.exec('echo out; echo err >&2; exit 3');
    expect(r).to.deep.equal({ code: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  it('run passes argv with no shell: a word with shell syntax stays one word, untouched', async () => {
    const marker = join(dir, 'pwned');
    const word = `$(touch ${marker}); \`touch ${marker}\` && touch ${marker} | x > y`;
    const r = await t.run(['printf', '%s', word]);
    expect(r).to.deep.equal({ code: 0, stdout: word, stderr: '' });
    expect(
      await stat(marker).then(
        () => true,
        () => false,
      ),
    ).to.equal(false);
  });

  it('an aborted signal ends a running command at once', async () => {
    const stop = new AbortController();
    const t0 = Date.now();
    const running = t.run(['sleep', '30'], { signal: stop.signal });
    setTimeout(() => stop.abort(), 200);
    const r = await running;
    expect(r.code).not.to.equal(0);
    expect(Date.now() - t0).to.be.below(5000);
  });

  describe('atomic writes', () => {
    it('use a temp file of their own beside the target, made by mktemp, and leave none behind', async () => {
      const path = join(dir, 'sub dir', 'f.yml');
      const cmd = atomicWriteCommand(path, 0o640);
      expect(cmd).to.include(`mktemp '${join(dir, 'sub dir')}/.f.yml.paasbox-tmp.XXXXXX'`);
      expect(cmd).to.not.include(`${path}.paasbox-tmp'`);
      await t.writeFile(path, 'a: 1\n', 0o640);
      expect(await readFile(path, 'utf8')).to.equal('a: 1\n');
      expect((await stat(path)).mode & 0o777).to.equal(0o640);
      expect(await readdir(join(dir, 'sub dir'))).to.deep.equal(['f.yml']);
    });

    it('concurrent writers of one file never mix: the file is one of them, whole', async () => {
      const path = join(dir, 'compose.yml');
      const bodies = Array.from({ length: 8 }, (_, i) => `writer ${i}\n`.repeat(20_000));
      await Promise.all(bodies.map((b) => t.writeFile(path, b)));
      expect(bodies).to.include(await readFile(path, 'utf8'));
      expect(await readdir(dir)).to.deep.equal(['compose.yml']);
    });

    it('without a mode the file gets what the umask gives a new file', async () => {
      const path = join(dir, 'plain');
      await t.exec(`umask 027; ${atomicWriteCommand(path)}`, { stdin: 'x' });
      expect((await stat(path)).mode & 0o777).to.equal(0o640);
    });

    it('a failed write removes its temp file and keeps the old content', async () => {
      const path = join(dir, 'keep');
      await t.writeFile(path, 'old\n');
      // The rename fails (a shell function standing in for mv).
      const r = await t.exec(`mv() { return 1; }; ${atomicWriteCommand(path)}`, { stdin: 'new' });
      expect(r.code).to.not.equal(0);
      expect(await readdir(dir)).to.deep.equal(['keep']);
      expect(await readFile(path, 'utf8')).to.equal('old\n');
    });
  });
});
