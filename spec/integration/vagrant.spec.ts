// install.mjs --mode vagrant with Vagrant's docker provider: the Vagrantfile
// builds the test host image, vagrant brings it up with SSH, install reads
// `vagrant ssh-config` and provisions over SSH. Skipped without vagrant.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoPath } from '../../src/paths.js';
import { isCI } from '../helpers/ci.js';
import { ensureTestHostImage } from '../helpers/testhosts.js';

// The installs these tests run record their throwaway targets here, never in the user's .paasbox/.
process.env['PAASBOX_STATE_DIR'] ??= mkdtempSync(join(tmpdir(), 'paasbox-state-'));

const run = promisify(execFile);

describe('install --mode vagrant (docker provider, integration)', function () {
  this.timeout(900_000);
  // Own machine state and container name per run, so parallel runs never share a machine.
  const env = {
    ...process.env,
    PAASBOX_VAGRANT_NAME: `pbh3-vagrant-p${process.pid}`,
    VAGRANT_DOTFILE_PATH: join(tmpdir(), `pbh3-vagrant-p${process.pid}`),
    VAGRANT_DEFAULT_PROVIDER: 'docker',
  };

  before(async function () {
    const has = await run('sh', ['-c', 'command -v vagrant']).then(
      () => true,
      () => false,
    );
    if (!has) {
      // .ci/run installs vagrant: there its absence is a failure, never a skip.
      if (isCI()) throw new Error('vagrant is not installed, which .ci/run provides');
      console.log('      skipped: vagrant is not installed (apt-get install vagrant)');
      this.skip();
    }
    await ensureTestHostImage('bare'); // its base must exist; the Vagrantfile builds stacks/dind-host
  });
  after(async () => {
    await run('vagrant', ['destroy', '-f'], { cwd: repoPath(), env }).catch(() => undefined);
    await rm(env.VAGRANT_DOTFILE_PATH, { recursive: true, force: true });
  });

  it('brings the machine up and provisions the host steps; a second run is all ok', async () => {
    const args = [
      'zx',
      repoPath('scripts', 'install.mjs'),
      '--mode',
      'vagrant',
      '--provider',
      'docker',
      '--host-only',
      '--json',
    ];
    const r1 = await run('npx', args, { cwd: repoPath(), env, maxBuffer: 64 << 20 });
    const s1 = JSON.parse(r1.stdout) as {
      mode: string;
      failed: number;
      steps: Array<{ step: string; status: string }>;
    };
    expect(s1.mode).to.equal('vagrant');
    expect(s1.failed).to.equal(0);
    expect(s1.steps.find((s) => s.step === 'docker engine')?.status).to.equal('changed');
    const r2 = await run('npx', args, { cwd: repoPath(), env, maxBuffer: 64 << 20 });
    const s2 = JSON.parse(r2.stdout) as { steps: Array<{ status: string }> };
    expect(s2.steps.map((s) => s.status)).to.deep.equal(['ok', 'ok', 'ok']);
    const cfg = await run('vagrant', ['ssh-config'], { cwd: repoPath(), env });
    expect(cfg.stdout).to.match(/User root/);
  });
});
