// The "discovery" benchmarks (paasbox bench), run against a stack already up
// on `target` (HAProxy on 80, Registrator, Consul):
//  - benchTimeToRoute: `docker run` of a new instance -> first answer from it
//    through HAProxy by name (Registrator event + its readiness probe + Consul
//    + consul-template render + validated hitless reload), beside the
//    instance's own readiness (its first direct answer), probed side by side;
//  - benchHaproxyOverhead: autocannon through HAProxy vs straight to the app;
//  - benchReloadUnderLoad: failed requests while HAProxy reloads under load;
//  - benchDiscovery: all three on fresh one-instance services, then cleans up.
// Traffic goes through target.forward(), so it works on local and SSH targets
// alike (over SSH both sides share the tunnel, the ratio stays meaningful).
import autocannon from 'autocannon';
import { PaasboxError } from '../errors.js';
import { poll, sleep } from '../poll.js';
import type { Forward, Target } from '../target/target.js';
import { getWithHost } from './http.js';
import { parseDockerPort } from './routing.js';
import { shq } from '../target/shell.js';
import { EXAMPLE_IMAGE } from './images.js';

export interface RouteTimeOptions {
  image?: string;
  /** Service name to register (default pbbench<timestamp>, so routes never pre-exist). */
  service?: string;
  domain?: string;
  haproxyPort?: number;
  containerPrefix?: string;
  timeoutMs?: number;
  /** Leave the container running (benchDiscovery reuses it). */
  keep?: boolean;
}

export interface RouteTimeResult {
  service: string;
  container: string;
  /** The instance id the app answers with (its container hostname). */
  instance: string;
  hostPort: number;
  /** `docker run` -> first 200 from the new instance through HAProxy by name. */
  msToRoute: number;
  /**
   * `docker run` -> first 200 straight from the instance's published port: its own readiness, the route's
   * reference.
   */
  msToReady: number;
  /** msToRoute - msToReady: what the discovery path adds once the app is ready. */
  msReadyToRoute: number;
}

async function must(target: Target, cmd: string, what: string): Promise<string> {
  const r = await target.exec(cmd, { timeoutMs: 60_000 });
  if (r.code !== 0)
    throw new PaasboxError(
      `${what} failed on ${target.name}`,
      'check that docker runs there and the image is loaded',
      r.stderr || r.stdout,
    );
  return r.stdout.trim();
}

const CHECK_LOGS =
  'check `docker logs` of registrator and haproxy on the target (is the service passing in Consul?)';

/** Probes of both paths every this many ms: small beside the goal (200 ms), light on 2 cores. */
const PROBE_MS = 10;

