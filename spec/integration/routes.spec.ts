// Routes cannot break routing (issue 19), on this machine's standalone install
// (install.mjs, as a user runs it): while one app asks for a TCP route on a
// port outside the apps' range (tcp=8500, Consul's own port) and another for
// a port inside it that another process on the host already holds, a new app
// is still routed by name within a second of Consul passing it, and HAProxy's
// log names each dropped route. With the template and reload script before
// the fix, HAProxy tried to bind 8500, every reload failed, and the new app
// stayed 404. Traffic goes to 127.0.0.1 (HAProxy) and to the containers this
// spec starts; every container and the port holder are removed after.

import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getWithHost } from '../../src/bench/http.js';
import { fetchOnce } from '../helpers/http.js';
import { ensureExampleImage } from '../helpers/images.js';
import { installStandalone, sh, stackContainer } from '../helpers/standalone.js';
import { until } from '../helpers/until.js';

/** Listen on 0.0.0.0:port, as any process of the host might; undefined when the port is not free. */
function hold(port: number): Promise<Server | undefined> {
  return new Promise((ok) => {
    const s = createServer((c) => c.destroy());
    s.once('error', () => ok(undefined));
    s.listen({ port, host: '0.0.0.0', exclusive: true }, () => ok(s));
  });
}

describe('routes: one unusable route never stops the others (integration)', function () {
  this.timeout(20 * 60_000);
  const env = { ...process.env, PAASBOX_STATE_DIR: mkdtempSync(join(tmpdir(), 'pb-routes-state-')) };
  const tag = `pbro${Date.now().toString(36)}`;
  const started: string[] = [];
  let holder: Server | undefined;
  let ip = '';
  let haproxy = '';
  let image = '';

  const start = async (name: string, service: string, tags: string) => {
    const c = `${tag}-${name}`;
    started.push(c);
    const id = await sh(
      `docker run -d --name ${c} -p 8080 -e SERVICE_NAME=${service} -e SERVICE_TAGS=${tags} -e SERVICE_CHECK_HTTP=/health ${image}`,
    );
    return { c, instance: id.slice(0, 12) };
  };
  const passing = async (service: string) =>
    (
      (await (
        await fetchOnce(`http://${ip}:8500/v1/health/service/${service}?passing=1`)
      ).json()) as unknown[]
    ).length;
  const byName = (service: string) =>
    getWithHost(80, `${service}.service.consul`, '/', '127.0.0.1', 3000).catch((e: Error) => ({
      status: 0,
      body: e.message,
      instance: undefined,
      ms: 0,
    }));
  const haproxyLog = () => sh(`docker logs ${haproxy} 2>&1`);

  before(async () => {
    image = await ensureExampleImage();
    ip = await installStandalone(env);
    haproxy = await stackContainer('haproxy');
  });

  after(async function () {
    if (this.currentTest?.state === 'failed')
      console.log(await sh(`docker logs --tail 40 ${haproxy} 2>&1`).catch(() => ''));
    if (started.length) await sh(`docker rm -f ${started.join(' ')}`).catch(() => undefined);
    holder?.close();
  });

  it('routes a new app by name within a second while a route outside the range and one on a taken port exist', async () => {
    // A port of the apps' range (10000-10999 by default) another process holds.
    let port = 0;
    for (let p = 10000 + Math.floor(Math.random() * 900); !holder && p < 11000; p++) {
      holder = await hold(p);
      if (holder) port = p;
    }
    expect(port, 'a free port in 10000-10999 to hold').to.be.greaterThan(0);

    const outside = `${tag}out`;
    const taken = `${tag}taken`;
    await start('out', outside, 'tcp=8500');
    await start('taken', taken, `tcp=${port}`);
    // Both are in Consul (the registrator does not judge ports): HAProxy must cope.
    await until(
      'both unusable routes registered and passing',
      async () => ((await passing(outside)) && (await passing(taken)) ? true : undefined),
      60_000,
      100,
    );
    await until(
      `HAProxy's log naming both dropped routes`,
      async () => {
        const log = await haproxyLog();
        return log.includes(
          `route dropped: ${outside} tcp=8500: outside the apps' TCP port range 10000-10999`,
        ) && log.includes(`route dropped: ${taken} tcp=${port}: port taken on this host by another process`)
          ? true
          : undefined;
      },
      10_000,
      100,
    );

    // Now a new app: routed by name within a second of Consul passing it.
    const fresh = `${tag}new`;
    const a = await start('new', fresh, 'http');
    await until(
      `${fresh} passing in Consul`,
      async () => ((await passing(fresh)) ? true : undefined),
      60_000,
      20,
    );
    const t0 = Date.now();
    await until(
      `${fresh} routed by name`,
      async () => ((await byName(fresh)).instance === a.instance ? true : undefined),
      1000,
      20,
    );
    const ms = Date.now() - t0;
    console.log(`      routed ${ms} ms after Consul passed it, beside two unusable routes`);

    // Nothing of the dropped routes is bound; the port stays its holder's; the log names each once per
    // change.
    const cfg = await sh(`docker exec ${haproxy} cat /etc/haproxy/haproxy.cfg`);
    expect(cfg).to.not.match(/^\s*bind :8500$/m);
    expect(cfg).to.not.match(new RegExp(`^\\s*bind :${port}$`, 'm'));
    expect(cfg).to.match(new RegExp(`^backend svc_${fresh}$`, 'm'));
    const log = await haproxyLog();
    expect(
      log.split('\n').filter((l) => l.includes(`route dropped: ${outside} `)).length,
      'one line for the route outside the range',
    ).to.equal(1);
    expect(
      log.split('\n').filter((l) => l.includes(`route dropped: ${taken} `)).length,
      'one line for the route on a taken port',
    ).to.equal(1);
    expect(log).to.not.include('still serving the previous config');
  });

  it('binds a tcp route inside the range once its port is free, and keeps routing by name', async () => {
    // The holder goes: on the next change the taken route is bound (no restart needed).
    const port = (holder!.address() as { port: number }).port;
    await new Promise((ok) => holder!.close(ok));
    holder = undefined;
    const b = await start('new2', `${tag}new2`, 'http');
    await until(
      `${tag}new2 routed by name`,
      async () => ((await byName(`${tag}new2`)).instance === b.instance ? true : undefined),
      60_000,
      20,
    );
    await until(
      `tcp route on ${port} bound`,
      async () => {
        const cfg = await sh(`docker exec ${haproxy} cat /etc/haproxy/haproxy.cfg`);
        return new RegExp(`^listen tcp_${tag}taken_${port}\\n\\s+bind :${port}$`, 'm').test(cfg)
          ? true
          : undefined;
      },
      10_000,
      100,
    );
    const r = await getWithHost(port, 'anything', '/', '127.0.0.1', 3000);
    expect(r.status, `the app behind tcp=${port}`).to.equal(200);
  });
});
