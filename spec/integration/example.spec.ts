// The README's example on a standalone install, as a user runs it: install
// records the stage, then examples/SimpleWebappPython/start_with_marathon.sh
// with no flags deploys python1 and python2 through deploy.mjs on the recorded
// target (Docker swarm here, advertising the recorded address), and both apps
// answer by name through HAProxy. The apps and the swarm are removed after.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getByName } from '../../src/bench/reach.js';
import { repoPath } from '../../src/paths.js';
import { ensureExampleImage } from '../helpers/images.js';
import { installStandalone } from '../helpers/standalone.js';

const run = promisify(execFile);

describe('example: start_with_marathon.sh with no flags on a standalone install (integration)', function () {
  this.timeout(20 * 60_000);
  const env = { ...process.env, PAASBOX_STATE_DIR: mkdtempSync(join(tmpdir(), 'pb-example-state-')) };
  let ip = '';

  before(async () => {
    await ensureExampleImage();
    ip = await installStandalone(env);
    const inst = JSON.parse(
      readFileSync(join(env.PAASBOX_STATE_DIR, 'instances', 'default.json'), 'utf8'),
    ) as { deployment: { ip: string } };
    expect(inst.deployment.ip).to.equal(ip);
  });

  after(async () => {
    for (const app of ['deploy1_marathon', 'deploy2_marathon'])
      await run(
        'npx',
        [
          'zx',
          repoPath('scripts', 'deploy.mjs'),
          repoPath('examples', 'SimpleWebappPython', `${app}.json`),
          '--destroy',
        ],
        { cwd: repoPath(), env },
      ).catch(() => undefined);
    await run('docker', ['swarm', 'leave', '--force']).catch(() => undefined);
  });

  it('deploys both apps with no flags, and each answers by name through HAProxy', async () => {
    const r = await run(repoPath('examples', 'SimpleWebappPython', 'start_with_marathon.sh'), [], {
      cwd: repoPath(),
      env,
      maxBuffer: 64 << 20,
    });
    expect(r.stderr).to.not.match(/advertise address 127/);
    for (const app of ['python1', 'python2']) {
      const deadline = Date.now() + 60_000;
      let last = { status: 0, body: '' };
      while (Date.now() < deadline) {
        last = await getByName(ip, app).catch((e: Error) => ({ status: 0, body: e.message }));
        if (last.status === 200) break;
        await new Promise((res) => setTimeout(res, 500));
      }
      expect(last.status, `${app}.service.consul through HAProxy on ${ip}: ${last.body}`).to.equal(200);
    }
  });
});
