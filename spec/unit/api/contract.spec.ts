// The apps API against Marathon's contract: the recorded exchanges the
// project keeps for Marathon (spec/fixtures/marathon/*.json, written from
// Marathon's documented API) are replayed against the real routes and server
// (over a fake swarm and Consul K/V): the same status, and every field the
// fixture's answer has, with the same JSON type.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { apiUnderTest, type ApiUnderTest } from '../../helpers/api-under-test.js';
import type { MarathonApp } from '../../../src/appspec/app.js';
import { idKey } from '../../../src/api/versions.js';

interface Exchange {
  request: { method: string; path: string; body?: unknown };
  response: { status: number; body: unknown };
}

function fixture(name: string): Exchange[] {
  const url = new URL(`../../../../spec/fixtures/marathon/${name}.json`, import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { exchanges: Exchange[] }).exchanges;
}

/** Fields Marathon answers with that swarm has no counterpart for (documented in the README). */
const NOT_SERVED = new Set(['servicePorts', 'tasks', 'ipAddresses', 'buildref', 'frameworkId']);

const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** Every field of `want` (recursing into objects and the first element of arrays) is in `got`. */
function missingFields(want: unknown, got: unknown, at = ''): string[] {
  if (kind(want) === 'array' && kind(got) === 'array') {
    const [w] = want as unknown[];
    const [g] = got as unknown[];
    return w === undefined || g === undefined ? [] : missingFields(w, g, `${at}[0]`);
  }
  if (kind(want) !== 'object') return [];
  if (kind(got) !== 'object') return [`${at || '/'} is ${kind(got)}, not an object`];
  const out: string[] = [];
  for (const [k, v] of Object.entries(want as Record<string, unknown>)) {
    if (NOT_SERVED.has(k)) continue;
    const g = (got as Record<string, unknown>)[k];
    if (g === undefined) out.push(`${at}/${k} is missing`);
    else if (kind(v) !== kind(g) && !(kind(v) === 'null' || kind(g) === 'null'))
      out.push(`${at}/${k} is ${kind(g)}, not ${kind(v)}`);
    else out.push(...missingFields(v, g, `${at}/${k}`));
  }
  return out;
}

async function call(api: ApiUnderTest, e: Exchange['request'], auth?: string) {
  const { user, password } = api.operator;
  const res = await fetch(`${api.url}${e.path}`, {
    method: e.method,
    headers: {
      Authorization: auth ?? `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
      'Content-Type': 'application/json',
    },
    ...(e.body !== undefined ? { body: JSON.stringify(e.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* /ping answers text */
  }
  return { status: res.status, body };
}

/** The fixture's python1, as deploy-create sends it. */
const python1 = () => fixture('deploy-create')[0]!.request.body as MarathonApp;

describe('apps API: Marathon contract fixtures replayed against the server', function () {
  let api: ApiUnderTest;
  beforeEach(async () => {
    api = await apiUnderTest();
  });
  afterEach(() => api.close());

  async function replay(name: string, skip: number[] = []): Promise<void> {
    for (const [i, e] of fixture(name).entries()) {
      if (skip.includes(i)) continue;
      const got = await call(api, e.request);
      expect(
        got.status,
        `${name} #${i} ${e.request.method} ${e.request.path}: ${JSON.stringify(got.body)}`,
      ).to.equal(e.response.status);
      expect(missingFields(e.response.body, got.body), `${name} #${i}`).to.deep.equal([]);
    }
  }

  it('ping, info and leader', () => replay('ping-info-leader'));

  it('creates an app (201, the app and its deployment), then lists it', async () => {
    await replay('deploy-create');
    await replay('list-apps');
    expect(api.apps.calls).to.deep.equal(['deploy /python1']);
  });

  it('refuses a second create (409) and updates by PUT (200)', async () => {
    await call(api, { method: 'POST', path: '/v2/apps', body: python1() });
    await replay('deploy-update');
  });

  it('refuses an invalid app with 422 naming the field, and deploys nothing', async () => {
    // #1 (a PUT whose body Marathon cannot read as JSON) has no counterpart: the fixture records the
    // body already parsed.
    await replay('deploy-invalid', [1]);
    const got = await call(api, fixture('deploy-invalid')[0]!.request);
    const details = (got.body as { details: { path: string }[] }).details;
    expect(details.map((d) => d.path)).to.include('/container/docker/image');
    expect(api.apps.calls).to.deep.equal([]);
  });

  it('scales, restarts and destroys (then 404)', async () => {
    await call(api, { method: 'POST', path: '/v2/apps', body: python1() });
    await replay('scale-restart-destroy');
    expect(api.apps.calls).to.deep.equal([
      'deploy /python1',
      'scale /python1 4',
      'restart /python1',
      'destroy /python1',
    ]);
  });

  it("keeps no version of a deploy swarm refused, and reports it in Marathon's error shape", async () => {
    api.apps.refuseNext = true;
    const got = await call(api, { method: 'POST', path: '/v2/apps', body: python1() });
    expect(got.status).to.be.within(400, 599);
    expect((got.body as { message: string }).message).to.include('no such image');
    expect([...api.kv.data.keys()].filter((k) => k.startsWith(idKey('/python1')))).to.deep.equal([]);
  });

  it('lists tasks of one app and of all', async () => {
    await call(api, { method: 'POST', path: '/v2/apps', body: python1() });
    await replay('tasks');
  });

  it('lists versions, reads one, rolls back to it, and 404s an unknown app', async () => {
    const v = fixture('versions-rollback');
    const versions = (v[0]!.response.body as { versions: string[] }).versions;
    for (const ver of versions) api.kv.data.set(`${idKey('/python1')}${ver}`, JSON.stringify(python1()));
    api.apps.put(python1(), versions[0]);
    await replay('versions-rollback');
    expect(api.apps.calls).to.deep.equal(['deploy /python1']);
  });
});
