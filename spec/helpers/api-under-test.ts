// Stand-ins for what the apps API talks to, so its routes and server run in
// a unit test: Consul's K/V on loopback (GET raw/recurse, PUT with cas=0,
// DELETE with recurse), and an in-memory swarm of app services behind the
// SwarmApps methods the routes call, answering in SwarmApps' shapes: a change
// runs until GET /v2/deployments has listed it once (so a wait sees it end),
// logs come as `docker service logs` writes them, in awkward
// chunks. The real AppsApi, server, TokenStore, VersionStore and AppNames run
// on top of them, and every request is recorded (with its Authorization header
// and the body the routes read) for the specs of the API and of the CLI's app
// commands.
import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RequestListener, Server } from 'node:http';
import { TokenStore } from '../../src/api/auth.js';
import { AppsApi, type ApiRequest, type ApiResponse } from '../../src/api/routes.js';
import { createApiServer } from '../../src/api/server.js';
import { deploymentId, type AppService, type SwarmApps } from '../../src/api/swarm-apps.js';
import { VersionStore } from '../../src/api/versions.js';
import type { AppPolicy } from '../../src/apps/policy.js';
import { normaliseId, type MarathonApp } from '../../src/appspec/app.js';
import { checkApp } from '../../src/apps/policy.js';
import { AppNames } from '../../src/consul/app-names.js';
import { ConsulClient } from '../../src/consul/client.js';
import { PaasboxError } from '../../src/errors.js';
import { swarmServiceName } from '../../src/scheduler/swarm-service.js';
import { fetchOnce } from './http.js';

export interface FakeKv {
  url: string;
  data: Map<string, string>;
  close(): Promise<void>;
}

