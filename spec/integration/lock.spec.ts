// One lock per target, for real over SSH on a docker-in-docker test host: two
// installs at once (provisionTarget, the code install runs) never interleave.
// While one runs, a second with a short --lock-timeout fails naming it, and so
// does the CLI (deploy); a second with a long one waits, then converges; the
// compose file on the host is exactly the last install's, never a mix.
// The stack is one small web service (a perl HTTP server in the base image).

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { Progress } from '../../src/progress.js';
import { provisionTarget } from '../../src/provision/provision.js';
import { COMPOSE_PATH, APPLIED_PATH } from '../../src/stackfile/deployment.js';
import type { StackModel } from '../../src/model/model.js';
import { repoPath } from '../../src/paths.js';
import { LOCK_PATH } from '../../src/instance/lock.js';
import { SshTarget } from '../../src/target/ssh.js';
import { failure } from '../helpers/failure.js';
import { fetchOnce } from '../helpers/http.js';
import { createTestHosts, hostExec, type TestHosts } from '../helpers/testhosts.js';

process.env['PAASBOX_STATE_DIR'] ??= mkdtempSync(join(tmpdir(), 'paasbox-state-'));
const run = promisify(execFile);

function web(port: number, reply: string): StackModel {
  const perl =
    `use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalPort => ${port}, Listen => 5, ReuseAddr => 1) or die "listen: $!"; ` +
    `while (my $c = $s->accept) { my $l = <$c>; print $c "HTTP/1.0 200 OK\\r\\n\\r\\n${reply}\\n"; close $c }`;
  return {
    version: 1,
    name: 'paasbox',
    services: {
      web: {
        description: 'test web server',
        role: 'all',
        network: 'host',
        restart: 'unless-stopped',
        sources: {
          local: { image: 'paasbox/debian:bookworm' },
          registry: { image: 'paasbox/debian:bookworm' },
        },
        command: ['perl', '-e', perl],
        ports: [{ name: 'http', port, protocol: 'tcp' }],
        healthcheck: {
          test: [
            'CMD',
            'bash',
            '-c',
            `exec 3<>/dev/tcp/127.0.0.1/${port} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ${reply} <&3`,
          ],
          interval: '1s',
          timeout: '3s',
          retries: 60,
        },
      },
    },
  };
}

describe('one lock per target: concurrent installs (integration)', function () {
  this.timeout(900_000);
  let th: TestHosts;
  const targets: SshTarget[] = [];
  const open = () => {
    const h = th.hosts[0]!;
    const t = new SshTarget({ host: h.address, keyPath: th.keyPath, knownHostsPath: th.knownHostsPath });
    targets.push(t);
    return t;
  };

  before(async () => {
    th = await createTestHosts(1, { prefix: 'pbl-lock', withDocker: true });
  });
  after(async () => {
    for (const t of targets) await t.close();
    await th?.destroy();
  });

  it("a second install fails naming the first, or waits for it; the compose file is the last one's, whole", async () => {
    const h = th.hosts[0]!;
    const first = web(8500, 'first');
    const second = web(8503, 'second');
    // Both installs' progress lines, in the order they were written.
    const events: string[] = [];
    const a = provisionTarget(open(), {
      model: first,
      env: {},
      progress: new Progress({ write: (l) => events.push(`a ${l}`) }),
      healthTimeoutS: 300,
    });
    a.catch(() => undefined);

    // The first install holds the lock, and says who it is in the lock file on the target.
    let record = '';
    for (
      const end = Date.now() + 120_000;
      Date.now() < end && !record.includes('"install"');
      await new Promise((r) => setTimeout(r, 200))
    )
      record = await hostExec(h, `cat ${LOCK_PATH} 2>/dev/null || true`);
    const holder = JSON.parse(record) as { command: string; pid: number; host: string; started: string };
    expect(holder).to.include({ command: 'install', pid: process.pid, host: hostname() });
    const named = `another paasbox install (pid ${process.pid} on ${hostname()}, started ${holder.started})`;

    // A second install with a short timeout: refused with the holder's name, nothing done.
    const quick = await failure(
      provisionTarget(open(), {
        model: second,
        env: {},
        progress: new Progress({ write: () => undefined }),
        lockTimeoutS: 1,
      }),
    );
    expect(quick.kind).to.equal('transient');
    expect(quick.problem).to.equal(
      `${named} holds the lock on root@${h.address}:22 (${LOCK_PATH}); gave up after 1s`,
    );

    // The CLI says the same (deploy holds the lock too), exit 75 (run again).
    const cli = await run(
      'npx',
      [
        'zx',
        repoPath('scripts', 'deploy.mjs'),
        join(tmpdir(), 'no-such-app.json'),
        '--target',
        `root@${h.address}`,
        '--key',
        th.keyPath,
        '--known-hosts',
        th.knownHostsPath,
        '--lock-timeout',
        '1',
      ],
      { cwd: repoPath(), env: process.env },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (x: { code: number; stderr: string }) => x,
    );
    expect(cli.code, cli.stderr).to.equal(75);
    expect(cli.stderr).to.include(
      `paasbox deploy: ${named} holds the lock on root@${h.address}:22; waiting up to 1s`,
    );
    expect(cli.stderr).to.include(
      `paasbox: ${named} holds the lock on root@${h.address}:22 (${LOCK_PATH}); gave up after 1s`,
    );

    // A second install that may wait: it runs once the first is done.
    const b = provisionTarget(open(), {
      model: second,
      env: {},
      progress: new Progress({ write: (l) => events.push(`b ${l}`) }),
      lockTimeoutS: 600,
      healthTimeoutS: 300,
    });
    const outA = await a;
    const outB = await b;
    expect(outA.steps.every((s) => s.status !== 'failed')).to.equal(true);
    expect(events.find((l) => l.startsWith('b ') && l.includes('holds the lock'))).to.include(
      `${named} holds the lock; waiting up to 600s`,
    );
    // The second began (planned) only after the first's last step had finished.
    const aLast = events.findIndex((l) => l.startsWith('a ') && l.includes('stack healthy: '));
    const bFirst = events.findIndex((l) => l.startsWith('b ') && l.includes('plan the stack'));
    expect(aLast, events.join('\n')).to.be.above(-1);
    expect(bFirst, events.join('\n')).to.be.above(aLast);

    // The compose file: exactly the second install's, whole, and the one that is up.
    const text = await hostExec(h, `cat ${COMPOSE_PATH}`);
    expect(createHash('sha256').update(text).digest('hex')).to.equal(outB.plan!.composeHash);
    expect(Object.keys((parse(text) as { services: object }).services)).to.deep.equal(['web']);
    expect((await hostExec(h, `cat ${APPLIED_PATH}`)).trim()).to.equal(outB.plan!.composeHash);
    const answer = await fetchOnce(`http://${h.address}:8503/`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => r.text(),
    );
    expect(answer).to.equal('second\n');
    // Both done: the lock is free and its record cleared.
    expect((await hostExec(h, `cat ${LOCK_PATH}`)).trim()).to.equal('');
  });
});
