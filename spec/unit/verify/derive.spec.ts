// Check derivation is driven by the stack model: every port check and every
// container gets checks, a new service gets them with no change to verify, an
// unavailable or disabled service is skipped with the reason.
import { expect } from 'chai';
import { loadStackModel } from '../../../src/model/load.js';
import { resolveSettings, servicesOnThisHostFor } from './settings-fixture.js';
import type { StackModel } from '../../../src/model/model.js';
import { deriveChecks } from '../../../src/verify/derive.js';
import {
  deriveCatalogChecks,
  dnsPorts,
  dnsSafe,
  haproxyRoutes,
  parseHealthEntries,
} from '../../../src/verify/catalog.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PortCheck } from '../../../src/model/model.js';
import { generateSecrets, secretFiles } from '../../../src/secrets/secrets.js';
import { writeTargetSecrets } from '../../../src/secrets/store.js';
import { makeContext } from '../../../src/verify/run.js';
import { probeTools } from '../../../src/system/http.js';
import type { VerifyContext } from '../../../src/verify/types.js';
import { fakeHttp } from '../../helpers/fake-services.js';
import { RootedTarget } from '../../helpers/rooted-target.js';

const model = loadStackModel();
const settings = resolveSettings(model);

describe('verify: checks derived from the stack model', () => {
  it('derives one check per port check of every service on this host, with the service and host', () => {
    const checks = deriveChecks(model, settings, { host: 'h1', unavailable: {} });
    for (const name of servicesOnThisHostFor(model, settings)) {
      const svc = model.services[name]!;
      const portChecks = svc.ports.flatMap((p) => p.checks ?? []);
      const derived = checks.filter((c) => c.service === name && !c.id.includes('/container/'));
      expect(derived.length, `${name} port checks`).to.equal(portChecks.length);
      expect(
        checks.some((c) => c.id === `${name}/container/running`),
        `${name} running`,
      ).to.equal(true);
      expect(
        checks.some((c) => c.id === `${name}/container/healthy`),
        `${name} healthy iff it has a healthcheck`,
      ).to.equal(!!svc.healthcheck);
      for (const c of checks.filter((x) => x.service === name)) expect(c.host).to.equal('h1');
    }
    expect(checks.map((c) => c.id)).to.include.members([
      'zookeeper/client/four-letter:ruok',
      'haproxy/stats/http:/haproxyStats',
      'consul/http/consul-acl:kv-write',
      'consul/http/consul-acl:service-register',
      'consul/http/consul-acl:catalog-read',
      'consul/dns/dns:A:consul.service.consul',
      'dns/dns/dns:A:consul.service.consul',
      'marathon/http/http:/v2/info',
      'mesos-master/http/http:/health',
    ]);
    const ids = checks.map((c) => c.id);
    expect(new Set(ids).size, 'ids are unique').to.equal(ids.length);
  });

  it('gives a service added to the model its checks automatically', () => {
    const m: StackModel = structuredClone(model);
    m.services['whoami'] = {
      description: 'test service',
      role: 'all',
      network: 'host',
      restart: 'always',
      sources: { registry: { image: 'x/whoami:1' }, local: { build: 'whoami' } },
      ports: [
        {
          name: 'web',
          port: 9999,
          protocol: 'tcp',
          checks: [{ type: 'http', path: '/who', status: 204 }, { type: 'tcp' }],
        },
      ],
      healthcheck: { test: ['CMD', 'true'], interval: '5s', timeout: '1s', retries: 3 },
    };
    const checks = deriveChecks(m, resolveSettings(m), { host: 'h1', unavailable: {} }).filter(
      (c) => c.service === 'whoami',
    );
    expect(checks.map((c) => c.id).sort()).to.deep.equal([
      'whoami/container/healthy',
      'whoami/container/no-crash-loop',
      'whoami/container/restart-policy',
      'whoami/container/running',
      'whoami/web/http:/who',
      'whoami/web/tcp',
    ]);
    expect(checks.find((c) => c.id === 'whoami/web/http:/who')?.description).to.match(/:9999\/who.*HTTP 204/);
    expect(checks.find((c) => c.id === 'whoami/container/restart-policy')?.description).to.match(/always/);
  });

  it('skips every check of a service the image source cannot provide, with the reason', () => {
    const checks = deriveChecks(model, settings, {
      host: 'h1',
      unavailable: { marathon: 'Marathon has no Debian package' },
    });
    const m = checks.filter((c) => c.service === 'marathon');
    expect(m.length).to.be.greaterThan(2);
    for (const c of m)
      expect(c.skip).to.match(/not provided by image source "local": Marathon has no Debian package/);
    expect(checks.filter((c) => c.service === 'consul').every((c) => !c.skip)).to.equal(true);
  });

  it('skips disabled optional services with a reason, and checks them once enabled', () => {
    const off = deriveChecks(model, settings, { host: 'h1', unavailable: {} }).filter(
      (c) => c.service === 'sshd',
    );
    expect(off).to.have.length(1);
    expect(off[0]?.skip).to.match(/optional service, not enabled/);
    const on = resolveSettings(model, { services: { sshd: { enabled: true } } });
    const checks = deriveChecks(model, on, { host: 'h1', unavailable: {} }).filter(
      (c) => c.service === 'sshd',
    );
    expect(checks.map((c) => c.id)).to.include('sshd/ssh/tcp');
    expect(checks.every((c) => !c.skip)).to.equal(true);
  });

  it('follows port overrides and the DNS domain from settings', () => {
    const s = resolveSettings(model, { domain: 'paas', services: { haproxy: { ports: { stats: 8181 } } } });
    const checks = deriveChecks(model, s, { host: 'h1', unavailable: {} });
    expect(checks.find((c) => c.id === 'haproxy/stats/http:/haproxyStats')?.description).to.match(/:8181\//);
    expect(checks.map((c) => c.id)).to.include('dns/dns/dns:A:consul.service.paas');
  });
});

describe('verify: catalog DNS checks', () => {
  const health = JSON.stringify([
    {
      Node: { Node: 'h1', Address: '10.0.0.5' },
      Service: { Address: '', Port: 31001 },
      Checks: [{ Status: 'passing' }],
    },
    {
      Node: { Node: 'h1', Address: '10.0.0.5' },
      Service: { Address: '10.0.0.9', Port: 31002 },
      Checks: [{ Status: 'critical', Name: 'http', Output: 'refused' }],
    },
  ]);

  it('parses health entries: service address falls back to the node, critical marked', () => {
    const inst = parseHealthEntries(health);
    expect(inst[0]).to.include({ address: '10.0.0.5', port: 31001, critical: false });
    expect(inst[1]).to.include({ address: '10.0.0.9', port: 31002, critical: true });
    expect(inst[1]?.criticalOutput).to.match(/refused/);
  });

  it('derives A and SRV on every DNS port of the model for every catalog service, plus a ports-served cross-check', () => {
    const ports = dnsPorts(model, settings);
    expect(ports.map((p) => p.port).sort((a, b) => a - b)).to.deep.equal([53, 8600]);
    const checks = deriveCatalogChecks(
      { web: parseHealthEntries(health), consul: [], bad_name: [] },
      { host: 'h1', domain: 'consul', dnsPorts: ports, thisNode: { ip: '10.0.0.5', hostname: 'h1' } },
    );
    expect(
      checks
        .filter((c) => c.service === 'catalog:web')
        .map((c) => c.id)
        .sort(),
    ).to.deep.equal([
      'catalog/web/dns:A@53',
      'catalog/web/dns:A@8600',
      'catalog/web/dns:SRV@53',
      'catalog/web/dns:SRV@8600',
      'catalog/web/ports-served',
    ]);
    expect(
      checks
        .filter((c) => c.service === 'catalog:bad_name')
        .every((c) => c.skip && /not a valid DNS label/.test(c.skip)),
    ).to.equal(true);
    expect(dnsSafe('simplewebapp')).to.equal(true);
    expect(
      checks.some((c) => c.id.endsWith('haproxy-route')),
      'no route checks without haproxy',
    ).to.equal(false);
  });

  it("adds HAProxy Host-routing checks by the template's tag contract", () => {
    expect(haproxyRoutes('web', [])).to.equal(true);
    expect(haproxyRoutes('web', ['http', 'tcp=9000'])).to.equal(true);
    expect(haproxyRoutes('db', ['tcp=5432'])).to.equal(false);
    expect(haproxyRoutes('dns', ['udp'])).to.equal(false);
    expect(haproxyRoutes('consul', ['http'])).to.equal(false);
    const snap = {
      web: parseHealthEntries(health),
      db: [{ ...parseHealthEntries(health)[0]!, tags: ['tcp=5432'] }],
    };
    const checks = deriveCatalogChecks(snap, {
      host: 'h1',
      domain: 'consul',
      dnsPorts: [],
      thisNode: { ip: '10.0.0.5', hostname: 'h1' },
      haproxyPort: 80,
    });
    expect(checks.filter((c) => c.id.endsWith('haproxy-route')).map((c) => c.id)).to.deep.equal([
      'catalog/web/haproxy-route',
    ]);
    expect(checks.find((c) => c.id === 'catalog/web/haproxy-route')?.description).to.equal(
      'http://web.service.consul/ through HAProxy :80 (Host header)',
    );
  });
});

describe('verify: login and ACL checks, run against loopback fakes', () => {
  const secrets = generateSecrets();
  let root: string;
  let t: RootedTarget;
  let ctx: VerifyContext;
  before(async () => {
    // The target's secret files live in a temp dir standing for /opt/paasbox/secrets.
    root = mkdtempSync(join(tmpdir(), 'pb-vsec-'));
    t = new RootedTarget(root);
    await writeTargetSecrets(t, secretFiles(secrets));
    ctx = makeContext(t, await probeTools(t), '127.0.0.1', 0);
  });

  /**
   * A server answering 401 unless the request carries `login` (user:password) as basic auth; records each
   * Authorization.
   */
  async function loginServer(
    login: string | undefined,
  ): Promise<{ port: number; seen: (string | undefined)[]; close(): Promise<void> }> {
    const seen: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      const ok =
        login === undefined || req.headers.authorization === `Basic ${Buffer.from(login).toString('base64')}`;
      res.statusCode = ok ? 200 : 401;
      res.end(ok ? 'Statistics Report' : 'login');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      port: (server.address() as AddressInfo).port,
      seen,
      close: () => new Promise<void>((r) => server.close(() => r())),
    };
  }

  function checksFor(port: number, checks: PortCheck[]) {
    const m: StackModel = {
      version: 1,
      name: 'paasbox',
      services: {
        web: {
          description: 'x',
          role: 'all',
          network: 'host',
          restart: 'always',
          sources: { registry: { image: 'x/y:1' }, local: { build: 'y' } },
          ports: [{ name: 'p', port, protocol: 'tcp', checks }],
        },
      },
    };
    return deriveChecks(m, resolveSettings(m), { host: 'h1', unavailable: {} }).filter((c) =>
      c.id.startsWith('web/p/'),
    );
  }

  it('a page behind the login: 401 without it, the answer with the login read on the target; an open page fails', async () => {
    const guarded = await loginServer(`admin:${secrets.statsPassword}`);
    const open = await loginServer(undefined);
    try {
      const auth: PortCheck = {
        type: 'http',
        path: '/s',
        status: 200,
        bodyIncludes: 'Statistics Report',
        auth: 'haproxy-stats',
      };
      const [c] = checksFor(guarded.port, [auth]);
      expect(c?.description).to.match(
        /HTTP 401 without the login, HTTP 200, body includes "Statistics Report" with it/,
      );
      const good = await c!.run(t, ctx);
      expect(good, good.got).to.deep.include({ ok: true });
      expect(guarded.seen).to.deep.equal([
        undefined,
        `Basic ${Buffer.from(`admin:${secrets.statsPassword}`).toString('base64')}`,
      ]);
      const bad = await checksFor(open.port, [auth])[0]!.run(t, ctx);
      expect(bad).to.deep.include({ ok: false, got: 'without the login: HTTP 200 (17 bytes)' });
      expect(t.commands.join('\n')).to.not.include(secrets.statsPassword);
    } finally {
      await guarded.close();
      await open.close();
    }
  });

  it('anonymous writes must be refused (403); one that goes through is undone and fails; the catalog must be readable', async () => {
    const refusing = await fakeHttp({
      '/v1/kv/paasbox-verify': { status: 403, body: 'Permission denied' },
      '/v1/agent/service/register': { status: 403, body: 'Permission denied' },
      '/v1/catalog/services': { status: 200, body: '{"consul":[]}' },
    });
    const open = await fakeHttp({
      '/v1/kv/paasbox-verify': { status: 200, body: 'true' },
      '/v1/agent/service/register': { status: 200, body: '' },
      '/v1/catalog/services': { status: 200, body: '{}' },
    });
    const acl: PortCheck[] = [
      { type: 'consul-acl', probe: 'kv-write' },
      { type: 'consul-acl', probe: 'service-register' },
      { type: 'consul-acl', probe: 'catalog-read' },
    ];
    try {
      for (const c of checksFor(refusing.port, acl))
        expect(await c.run(t, ctx), c.id).to.deep.include({ ok: true });
      expect(
        refusing.requests.map((r) => `${r.method} ${r.url} ${r.headers['x-consul-token'] ?? 'anonymous'}`),
      ).to.deep.equal([
        'PUT /v1/kv/paasbox-verify anonymous',
        'PUT /v1/agent/service/register anonymous',
        'GET /v1/catalog/services anonymous',
      ]);
      const outcomes = await Promise.all(checksFor(open.port, acl).map((c) => c.run(t, ctx)));
      expect(outcomes.map((o) => o.ok)).to.deep.equal([false, false, false]);
      expect(outcomes[0]?.got).to.equal('HTTP 200: anyone can write K/V (ACLs off?)');
      expect(outcomes[1]?.got).to.equal('HTTP 200: anyone can register a service (ACLs off?)');
      // What went through is removed again.
      expect(open.requests.map((r) => `${r.method} ${r.url}`)).to.include.members([
        'DELETE /v1/kv/paasbox-verify',
        'PUT /v1/agent/service/deregister/paasbox-verify',
      ]);
    } finally {
      await refusing.close();
      await open.close();
    }
  });
});