/** Consul's K/V as far as the apps API uses it. */
export async function fakeConsulKv(): Promise<FakeKv> {
  const data = new Map<string, string>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://kv');
      const key = decodeURIComponent(url.pathname.replace(/^\/v1\/kv\//, ''));
      const json = (status: number, v: unknown) =>
        res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(v));
      if (req.method === 'GET') {
        if (url.searchParams.has('recurse')) {
          const rows = [...data].filter(([k]) => k.startsWith(key));
          if (!rows.length) return json(404, null);
          return json(
            200,
            rows.map(([k, v]) => ({ Key: k, Value: Buffer.from(v).toString('base64') })),
          );
        }
        if (!data.has(key)) return res.writeHead(404).end();
        return res.writeHead(200).end(data.get(key));
      }
      if (req.method === 'PUT') {
        if (url.searchParams.get('cas') === '0' && data.has(key)) return json(200, false);
        data.set(key, body);
        return json(200, true);
      }
      if (req.method === 'DELETE') {
        for (const k of [...data.keys()])
          if (url.searchParams.has('recurse') ? k.startsWith(key) : k === key) data.delete(k);
        return json(200, true);
      }
      res.writeHead(405).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    data,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** The fake swarm's nodes: tasks name their address, log lines their name (as docker does). */
export const FAKE_NODES = [
  { name: 'node0', address: '10.0.0.5' },
  { name: 'node1', address: '10.0.0.6' },
] as const;

/** One app service of the fake swarm, with the spec it runs and the one before (swarm's PreviousSpec). */
interface FakeService extends AppService {
  app: MarathonApp;
  previous?: { app: MarathonApp; version?: string; wanted: number };
}

/** The SwarmApps methods the routes call, over services held in memory. */
export class FakeSwarmApps {
  readonly services_ = new Map<string, FakeService>();
  readonly calls: string[] = [];
  /** The next deploy fails as swarm would refuse it. */
  refuseNext = false;
  readonly manager = { name: 'fake', address: '127.0.0.1' };
  /** Services whose change still runs: it ends once GET /v2/deployments has listed it. */
  private readonly changing = new Set<string>();
  private seq = 0;
  constructor(private readonly versions: VersionStore) {}

  /** As swarm answers: a snapshot, not the service itself. */
  async services(names?: string[]): Promise<AppService[]> {
    return [...this.services_.values()]
      .filter((s) => !names || names.includes(s.name))
      .map((s) => ({ ...s }));
  }
  async service(id: string): Promise<AppService | undefined> {
    const s = this.services_.get(normaliseId(id));
    return s && { ...s };
  }
  async definition(s: AppService): Promise<MarathonApp> {
    return (s.version && (await this.versions.get(s.id, s.version))) || this.of(s).app;
  }
  async view(s: AppService, opts: { deployments?: boolean } = {}): Promise<Record<string, unknown>> {
    const app = await this.definition(s);
    const busy = opts.deployments !== false && this.changing.has(s.id);
    const version = s.version ?? s.updatedAt;
    return {
      ...app,
      id: s.id,
      instances: s.wanted,
      version,
      versionInfo: { lastConfigChangeAt: version, lastScalingAt: version },
      tasksStaged: Math.max(0, s.wanted - s.running),
      tasksRunning: s.running,
      tasksHealthy: s.running,
      tasksUnhealthy: 0,
      deployments: busy ? [{ id: deploymentId(s.serviceId, s.index) }] : [],
    };
  }
  /** One task per running instance, spread over the nodes as swarm spreads them. */
  async tasks(s: AppService): Promise<Record<string, unknown>[]> {
    return Array.from({ length: s.running }, (_, i) => {
      const id = `${s.name}.${this.taskId(s, i)}`;
      const host = FAKE_NODES[i % FAKE_NODES.length]!.address;
      return {
        id,
        appId: s.id,
        host,
        ports: [31000 + i],
        slaveId: host,
        state: 'TASK_RUNNING',
        stagedAt: s.updatedAt,
        startedAt: s.updatedAt,
        version: s.version ?? s.updatedAt,
        healthCheckResults: [{ alive: true, taskId: id, consecutiveFailures: 0 }],
      };
    });
  }
  /** The changes still running (listed once each, then ended), in Marathon's shape. */
  async deployments(only?: (s: AppService) => boolean): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (const s of await this.services()) {
      if (!this.changing.has(s.id) || (only && !only(s))) continue;
      this.changing.delete(s.id);
      const action = 'ScaleApplication';
      out.push({
        id: deploymentId(s.serviceId, s.index),
        version: s.version ?? s.updatedAt,
        affectedApps: [s.id],
        steps: [{ actions: [{ action, app: s.id }] }],
        currentActions: [{ action, app: s.id, readinessCheckResults: [] }],
        currentStep: 1,
        totalSteps: 1,
      });
    }
    return out;
  }
  async rollback(s: AppService): Promise<'rolled-back' | 'removed'> {
    const f = this.of(s);
    this.calls.push(`rollback ${s.id}`);
    if (!f.previous) {
      this.services_.delete(s.id);
      this.changing.delete(s.id);
      return 'removed';
    }
    this.put(f.previous.app, f.previous.version);
    this.changing.add(s.id);
    return 'rolled-back';
  }
  async restart(s: AppService): Promise<void> {
    this.calls.push(`restart ${s.id}`);
    this.of(s).index += 1;
    this.changing.add(s.id);
  }
  async scale(s: AppService, n: number, version: string): Promise<void> {
    this.calls.push(`scale ${s.id} ${n}`);
    const f = this.of(s);
    const previous = { app: f.app, ...(f.version ? { version: f.version } : {}), wanted: f.wanted };
    Object.assign(f, { wanted: n, running: n, version, index: f.index + 1, hasPrevious: true, previous });
    this.changing.add(s.id);
  }
  /**
   * `docker service logs` of the app: a line per instance as docker
   * writes it (NAME.SLOT.TASK@NODE    | line), one the app ended
   * with CRLF, and a last one cut off before its newline (the command
   * stopped), in 7-byte chunks a millisecond apart; it stops when the
   * request's signal aborts.
   */
  async logs(
    s: AppService,
    opts: { since?: string; tail?: number; follow?: boolean; signal?: AbortSignal },
    onOutput: (chunk: Buffer) => void,
  ): Promise<void> {
    const flags = [
      ...(opts.since ? ['--since', opts.since] : []),
      ...(opts.tail !== undefined ? ['--tail', String(opts.tail)] : []),
      ...(opts.follow ? ['--follow'] : []),
    ];
    this.calls.push(['logs', s.id, ...flags].join(' '));
    const says = ['hello\r', 'world', 'last'];
    const text = says
      .map((say, i) => {
        const slot = i % Math.max(1, s.running);
        const node = FAKE_NODES[slot % FAKE_NODES.length]!.name;
        return `${s.name}.${slot + 1}.${this.taskId(s, slot)}@${node}    | ${say}`;
      })
      .join('\n');
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length && !opts.signal?.aborted; at += 7) {
      onOutput(bytes.subarray(at, at + 7));
      await new Promise((r) => setTimeout(r, 1));
    }
  }
  scheduler(policy?: AppPolicy) {
    return {
      deploy: async (app: MarathonApp, o: { version?: string } = {}) => {
        checkApp(app, 'app', policy);
        if (this.refuseNext) {
          this.refuseNext = false;
          throw new PaasboxError('docker service create failed on fake: no such image', 'load the image');
        }
        this.calls.push(`deploy ${app.id}`);
        const created = !this.services_.has(normaliseId(app.id));
        this.put(app, o.version);
        this.changing.add(normaliseId(app.id));
        return { created, warnings: [] };
      },
      destroy: async (id: string) => {
        this.calls.push(`destroy ${id}`);
        this.changing.delete(normaliseId(id));
        return this.services_.delete(normaliseId(id));
      },
    };
  }

  /** An app as if swarm ran it (the seed of a test, or a deploy); no change runs for a seed. */
  put(app: MarathonApp, version?: string): FakeService {
    const id = normaliseId(app.id);
    const old = this.services_.get(id);
    const n = app.instances ?? 1;
    const s: FakeService = {
      id,
      name: swarmServiceName(id),
      serviceId: old?.serviceId ?? `svc${++this.seq}`,
      index: (old?.index ?? 10) + 1,
      wanted: n,
      running: n,
      updating: '',
      ...(version ? { version } : {}),
      image: app.container?.docker.image ?? '',
      createdAt: '2026-12-01T00:00:00Z',
      updatedAt: '2026-12-01T00:00:00Z',
      hasPrevious: !!old,
      app,
      ...(old
        ? { previous: { app: old.app, ...(old.version ? { version: old.version } : {}), wanted: old.wanted } }
        : {}),
    };
    this.services_.set(id, s);
    return s;
  }

  /** Every running change ends, as when swarm has converged. */
  settle(): void {
    this.changing.clear();
  }

  /** The deployment id a change of `id` reports now. */
  deploymentOf(id: string): string {
    const s = this.services_.get(normaliseId(id))!;
    return deploymentId(s.serviceId, s.index);
  }

  private of(s: AppService): FakeService {
    const f = this.services_.get(s.id);
    if (!f) throw new PaasboxError(`no such service ${s.name} on fake`, 'deploy it first');
    return f;
  }

  /** A task's id: new tasks replace the old ones on every update of the service. */
  private taskId(s: AppService, slot: number): string {
    return `${s.serviceId}x${s.index}x${slot + 1}`;
  }
}

