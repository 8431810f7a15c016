// The apps API (issue 21) as the integration specs drive it: the operator's login that install
// keeps in the spec's own state directory, requests as a chosen caller (the operator, a team's
// token, nobody) with fetchOnce, the wait for a deployment to end, a 0600 curl config that gives
// plain curl the login without argv, PyPI's marathon client in a venv of its own, and a bounded
// request loop by name through HAProxy.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { getWithHost } from '../../src/bench/http.js';
import { getByName, srvRecords } from '../../src/bench/reach.js';
import { marathonCredentialsFromFile } from '../../src/marathon/client.js';
import { SECRET_FILES } from '../../src/secrets/secrets.js';
import { fetchOnce } from './http.js';
import { sleep, until } from './until.js';

const run = promisify(execFile);

export interface Login {
  user: string;
  password: string;
}

/** Who calls: the operator (HTTP basic), a team's token as Bearer or DC/OS `token=`, or nobody. */
export type Caller = { basic: Login } | { bearer: string } | { dcos: string } | undefined;

export interface ApiAnswer {
  status: number;
  text: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json: unknown;
  contentType: string;
}

/** The operator's login install wrote for the instance under stateDir (SECRET_FILES.marathonCredentials). */
export function operatorLogin(stateDir: string, instance = 'default'): Login {
  const file = join(stateDir, 'secrets', instance, SECRET_FILES.marathonCredentials);
  const login = marathonCredentialsFromFile(file);
  if (!login) throw new Error(`no operator login at ${file}: did install run with this state directory?`);
  return login;
}

function authorization(as: Caller): Record<string, string> {
  if (!as) return {};
  if ('basic' in as)
    return {
      Authorization: `Basic ${Buffer.from(`${as.basic.user}:${as.basic.password}`).toString('base64')}`,
    };
  if ('bearer' in as) return { Authorization: `Bearer ${as.bearer}` };
  return { Authorization: `token=${as.dcos}` };
}

