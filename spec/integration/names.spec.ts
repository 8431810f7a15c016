// Names belong to apps (issue 19), on this machine's standalone install
// (install.mjs, as a user runs it): a service name recorded in Consul K/V
// (paasbox/names/NAME = the owning Marathon app id, as deploy writes it) is
// registered only for containers labelled with that app id
// (paasbox.marathon.id, as swarm tasks are). Another app's container with the
// same SERVICE_NAME is refused by the registrator, so Consul lists only the
// owner's instances and every request by name reaches the owner; an app
// cannot take a stack service's name, nor choose its service ID. Containers
// are started with `docker run` and the labels deploy would set; traffic goes
// to 127.0.0.1 (HAProxy) and Consul on this host; all is removed after.

import { expect } from 'chai';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getWithHost } from '../../src/bench/http.js';
import { SECRET_FILES, SECRETS_DIR } from '../../src/secrets/secrets.js';
import { fetchOnce } from '../helpers/http.js';
import { ensureExampleImage } from '../helpers/images.js';
import { installStandalone, sh, stackContainer } from '../helpers/standalone.js';
import { sleep, until } from '../helpers/until.js';

describe('names: a service name belongs to the app that owns it (integration)', function () {
  this.timeout(20 * 60_000);
  const env = { ...process.env, PAASBOX_STATE_DIR: mkdtempSync(join(tmpdir(), 'pb-names-state-')) };
  const tag = `pbnm${Date.now().toString(36)}`;
  // python1's role, under a name of this run's own.
  const svc = `${tag}python1`;
  const owner = `/${svc}`;
  const started: string[] = [];
  const keys: string[] = [];
  let ip = '';
  let registrator = '';
  let image = '';
  let token = '';

  const consul = (method: string, path: string, body?: string) =>
    fetchOnce(`http://${ip}:8500${path}`, {
      method,
      headers: { 'X-Consul-Token': token },
      ...(body !== undefined ? { body } : {}),
    });
  const start = async (name: string, args: string[]) => {
    const c = `${tag}-${name}`;
    started.push(c);
    const id = await sh(
      `docker run -d --name ${c} -p 8080 -e SERVICE_CHECK_HTTP=/health ${args.join(' ')} ${image}`,
    );
    const port = Number((await sh(`docker port ${c} 8080/tcp`)).split('\n')[0]!.split(':').pop());
    return { c, instance: id.slice(0, 12), port };
  };
  /** Consul's catalog of a service: each instance's container id (the registrator's Meta) and ID. */
  const catalog = async (name: string) =>
    (
      (await (await consul('GET', `/v1/catalog/service/${name}`)).json()) as {
        ServiceID: string;
        ServiceMeta: Record<string, string>;
      }[]
    ).map((e) => ({ id: e.ServiceID, container: e.ServiceMeta['container_id'] }));
  const byName = (name: string) =>
    getWithHost(80, `${name}.service.consul`, '/', '127.0.0.1', 3000).catch((e: Error) => ({
      status: 0,
      body: e.message,
      instance: undefined,
      ms: 0,
    }));
  const registratorLog = () => sh(`docker logs ${registrator} 2>&1`);

  before(async () => {
    image = await ensureExampleImage();
    ip = await installStandalone(env);
    registrator = await stackContainer('registrator');
    // The operator's token (root, 0600), read into memory: K/V is written as deploy does.
    token = readFileSync(join(SECRETS_DIR, SECRET_FILES.managementToken), 'utf8').trim();
    const put = await consul('PUT', `/v1/kv/paasbox/names/${svc}?cas=0`, owner);
    expect(await put.text(), 'paasbox/names/NAME written (cas=0: it was free)').to.equal('true');
    keys.push(`paasbox/names/${svc}`);
  });

  after(async function () {
    if (this.currentTest?.state === 'failed')
      console.log(await sh(`docker logs --tail 40 ${registrator} 2>&1`).catch(() => ''));
    if (started.length) await sh(`docker rm -f ${started.join(' ')}`).catch(() => undefined);
    for (const k of keys) await consul('DELETE', `/v1/kv/${k}`).catch(() => undefined);
  });

  it("registers only the owner's instances: another app id and an unlabelled container are refused", async () => {
    const label = (id: string) => `--label paasbox.marathon.id=${id}`;
    const t0 = Date.now();
    const own1 = await start('own1', [`-e SERVICE_NAME=${svc}`, label(owner)]);
    const own2 = await start('own2', [`-e SERVICE_NAME=${svc}`, label(owner)]);
    await until(
      `${svc} routed to both of its owner's instances`,
      async () => {
        const seen = new Set<string | undefined>();
        for (let i = 0; i < 6; i++) seen.add((await byName(svc)).instance);
        return seen.has(own1.instance) && seen.has(own2.instance) ? true : undefined;
      },
      60_000,
      50,
    );
    console.log(`      the owner's 2 instances routed ${Date.now() - t0} ms after docker run`);

    const evil = await start('evil', [`-e SERVICE_NAME=${svc}`, label('/evil')]);
    const bare = await start('bare', [`-e SERVICE_NAME=${svc}`]);
    // Each refused, with one line saying why.
    await until(
      'the registrator refusing both',
      async () => {
        const log = await registratorLog();
        return log.includes(
          `container ${evil.c} port 8080/tcp not registered: service name "${svc}" belongs to app ${owner}, not to app /evil`,
        ) &&
          log.includes(
            `container ${bare.c} port 8080/tcp not registered: service name "${svc}" belongs to app ${owner}; this container has no paasbox.marathon.id label`,
          )
          ? true
          : undefined;
      },
      30_000,
      100,
    );
    // Both apps answer (they would have been registered by now), and then some.
    for (const x of [evil, bare])
      await until(
        `${x.c} answering`,
        async () =>
          (await getWithHost(x.port, 'x', '/health', '127.0.0.1', 2000).catch(() => ({ status: 0 })))
            .status === 200
            ? true
            : undefined,
        60_000,
        50,
      );
    await sleep(1500);

    const listed = await catalog(svc);
    expect(
      listed.map((e) => e.container).sort(),
      "Consul's catalog: only the owner's instances",
    ).to.deep.equal([own1.instance, own2.instance].sort());
    const answered: Record<string, number> = {};
    const n = 60;
    for (let i = 0; i < n; i++) {
      const r = await byName(svc);
      answered[r.instance ?? `status ${r.status}`] = (answered[r.instance ?? `status ${r.status}`] ?? 0) + 1;
    }
    expect(Object.keys(answered).sort(), `${n} requests by name: ${JSON.stringify(answered)}`).to.deep.equal(
      [own1.instance, own2.instance].sort(),
    );
  });

  it("refuses a stack service's name to an app, and ignores an app's SERVICE_ID", async () => {
    const label = '--label paasbox.marathon.id=/evil';
    const before = await catalog(svc);
    const stackName = await start('stackname', ['-e SERVICE_NAME=haproxy', label]);
    // It asks for the owner's first registration ID under a name of its own.
    const idThief = await start('idthief', [
      `-e SERVICE_NAME=${tag}evil`,
      `-e SERVICE_ID=${before[0]!.id}`,
      label,
    ]);
    await until(
      'the registrator refusing the stack name and ignoring the SERVICE_ID',
      async () => {
        const log = await registratorLog();
        return log.includes(
          `container ${stackName.c} port 8080/tcp not registered: service name "haproxy" is the stack's own; app /evil cannot use it`,
        ) &&
          log.includes(
            `container ${idThief.c} port 8080/tcp: SERVICE_ID "${before[0]!.id}" ignored for app /evil`,
          )
          ? true
          : undefined;
      },
      30_000,
      100,
    );
    await until(
      `${tag}evil routed under its own name`,
      async () => ((await byName(`${tag}evil`)).instance === idThief.instance ? true : undefined),
      60_000,
      50,
    );
    expect(
      (await catalog('haproxy')).map((e) => e.container),
      'no app instance under haproxy',
    ).to.not.include(stackName.instance);
    const mine = await catalog(`${tag}evil`);
    expect(mine.map((e) => e.id)).to.not.include(before[0]!.id);
    expect(await catalog(svc), "the owner's registrations are untouched").to.deep.equal(before);
  });
});
