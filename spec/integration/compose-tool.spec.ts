// The real compose tool on this machine: detection, `config` on every golden
// (single-host and cluster), and one up/status/stop/start/down cycle of a tiny project (no host
// ports; project prefixed pbh1-).
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { LocalTarget } from '../../src/target/local.js';
import { detectComposeTool, type ComposeTool } from '../../src/compose/tool.js';
import { StackControl } from '../../src/compose/control.js';
import { repoPath } from '../../src/paths.js';
import { isCI } from '../helpers/ci.js';

describe('compose tool on this machine (integration)', function () {
  this.timeout(180_000);
  const target = new LocalTarget();
  let tool: ComposeTool | undefined;

  before(async function () {
    const docker = await target.exec('docker info --format "{{.ServerVersion}}"', { sudo: true });
    if (docker.code !== 0) {
      if (isCI())
        throw new Error(`no docker daemon, and CI=true: this spec must run (${docker.stderr.trim()})`);
      console.log('      skipped: no docker daemon here:', docker.stderr.trim());
      this.skip();
    }
    tool = await detectComposeTool(target);
  });

  it('detects the compose tool (v2 preferred)', async () => {
    const v2 = await target.exec('docker compose version', { sudo: true });
    expect(tool!.kind).to.equal(v2.code === 0 ? 'v2' : 'v1');
    expect(tool!.version).to.match(/^\d+\.\d+\.\d+$/);
  });

  // Every golden, the cluster hosts' files included: the compose tool itself must accept each one.
  const goldens = readdirSync(repoPath('spec', 'golden'))
    .filter((f) => f.endsWith('.yml'))
    .sort();
  it('has the single-host and cluster goldens to validate', () => {
    expect(goldens).to.include.members([
      'docker-compose.local.yml',
      'docker-compose.registry.yml',
      'cluster-agent.local.yml',
      'cluster-master1.registry.yml',
    ]);
  });
  for (const golden of goldens) {
    it(`accepts the generated ${golden} (compose config -q)`, async () => {
      const file = repoPath('spec', 'golden', golden);
      const ctl = new StackControl(target, file, 'pbh1-config', { tool: tool! });
      const services = await ctl.services();
      // An agent runs no ZooKeeper: every golden has the discovery services a host runs.
      expect(services).to.include.members(['consul', 'registrator', 'haproxy', 'dns']);
      const r = await ctl.compose(['config', '-q'], 'validating');
      expect(r.code, `${golden}: ${r.stderr}${r.stdout}`).to.equal(0);
    });
  }

  it('runs a project: up, waitHealthy, status, stop, start, logs, down', async function () {
    const img = await target.exec('docker image inspect paasbox/debian:bookworm', { sudo: true });
    if (img.code !== 0) {
      if (isCI())
        throw new Error('base image paasbox/debian:bookworm is not built, and CI=true: .ci/run builds it');
      console.log(
        '      skipped: base image paasbox/debian:bookworm is not built (scripts/build-images.mjs makes it)',
      );
      this.skip();
    }
    const dir = mkdtempSync(join(tmpdir(), 'pbh1-ctl-'));
    const file = join(dir, 'docker-compose.yml');
    writeFileSync(
      file,
      [
        'services:',
        '  ok:',
        '    image: paasbox/debian:bookworm',
        '    init: true',
        '    restart: unless-stopped',
        '    command: ["sh", "-c", "echo started; touch /tmp/ready; exec sleep infinity"]',
        '    healthcheck: { test: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, timeout: 2s, retries: 20 }',
        '  plain:',
        '    image: paasbox/debian:bookworm',
        '    init: true',
        '    command: ["sleep", "infinity"]',
        '',
      ].join('\n'),
    );
    const ctl = new StackControl(target, file, 'pbh1-ctl', { tool: tool! });
    try {
      await ctl.up();
      const st = await ctl.waitHealthy(60_000, undefined, { intervalMs: 500 });
      expect(st.map((s) => [s.service, s.state, s.health])).to.deep.equal([
        ['ok', 'running', 'healthy'],
        ['plain', 'running', 'none'],
      ]);
      expect(st[0]!.restartPolicy).to.equal('unless-stopped');
      await ctl.stop('plain');
      expect((await ctl.status()).find((s) => s.service === 'plain')!.state).to.equal('exited');
      await ctl.start('plain');
      expect((await ctl.status()).find((s) => s.service === 'plain')!.state).to.equal('running');
      expect(await ctl.logs('ok', 5)).to.include('started');
    } finally {
      await ctl.down({ volumes: true });
    }
    const after = await ctl.status();
    expect(after.every((s) => s.state === 'missing')).to.equal(true);
  });
});
