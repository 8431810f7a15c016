// The "discovery" benchmarks (paasbox bench), run against a stack already up
// on `target` (HAProxy on 80, Registrator, Consul):
//  - benchTimeToRoute: `docker run` of a new instance -> first answer from it
//    through HAProxy by name (Registrator event + Consul check + consul-template
//    render + validated hitless reload);
//  - benchHaproxyOverhead: autocannon through HAProxy vs straight to the app;
//  - benchDiscovery: both on a fresh one-instance service, then cleans up.
// Traffic goes through target.forward(), so it works on local and SSH targets
// alike (over SSH both sides share the tunnel, the ratio stays meaningful).
import autocannon from 'autocannon';
import { PaasboxError } from '../errors.js';
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
  msToRoute: number;
}

async function must(target: Target, cmd: string, what: string): Promise<string> {
  const r = await target.exec(cmd, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new PaasboxError(`${what} failed on ${target.name}`, 'check that docker runs there and the image is loaded', r.stderr || r.stdout);
  return r.stdout.trim();
}

export async function benchTimeToRoute(target: Target, opts: RouteTimeOptions = {}): Promise<RouteTimeResult> {
  const service = opts.service ?? `pbbench${Date.now().toString(36)}`;
  const container = `${opts.containerPrefix ?? 'paasbox-bench'}-${service}`;
  const image = opts.image ?? EXAMPLE_IMAGE;
  const host = `${service}.service.${opts.domain ?? 'consul'}`;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const fwd = await target.forward('127.0.0.1', opts.haproxyPort ?? 80);
  try {
    const t0 = performance.now();
    const id = await must(target, `docker run -d --name ${shq(container)} -P -e SERVICE_NAME=${shq(service)} -e SERVICE_CHECK_HTTP=/health ${shq(image)}`, `docker run of ${image}`);
    const instance = id.slice(0, 12);
    let msToRoute: number | undefined;
    let last = '';
    while (performance.now() - t0 < timeoutMs) {
      const r = await getWithHost(fwd.localPort, host).catch((e: Error) => ({ status: 0, body: e.message, instance: undefined }));
      if (r.status === 200 && r.instance === instance) {
        msToRoute = performance.now() - t0;
        break;
      }
      last = `${r.status} ${r.body.trim().slice(0, 120)}`;
      await new Promise((res) => setTimeout(res, 25));
    }
    const hostPort = parseDockerPort(await must(target, `docker port ${shq(container)} 8080/tcp`, 'docker port'));
    if (!opts.keep || msToRoute === undefined) await target.exec(`docker rm -f ${shq(container)}`);
    if (msToRoute === undefined) {
      throw new PaasboxError(`${host} was not answered by the new instance through HAProxy within ${timeoutMs} ms on ${target.name}`,
        'check `docker logs` of registrator and haproxy on the target (is the service registered and passing in Consul?)', last);
    }
    return { service, container, instance, hostPort: hostPort ?? 0, msToRoute };
  } finally {
    await fwd.close();
  }
}

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
}

export interface ThroughputResult {
  viaHaproxy: LoadStats;
  direct: LoadStats;
  /** viaHaproxy.requestsPerSec / direct.requestsPerSec (1 = no cost). */
  ratio: number;
}

async function load(url: string, headers: Record<string, string>, durationS: number, connections: number): Promise<LoadStats> {
  const r = await autocannon({ url, headers, duration: durationS, connections, timeout: 10 });
  return {
    requestsPerSec: r.requests.average,
    latencyP50Ms: r.latency.p50,
    latencyP99Ms: r.latency.p99,
    total: r.requests.total,
    failed: r.errors + r.timeouts + r.non2xx,
  };
}

export async function benchHaproxyOverhead(target: Target, opts: ThroughputOptions): Promise<ThroughputResult> {
  const durationS = opts.durationS ?? 10;
  const connections = opts.connections ?? 10;
  const path = opts.path ?? '/';
  const host = `${opts.service}.service.${opts.domain ?? 'consul'}`;
  const noFwd = { localPort: 0, close: async () => undefined };
  const byAddress = opts.reach === 'address';
  const viaFwd = byAddress ? noFwd : await target.forward('127.0.0.1', opts.haproxyPort ?? 80);
  const directFwd = byAddress ? noFwd : await target.forward('127.0.0.1', opts.hostPort);
  const url = (fwd: Forward, port: number) => (byAddress ? `http://${target.address}:${port}${path}` : `http://127.0.0.1:${fwd.localPort}${path}`);
  try {
    // Warm both paths first (connections, the app's threads, HAProxy's checks).
    await load(url(directFwd, opts.hostPort), {}, 1, connections);
    await load(url(viaFwd, opts.haproxyPort ?? 80), { host }, 1, connections);
    const direct = await load(url(directFwd, opts.hostPort), {}, durationS, connections);
    const viaHaproxy = await load(url(viaFwd, opts.haproxyPort ?? 80), { host }, durationS, connections);
    return { viaHaproxy, direct, ratio: direct.requestsPerSec > 0 ? viaHaproxy.requestsPerSec / direct.requestsPerSec : 0 };
  } finally {
    await viaFwd.close();
    await directFwd.close();
  }
}

export interface DiscoveryBenchResult {
  route: RouteTimeResult;
  throughput: ThroughputResult;
}

/** Time-to-route of a fresh one-instance service, then HAProxy vs direct on it; removes it after. */
export async function benchDiscovery(target: Target, opts: RouteTimeOptions & Omit<ThroughputOptions, 'service' | 'hostPort'> = {}): Promise<DiscoveryBenchResult> {
  const route = await benchTimeToRoute(target, { ...opts, keep: true });
  try {
    const throughput = await benchHaproxyOverhead(target, { ...opts, service: route.service, hostPort: route.hostPort });
    return { route, throughput };
  } finally {
    await target.exec(`docker rm -f ${shq(route.container)}`);
  }
}