export async function benchTimeToRoute(
  target: Target,
  opts: RouteTimeOptions = {},
): Promise<RouteTimeResult> {
  const service =
    opts.service ?? `pbbench${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
  const container = `${opts.containerPrefix ?? 'paasbox-bench'}-${service}`;
  const image = opts.image ?? EXAMPLE_IMAGE;
  const host = `${service}.service.${opts.domain ?? 'consul'}`;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const fwd = await target.forward('127.0.0.1', opts.haproxyPort ?? 80);
  let direct: Forward | undefined;
  try {
    const t0 = performance.now();
    const id = await must(
      target,
      `docker run -d --name ${shq(container)} -P -e SERVICE_NAME=${shq(service)} -e SERVICE_CHECK_HTTP=/health ${shq(image)}`,
      `docker run of ${image}`,
    );
    const instance = id.slice(0, 12);
    const hostPort =
      parseDockerPort(await must(target, `docker port ${shq(container)} 8080/tcp`, 'docker port')) ?? 0;
    direct = await target.forward('127.0.0.1', hostPort);
    const directPort = direct.localPort;
    // Both paths probed side by side, each on its own loop, so the reference
    // (the app's own first 200) is measured in the same run as the route.
    // The deadline counts from `docker run`; undefined when it passed.
    const firstOk = (port: number, hostHeader: string, last: { v: string }): Promise<number | undefined> =>
      poll(
        {
          what: `${hostHeader} answered by ${instance}`,
          timeoutMs: timeoutMs - (performance.now() - t0),
          everyMs: PROBE_MS,
          fix: CHECK_LOGS,
        },
        async () => {
          const r = await getWithHost(port, hostHeader, '/', '127.0.0.1', 2000).catch((e: Error) => ({
            status: 0,
            body: e.message,
            instance: undefined,
          }));
          if (r.status === 200 && r.instance === instance) return performance.now() - t0;
          last.v = `${r.status} ${r.body.trim().slice(0, 120)}`;
          return undefined;
        },
      ).catch(() => undefined);
    const lastRoute = { v: '' };
    const [msToReady, msToRoute] = await Promise.all([
      firstOk(directPort, `127.0.0.1:${hostPort}`, { v: '' }),
      firstOk(fwd.localPort, host, lastRoute),
    ]);
    if (!opts.keep || msToRoute === undefined || msToReady === undefined)
      await target.exec(`docker rm -f ${shq(container)}`);
    if (msToRoute === undefined || msToReady === undefined) {
      throw new PaasboxError(
        `${host} was not answered by the new instance ${msToReady === undefined ? 'directly' : 'through HAProxy'} within ${timeoutMs} ms on ${target.name}`,
        CHECK_LOGS,
        lastRoute.v,
      );
    }
    return {
      service,
      container,
      instance,
      hostPort,
      msToRoute,
      msToReady,
      msReadyToRoute: msToRoute - msToReady,
    };
  } finally {
    await direct?.close();
    await fwd.close();
  }
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export interface LoadStats {
  requestsPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  total: number;
  /** Connection errors, timeouts and non-2xx answers. */
  failed: number;
}

export interface ThroughputOptions {
  service: string;
  /** The app's published port on the target (direct path). */
  hostPort: number;
  domain?: string;
  haproxyPort?: number;
  durationS?: number;
  connections?: number;
  path?: string;
  /**
   * 'forward' (default) tunnels through target.forward(); 'address' connects
   * to target.address directly, which keeps an SSH tunnel's own cost out of
   * the ratio when this machine can reach the target's ports.
   */
  reach?: 'forward' | 'address';
  /**
   * With reach 'address': the address both paths connect to (default
   * target.address). Give the stack's IP, the one Registrator registers
   * instances at, and "direct" is the very endpoint HAProxy balances to; on
   * this machine 127.0.0.1 would pass docker's userland proxy instead, a hop
   * the path through HAProxy (host network) does not take.
   */
  address?: string;
}

export interface ThroughputResult {
  viaHaproxy: LoadStats;
  direct: LoadStats;
  /** viaHaproxy.requestsPerSec / direct.requestsPerSec (1 = no cost). */
  ratio: number;
}

/** autocannon's run as LoadStats; `extra`: its client timeout (default 10 s) and an https URL's SNI. */
export async function load(
  url: string,
  headers: Record<string, string>,
  durationS: number,
  connections: number,
  extra: { timeoutS?: number; servername?: string } = {},
): Promise<LoadStats> {
  const r = await autocannon({
    url,
    headers,
    duration: durationS,
    connections,
    timeout: extra.timeoutS ?? 10,
    ...(extra.servername ? { servername: extra.servername } : {}),
  });
  return {
    requestsPerSec: r.requests.average,
    latencyP50Ms: r.latency.p50,
    latencyP99Ms: r.latency.p99,
    total: r.requests.total,
    failed: r.errors + r.timeouts + r.non2xx,
  };
}

/** Two runs of equal duration as one: mean rate and latencies, summed counts. */
export function combine(a: LoadStats, b: LoadStats): LoadStats {
  return {
    requestsPerSec: (a.requestsPerSec + b.requestsPerSec) / 2,
    latencyP50Ms: (a.latencyP50Ms + b.latencyP50Ms) / 2,
    latencyP99Ms: Math.max(a.latencyP99Ms, b.latencyP99Ms),
    total: a.total + b.total,
    failed: a.failed + b.failed,
  };
}

export async function benchHaproxyOverhead(
  target: Target,
  opts: ThroughputOptions,
): Promise<ThroughputResult> {
  const durationS = opts.durationS ?? 10;
  const connections = opts.connections ?? 10;
  const path = opts.path ?? '/';
  const host = `${opts.service}.service.${opts.domain ?? 'consul'}`;
  const noFwd = { localPort: 0, close: async () => undefined };
  const byAddress = opts.reach === 'address';
  const viaFwd = byAddress ? noFwd : await target.forward('127.0.0.1', opts.haproxyPort ?? 80);
  const directFwd = byAddress ? noFwd : await target.forward('127.0.0.1', opts.hostPort);
  const url = (fwd: Forward, port: number) =>
    byAddress
      ? `http://${opts.address ?? target.address}:${port}${path}`
      : `http://127.0.0.1:${fwd.localPort}${path}`;
  try {
    // Warm both paths first (connections, the app's threads, HAProxy's checks).
    await load(url(directFwd, opts.hostPort), {}, 1, connections);
    await load(url(viaFwd, opts.haproxyPort ?? 80), { host }, 1, connections);
    // ABBA order, so drift in what else the machine runs weighs on both sides alike.
    const d1 = await load(url(directFwd, opts.hostPort), {}, durationS, connections);
    const v1 = await load(url(viaFwd, opts.haproxyPort ?? 80), { host }, durationS, connections);
    const v2 = await load(url(viaFwd, opts.haproxyPort ?? 80), { host }, durationS, connections);
    const d2 = await load(url(directFwd, opts.hostPort), {}, durationS, connections);
    const direct = combine(d1, d2);
    const viaHaproxy = combine(v1, v2);
    return {
      viaHaproxy,
      direct,
      ratio: direct.requestsPerSec > 0 ? viaHaproxy.requestsPerSec / direct.requestsPerSec : 0,
    };
  } finally {
    await viaFwd.close();
    await directFwd.close();
  }
}

