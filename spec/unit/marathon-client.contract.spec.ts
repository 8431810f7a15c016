// Contract tests for the Marathon client: a local HTTP server replays recorded
// request/response pairs (spec/fixtures/marathon/*.json, written from
// Marathon's documented API, not captured from a running Marathon) and checks
// the client sent exactly the documented method, path and body.
import { createServer, type Server, type IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import {
  MarathonClient,
  EventStreamParser,
  type MarathonClientOptions,
  type MarathonEvent,
} from '../../src/marathon/client.js';
import { validateApp } from '../../src/appspec/validate.js';
import { PaasboxError } from '../../src/errors.js';

interface Exchange {
  request: { method: string; path: string; body?: unknown; headers?: Record<string, string> };
  response: { status: number; headers?: Record<string, string>; body: unknown };
}

function fixture(name: string): Exchange[] {
  const url = new URL(`../../../spec/fixtures/marathon/${name}.json`, import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { exchanges: Exchange[] }).exchanges;
}

interface Seen {
  method: string;
  path: string;
  body?: unknown;
  headers: IncomingMessage['headers'];
}

/** Replays the exchanges in order; anything unexpected gets a 599 and is recorded. */
async function replay(
  exchanges: Exchange[],
  opts: Omit<MarathonClientOptions, 'baseUrl'> = {},
): Promise<{ client: MarathonClient; seen: Seen[]; close: () => Promise<void>; server: Server }> {
  const seen: Seen[] = [];
  let i = 0;
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        ...(raw ? { body: JSON.parse(raw) as unknown } : {}),
      });
      const ex = exchanges[i++];
      if (!ex) {
        res.writeHead(599).end('no more recorded exchanges');
        return;
      }
      const body = typeof ex.response.body === 'string' ? ex.response.body : JSON.stringify(ex.response.body);
      res.writeHead(ex.response.status, ex.response.headers ?? {});
      if ((ex.response.headers?.['Content-Type'] ?? '') === 'text/event-stream') {
        // Send the stream in small, awkwardly split chunks, as a network would.
        const parts = body.match(/[\s\S]{1,37}/g) ?? [];
        const next = (): void => {
          const p = parts.shift();
          if (p === undefined) res.end();
          else res.write(p, () => setTimeout(next, 2));
        };
        next();
      } else res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    seen,
    client: new MarathonClient({ baseUrl: `http://127.0.0.1:${port}/`, ...opts }),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The client sent exactly the recorded requests, in order. */
function expectRequests(seen: Seen[], exchanges: Exchange[]): void {
  expect(
    seen.map((s) => ({ method: s.method, path: s.path, ...(s.body !== undefined ? { body: s.body } : {}) })),
  ).to.deep.equal(
    exchanges.map((e) => ({
      method: e.request.method,
      path: e.request.path,
      ...(e.request.body !== undefined ? { body: e.request.body } : {}),
    })),
  );
  exchanges.forEach((e, i) => {
    for (const [k, v] of Object.entries(e.request.headers ?? {})) expect(seen[i]?.headers[k]).to.equal(v);
    if (e.request.body !== undefined) expect(seen[i]?.headers['content-type']).to.equal('application/json');
  });
}

// The app the recorded POST carries (the SimpleWebappPython python1 definition).
const app1 = validateApp(fixture('deploy-create')[0]!.request.body);

