// An app's public names (src/apps/domains.ts, issue 22): every rule of a
// name, each refusal as one line naming the field and the fix, the wildcard
// allowance, labels and tags alike, the route tags the schedulers give the
// registrator, and the names' ownership in Consul K/V (claimed by deploy and
// by the apps API, refused when another app holds one).
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { ALLOW_WORDS } from '../../../src/api/routes.js';
import { stackBounds } from '../../../src/apps/bounds.js';
import {
  appRoutes,
  domainProblem,
  domainProblems,
  domainWarnings,
  MAX_DOMAINS,
  routeTags,
  withRouteTags,
} from '../../../src/apps/domains.js';
import { checkApp, policyProblems, type AppBounds } from '../../../src/apps/policy.js';
import { claimedKeys, DOMAINS_PREFIX } from '../../../src/apps/target-checks.js';
import type { MarathonApp } from '../../../src/appspec/app.js';
import { AppNames } from '../../../src/consul/app-names.js';
import { ConsulClient } from '../../../src/consul/client.js';
import { PaasboxError } from '../../../src/errors.js';
import { allowNames, withBounds } from '../../../src/scheduler/marathon.js';
import { marathonToSwarmService } from '../../../src/scheduler/swarm-service.js';
import { parseDeployment } from '../../../src/stackfile/deployment.js';
import { apiUnderTest, fakeConsulKv, type ApiUnderTest } from '../../helpers/api-under-test.js';

const app = (
  labels: Record<string, string> = {},
  env: Record<string, string> = {},
  ports: number[] = [8080],
): MarathonApp =>
  ({
    id: '/team/web',
    instances: 1,
    labels,
    env,
    container: {
      type: 'DOCKER',
      docker: { image: 'web:1' },
      portMappings: ports.map((containerPort) => ({ containerPort })),
    },
  }) as MarathonApp;
const vhost = (v: string) => app({ HAPROXY_0_VHOST: v });
const bounds: AppBounds = {
  maxInstances: 250,
  tcpPorts: { min: 10000, max: 10999 },
  stackServices: ['consul'],
  stackPorts: [80],
};
/** The argv values following each occurrence of `name`. */
const flag = (argv: string[], name: string) =>
  argv.flatMap((a, i) => (a === name && argv[i + 1] !== undefined ? [argv[i + 1]!] : []));

