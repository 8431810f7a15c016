// A small client for Marathon's REST API (v2), just what paasbox deploys and
// the app commands use; it speaks to real Marathon and to paasbox's apps API
// (src/api/) alike. Paths, methods and bodies follow Marathon's documented
// API; Marathon's error bodies ({message, details: [{path, errors}]}) become
// PaasboxErrors that name the fields. It is this process's one HTTP client
// for that API: the paasbox extensions (./paasbox.ts) go through call() and
// lines() here, with the same login.
import { existsSync, readFileSync } from 'node:fs';
import { PaasboxError } from '../errors.js';
import { normaliseId, type MarathonApp } from '../appspec/app.js';
import { poll } from '../poll.js';

/**
 * How the waits for an app end: a failed request ends it at once; the
 * timeout is the app's doing ('user': its image, resources or health check).
 */
const APP_WAIT = { kind: 'user', fatal: () => true } as const;

export interface MarathonClientOptions {
  /** e.g. http://10.0.0.5:8080 */
  baseUrl: string;
  /** Per-request timeout (not for the event stream). */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** HTTP basic auth (Marathon's --http_credentials), e.g. from marathonCredentialsFromFile. */
  credentials?: { user: string; password: string };
  /** A team's token for the apps API (`Authorization: Bearer TOKEN`), sent instead of credentials. */
  token?: string;
  /** What the server is called in errors (default "Marathon"). */
  name?: string;
  /** The flag that names the server's URL, for the fix of an unreachable one (default --marathon). */
  urlFlag?: string;
}

/** Which login a client sends: it decides the fix of a refusal (401/403). */
export type MarathonAuthKind = 'basic' | 'token' | 'none';

/**
 * Marathon's login from the 0600 file install writes (SECRET_FILES.marathonCredentials,
 * `user:password`); undefined when there is no such file (a stack without it).
 */
export function marathonCredentialsFromFile(file: string): { user: string; password: string } | undefined {
  if (!existsSync(file)) return undefined;
  const line = readFileSync(file, 'utf8').trim();
  const i = line.indexOf(':');
  if (i <= 0)
    throw new PaasboxError(`${file} is not user:password`, 'run install again: it rewrites the secrets');
  return { user: line.slice(0, i), password: line.slice(i + 1) };
}

/** An app as Marathon returns it: the definition plus task counters. */
export interface MarathonAppStatus extends MarathonApp {
  version?: string;
  tasksStaged?: number;
  tasksRunning?: number;
  tasksHealthy?: number;
  tasksUnhealthy?: number;
  deployments?: { id: string }[];
}

export interface MarathonTask {
  id: string;
  appId: string;
  host: string;
  ports: number[];
  state?: string;
  startedAt?: string | null;
  stagedAt?: string;
  version?: string;
  healthCheckResults?: { alive: boolean; consecutiveFailures?: number; taskId?: string }[];
}

export interface MarathonDeployment {
  id: string;
  version: string;
  affectedApps: string[];
  currentStep?: number;
  totalSteps?: number;
}

/** GET /v2/apps/{id}/versions: every stored version of the app, newest first (ISO 8601 times). */
export interface MarathonVersions {
  versions: string[];
}

/** What a change (create, update, scale, restart, destroy) started. */
export interface DeploymentRef {
  deploymentId: string;
  version: string;
}

export interface DeployResult extends DeploymentRef {
  /** true when the app was new (201), false when an existing one was updated. */
  created: boolean;
}

export interface MarathonInfo {
  name: string;
  version: string;
  leader: string | null;
  frameworkId?: string;
  elected?: boolean;
  [k: string]: unknown;
}

/** One server-sent event from /v2/events; data is the parsed JSON payload. */
export interface MarathonEvent {
  event: string;
  data: { eventType?: string; [k: string]: unknown };
}

export class MarathonClient {
  readonly baseUrl: string;
  readonly authKind: MarathonAuthKind;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;
  /** The Authorization header, when a login is given (never logged). */
  private readonly auth: Record<string, string>;
  private readonly name: string;
  private readonly urlFlag: string;