describe("MarathonClient: contract test (recorded responses from Marathon's documented API, not a running Marathon)", () => {
  it('ping, info and leader: GET /ping, /v2/info, /v2/leader', async () => {
    const ex = fixture('ping-info-leader');
    const r = await replay(ex);
    try {
      expect(await r.client.ping()).to.equal(true);
      const info = await r.client.info();
      expect(info.name).to.equal('marathon');
      expect(info.version).to.equal('1.10.26');
      expect(await r.client.leader()).to.equal('master.paasbox:8080');
      expectRequests(r.seen, ex);
    } finally {
      await r.close();
    }
  });

  it('deployApp of a new app: POST /v2/apps with the app JSON, 201 gives the deployment id', async () => {
    const ex = fixture('deploy-create');
    const r = await replay(ex);
    try {
      const res = await r.client.deployApp(app1);
      expect(res).to.deep.equal({
        created: true,
        deploymentId: '5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43',
        version: '2026-11-25T14:00:00.000Z',
      });
      expectRequests(r.seen, ex);
    } finally {
      await r.close();
    }
  });

  it('deployApp of an existing app: 409 on POST, then PUT /v2/apps/{id}?force=true with the same JSON', async () => {
    const ex = fixture('deploy-update');
    const r = await replay(ex);
    try {
      const res = await r.client.deployApp(app1);
      expect(res.created).to.equal(false);
      expect(res.deploymentId).to.equal('0f6b1f1e-1b4c-4b1e-9a5e-2d7c2f6f0e11');
      expectRequests(r.seen, ex);
    } finally {
      await r.close();
    }
  });

  it("422 and 400 error bodies become PaasboxErrors naming Marathon's field paths", async () => {
    const ex = fixture('deploy-invalid');
    const r = await replay(ex);
    try {
      const bad = JSON.parse(JSON.stringify(app1)) as typeof app1;
      bad.container!.docker.image = '';
      const e1 = await r.client.deployApp(bad).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(e1).to.be.instanceOf(PaasboxError);
      expect((e1 as PaasboxError).problem).to.equal(
        'Marathon rejected app /python1: Object is not valid (/container/docker/image: must not be empty)',
      );
      expect((e1 as PaasboxError).fix).to.include('/container/docker/image');
      const e2 = await r.client.scaleApp('python1', 2).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((e2 as PaasboxError).problem).to.match(/Invalid JSON \(\/instances: error.expected.jsnumber\)/);
      expectRequests(r.seen, ex);
    } finally {
      await r.close();
    }
  });

  it('scaleApp, restartApp, destroyApp: PUT {"instances"}, POST /restart, DELETE (404 = already gone)', async () => {
    const ex = fixture('scale-restart-destroy');
    const r = await replay(ex);
    try {
      expect((await r.client.scaleApp('/python1', 4)).deploymentId).to.match(/0001$/);
      expect((await r.client.restartApp('python1')).deploymentId).to.match(/0002$/);
      expect((await r.client.destroyApp('/python1/'))?.deploymentId).to.match(/0003$/);
      expect(await r.client.destroyApp('python1')).to.equal(undefined);
      expectRequests(r.seen, ex);
    } finally {
      await r.close();
    }
  });

  it('listTasks for one app and for all: GET /v2/apps/{id}/tasks, GET /v2/tasks', async () => {
    const ex = fixture('tasks');
    const r = await replay(ex);
    try {
      const mine = await r.client.listTasks('python1');
      expect(mine.map((t) => t.ports[0])).to.deep.equal([31001, 31002]);
      expect(mine.every((t) => t.healthCheckResults?.[0]?.alive)).to.equal(true);
      const all = await r.client.listTasks();
      expect(all.map((t) => t.appId)).to.deep.equal(['/python1', '/python1', '/python2']);
      expectRequests(r.seen, ex);
    } finally {
      await r.close();
    }
  });

  it('listApps: GET /v2/apps', async () => {
    const ex = fixture('list-apps');
    const r = await replay(ex);
    try {
      const apps = await r.client.listApps();
      expect(apps.map((a) => [a.id, a.tasksHealthy])).to.deep.equal([['/python1', 2]]);
      expectRequests(r.seen, ex);
    } finally {
      await r.close();
    }
  });

  it('waitForDeployment polls GET /v2/deployments until the id is gone', async () => {
    const ex = fixture('wait-deployment');
    const r = await replay(ex);
    try {
      await r.client.waitForDeployment('5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43', { intervalMs: 10 });
      expectRequests(r.seen, ex);
    } finally {
      await r.close();
    }
  });

  it('waitForDeployment gives up with a PaasboxError naming the deployment', async () => {
    const ex = fixture('wait-deployment').slice(0, 1);
    const r = await replay([...ex, ...ex, ...ex, ...ex, ...ex, ...ex, ...ex, ...ex]);
    try {
      const e = await r.client
        .waitForDeployment('5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43', { intervalMs: 10, timeoutMs: 30 })
        .then(
          () => undefined,
          (x: unknown) => x,
        );
      expect((e as PaasboxError).problem).to.match(
        /timed out after .* waiting for Marathon deployment 5ed4c0c5.* to finish/,
      );
      expect((e as PaasboxError).detail).to.equal('/python1 still running (step 2 of 2)');
    } finally {
      await r.close();
    }
  });

  it('waitForHealthy polls the app and its tasks until every instance passes its health check', async () => {
    const ex = fixture('wait-healthy');
    const r = await replay(ex);
    try {
      const tasks = await r.client.waitForHealthy('python1', { intervalMs: 10 });
      expect(tasks).to.have.length(2);
      expectRequests(r.seen, ex);
    } finally {
      await r.close();
    }
  });

  it("followEvents reads GET /v2/events (text/event-stream) and parses each event's JSON", async () => {
    const ex = fixture('events');
    const r = await replay(ex);
    try {
      const got: MarathonEvent[] = [];
      for await (const ev of r.client.followEvents()) got.push(ev);
      expect(got.map((e) => e.event)).to.deep.equal([
        'event_stream_attached',
        'deployment_info',
        'status_update_event',
        'deployment_success',
      ]);
      expect(got.map((e) => e.data.eventType)).to.deep.equal([
        'event_stream_attached',
        'deployment_info',
        'status_update_event',
        'deployment_success',
      ]);
      expect(got[2]?.data.taskStatus).to.equal('TASK_RUNNING');
      expectRequests(r.seen, ex);
    } finally {
      await r.close();
    }
  });

  it('versions: GET /v2/apps/{id}/versions[/{version}], rollback PUT {"version"}; 404 names the app', async () => {
    const ex = fixture('versions-rollback');
    const r = await replay(ex);
    try {
      const versions = await r.client.listVersions('/python1');
      expect(versions).to.deep.equal([
        '2026-11-25T14:20:00.000Z',
        '2026-11-25T14:10:00.000Z',
        '2026-11-25T14:00:00.000Z',
      ]);
      const old = await r.client.getAppVersion('python1', versions[2]!);
      expect(old.version).to.equal('2026-11-25T14:00:00.000Z');
      expect(old.container?.docker.image).to.equal(app1.container?.docker.image);
      const back = await r.client.rollbackApp('python1', versions[2]!);
      expect(back).to.deep.equal({
        version: '2026-11-25T14:30:00.000Z',
        deploymentId: 'a1b2c3d4-0000-4000-8000-000000000010',
      });
      const e = await r.client.listVersions('python2').then(
        () => undefined,
        (x: unknown) => x,
      );
      expect((e as PaasboxError).problem).to.equal(
        "Marathon has no app /python2 (App '/python2' does not exist)",
      );
      expectRequests(r.seen, ex);
    } finally {
      await r.close();
    }
  });

  it("a team's token is sent as Bearer (instead of basic), allow=… rides on POST and PUT, 403 is one line", async () => {
    const ex = fixture('deploy-allow-token');
    const r = await replay(ex, {
      token: 'pbx_team_0123456789abcdef',
      credentials: { user: 'paasbox', password: 'not-sent' },
      name: 'the apps API',
    });
    try {
      const res = await r.client.deployApp(app1, { allow: ['host-mounts', 'log-drivers'] });
      expect(res).to.deep.equal({
        created: false,
        deploymentId: 'a1b2c3d4-0000-4000-8000-000000000011',
        version: '2026-11-25T14:20:00.000Z',
      });
      const e = (await r.client.destroyApp('/other/app').then(
        () => undefined,
        (x: unknown) => x,
      )) as PaasboxError;
      expect(e).to.be.instanceOf(PaasboxError);
      expect(e.problem).to.match(
        /^the apps API at http:\/\/127\.0\.0\.1:\d+ refused app \/other\/app: HTTP 403 team team may not act on app \/other\/app: its token covers \/python1$/,
      );
      expect(e.fix).to.match(/^a team's token acts only on the apps its patterns name, and never on tokens/);
      expect(e.message).to.not.include('pbx_team_0123456789abcdef');
      expectRequests(r.seen, ex);
      expect(r.seen.every((s) => !String(s.headers.authorization).startsWith('Basic'))).to.equal(true);
    } finally {
      await r.close();
    }
  });

  it('a token with spaces or control characters is refused before any request', () => {
    expect(() => new MarathonClient({ baseUrl: 'http://127.0.0.1:1', token: 'abc def' })).to.throw(
      PaasboxError,
      /the token has spaces or characters a token never has/,
    );
  });

  it('an unreachable Marathon is a PaasboxError and ping() is false', async () => {
    const r = await replay([]);
    const url = r.client.baseUrl;
    await r.close();
    const client = new MarathonClient({ baseUrl: url, timeoutMs: 2000 });
    expect(await client.ping()).to.equal(false);
    const e = await client.listApps().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect((e as PaasboxError).problem).to.match(/^Marathon at http:\/\/127.0.0.1:\d+ is not reachable/);
  });
});

describe('EventStreamParser', () => {
  it('handles CRLF, multi-line data, comments and chunk boundaries anywhere', () => {
    const text = ': hello\r\nevent: a\r\ndata: {"x":\r\ndata: 1}\r\n\r\ndata: plain\n\nevent: empty\n\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const p = new EventStreamParser();
      const out = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
      expect(out, `cut at ${cut}`).to.deep.equal([
        { event: 'a', data: '{"x":\n1}' },
        { event: 'message', data: 'plain' },
      ]);
    }
  });
});