/** One request to the API at base (http://ADVERTISED:8080); the body, if any, as JSON. */
export async function api(
  base: string,
  method: string,
  path: string,
  as: Caller,
  body?: unknown,
): Promise<ApiAnswer> {
  const headers: Record<string, string> = { Accept: 'application/json', ...authorization(as) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetchOnce(`${base}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, text, json, contentType: r.headers.get('content-type') ?? '' };
}

/** An app as GET /v2/apps/{id} shows it (the fields the specs read). */
export interface ApiApp {
  id: string;
  instances: number;
  version: string;
  tasksRunning?: number;
  tasksHealthy?: number;
  tasksStaged?: number;
  tasksUnhealthy?: number;
  deployments?: { id: string }[];
  env?: Record<string, string>;
  container?: { docker?: { image?: string } };
}

/** GET /v2/apps/{id}: the app, or undefined when the API does not answer 200. */
export async function getApp(base: string, as: Caller, id: string): Promise<ApiApp | undefined> {
  const r = await api(base, 'GET', `/v2/apps${id}`, as);
  return r.status === 200 ? (r.json as { app: ApiApp }).app : undefined;
}

/** Wait until app `id` has no deployment and `instances` tasks running and healthy; the app. */
export function waitDeployed(
  base: string,
  as: Caller,
  id: string,
  instances: number,
  timeoutMs = 300_000,
): Promise<ApiApp> {
  return until(
    `${id} deployed with ${instances} healthy instance(s) (GET /v2/apps${id})`,
    async () => {
      const app = await getApp(base, as, id);
      if (!app) throw new Error(`GET /v2/apps${id} did not answer 200`);
      const done =
        app.instances === instances &&
        app.tasksRunning === instances &&
        app.tasksHealthy === instances &&
        (app.deployments ?? []).length === 0;
      if (!done)
        throw new Error(
          `instances ${app.instances}, running ${app.tasksRunning}, healthy ${app.tasksHealthy}, deployments ${JSON.stringify(app.deployments)}`,
        );
      return app;
    },
    timeoutMs,
    1000,
  );
}

/** Wait until GET /v2/apps/{id} answers 404 (the app is gone). */
export function waitGone(base: string, as: Caller, id: string, timeoutMs = 120_000): Promise<true> {
  return until(
    `${id} gone (GET /v2/apps${id} answers 404)`,
    async () => {
      const r = await api(base, 'GET', `/v2/apps${id}`, as);
      if (r.status !== 404) throw new Error(`HTTP ${r.status}: ${r.text.slice(0, 200)}`);
      return true as const;
    },
    timeoutMs,
    1000,
  );
}

/**
 * Wait until `service` answers by name with `instances` instances: GET / through HAProxy with Host
 * NAME.service.consul answers 200, and DNS (dnsmasq on 53, Consul on 8600, over TCP for every
 * record) gives that many SRV records. 0 instances: HAProxy answers 404 or 503 and DNS none.
 * (HAProxy's stats, which src/bench/reach.ts waitReachable also reads, need the stats login.)
 */
export function waitByName(
  address: string,
  service: string,
  instances: number,
  timeoutMs = 180_000,
): Promise<{ status: number; body: string }> {
  return until(
    `${service} answering by name with ${instances} instance(s)`,
    async () => {
      const [http, s53, s8600] = await Promise.all([
        getByName(address, service),
        srvRecords(address, 53, service, 'consul', { tcp: true }),
        srvRecords(address, 8600, service, 'consul', { tcp: true }),
      ]);
      const answered = instances === 0 ? [404, 503].includes(http.status) : http.status === 200;
      if (!answered || s53.length !== instances || s8600.length !== instances)
        throw new Error(`HTTP ${http.status}, SRV on 53: ${s53.length}, on 8600: ${s8600.length}`);
      return http;
    },
    timeoutMs,
    500,
  );
}

/** A 0600 file in a fresh 0700 directory; its path. */
export function privateFile(prefix: string, name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const file = join(dir, name);
  writeFileSync(file, content, { mode: 0o600 });
  return file;
}

/**
 * A CURL_HOME directory whose .curlrc (0600) holds `user = "USER:PASSWORD"`: plain curl run with
 * CURL_HOME set sends the login as `-u` would, and it is never on a command line.
 */
export function curlHome(login: Login): string {
  const q = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  const file = privateFile('pb-curl-', '.curlrc', `user = "${q(login.user)}:${q(login.password)}"\n`);
  return dirname(file);
}

/** The pinned PyPI release of marathon-python the spec drives the API with. */
export const MARATHON_PYTHON = 'marathon==0.13.0';

/**
 * A venv with PyPI's marathon client (MARATHON_PYTHON), made once per machine in the temp
 * directory and reused while it imports; its python.
 */
export async function marathonPython(): Promise<string> {
  const dir = join(tmpdir(), `paasbox-spec-${MARATHON_PYTHON.replace(/\W+/g, '-')}`);
  const python = join(dir, 'bin', 'python');
  const ready = async () =>
    existsSync(python) &&
    (await run(python, ['-c', 'import marathon']).then(
      () => true,
      () => false,
    ));
  if (await ready()) return python;
  mkdirSync(dir, { recursive: true });
  await run('python3', ['-m', 'venv', '--clear', dir]);
  await run(
    join(dir, 'bin', 'pip'),
    ['install', '--quiet', '--disable-pip-version-check', '--no-input', MARATHON_PYTHON],
    { maxBuffer: 16 << 20, timeout: 600_000 },
  );
  if (!(await ready())) throw new Error(`${MARATHON_PYTHON} installed into ${dir} but does not import`);
  return python;
}

export interface LoopResult {
  total: number;
  /** Answers other than 200, and requests that got no answer: what each got. */
  failed: string[];
  /** How many answers had each body (trimmed). */
  bodies: Record<string, number>;
  ms: number;
}

/**
 * GET / by name (Host NAME.service.DOMAIN) through HAProxy on address:80, one request after
 * another with `pauseMs` between, until stop() is called, `maxRequests` were sent, or `maxMs`
 * passed: bounded in count and in time. stop() ends it and gives the tally.
 */
export function requestLoop(
  address: string,
  service: string,
  opts: { maxRequests?: number; maxMs?: number; pauseMs?: number; domain?: string } = {},
): { stop: () => Promise<LoopResult>; seen: () => LoopResult } {
  const maxRequests = opts.maxRequests ?? 20_000;
  const maxMs = opts.maxMs ?? 300_000;
  const host = `${service}.service.${opts.domain ?? 'consul'}`;
  const t0 = Date.now();
  const tally: LoopResult = { total: 0, failed: [], bodies: {}, ms: 0 };
  let stopped = false;
  const done = (async () => {
    while (!stopped && tally.total < maxRequests && Date.now() - t0 < maxMs) {
      tally.total++;
      try {
        const r = await getWithHost(80, host, '/', address, 3000);
        if (r.status !== 200) tally.failed.push(`HTTP ${r.status}: ${r.body.trim().slice(0, 80)}`);
        else tally.bodies[r.body.trim()] = (tally.bodies[r.body.trim()] ?? 0) + 1;
      } catch (e) {
        tally.failed.push((e as Error).message);
      }
      await sleep(opts.pauseMs ?? 20);
    }
    tally.ms = Date.now() - t0;
    return tally;
  })();
  return {
    stop: async () => {
      stopped = true;
      return done;
    },
    seen: () => ({ ...tally, failed: [...tally.failed], bodies: { ...tally.bodies }, ms: Date.now() - t0 }),
  };
}
