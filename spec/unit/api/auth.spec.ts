// Who may do what on the apps API: the operator's login, team tokens scoped
// to their apps, 401 without credentials, 403 (Marathon's error shape) for an
// app outside a token's scope, for a hostile app and for a policy exception.
import { expect } from 'chai';
import { appAllowed, parseAuthorization, TOKENS_PREFIX } from '../../../src/api/auth.js';
import { apiUnderTest, type ApiUnderTest } from '../../helpers/api-under-test.js';

const app = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  instances: 1,
  container: { type: 'DOCKER', docker: { image: 'paasbox/simplewebapp-python:latest', ...extra } },
});

describe('apps API: authentication and scope', function () {
  describe('parseAuthorization', function () {
    it('reads basic logins, bearer tokens and DC/OS token= headers, and nothing else', function () {
      const basic = `Basic ${Buffer.from('paasbox:pw:with:colons').toString('base64')}`;
      expect(parseAuthorization(basic)).to.deep.equal({ user: 'paasbox', password: 'pw:with:colons' });
      expect(parseAuthorization('Bearer pbx_abc-DEF_1')).to.deep.equal({ token: 'pbx_abc-DEF_1' });
      expect(parseAuthorization('token=pbx_abc')).to.deep.equal({ token: 'pbx_abc' });
      for (const bad of [
        undefined,
        '',
        'Basic',
        'Bearer',
        'Bearer a b',
        'Digest x',
        `Basic ${btoa('nocolon')}`,
      ])
        expect(parseAuthorization(bad), String(bad)).to.equal(undefined);
    });
  });

  describe('appAllowed', function () {
    it('covers ids under a /prefix/* and exact ids only', function () {
      expect(appAllowed(['/team/*'], '/team/app')).to.equal(true);
      expect(appAllowed(['/team/*'], 'team/a/b')).to.equal(true);
      expect(appAllowed(['/team/*'], '/teamx/app')).to.equal(false);
      expect(appAllowed(['/team/*'], '/team')).to.equal(false);
      expect(appAllowed(['/web'], '/web')).to.equal(true);
      expect(appAllowed(['/web'], '/web2')).to.equal(false);
    });
  });

  describe('over HTTP', function () {
    let api: ApiUnderTest;
    let operator: string;
    beforeEach(async () => {
      api = await apiUnderTest();
      operator = `Basic ${Buffer.from(`${api.operator.user}:${api.operator.password}`).toString('base64')}`;
    });
    afterEach(() => api.close());

    async function req(method: string, path: string, auth?: string, body?: unknown) {
      const res = await fetch(`${api.url}${path}`, {
        method,
        headers: auth ? { Authorization: auth } : {},
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return {
        status: res.status,
        body: (text.startsWith('{') ? JSON.parse(text) : text) as Record<string, unknown>,
      };
    }

    async function teamToken(): Promise<string> {
      const r = await req('POST', '/paasbox/v1/tokens', operator, { team: 'team', apps: ['/team/*'] });
      expect(r.status).to.equal(201);
      return `Bearer ${String(r.body.token)}`;
    }

    it('answers /ping to anyone and refuses everything else without a valid login (401)', async () => {
      expect(await req('GET', '/ping')).to.deep.include({ status: 200 });
      for (const path of ['/v2/apps', '/v2/info', '/v2/tasks', '/v2/deployments', '/paasbox/v1/tokens']) {
        const r = await req('GET', path);
        expect(r.status, path).to.equal(401);
        expect(r.body.message, path).to.be.a('string');
      }
      const wrong = `Basic ${Buffer.from(`${api.operator.user}:nope`).toString('base64')}`;
      expect((await req('GET', '/v2/apps', wrong)).status).to.equal(401);
      expect((await req('GET', '/v2/apps', 'Bearer pbx_not-a-token')).status).to.equal(401);
    });

    it("stores a token's hash only, and shows the token once", async () => {
      const token = (await teamToken()).slice('Bearer '.length);
      const stored = [...api.kv.data].filter(([k]) => k.startsWith(TOKENS_PREFIX));
      expect(stored).to.have.length(1);
      expect(stored[0]![1]).not.to.include(token);
      const list = await req('GET', '/paasbox/v1/tokens', operator);
      expect(JSON.stringify(list.body)).not.to.include(token);
      expect(JSON.stringify(list.body)).not.to.include('sha256');
    });

    it('lets a team create its own app, and refuses others, hostile ones and exceptions with 403', async () => {
      const team = await teamToken();
      expect((await req('POST', '/v2/apps', team, app('/team/app'))).status).to.equal(201);
      const other = await req('POST', '/v2/apps', team, app('/other/app'));
      expect(other.status).to.equal(403);
      expect(other.body.message).to.match(/\/other\/app/);
      const hostile = await req('POST', '/v2/apps', team, app('/team/evil', { network: 'HOST' }));
      expect(hostile.status).to.equal(403);
      expect(JSON.stringify(hostile.body.details)).to.include('/container/docker/network');
      const exception = await req('POST', '/v2/apps?allow=host-namespaces', team, app('/team/evil2'));
      expect(exception.status).to.equal(403);
      expect((await req('GET', '/paasbox/v1/tokens', team)).status).to.equal(403);
      expect(api.apps.calls).to.deep.equal(['deploy /team/app']);
    });

    it("shows a team only its apps, and lets the operator's allow admit what the policy refuses", async () => {
      const team = await teamToken();
      expect((await req('POST', '/v2/apps', operator, app('/ops/tool'))).status).to.equal(201);
      expect((await req('POST', '/v2/apps', team, app('/team/app'))).status).to.equal(201);
      const seen = (await req('GET', '/v2/apps', team)).body.apps as { id: string }[];
      expect(seen.map((a) => a.id)).to.deep.equal(['/team/app']);
      expect((await req('GET', '/v2/apps/ops/tool', team)).status).to.equal(403);
      const refused = await req('POST', '/v2/apps', operator, app('/ops/host', { network: 'HOST' }));
      expect(refused.status).to.equal(422);
      const admitted = await req(
        'POST',
        '/v2/apps?allow=host-namespaces',
        operator,
        app('/ops/host', { network: 'HOST' }),
      );
      expect(admitted.status).to.equal(201);
    });

    it('answers 503, not 401, when the tokens cannot be read (Consul down); the operator still gets in', async () => {
      const team = await teamToken();
      await api.kv.close();
      const r = await req('GET', '/v2/info', team);
      expect(r.status).to.equal(503);
      expect(r.body.message).to.match(/try again/);
      expect((await req('GET', '/v2/info', operator)).status).to.equal(200);
    });

    it('stops accepting a revoked token', async () => {
      const team = await teamToken();
      expect((await req('GET', '/v2/apps', team)).status).to.equal(200);
      const r = await req('DELETE', '/paasbox/v1/tokens/team', operator);
      expect(r.body).to.deep.equal({ revoked: 1 });
      expect((await req('GET', '/v2/apps', team)).status).to.equal(401);
    });

    it('names what is not served, in Marathon’s error shape', async () => {
      const r = await req('GET', '/v2/groups', operator);
      expect(r.status).to.equal(404);
      expect(r.body.message).to.match(/GET \/v2\/groups is not served.*served: GET \/ping/);
    });
  });
});
