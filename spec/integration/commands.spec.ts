// The everyday commands after install, through the real CLI as a user types
// them, on a docker-in-docker host installed over SSH: status (header, ports),
// info (URLs and lines to try, no secret), logs; verify and its reporters
// (exit 0 healthy, exit 1 naming consul when it is stopped, status too); the
// control verbs stack stop/start/down --volumes (install restores); then uninstall: --purge
// without --yes lists and changes nothing; with --yes the stack, its data,
// /opt/paasbox and the recorded instance are gone.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoPath } from '../../src/paths.js';
import { poll } from '../../src/poll.js';
import { ensureStackImages } from '../helpers/images.js';
import { createTestHosts, hostExec, type TestHosts } from '../helpers/testhosts.js';

const run = promisify(execFile);

describe('status, info, logs and uninstall through the CLI on an installed host (integration)', function () {
  this.timeout(1_200_000);
  let th: TestHosts | undefined;
  const state = mkdtempSync(join(tmpdir(), 'pbcmd-state-'));
  const env = { ...process.env, PAASBOX_STATE_DIR: state };
  const paasbox = (...args: string[]) =>
    run(process.execPath, [repoPath('bin', 'paasbox.mjs'), ...args], {
      cwd: repoPath(),
      env,
      maxBuffer: 64 << 20,
    }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        stdout: e.stdout,
        stderr: e.stderr,
      }),
    );

  let install: () => ReturnType<typeof paasbox>;
  const consulContainer =
    'docker ps -aq --filter label=com.docker.compose.project=paasbox --filter label=com.docker.compose.service=consul';
  /** The stack's containers on the host: running, and all. */
  const containers = async () =>
    (
      await hostExec(
        th!.hosts[0]!,
        `docker ps -q --filter label=com.docker.compose.project=paasbox | wc -l; docker ps -aq --filter label=com.docker.compose.project=paasbox | wc -l`,
      )
    )
      .split('\n')
      .slice(0, 2)
      .map(Number);
  /** Until `status` exits 0 (every service running and healthy). */
  const healthy = () =>
    poll(
      {
        what: 'paasbox status exit 0',
        timeoutMs: 120_000,
        everyMs: 2000,
        fix: 'docker exec into the pbcmd test host: docker ps -a; docker logs',
      },
      async () => ((await paasbox('status')).code === 0 ? true : undefined),
    );
  /** JUnit XML read by an XML parser (python3's ElementTree): the suite totals, and the testcases counted. */
  const junit = async (xml: string) => {
    const py = [
      'import json,sys,xml.etree.ElementTree as E',
      'r=E.fromstring(sys.stdin.read())',
      'c=r.findall(".//testcase")',
      'print(json.dumps({"tests":int(r.get("tests")),"failures":int(r.get("failures")),"skipped":int(r.get("skipped")),"cases":len(c),',
      '"failed":[t.get("name") for t in c if t.find("failure") is not None],"skips":len([t for t in c if t.find("skipped") is not None])}))',
    ].join('\n');
    const r = await new Promise<string>((resolve, reject) => {
      const p = execFile('python3', ['-c', py], (e, out, err) =>
        e ? reject(new Error(`not valid JUnit XML: ${err}`)) : resolve(out),
      );
      p.stdin!.end(xml);
    });
    return JSON.parse(r) as {
      tests: number;
      failures: number;
      skipped: number;
      cases: number;
      failed: string[];
      skips: number;
    };
  };
  type Report = {
    passed: number;
    failed: number;
    skipped: number;
    results: { id: string; status: string }[];
  };
  const counted = (j: Report) =>
    ['passed', 'failed', 'skipped'].map((s) => j.results.filter((x) => x.status === s).length);

  before(async () => {
    await ensureStackImages(['consul']);
    th = await createTestHosts(1, { prefix: 'pbcmd', withDocker: true });
    const h = th.hosts[0]!;
    const config = join(state, 'paasbox.yaml');
    const off = [
      'zookeeper',
      'mesos-master',
      'mesos-slave',
      'marathon',
      'apps-api',
      'acme',
      'registry',
      'registrator',
      'haproxy',
      'dns',
    ];
    writeFileSync(config, `services:\n${off.map((s) => `  ${s}: { enabled: false }`).join('\n')}\n`);
    install = () =>
      paasbox(
        'install',
        '--mode',
        'ssh',
        '--host',
        `root@${h.address}`,
        '--key',
        h.keyPath,
        '--known-hosts',
        th!.knownHostsPath,
        '--accept-new-host-key',
        '--config',
        config,
        '--json',
      );
    const r = await install();
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

  it("logs: the service's recent lines, consul's own and no more than --tail asks", async () => {
    const r = await paasbox('logs', 'consul', '--tail', '20');
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.split('\n').filter((l) => l.trim() !== '' && !/^Attaching to /.test(l));
    expect(lines.length, r.stdout).to.be.within(1, 20);
    // Every line is the consul container's (compose prefix), and Consul's own hclog lines are there:
    // "2026-12-07T00:25:26.018Z [INFO]  agent: Synced node info".
    const prefix = /^(?:paasbox[-_])?consul[-_]1\s+\| /;
    expect(
      lines.filter((l) => !prefix.test(l)),
      r.stdout,
    ).to.deep.equal([]);
    const hclog =
      /\| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z \[(?:TRACE|DEBUG|INFO|WARN|ERROR)\] +agent(?:\.[\w.-]+)?: \S/;
    expect(
      lines.some((l) => hclog.test(l)),
      r.stdout,
    ).to.equal(true);
  });

  it('verify: exit 0 on the healthy stack; --reporter json and junit are valid, with the same counts', async () => {
    const spec = await paasbox('verify');
    expect(spec.code, spec.stdout + spec.stderr).to.equal(0);
    const json = await paasbox('verify', '--reporter', 'json');
    expect(json.code, json.stderr).to.equal(0);
    const j = JSON.parse(json.stdout) as Report;
    expect([j.passed, j.failed, j.skipped]).to.deep.equal(counted(j));
    expect(j.failed).to.equal(0);
    expect(j.passed).to.be.greaterThan(0);
    const x = await paasbox('verify', '--reporter', 'junit');
    expect(x.code, x.stderr).to.equal(0);
    const u = await junit(x.stdout);
    expect(u).to.deep.equal({
      tests: j.results.length,
      failures: 0,
      skipped: j.skipped,
      cases: j.results.length,
      failed: [],
      skips: j.skipped,
    });
  });

  it('consul stopped: status and verify (spec, json, junit) exit 1 naming it; started again, status exits 0', async () => {
    const h = th!.hosts[0]!;
    await hostExec(h, `docker stop $(${consulContainer})`);
    try {
      const status = await paasbox('status');
      expect(status.code, status.stdout + status.stderr).to.equal(1);
      expect(status.stdout).to.match(/^consul\s+exited\b/m);
      const spec = await paasbox('verify');
      expect(spec.code, spec.stdout + spec.stderr).to.equal(1);
      // The spec report: a ✗ under the consul service's heading, and the failures counted.
      expect(spec.stdout).to.match(/^ {2}consul\n(?:(?! {2}\S).*\n)*? {4}✗ /m);
      expect(spec.stdout).to.match(/\d+ passed, [1-9]\d* failed/);
      const json = await paasbox('verify', '--reporter', 'json');
      expect(json.code).to.equal(1);
      const j = JSON.parse(json.stdout) as Report;
      expect([j.passed, j.failed, j.skipped]).to.deep.equal(counted(j));
      expect(j.results.filter((r) => r.status === 'failed').map((r) => r.id)).to.include(
        'consul/container/running',
      );
      // The machine formats name the failures on stderr too.
      expect(json.stderr).to.include('consul/container/running');
      const x = await paasbox('verify', '--reporter', 'junit');
      expect(x.code).to.equal(1);
      const u = await junit(x.stdout);
      expect([u.cases, u.failed.length, u.skips], 'the totals are the testcases counted').to.deep.equal([
        u.tests,
        u.failures,
        u.skipped,
      ]);
      expect(u.failures).to.be.greaterThan(0);
      expect(
        u.failed.some((n) => n.startsWith('consul/container/running:')),
        u.failed.join('\n'),
      ).to.equal(true);
    } finally {
      await hostExec(h, `docker start $(${consulContainer})`);
    }
    await healthy();
  });

  it('stack stop, start and down --volumes run for real; install brings the stack back', async () => {
    const h = th!.hosts[0]!;
    const stop = await paasbox('stack', 'stop');
    expect(stop.code, stop.stderr).to.equal(0);
    expect(await containers(), 'stopped, not removed').to.deep.equal([0, 1]);
    expect((await paasbox('status')).code).to.equal(1);
    const start = await paasbox('stack', 'start');
    expect(start.code, start.stderr).to.equal(0);
    expect(await containers()).to.deep.equal([1, 1]);
    await healthy();
    const down = await paasbox('stack', 'down', '--volumes');
    expect(down.code, down.stderr).to.equal(0);
    expect(down.stderr).to.include('--volumes deletes the data volumes');
    expect(await containers(), 'removed').to.deep.equal([0, 0]);
    expect(await hostExec(h, 'docker volume ls -q | grep -c paasbox_consul-data || true')).to.equal('0\n');
    // Back as it was: install again on the emptied host.
    const again = await install();
    expect(again.code, again.stderr).to.equal(0);
    expect(await containers()).to.deep.equal([1, 1]);
    await healthy();
  });

  it('uninstall --purge without --yes lists what it would delete and changes nothing; with --yes all is gone', async () => {
    const h = th!.hosts[0]!;
    const dry = await paasbox('uninstall', '--purge');
    expect(dry.code).to.equal(2);
    expect(dry.stderr).to.match(/volumes: .*paasbox_consul-data/);
    expect(dry.stderr).to.match(/images: .*paasbox\/consul:local/);
    expect(
      await hostExec(h, 'docker ps -q --filter label=com.docker.compose.project=paasbox | wc -l'),
    ).to.match(/^1\n$/);
    const r = await paasbox('uninstall', '--purge', '--yes');
    expect(r.code, r.stderr).to.equal(0);
    expect(
      await hostExec(
        h,
        'docker ps -aq --filter label=com.docker.compose.project=paasbox | wc -l; docker volume ls -q | grep -c paasbox_consul-data; test -e /opt/paasbox && echo present || echo gone',
      ),
    ).to.equal('0\n0\ngone\n');
    expect(existsSync(join(state, 'instances', 'default.json'))).to.equal(false);
  });
});