  constructor(opts: MarathonClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 15000;
    this.fetchFn = opts.fetch ?? fetch;
    this.name = opts.name ?? 'Marathon';
    this.urlFlag = opts.urlFlag ?? '--marathon';
    const c = opts.credentials;
    if (opts.token !== undefined) {
      if (!/^[\x21-\x7e]+$/.test(opts.token))
        throw new PaasboxError(
          'the token has spaces or characters a token never has',
          'pass the token `paasbox token create` printed, exactly (--token or PAASBOX_TOKEN)',
        );
      this.auth = { Authorization: `Bearer ${opts.token}` };
      this.authKind = 'token';
    } else if (c) {
      this.auth = { Authorization: `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}` };
      this.authKind = 'basic';
    } else {
      this.auth = {};
      this.authKind = 'none';
    }
  }

  /** GET /ping: true when Marathon answers "pong". Never throws. */
  async ping(): Promise<boolean> {
    try {
      const r = await this.raw('GET', '/ping');
      return r.status === 200 && r.text.trim() === 'pong';
    } catch {
      return false;
    }
  }

  /** GET /v2/info */
  async info(): Promise<MarathonInfo> {
    return (await this.json('GET', '/v2/info')) as MarathonInfo;
  }

  /** GET /v2/leader: "host:port" of the leading Marathon. */
  async leader(): Promise<string> {
    return ((await this.json('GET', '/v2/leader')) as { leader: string }).leader;
  }

  /** GET /v2/apps */
  async listApps(): Promise<MarathonAppStatus[]> {
    return ((await this.json('GET', '/v2/apps')) as { apps: MarathonAppStatus[] }).apps;
  }

  /** GET /v2/apps/{id}; undefined when there is no such app. */
  async getApp(id: string): Promise<MarathonAppStatus | undefined> {
    const r = await this.raw('GET', appPath(id));
    if (r.status === 404) return undefined;
    return (this.check(r, `app ${normaliseId(id)}`) as { app: MarathonAppStatus }).app;
  }

  /**
   * Create the app (POST /v2/apps); if it exists (409), replace its definition
   * with PUT /v2/apps/{id}?force=true so a stuck deployment cannot block it.
   * `allow`: the operator's exceptions to the apps API's policy (query
   * allow=a,b: the names of deploy's --allow-… flags); none, no query.
   */
  async deployApp(app: MarathonApp, opts: { allow?: string[] } = {}): Promise<DeployResult> {
    const allow = opts.allow?.length ? `allow=${opts.allow.map(encodeURIComponent).join(',')}` : '';
    const r = await this.raw('POST', `/v2/apps${allow ? `?${allow}` : ''}`, app);
    if (r.status === 201) {
      const body = JSON.parse(r.text) as MarathonAppStatus;
      return { created: true, deploymentId: body.deployments?.[0]?.id ?? '', version: body.version ?? '' };
    }
    if (r.status !== 409) this.check(r, `app ${normaliseId(app.id)}`);
    const put = (await this.json(
      'PUT',
      `${appPath(app.id)}?force=true${allow ? `&${allow}` : ''}`,
      app,
      `app ${normaliseId(app.id)}`,
    )) as DeploymentRef;
    return { created: false, deploymentId: put.deploymentId, version: put.version };
  }

  /** PUT /v2/apps/{id}?force=true {"instances": n} */
  async scaleApp(id: string, instances: number): Promise<DeploymentRef> {
    if (!Number.isInteger(instances) || instances < 0) {
      throw new PaasboxError(
        `cannot scale ${normaliseId(id)} to ${instances} instances`,
        'give a whole number >= 0',
      );
    }
    return (await this.json(
      'PUT',
      `${appPath(id)}?force=true`,
      { instances },
      `app ${normaliseId(id)}`,
    )) as DeploymentRef;
  }

  /** GET /v2/apps/{id}/versions: the stored versions, newest first (as Marathon lists them). */
  async listVersions(id: string): Promise<string[]> {
    const body = (await this.json(
      'GET',
      `${appPath(id)}/versions`,
      undefined,
      `app ${normaliseId(id)}`,
    )) as MarathonVersions;
    return body.versions;
  }

  /** GET /v2/apps/{id}/versions/{version}: the app's definition as it was at that version. */
  async getAppVersion(id: string, version: string): Promise<MarathonAppStatus> {
    return (await this.json(
      'GET',
      `${appPath(id)}/versions/${/^[0-9A-Za-z:.+-]+$/.test(version) ? version : encodeURIComponent(version)}`,
      undefined,
      `version ${version} of app ${normaliseId(id)}`,
    )) as MarathonAppStatus;
  }