export interface ReloadResult {
  reloads: number;
  total: number;
  /** Requests that failed (connection errors, timeouts, non-2xx) while HAProxy reloaded. */
  failed: number;
}

/**
 * Requests through HAProxy by name at `connections` concurrency while HAProxy
 * reloads `reloads` times through its own path (haproxy-reload: validate, swap
 * the config, reload via the master socket, check a new worker came up).
 * `haproxyContainer`: the stack's haproxy container on the target.
 */
/** The pause before each reload under load (a pace, not a wait). */
const RELOAD_GAP_MS = 700;

export async function benchReloadUnderLoad(
  target: Target,
  opts: {
    service: string;
    haproxyContainer: string;
    reloads?: number;
    connections?: number;
    domain?: string;
    haproxyPort?: number;
  },
): Promise<ReloadResult> {
  const reloads = opts.reloads ?? 5;
  const fwd = await target.forward('127.0.0.1', opts.haproxyPort ?? 80);
  try {
    const host = `${opts.service}.service.${opts.domain ?? 'consul'}`;
    const load = autocannon({
      url: `http://127.0.0.1:${fwd.localPort}/`,
      headers: { host },
      duration: reloads + 2,
      connections: opts.connections ?? 8,
      timeout: 10,
    });
    for (let i = 0; i < reloads; i++) {
      await sleep(RELOAD_GAP_MS);
      await must(
        target,
        `docker exec ${shq(opts.haproxyContainer)} sh -c 'cp /etc/haproxy/haproxy.cfg /etc/haproxy/haproxy.cfg.new && haproxy-reload'`,
        'haproxy-reload',
      );
    }
    const r = await load;
    return { reloads, total: r.requests.total, failed: r.errors + r.timeouts + r.non2xx };
  } finally {
    await fwd.close();
  }
}

export interface DiscoveryBenchResult {
  /** One per run, each a fresh service. */
  routes: RouteTimeResult[];
  throughput: ThroughputResult;
  reload?: ReloadResult;
}

/**
 * Time-to-route of `runs` fresh one-instance services, then HAProxy vs direct
 * on the last one, and requests across reloads when the haproxy container is
 * named; removes them after.
 */
export async function benchDiscovery(
  target: Target,
  opts: RouteTimeOptions &
    Omit<ThroughputOptions, 'service' | 'hostPort'> & { runs?: number; haproxyContainer?: string } = {},
): Promise<DiscoveryBenchResult> {
  const routes: RouteTimeResult[] = [];
  try {
    const runs = opts.runs ?? 5;
    // Only the last instance stays (for the load runs): earlier ones would share the 2 cores.
    for (let i = 0; i < runs; i++)
      routes.push(await benchTimeToRoute(target, { ...opts, keep: i === runs - 1 }));
    const last = routes[routes.length - 1]!;
    const throughput = await benchHaproxyOverhead(target, {
      ...opts,
      service: last.service,
      hostPort: last.hostPort,
    });
    const reload = opts.haproxyContainer
      ? await benchReloadUnderLoad(target, {
          service: last.service,
          haproxyContainer: opts.haproxyContainer,
          ...(opts.domain ? { domain: opts.domain } : {}),
        })
      : undefined;
    return { routes, throughput, ...(reload ? { reload } : {}) };
  } finally {
    const last = routes[routes.length - 1];
    if (last) await target.exec(`docker rm -f ${shq(last.container)}`);
  }
}