/** A request as the server got it, with the body as the routes read it (JSON parsed). */
export interface RecordedRequest {
  method: string;
  url: string;
  authorization?: string;
  body?: unknown;
}

export interface ApiUnderTest {
  url: string;
  kv: FakeKv;
  apps: FakeSwarmApps;
  tokens: TokenStore;
  operator: { user: string; password: string };
  /** Every request the server got, in the order it got them. */
  requests: RecordedRequest[];
  /** A request as the operator, through the server: its status and its JSON answer. */
  asOperator(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /** A team's token, made as the operator makes one (POST /paasbox/v1/tokens). */
  teamToken(team: string, apps?: string[]): Promise<string>;
  close(): Promise<void>;
}

/** The routes, recording the body each request's routes read on the request being served. */
class RecordingApi extends AppsApi {
  readonly serving = new AsyncLocalStorage<RecordedRequest>();
  override async handle(req: ApiRequest): Promise<ApiResponse> {
    const rec = this.serving.getStore();
    if (rec && req.body) {
      try {
        rec.body = JSON.parse(req.body);
      } catch {
        rec.body = req.body;
      }
    }
    return super.handle(req);
  }
}

/** The real routes and server on loopback, over the fake K/V and swarm. */
export async function apiUnderTest(bounds?: AppPolicy['bounds']): Promise<ApiUnderTest> {
  const kv = await fakeConsulKv();
  const consul = new ConsulClient({ baseUrl: kv.url });
  const versions = new VersionStore(consul);
  const tokens = new TokenStore(consul, 0);
  const apps = new FakeSwarmApps(versions);
  const fake = apps as unknown as SwarmApps;
  const api = new RecordingApi({
    ready: async () => undefined,
    apps: fake,
    versions,
    tokens,
    names: new AppNames(consul),
    bounds: async () => bounds,
    info: { name: 'marathon', version: '1.7.50-paasbox', leader: '10.0.0.5:8080' },
  });
  const operator = { user: 'paasbox', password: 'operator-password-for-tests' };
  const server: Server = createApiServer({ api, apps: fake, tokens, operator });
  const requests: RecordedRequest[] = [];
  const [serve] = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const auth = req.headers.authorization;
    const rec: RecordedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      ...(auth ? { authorization: auth } : {}),
    };
    requests.push(rec);
    api.serving.run(rec, () => serve!(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const basic = `Basic ${Buffer.from(`${operator.user}:${operator.password}`).toString('base64')}`;
  const asOperator = async (method: string, path: string, body?: unknown) => {
    const res = await fetchOnce(`${url}${path}`, {
      method,
      headers: { Authorization: basic, 'Content-Type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as unknown };
  };
  return {
    url,
    kv,
    apps,
    tokens,
    operator,
    requests,
    asOperator,
    teamToken: async (team, patterns = [`/${team}/*`]) => {
      const r = await asOperator('POST', '/paasbox/v1/tokens', { team, apps: patterns });
      const token = (r.body as { token?: unknown }).token;
      if (r.status !== 201 || typeof token !== 'string')
        throw new Error(`no token for team ${team}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      return token;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await kv.close();
    },
  };
}