  /** PUT /v2/apps/{id}?force=true {"version": V}: Marathon's rollback to a stored version. */
  async rollbackApp(id: string, version: string): Promise<DeploymentRef> {
    return (await this.json(
      'PUT',
      `${appPath(id)}?force=true`,
      { version },
      `app ${normaliseId(id)}`,
    )) as DeploymentRef;
  }

  /** POST /v2/apps/{id}/restart: a rolling restart. */
  async restartApp(id: string): Promise<DeploymentRef> {
    return (await this.json(
      'POST',
      `${appPath(id)}/restart`,
      undefined,
      `app ${normaliseId(id)}`,
    )) as DeploymentRef;
  }

  /** DELETE /v2/apps/{id}; undefined when the app was already gone. */
  async destroyApp(id: string): Promise<DeploymentRef | undefined> {
    const r = await this.raw('DELETE', appPath(id));
    if (r.status === 404) return undefined;
    return this.check(r, `app ${normaliseId(id)}`) as DeploymentRef;
  }

  /** GET /v2/apps/{id}/tasks, or every task (GET /v2/tasks) without an id. */
  async listTasks(id?: string): Promise<MarathonTask[]> {
    const path = id === undefined ? '/v2/tasks' : `${appPath(id)}/tasks`;
    return (
      (await this.json('GET', path, undefined, id ? `app ${normaliseId(id)}` : 'tasks')) as {
        tasks: MarathonTask[];
      }
    ).tasks;
  }

  /** GET /v2/deployments */
  async listDeployments(): Promise<MarathonDeployment[]> {
    return (await this.json('GET', '/v2/deployments')) as MarathonDeployment[];
  }

  /** Poll GET /v2/deployments until deploymentId is no longer listed (finished). */
  async waitForDeployment(deploymentId: string, opts: WaitOptions = {}): Promise<void> {
    const { timeoutMs = 300000, intervalMs = 1000 } = opts;
    const wait = {
      what: `Marathon deployment ${deploymentId} to finish`,
      timeoutMs,
      everyMs: intervalMs,
      fix: "check the app's tasks in Marathon (image present on the agents? enough cpus/mem offered?) or wait longer",
      ...APP_WAIT,
    };
    await poll(wait, async (_, note) => {
      const mine = (await this.listDeployments()).find((d) => d.id === deploymentId);
      if (!mine) return true;
      note(
        `${mine.affectedApps.join(', ')} still running (step ${mine.currentStep ?? '?'} of ${mine.totalSteps ?? '?'})`,
      );
      return undefined;
    });
  }

  /**
   * Wait until the app has `instances` running tasks (its current count when
   * omitted), all passing their health checks when the app defines any.
   */
  async waitForHealthy(id: string, opts: WaitOptions & { instances?: number } = {}): Promise<MarathonTask[]> {
    const { timeoutMs = 300000, intervalMs = 1000 } = opts;
    const wait = {
      what: `app ${normaliseId(id)} to be healthy`,
      timeoutMs,
      everyMs: intervalMs,
      fix: "look at the tasks' health check results and logs on the agents",
      ...APP_WAIT,
    };
    return poll(wait, async (_, note) => {
      const app = await this.getApp(id);
      if (!app) throw new PaasboxError(`Marathon has no app ${normaliseId(id)}`, 'deploy it first');
      const want = opts.instances ?? app.instances ?? 1;
      const tasks = (await this.listTasks(id)).filter((t) => (t.state ?? 'TASK_RUNNING') === 'TASK_RUNNING');
      const checked = (app.healthChecks ?? []).length;
      const passing = (t: MarathonTask) =>
        checked === 0 ||
        ((t.healthCheckResults ?? []).length >= checked && t.healthCheckResults!.every((h) => h.alive));
      const ready = tasks.filter(passing);
      if (ready.length === want && tasks.length === want) return ready;
      note(`${ready.length}/${want} healthy, ${tasks.length} running`);
      return undefined;
    });
  }