describe('public names of an app (src/apps/domains.ts)', () => {
  it('accepts host names, trimmed and lowercased', () => {
    const label63 = 'a'.repeat(63);
    const long = [label63, label63, label63, 'b'.repeat(56), 'test'].join('.');
    expect(long).to.have.length(253);
    for (const ok of [
      'app.example.test',
      ' App.Example.TEST ',
      'a.b',
      'xn--bcher-kva.example',
      '0-9.example.test',
      `${label63}.example`,
      long,
    ])
      expect(domainProblem(ok), ok).to.equal(undefined);
    const a = app({ HAPROXY_0_VHOST: ' App.Example.TEST , www.example.test' });
    expect(appRoutes(a).domains.map((d) => d.name)).to.deep.equal(['app.example.test', 'www.example.test']);
    expect(policyProblems(a, { bounds })).to.deep.equal([]);
  });

  // [as written, what the problem says]
  const refused: [string, RegExp][] = [
    ['', /empty/],
    ['app.example.test\nevil.test', /control character/],
    ['app.example.test\u2028x', /control character/],
    ['app.example.test\n', /control character/],
    ['\tapp.example.test', /control character/],
    ['app example.test', /space/],
    ['bücher.example', /non-ASCII/],
    ['app.example.test.', /ends with a dot/],
    [`${'a'.repeat(63)}.`.repeat(3) + `${'b'.repeat(57)}.test`, /254 characters/],
    ['10.0.0.5', /IP address/],
    ['::1', /IP address/],
    ['1.2.3', /numeric label/],
    ['app.example.1a', /does not begin with a letter/],
    ['a..example.test', /label ""/],
    ['-a.example.test', /not a DNS label/],
    ['a_b.example.test', /not a DNS label/],
    [`${'a'.repeat(64)}.example.test`, /not a DNS label/],
    ['app', /not under a domain/],
    ['localhost', /not under a domain/],
    ['app.localhost', /localhost/],
    ['consul', /not under a domain/],
    ['python1.service.consul', /stack's own domain consul/],
    ['x.consul', /stack's own domain/],
    ['*.consul', /not under a domain/],
    ['*.service.consul', /stack's own domain/],
    ['a.*.example.test', /"\*" other than/],
    ['*foo.example.test', /"\*" other than/],
    ['*.*.example.test', /"\*" other than/],
    ['*.test', /not under a domain/],
    ['*.example.test', /wildcard/],
  ];
  for (const [raw, problem] of refused) {
    it(`refuses ${JSON.stringify(raw)} in labels.HAPROXY_0_VHOST, one line naming the field and the fix`, () => {
      // An empty name comes from a tag ("domain="): the label's empty entries are skipped.
      const a2 = raw === '' ? app({}, { SERVICE_TAGS: 'http,domain=' }) : vhost(raw);
      const ps = policyProblems(a2, { bounds });
      expect(ps, JSON.stringify(ps)).to.have.length(1);
      expect(ps[0]!.path).to.equal(raw === '' ? '/env/SERVICE_TAGS' : '/labels/HAPROXY_0_VHOST');
      expect(ps[0]!.problem).to.match(problem);
      expect(ps[0]!.fix).to.be.a('string').and.not.equal('');
      let e: unknown;
      try {
        checkApp(a2, 'app.json', { bounds });
      } catch (x) {
        e = x;
      }
      expect(e).to.be.instanceOf(PaasboxError);
      const err = e as PaasboxError;
      expect(err.problem).to.match(
        /^app\.json is not a valid Marathon app: (labels\.HAPROXY_0_VHOST|env\.SERVICE_TAGS): /,
      );
      for (const line of [err.problem, err.fix ?? ''])
        expect(line, 'one line').not.to.match(/[\n\r\u2028\u2029]/);
    });
  }

  it("judges names by the stack's own domain, recorded in its compose file", () => {
    const d = parseDeployment(
      readFileSync(new URL('../../../../spec/golden/docker-compose.local.yml', import.meta.url), 'utf8'),
    )!;
    expect(stackBounds(d).domain).to.equal(d.meta.domain);
    const paas = { ...bounds, domain: 'paas.example' };
    expect(policyProblems(vhost('web.paas.example'), { bounds: paas }).map((p) => p.problem)).to.deep.equal([
      '"web.paas.example" is the stack\'s own domain paas.example or under it',
    ]);
    expect(policyProblems(vhost('web.example'), { bounds: paas })).to.deep.equal([]);
    // No stack known (the CLI before the API judges it again): the default domain.
    expect(policyProblems(vhost('web.service.consul')).map((p) => p.path)).to.deep.equal([
      '/labels/HAPROXY_0_VHOST',
    ]);
  });

  it('admits a wildcard only with allow.wildcardDomains, as the whole first label', () => {
    const w = vhost('*.Example.test');
    expect(policyProblems(w, { bounds })[0]?.fix).to.include('--allow-wildcard-domains');
    expect(policyProblems(w, { bounds, allow: { wildcardDomains: true } })).to.deep.equal([]);
    const others = { hostMounts: true, hostNamespaces: true, reservedLabels: true, logDrivers: true };
    expect(policyProblems(w, { bounds, allow: { ...others, dockerParameters: true } })).to.have.length(1);
    expect(policyProblems(vhost('a.*.test'), { bounds, allow: { wildcardDomains: true } })).to.have.length(1);
    expect(routeTags(w)).to.deep.equal(['domain=*.example.test']);
    // The operator's word over the API, and deploy's flag as the CLI sends it.
    expect(ALLOW_WORDS['wildcard-domains']).to.equal('wildcardDomains');
    expect(allowNames({ wildcardDomains: true })).to.deep.equal(['wildcard-domains']);
  });

  it(`refuses more than ${MAX_DOMAINS} names (counted once each)`, () => {
    const names = (n: number) => Array.from({ length: n }, (_, i) => `h${i}.example.test`);
    expect(
      policyProblems(vhost([...names(MAX_DOMAINS), 'H0.example.test'].join(',')), { bounds }),
    ).to.deep.equal([]);
    const ps = policyProblems(vhost(names(MAX_DOMAINS + 1).join(',')), { bounds });
    expect(ps.map((p) => p.problem)).to.deep.equal([
      `${MAX_DOMAINS + 1} public names is more than 20 for one app`,
    ]);
  });

  it('routes port index 0 only: HAPROXY_<n>_ settings and route tags of another port are refused', () => {
    const ps = policyProblems(app({ HAPROXY_1_VHOST: 'b.example.test', HAPROXY_2_USE_HSTS: 'true' }), {
      bounds,
    });
    expect(ps.map((p) => p.path)).to.deep.equal(['/labels/HAPROXY_1_VHOST', '/labels/HAPROXY_2_USE_HSTS']);
    expect(ps[0]!.fix).to.include('HAPROXY_0_VHOST');
    const two = app({}, { SERVICE_9090_TAGS: 'http,domain=b.example.test' }, [8080, 9090]);
    expect(domainProblems(two).map((p) => `${p.path} ${p.problem}`)).to.deep.equal([
      '/env/SERVICE_9090_TAGS tag "domain=b.example.test" is on port 9090; only the first port (8080) is routed by name',
    ]);
    expect(
      domainProblems(app({}, { SERVICE_8080_TAGS: 'domain=b.example.test' }, [8080, 9090])),
    ).to.deep.equal([]);
  });

  it('takes the redirect and HSTS as true/false labels or as tags, and refuses other values', () => {
    expect(
      appRoutes(app({ HAPROXY_0_REDIRECT_TO_HTTPS: 'true', HAPROXY_0_USE_HSTS: 'False' })),
    ).to.deep.include({
      redirect: true,
      hsts: false,
    });
    expect(appRoutes(app({}, { SERVICE_TAGS: 'HSTS, https-redirect' }))).to.deep.include({
      redirect: true,
      hsts: true,
    });
    const ps = policyProblems(app({ HAPROXY_0_REDIRECT_TO_HTTPS: 'yes\n' }), { bounds });
    expect(ps.map((p) => [p.path, p.problem])).to.deep.equal([
      ['/labels/HAPROXY_0_REDIRECT_TO_HTTPS', '"yes\\n" is not true or false'],
    ]);
  });

  it('reads names from the label and from domain= tags alike, each with the field that gave it', () => {
    const a = app(
      { HAPROXY_0_VHOST: 'a.example.test' },
      { SERVICE_TAGS: 'http, domain=B.example.test', SERVICE_8080_TAGS: 'domain=a.example.test' },
    );
    expect(appRoutes(a).domains.map((d) => [d.name, d.path])).to.deep.equal([
      ['a.example.test', '/labels/HAPROXY_0_VHOST'],
      ['b.example.test', '/env/SERVICE_TAGS'],
      ['a.example.test', '/env/SERVICE_8080_TAGS'],
    ]);
    expect(routeTags(a)).to.deep.equal(['domain=a.example.test', 'domain=b.example.test']);
    const bad = app({}, { SERVICE_TAGS: 'domain=10.0.0.1' });
    expect(policyProblems(bad, { bounds }).map((p) => p.path)).to.deep.equal(['/env/SERVICE_TAGS']);
  });

  it('warns of the marathon-lb labels the edge ignores', () => {
    expect(
      domainWarnings(app({ HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'a.example.test', x: 'y' })),
    ).to.deep.equal([
      'labels.HAPROXY_GROUP: ignored; the edge reads only HAPROXY_0_VHOST, HAPROXY_0_REDIRECT_TO_HTTPS, HAPROXY_0_USE_HSTS',
    ]);
  });

  describe('route tags in the container env', () => {
    it("appends them to SERVICE_TAGS after the app's own tags, normalised, each once", () => {
      const a = app(
        { HAPROXY_0_VHOST: 'A.example.test,b.example.test', HAPROXY_0_REDIRECT_TO_HTTPS: 'true' },
        { SERVICE_TAGS: 'http,Domain=a.example.test,weight=3,http,hsts', OTHER: 'x' },
      );
      expect(routeTags(a)).to.deep.equal([
        'domain=a.example.test',
        'domain=b.example.test',
        'https-redirect',
        'hsts',
      ]);
      expect(withRouteTags(a, { ...a.env })).to.deep.equal({
        SERVICE_TAGS: 'http,weight=3,domain=a.example.test,domain=b.example.test,https-redirect,hsts',
        OTHER: 'x',
      });
      expect(withRouteTags(vhost('a.example.test'), {})).to.deep.equal({
        SERVICE_TAGS: 'domain=a.example.test',
      });
    });

    it('leaves an app without public names as it is', () => {
      const env = { SERVICE_TAGS: 'http,weight=3' };
      expect(withRouteTags(app({}, env), env)).to.equal(env);
    });

    it("puts them on the first port's variable with more than one port, or when the app gives that one", () => {
      const two = app({ HAPROXY_0_VHOST: 'a.example.test' }, { SERVICE_TAGS: 'http' }, [8080, 9090]);
      expect(withRouteTags(two, { ...two.env })).to.deep.equal({
        SERVICE_TAGS: 'http',
        SERVICE_8080_TAGS: 'http,domain=a.example.test',
      });
      const own = app(
        { HAPROXY_0_VHOST: 'a.example.test' },
        { SERVICE_TAGS: 'http', SERVICE_8080_TAGS: 'weight=2' },
      );
      expect(withRouteTags(own, { ...own.env })).to.deep.equal({
        SERVICE_TAGS: 'http',
        SERVICE_8080_TAGS: 'weight=2,domain=a.example.test',
      });
    });

    it('swarm: the service env carries them; a refused name never reaches an argv', () => {
      const a = app(
        { HAPROXY_0_VHOST: 'App.example.test', HAPROXY_0_USE_HSTS: 'true', HAPROXY_GROUP: 'external' },
        { SERVICE_TAGS: 'http' },
      );
      const svc = marathonToSwarmService(a, { bounds });
      expect(flag(svc.create, '--env')).to.include('SERVICE_TAGS=http,domain=app.example.test,hsts');
      expect(flag(svc.update, '--env-add')).to.include('SERVICE_TAGS=http,domain=app.example.test,hsts');
      expect(flag(svc.create, '--container-label')).to.include('HAPROXY_0_VHOST=App.example.test');
      expect(svc.warnings.filter((w) => w.startsWith('labels.HAPROXY_GROUP'))).to.have.length(1);
      expect(() => marathonToSwarmService(vhost('app.example.test\nx'), { bounds })).to.throw(
        PaasboxError,
        /labels\.HAPROXY_0_VHOST: .*control character/,
      );
    });

    it('Marathon: the app it runs carries them in env', () => {
      const m = withBounds(app({ HAPROXY_0_VHOST: 'a.example.test' }, { SERVICE_TAGS: 'http' }));
      expect(m.env).to.deep.include({ SERVICE_NAME: 'team-web', SERVICE_TAGS: 'http,domain=a.example.test' });
    });
  });

  describe('ownership in Consul K/V', () => {
    it('claims each public name under paasbox/domains/, with the names and tcp ports', () => {
      const a = app(
        { HAPROXY_0_VHOST: 'A.example.test,a.example.test' },
        { SERVICE_NAME: 'web', SERVICE_TAGS: 'tcp=10050,domain=b.example.test' },
      );
      expect(claimedKeys(a, 'team-web')).to.deep.equal([
        'paasbox/names/web',
        'paasbox/tcp-ports/10050',
        'paasbox/domains/a.example.test',
        'paasbox/domains/b.example.test',
      ]);
      expect(DOMAINS_PREFIX).to.equal('paasbox/domains/');
    });

    it('refuses a name another app holds, naming the field that gave it; releases its own on destroy', async () => {
      const kv = await fakeConsulKv();
      try {
        kv.data.set('paasbox/domains/app.example.test', '/other');
        const names = new AppNames(new ConsulClient({ baseUrl: kv.url }));
        const byLabel = vhost('App.example.test');
        const e1 = await names
          .claim(byLabel.id, claimedKeys(byLabel, 'team-web'), byLabel)
          .catch((x: Error) => x);
        expect((e1 as PaasboxError).problem).to.equal(
          'labels.HAPROXY_0_VHOST: "app.example.test" belongs to app /other',
        );
        const byTag = app({}, { SERVICE_TAGS: 'domain=app.example.test' });
        const e2 = await names.claim(byTag.id, claimedKeys(byTag, 'team-web'), byTag).catch((x: Error) => x);
        expect((e2 as PaasboxError).problem).to.match(
          /^env\.SERVICE_TAGS: "app\.example\.test" belongs to app \/other$/,
        );
        // Nothing was claimed by the refused deploys.
        expect([...kv.data.keys()]).to.deep.equal(['paasbox/domains/app.example.test']);
        const mine = vhost('www.example.test');
        expect(await names.claim(mine.id, claimedKeys(mine, 'team-web'), mine)).to.deep.equal([
          'paasbox/names/team-web',
          'paasbox/domains/www.example.test',
        ]);
        expect(kv.data.get('paasbox/domains/www.example.test')).to.equal('/team/web');
        // Deploying again keeps it; another app may not take it.
        expect(await names.claim('/team/web', ['paasbox/domains/www.example.test'])).to.deep.equal([]);
        const e3 = await names.claim('/x', ['paasbox/domains/www.example.test'], mine).catch((x: Error) => x);
        expect(e3).to.be.instanceOf(PaasboxError);
        expect(await names.release('/team/web')).to.include('paasbox/domains/www.example.test');
        expect(kv.data.has('paasbox/domains/www.example.test')).to.equal(false);
      } finally {
        await kv.close();
      }
    });
  });

  describe('wildcards overlap exact names of other apps', () => {
    it("refuses a name under another app's *.S, and a *.S over another app's names; the owner may have both", async () => {
      const kv = await fakeConsulKv();
      try {
        kv.data.set('paasbox/domains/*.shop.example.test', '/shop');
        kv.data.set('paasbox/domains/blog.example.test', '/blog');
        const names = new AppNames(new ConsulClient({ baseUrl: kv.url }));
        const under = vhost('cart.shop.example.test');
        const e1 = await names.claim('/thief', claimedKeys(under, 'thief'), under).catch((x: Error) => x);
        expect((e1 as PaasboxError).problem).to.equal(
          'labels.HAPROXY_0_VHOST: "cart.shop.example.test" overlaps "*.shop.example.test", which belongs to app /shop',
        );
        const deeper = ['paasbox/domains/a.b.shop.example.test'];
        expect(await names.claim('/thief', deeper).catch((x: Error) => x)).to.be.instanceOf(PaasboxError);
        const over = ['paasbox/domains/*.example.test'];
        const e2 = await names.claim('/wide', over).catch((x: Error) => x);
        expect((e2 as PaasboxError).problem).to.match(
          /"\*\.example\.test" overlaps "(blog\.example\.test|\*\.shop\.example\.test)"/,
        );
        // The owner of the wildcard may add names under it; the apex and siblings are free.
        expect(await names.claim('/shop', ['paasbox/domains/cart.shop.example.test'])).to.have.length(1);
        expect(await names.claim('/other', ['paasbox/domains/shop.example.test'])).to.have.length(1);
        expect(await names.claim('/other', ['paasbox/domains/news.example.test'])).to.have.length(1);
      } finally {
        await kv.close();
      }
    });
  });

  describe('over the apps API', () => {
    let api: ApiUnderTest;
    beforeEach(async () => (api = await apiUnderTest(bounds)));
    afterEach(() => api.close());
    const body = (id: string, labels: Record<string, string>) => ({
      id,
      instances: 1,
      labels,
      container: { type: 'DOCKER', docker: { image: 'paasbox/simplewebapp-python:latest' } },
    });
    const post = async (path: string, auth: string, b: unknown) => {
      const res = await fetch(`${api.url}${path}`, {
        method: 'POST',
        headers: { Authorization: auth },
        body: JSON.stringify(b),
      });
      return { status: res.status, body: (await res.json()) as { message?: string } };
    };

    it('refuses a name another app holds (422), claims a free one, and leaves a refused app undeployed', async () => {
      api.kv.data.set('paasbox/domains/app.example.test', '/other');
      const taken = await api.asOperator(
        'POST',
        '/v2/apps',
        body('/ops/web', { HAPROXY_0_VHOST: 'app.example.test' }),
      );
      expect(taken.status).to.equal(422);
      expect((taken.body as { message: string }).message).to.match(
        /^labels\.HAPROXY_0_VHOST: "app\.example\.test" belongs to app \/other: /,
      );
      const ok = await api.asOperator(
        'POST',
        '/v2/apps',
        body('/ops/web', { HAPROXY_0_VHOST: 'www.example.test' }),
      );
      expect(ok.status).to.equal(201);
      expect(api.kv.data.get('paasbox/domains/www.example.test')).to.equal('/ops/web');
      expect(api.apps.calls).to.deep.equal(['deploy /ops/web']);
    });

    it("lets only the operator's allow=wildcard-domains admit a wildcard; a team gets 403", async () => {
      const operator = `Basic ${Buffer.from(`${api.operator.user}:${api.operator.password}`).toString('base64')}`;
      const team = `Bearer ${await api.teamToken('team')}`;
      const wild = { HAPROXY_0_VHOST: '*.example.test' };
      const asked = await post('/v2/apps?allow=wildcard-domains', team, body('/team/web', wild));
      expect(asked.status).to.equal(403);
      const teamWild = await post('/v2/apps', team, body('/team/web', wild));
      expect(teamWild.status).to.equal(403);
      expect(teamWild.body.message).to.include('labels.HAPROXY_0_VHOST');
      expect((await post('/v2/apps', operator, body('/ops/wild', wild))).status).to.equal(422);
      expect(
        (await post('/v2/apps?allow=wildcard-domains', operator, body('/ops/wild', wild))).status,
      ).to.equal(201);
      expect(api.kv.data.get('paasbox/domains/*.example.test')).to.equal('/ops/wild');
    });
  });
});
