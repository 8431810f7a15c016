// The everyday commands after install, through the real CLI as a user types
// them, on a docker-in-docker host installed over SSH: status (header, ports),
// info (URLs and lines to try, no secret), logs, then uninstall: --purge
// without --yes lists and changes nothing; with --yes the stack, its data,
// /opt/paasbox and the recorded instance are gone.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoPath } from '../../src/paths.js';
import { ensureStackImages } from '../helpers/images.js';
import { createTestHosts, hostExec, type TestHosts } from '../helpers/testhosts.js';

const run = promisify(execFile);

describe('status, info, logs and uninstall through the CLI on an installed host (integration)', function () {
  this.timeout(1_200_000);
  let th: TestHosts | undefined;
  const state = mkdtempSync(join(tmpdir(), 'pbcmd-state-'));
  const env = { ...process.env, PAASBOX_STATE_DIR: state };
  const paasbox = (...args: string[]) =>
    run(process.execPath, [repoPath('bin', 'paasbox.mjs'), ...args], { cwd: repoPath(), env, maxBuffer: 64 << 20 }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  before(async () => {
    await ensureStackImages(['consul']);
    th = await createTestHosts(1, { prefix: 'pbcmd', withDocker: true });
    const h = th.hosts[0]!;
    const config = join(state, 'paasbox.yaml');
    const off = ['zookeeper', 'mesos-master', 'mesos-slave', 'marathon', 'registrator', 'haproxy', 'dns'];
    writeFileSync(config, `services:\n${off.map((s) => `  ${s}: { enabled: false }`).join('\n')}\n`);
    const r = await paasbox('install', '--mode', 'ssh', '--host', `root@${h.address}`, '--key', h.keyPath, '--known-hosts', th.knownHostsPath, '--accept-new-host-key', '--config', config, '--json');
    expect(r.code, r.stderr).to.equal(0);
    expect(existsSync(join(state, 'instances', 'default.json'))).to.equal(true);
  });
  after(async () => th?.destroy());

  it('status: a header, each service with state, health and ports; exit 0', async () => {
    const r = await paasbox('status');
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[1]).to.match(/^SERVICE\s+STATE\s+HEALTH\s+RESTARTS\s+PORTS$/);
    expect(lines[2]).to.match(/^consul\s+running\s+healthy\s+0\s+http=8500\/tcp,dns=8600\/udp$/);
  });

  it('info: the URLs and a dig line for the recorded host, how to log in, and no secret', async () => {
    const ip = th!.hosts[0]!.address;
    const r = await paasbox('info');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include(`http://${ip}:8500/ui/`);
    expect(r.stdout).to.include(`curl http://${ip}:8500/v1/catalog/services`);
    const token = (await hostExec(th!.hosts[0]!, 'cat /opt/paasbox/secrets/consul-management-token')).trim();
    expect(token).to.match(/^[0-9a-f-]{36}$/);
    expect(r.stdout).to.not.include(token);
  });

  it('logs: the service\'s recent lines, consul\'s own and no more than --tail asks', async () => {
    const r = await paasbox('logs', 'consul', '--tail', '20');
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.split('\n').filter((l) => l.trim() !== '' && !/^Attaching to /.test(l));
    expect(lines.length, r.stdout).to.be.within(1, 20);
    // Every line is the consul container's (compose prefix), and Consul's own hclog lines are there:
    // "2026-12-07T00:25:26.018Z [INFO]  agent: Synced node info".
    const prefix = /^(?:paasbox[-_])?consul[-_]1\s+\| /;
    expect(lines.filter((l) => !prefix.test(l)), r.stdout).to.deep.equal([]);
    const hclog = /\| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z \[(?:TRACE|DEBUG|INFO|WARN|ERROR)\] +agent(?:\.[\w.-]+)?: \S/;
    expect(lines.some((l) => hclog.test(l)), r.stdout).to.equal(true);
  });

  it('uninstall --purge without --yes lists what it would delete and changes nothing; with --yes all is gone', async () => {
    const h = th!.hosts[0]!;
    const dry = await paasbox('uninstall', '--purge');
    expect(dry.code).to.equal(2);
    expect(dry.stderr).to.match(/volumes: .*paasbox_consul-data/);
    expect(dry.stderr).to.match(/images: .*paasbox\/consul:local/);
    expect(await hostExec(h, 'docker ps -q --filter label=com.docker.compose.project=paasbox | wc -l')).to.match(/^1\n$/);
    const r = await paasbox('uninstall', '--purge', '--yes');
    expect(r.code, r.stderr).to.equal(0);
    expect(await hostExec(h, 'docker ps -aq --filter label=com.docker.compose.project=paasbox | wc -l; docker volume ls -q | grep -c paasbox_consul-data; test -e /opt/paasbox && echo present || echo gone')).to.equal('0\n0\ngone\n');
    expect(existsSync(join(state, 'instances', 'default.json'))).to.equal(false);
  });
});