  /**
   * Follow GET /v2/events (text/event-stream) until the signal aborts or the
   * server closes the stream. eventTypes filters server-side (event_type=...).
   */
  async *followEvents(
    opts: { signal?: AbortSignal; eventTypes?: string[] } = {},
  ): AsyncGenerator<MarathonEvent> {
    const q = (opts.eventTypes ?? []).map((t) => `event_type=${encodeURIComponent(t)}`).join('&');
    const url = `${this.baseUrl}/v2/events${q ? `?${q}` : ''}`;
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        headers: { Accept: 'text/event-stream', ...this.auth },
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (e) {
      if (opts.signal?.aborted) return;
      throw this.unreachable(e);
    }
    if (res.status !== 200 || !res.body) {
      throw new PaasboxError(
        `Marathon event stream at ${url} answered HTTP ${res.status}`,
        'check that Marathon runs with its event subscriber (http_callback/SSE) enabled',
      );
    }
    const parser = new EventStreamParser();
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          if (opts.signal?.aborted) return;
          throw e;
        }
        if (chunk.done) break;
        for (const ev of parser.push(decoder.decode(chunk.value, { stream: true })))
          yield toMarathonEvent(ev);
      }
      for (const ev of parser.push('\n\n')) yield toMarathonEvent(ev);
    } finally {
      reader.releaseLock();
    }
  }

  /**
   * Any JSON request on this server with this client's login: the 2xx body
   * parsed, else the server's error as a PaasboxError about `what` (for the
   * paasbox extensions, ./paasbox.ts).
   */
  async call(method: string, path: string, body?: unknown, what?: string): Promise<unknown> {
    return this.json(method, path, body, what);
  }

  /**
   * GET path as a text stream, one line at a time, until the server ends it or
   * the signal aborts (no per-request timeout: a followed stream lasts).
   */
  async *lines(path: string, opts: { signal?: AbortSignal; what?: string } = {}): AsyncGenerator<string> {
    let res: Response;
    try {
      res = await this.fetchFn(`${this.baseUrl}${path}`, {
        headers: { Accept: 'text/plain', ...this.auth },
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (e) {
      if (opts.signal?.aborted) return;
      throw this.unreachable(e);
    }
    if (res.status < 200 || res.status >= 300)
      this.check({ status: res.status, text: await res.text() }, opts.what ?? path);
    if (!res.body) return;
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    let rest = '';
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          if (opts.signal?.aborted) return;
          throw this.unreachable(e);
        }
        if (chunk.done) break;
        const parts = (rest + decoder.decode(chunk.value, { stream: true })).split('\n');
        rest = parts.pop() ?? '';
        for (const line of parts) yield line.replace(/\r$/, '');
      }
      rest += decoder.decode();
      if (rest) yield rest.replace(/\r$/, '');
    } finally {
      reader.releaseLock();
    }
  }

  // --- plumbing ---

  private async raw(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
    const url = `${this.baseUrl}${path}`;
    try {
      const res = await this.fetchFn(url, {
        method,
        // A connection per request: a kept-alive one the server closed between two polls would fail
        // the next with "other side closed" (spec/helpers/http.ts says how a CI run met it).
        headers: {
          Accept: 'application/json',
          Connection: 'close',
          ...this.auth,
          ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      return { status: res.status, text: await res.text() };
    } catch (e) {
      throw this.unreachable(e);
    }
  }

  private async json(method: string, path: string, body?: unknown, what?: string): Promise<unknown> {
    return this.check(await this.raw(method, path, body), what ?? path);
  }

  /** Parse a 2xx body or turn Marathon's error body into a PaasboxError. */
  private check(r: { status: number; text: string }, what: string): unknown {
    if (r.status >= 200 && r.status < 300) return r.text ? JSON.parse(r.text) : {};
    throw marathonError(r.status, r.text, what, this.baseUrl, { name: this.name, auth: this.authKind });
  }

  private unreachable(e: unknown): PaasboxError {
    const cause = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
    return new PaasboxError(
      `${this.name} at ${this.baseUrl} is not reachable: ${cause}`,
      `start the stack (${this.name === 'Marathon' ? 'marathon' : 'it'} listens on 8080 of the master) or pass the right ${this.urlFlag} URL`,
    );
  }
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/** Where a refusal (401/403) sends the user, by the login the client sent. */
const REFUSED_FIX: Record<MarathonAuthKind, string> = {
  basic:
    'the login is the user:password in .paasbox/secrets/INSTANCE/marathon/http-credentials ' +
    '(written by install): run install again, or check that this is the stack it installed',
  token:
    "a team's token acts only on the apps its patterns name, and never on tokens or allow=: " +
    'ask the operator (paasbox token list shows the patterns), or use the operator login',
  none:
    "give a team's token (--token or PAASBOX_TOKEN), or run where install ran " +
    '(its login is .paasbox/secrets/INSTANCE/marathon/http-credentials)',
};

/**
 * Marathon's error body → one PaasboxError naming each field Marathon
 * complained about. `server.name` names the server ("Marathon" by default),
 * `server.auth` the login that was sent (the fix of a refusal). Pure.
 */
export function marathonError(
  status: number,
  text: string,
  what: string,
  baseUrl = 'Marathon',
  server: { name?: string; auth?: MarathonAuthKind } = {},
): PaasboxError {
  const name = server.name ?? 'Marathon';
  let body: {
    message?: string;
    details?: { path?: string; errors?: string[]; attribute?: string; error?: string }[];
    deployments?: { id: string }[];
  } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    /* not JSON: keep the text */
  }
  const details = (body.details ?? []).map(
    (d) => `${d.path ?? d.attribute ?? 'self'}: ${(d.errors ?? (d.error ? [d.error] : [])).join('; ')}`,
  );
  const message = body.message ?? (text.trim().slice(0, 200) || `HTTP ${status}`);
  switch (status) {
    case 400:
    case 422:
      return new PaasboxError(
        `${name} rejected ${what}: ${message}${details.length ? ` (${details.join(', ')})` : ''}`,
        details.length
          ? `correct the field(s) ${details.map((d) => d.split(':')[0]).join(', ')} in the app definition`
          : 'correct the app definition',
        details.join('\n'),
      );
    case 401:
    case 403:
      return new PaasboxError(
        `${name} at ${baseUrl} refused ${what}: HTTP ${status} ${message}`,
        REFUSED_FIX[server.auth ?? 'basic'],
      );
    case 404:
      return new PaasboxError(
        `${name} has no ${what}${body.message ? ` (${body.message})` : ''}`,
        'check the app id (GET /v2/apps lists them)',
      );
    case 409:
      return new PaasboxError(
        `${name}: ${what} is locked: ${message}${body.deployments?.length ? ` (deployments ${body.deployments.map((d) => d.id).join(', ')})` : ''}`,
        'wait for the running deployment to finish or retry with force',
      );
    case 503:
      return new PaasboxError(
        `${name} at ${baseUrl} has no leader yet: ${message}`,
        'wait until ZooKeeper and Marathon have elected a leader (GET /v2/leader)',
      );
    default:
      return new PaasboxError(
        `${name} answered HTTP ${status} for ${what}: ${message}`,
        `see the ${name} log on the master`,
      );
  }
}

function appPath(id: string): string {
  return `/v2/apps${normaliseId(id)}`;
}

function toMarathonEvent(ev: { event: string; data: string }): MarathonEvent {
  let data: MarathonEvent['data'];
  try {
    data = JSON.parse(ev.data) as MarathonEvent['data'];
  } catch {
    data = { raw: ev.data };
  }
  return { event: ev.event, data };
}

/**
 * Incremental text/event-stream parser (the WHATWG server-sent events format):
 * feed it chunks as they arrive, get back the events that completed.
 */
export class EventStreamParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];

  push(chunk: string): { event: string; data: string }[] {
    this.buffer += chunk;
    const out: { event: string; data: string }[] = [];
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      const sepLen = this.buffer.startsWith('\r\n', nl) ? 2 : 1;
      // A lone \r at the end of a chunk may be the start of \r\n: wait for more.
      if (this.buffer[nl] === '\r' && sepLen === 1 && nl === this.buffer.length - 1) break;
      this.buffer = this.buffer.slice(nl + sepLen);
      if (line === '') {
        if (this.data.length) out.push({ event: this.event || 'message', data: this.data.join('\n') });
        this.event = '';
        this.data = [];
        continue;
      }
      if (line.startsWith(':')) continue; // comment / keep-alive
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') this.event = value;
      else if (field === 'data') this.data.push(value);
    }
    return out;
  }
}
