// The fast route path never routes to an instance that is not healthy, on
// this machine's standalone install (install.mjs, as a user runs it: the
// worktree's images, converged in /opt/paasbox). The registrator registers an
// instance as passing the moment it is ready (Docker's healthcheck run early,
// or its own probe of the Consul check); these tests show that shortcut never
// lets in an instance whose check fails, that one turning unhealthy leaves
// HAProxy within its check interval, and that a HAProxy reload under a
// request loop fails no request. Traffic goes to 127.0.0.1 (HAProxy) and to
// the containers this spec starts; every container is removed after.

import autocannon from 'autocannon';
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getWithHost } from '../../src/bench/http.js';
import { fetchOnce } from '../helpers/http.js';
import { ensureExampleImage } from '../helpers/images.js';
import { installStandalone, sh, stackContainer } from '../helpers/standalone.js';
import { sleep, until } from '../helpers/until.js';

const run = promisify(execFile);

describe('route health: the fast path routes only healthy instances (integration)', function () {
  this.timeout(20 * 60_000);
  const env = { ...process.env, PAASBOX_STATE_DIR: mkdtempSync(join(tmpdir(), 'pb-route-health-state-')) };
  const tag = `pbrh${Date.now().toString(36)}`;
  const started: string[] = [];
  let ip = '';
  let haproxy = '';
  let image = '';

  /**
   * `docker run -d` of the example app as SERVICE_NAME=service, published on a random port; its container id.
   */
  const start = async (name: string, service: string, args: string[], cmd = '') => {
    const c = `${tag}-${name}`;
    started.push(c);
    const id = await sh(
      `docker run -d --name ${c} -p 8080 -e SERVICE_NAME=${service} ${args.join(' ')} ${image} ${cmd}`,
    );
    return {
      c,
      instance: id.slice(0, 12),
      port: Number((await sh(`docker port ${c} 8080/tcp`)).split('\n')[0]!.split(':').pop()),
    };
  };
  /** The passing instances Consul reports for service (anonymous reads services and nodes). */
  const passing = async (service: string) =>
    (
      (await (await fetchOnce(`http://${ip}:8500/v1/health/service/${service}?passing=1`)).json()) as {
        Service: { Port: number };
      }[]
    ).map((e) => e.Service.Port);
  /** HAProxy's servers of svc_service in the running config. */
  const servers = async (service: string) =>
    (await sh(`docker exec ${haproxy} sed -n '/^backend svc_${service}$/,/^$/p' /etc/haproxy/haproxy.cfg`))
      .split('\n')
      .filter((l) => /^\s+server /.test(l))
      .map((l) => Number(l.trim().split(/\s+/)[1]!.split(':')[1]));
  const byName = (service: string) =>
    getWithHost(80, `${service}.service.consul`, '/', '127.0.0.1', 3000).catch((e: Error) => ({
      status: 0,
      body: e.message,
      instance: undefined,
      ms: 0,
    }));

  before(async () => {
    image = await ensureExampleImage();
    ip = await installStandalone(env);
    haproxy = await stackContainer('haproxy');
  });

  after(async function () {
    if (this.currentTest?.state === 'failed') {
      for (const s of ['registrator', 'haproxy'])
        console.log(
          await sh(
            `docker logs --tail 40 $(docker ps -q --filter label=com.docker.compose.service=${s}) 2>&1`,
          ).catch(() => ''),
        );
    }
    if (started.length) await sh(`docker rm -f ${started.join(' ')}`).catch(() => undefined);
  });

  it('never routes to a container whose healthcheck fails, though its app answers', async () => {
    const svc = `${tag}a`;
    // Same app, same Consul HTTP check (which passes): only Docker's healthcheck differs.
    const good = await start('good', svc, [
      '-e SERVICE_CHECK_HTTP=/health',
      '--health-cmd "exit 0"',
      '--health-interval 1s',
      '--health-retries 1',
    ]);
    const bad = await start('bad', svc, [
      '-e SERVICE_CHECK_HTTP=/health',
      '--health-cmd "exit 1"',
      '--health-interval 1s',
      '--health-retries 1',
    ]);
    // No Docker healthcheck, a Consul HTTP check that cannot pass (the app listens elsewhere): the probe
    // path.
    const deaf = await start('deaf', `${tag}b`, [
      '-e SERVICE_CHECK_HTTP=/health',
      '-e SERVICE_CHECK_INTERVAL=1s',
      '-e PORT=9999',
      '--no-healthcheck',
    ]);
    await until(
      `${svc} routed to the good instance`,
      async () => ((await byName(svc)).instance === good.instance ? true : undefined),
      60_000,
      50,
    );
    // Watch for 5 check intervals of Docker's (1 s) and 3 of Consul's (2 s):
    // the bad instance is never passing, never a server, never answers by name.
    const seen: Record<string, number> = {};
    const deadline = Date.now() + 6_000;
    while (Date.now() < deadline) {
      const [a, p, s, pd] = await Promise.all([byName(svc), passing(svc), servers(svc), passing(`${tag}b`)]);
      seen[a.instance ?? `status ${a.status}`] = (seen[a.instance ?? `status ${a.status}`] ?? 0) + 1;
      expect(p, 'Consul passing ports').to.not.include(bad.port);
      expect(s, 'HAProxy servers').to.not.include(bad.port);
      expect(pd, 'passing instances of the service whose check fails').to.deep.equal([]);
      await sleep(50);
    }
    expect(seen[bad.instance] ?? 0, JSON.stringify(seen)).to.equal(0);
    expect(seen[good.instance] ?? 0, JSON.stringify(seen)).to.be.greaterThan(10);
    expect(await servers(svc)).to.deep.equal([good.port]);
    expect(await sh(`docker inspect -f '{{.State.Health.Status}}' ${bad.c}`)).to.equal('unhealthy');
    expect(await servers(`${tag}b`)).to.deep.equal([]);
    void deaf;
  });

  it('takes an instance whose Docker healthcheck turns unhealthy out of HAProxy within its check interval', async () => {
    const svc = `${tag}c`;
    const interval = 1; // s, retries 1: Docker calls it unhealthy after at most 2 intervals
    const a = await start('sick', svc, [
      '-e SERVICE_CHECK_HTTP=/health',
      `--health-cmd "test ! -e /tmp/sick"`,
      `--health-interval ${interval}s`,
      '--health-retries 1',
      '--health-timeout 1s',
    ]);
    await until(
      `${svc} routed`,
      async () => ((await byName(svc)).instance === a.instance ? true : undefined),
      60_000,
      50,
    );
    expect(await servers(svc)).to.deep.equal([a.port]);
    await sh(`docker exec ${a.c} touch /tmp/sick`);
    const t0 = Date.now();
    // Generous: two intervals for Docker to see it, plus 3 s for event, render and reload.
    const bound = 2 * interval * 1000 + 3000;
    // Out of HAProxy = out of the config and no longer answering by name (the
    // config file is swapped a moment before the new worker takes over).
    await until(
      `${svc} out of HAProxy`,
      async () =>
        (await servers(svc)).length === 0 && (await byName(svc)).instance !== a.instance ? true : undefined,
      bound,
      50,
    );
    const gone = Date.now() - t0;
    expect(await passing(svc)).to.deep.equal([]);
    for (let i = 0; i < 20; i++) {
      const r = await byName(svc);
      expect(r.instance, `answered by ${r.instance} after it left HAProxy`).to.not.equal(a.instance);
    }
    console.log(`      left HAProxy ${gone} ms after its healthcheck started failing (bound ${bound} ms)`);
  });

  it('takes an instance whose Consul check fails out of HAProxy within its check interval (no Docker healthcheck)', async () => {
    const svc = `${tag}d`;
    const interval = 1; // s, SERVICE_CHECK_INTERVAL
    // Python's static server: /health exists until the test removes it.
    const a = await start(
      'static',
      svc,
      ['-e SERVICE_CHECK_HTTP=/health', `-e SERVICE_CHECK_INTERVAL=${interval}s`, '--no-healthcheck'],
      `sh -c 'mkdir -p /srv && echo ok > /srv/health && exec python3 -m http.server 8080 --directory /srv'`,
    );
    await until(
      `${svc} routed`,
      async () =>
        (await servers(svc)).includes(a.port) && (await byName(svc)).status === 200 ? true : undefined,
      60_000,
      50,
    );
    await sh(`docker exec ${a.c} rm /srv/health`);
    const t0 = Date.now();
    const bound = 2 * interval * 1000 + 3000;
    await until(
      `${svc} out of HAProxy`,
      async () =>
        (await servers(svc)).length === 0 && (await byName(svc)).status !== 200 ? true : undefined,
      bound,
      50,
    );
    expect(await passing(svc)).to.deep.equal([]);
    for (let i = 0; i < 20; i++) expect((await byName(svc)).status).to.not.equal(200);
    console.log(
      `      left HAProxy ${Date.now() - t0} ms after its check started failing (bound ${bound} ms)`,
    );
  });

  it('fails no request across HAProxy reloads under a request loop', async () => {
    const svc = `${tag}e`;
    const a = await start('load', svc, ['-e SERVICE_CHECK_HTTP=/health']);
    await until(
      `${svc} routed`,
      async () => ((await byName(svc)).instance === a.instance ? true : undefined),
      60_000,
      50,
    );
    const workers = async () =>
      (
        await sh(
          `docker exec ${haproxy} sh -c 'echo "show proc" | socat stdio unix-connect:/var/run/haproxy-master.sock'`,
        )
      )
        .split('\n')
        .filter((l) => /\bworker\b/.test(l))
        .map((l) => l.trim().split(/\s+/)[0]);
    const before = await workers();
    const load = autocannon({
      url: 'http://127.0.0.1:80/',
      headers: { host: `${svc}.service.consul` },
      duration: 8,
      connections: 8,
      timeout: 10,
    });
    const reloads = 5;
    for (let i = 0; i < reloads; i++) {
      await sleep(1000);
      // The stack's own reload path: validate, swap the config, reload through the master socket, check a new
      // worker.
      const r = await run('docker', [
        'exec',
        haproxy,
        'sh',
        '-c',
        'cp /etc/haproxy/haproxy.cfg /etc/haproxy/haproxy.cfg.new && haproxy-reload',
      ]);
      expect(r.stderr).to.match(/config valid, reloaded/);
    }
    const res = await load;
    const after = await workers();
    expect(
      after.filter((p) => !before.includes(p)),
      'a new worker after the reloads',
    ).to.not.deep.equal([]);
    expect(res.requests.total).to.be.greaterThan(100);
    expect({ errors: res.errors, timeouts: res.timeouts, non2xx: res.non2xx }).to.deep.equal({
      errors: 0,
      timeouts: 0,
      non2xx: 0,
    });
    console.log(`      ${res.requests.total} requests across ${reloads} reloads, none failed`);
  });

  it('routes by name when docker gave the IPv4 and IPv6 bindings different host ports', async () => {
    // Docker allocates host ports per address family; a port held on one family
    // only (any process may hold one in docker's range) makes the two drift
    // apart for every later container. CI met it: python2 became
    // "python2-8080" in Consul and never answered by name.
    const bindings = async (c: string) => {
      const lines = (await sh(`docker port ${c} 8080/tcp`)).split('\n');
      const port = (re: RegExp) =>
        Number(
          lines
            .find((l) => re.test(l))
            ?.split(':')
            .pop() ?? NaN,
        );
      return { v4: port(/^0\.0\.0\.0:/), v6: port(/^\[::\]:/) };
    };
    const next = async () => {
      const c = `${tag}-probe${started.length}`;
      started.push(c);
      await sh(`docker run -d --name ${c} -p 8080 ${image} sleep infinity`);
      const b = await bindings(c);
      await sh(`docker rm -f ${c}`);
      return b;
    };
    /** Listens on host:port (one family only); a port held already is skipped by docker all the same. */
    const hold = async (host: string, port: number) => {
      const srv = createServer();
      const held = await new Promise<boolean>((res, rej) =>
        srv
          .once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? res(false) : rej(e)))
          .listen({ host, port, ipv6Only: host === '::' }, () => res(true)),
      );
      return { close: () => held && srv.close() };
    };
    // Drift them if they are not already: IPv4 skips its next port.
    const last = await next();
    const why = 'this docker binds published ports on :: too (the case under test)';
    expect(Number.isNaN(last.v6), why).to.equal(false);
    expect(last.v6, why).to.be.a('number');
    const v4hold = last.v4 === last.v6 ? [await hold('0.0.0.0', last.v4 + 1)] : [];
    const svc = `${tag}f`;
    let a: Awaited<ReturnType<typeof start>>;
    try {
      a = await start('drift', svc, ['-e SERVICE_CHECK_HTTP=/health']);
    } finally {
      for (const h of v4hold) h.close();
    }
    const b = await bindings(a.c);
    expect(b.v4, `docker's two bindings of 8080 (${JSON.stringify(b)})`).to.not.equal(b.v6);
    await until(
      `${svc} routed with drifted bindings ${JSON.stringify(b)}`,
      async () => ((await byName(svc)).instance === a.instance ? true : undefined),
      60_000,
      50,
    );
    const names = Object.keys(
      (await (await fetchOnce(`http://${ip}:8500/v1/catalog/services`)).json()) as Record<string, unknown>,
    );
    expect(names).to.include(svc).and.not.include(`${svc}-8080`);
    expect(await passing(svc)).to.deep.equal([b.v4]);
    // Leave docker's allocators aligned for whatever runs next: the family
    // that is behind skips as many ports as it is behind.
    const behind = b.v4 > b.v6 ? { host: '::', from: b.v6 } : { host: '0.0.0.0', from: b.v4 };
    const holds = [];
    for (let i = 1; i <= Math.abs(b.v4 - b.v6); i++) holds.push(await hold(behind.host, behind.from + i));
    try {
      const again = await next();
      expect(again.v4, 'realigned').to.equal(again.v6);
    } finally {
      for (const h of holds) h.close();
    }
  });
});
