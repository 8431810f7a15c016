// The "https" benchmarks (paasbox bench), against the stack up on this
// machine: what TLS costs through HAProxy, requests/s over https to an app by
// name (SNI and Host) beside plain http to the same app by name at the same
// concurrency, in alternating runs so drift weighs on both sides alike; each
// side's figure is the median of its runs, with the spread. autocannon keeps
// its connections open (as browsers do), so this is the cost of encryption on
// a warm connection; each connection's first handshake is in the runs too.
import autocannon from 'autocannon';
import { median, type LoadStats } from './discovery.js';

export interface TlsCostOptions {
  /** The stack's advertised address, where HAProxy listens. */
  address: string;
  /** The app's name as routed: NAME.service.DOMAIN. */
  host: string;
  httpPort?: number;
  httpsPort?: number;
  /** Runs per side (default 5). */
  runs?: number;
  durationS?: number;
  connections?: number;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export interface TlsCostResult {
  http: Spread;
  https: Spread;
  /** https / http, medians (1 = TLS costs nothing). */
  ratio: number;
  /** Failed requests (errors, timeouts, non-2xx) over every https run. */
  httpsFailed: number;
  httpsTotal: number;
  p50Ms: { http: number; https: number };
}

export function spread(xs: number[]): Spread {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs };
}

async function run(url: string, host: string, durationS: number, connections: number): Promise<LoadStats> {
  const tls = url.startsWith('https:');
  const r = await autocannon({
    url,
    headers: { host },
    duration: durationS,
    connections,
    // Shorter than the run: a stalled request counts as failed.
    timeout: Math.max(1, Math.min(2, durationS - 1)),
    ...(tls ? { servername: host } : {}),
  });
  return {
    requestsPerSec: r.requests.average,
    latencyP50Ms: r.latency.p50,
    latencyP99Ms: r.latency.p99,
    total: r.requests.total,
    failed: r.errors + r.timeouts + r.non2xx,
  };
}

/** http and https by name through HAProxy, alternating (ABBA...), `runs` each. */
export async function benchTlsCost(o: TlsCostOptions): Promise<TlsCostResult> {
  const runs = o.runs ?? 5;
  const durationS = o.durationS ?? 4;
  const connections = o.connections ?? 8;
  const http = `http://${o.address}:${o.httpPort ?? 80}/`;
  const https = `https://${o.address}:${o.httpsPort ?? 443}/`;
  // Warm both paths (connections, the app, HAProxy's checks and session cache).
  await run(http, o.host, 1, connections);
  await run(https, o.host, 1, connections);
  const a: LoadStats[] = [];
  const b: LoadStats[] = [];
  for (let i = 0; i < runs; i++) {
    const pair = i % 2 === 0 ? [http, https] : [https, http];
    for (const url of pair) (url === http ? a : b).push(await run(url, o.host, durationS, connections));
  }
  const h = spread(a.map((x) => x.requestsPerSec));
  const s = spread(b.map((x) => x.requestsPerSec));
  return {
    http: h,
    https: s,
    ratio: h.median > 0 ? s.median / h.median : 0,
    httpsFailed: b.reduce((n, x) => n + x.failed, 0),
    httpsTotal: b.reduce((n, x) => n + x.total, 0),
    p50Ms: { http: median(a.map((x) => x.latencyP50Ms)), https: median(b.map((x) => x.latencyP50Ms)) },
  };
}
