// The "https" benchmarks (paasbox bench), against the stack up on this
// machine: what TLS costs through HAProxy, requests/s over https to an app by
// name (SNI and Host) beside plain http to the same app by name at the same
// concurrency, in alternating runs so drift weighs on both sides alike; each
// side's figure is the median of its runs, with the spread. autocannon keeps
// its connections open (as browsers do), so this is the cost of encryption on
// a warm connection; each connection's first handshake is in the runs too.
// And the time from an app's public name (HAPROXY_0_VHOST) to its first good
// HTTPS answer with a certificate from a real ACME server (Pebble).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { MarathonApp } from '../appspec/app.js';
import { PaasboxError } from '../errors.js';
import { repoPath } from '../paths.js';
import { poll } from '../poll.js';
import { httpHere } from '../system/http.js';
import type { Progress } from '../progress.js';
import { load, median, type LoadStats } from './discovery.js';
import { startPebble } from './pebble.js';

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

/** One run by name; the client timeout shorter than the run, so a stalled request counts as failed. */
function run(url: string, host: string, durationS: number, connections: number): Promise<LoadStats> {
  const timeoutS = Math.max(1, Math.min(2, durationS - 1));
  return load(url, { host }, durationS, connections, {
    timeoutS,
    ...(url.startsWith('https:') ? { servername: host } : {}),
  });
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

export interface LabelToHttpsOptions {
  /** The stack's advertised address (HAProxy, and what Pebble's DNS answers). */
  address: string;
  /** Runs, each a fresh app and name (default 5). */
  runs?: number;
  /** Where the runs' files go (settings, app JSON); removed after. */
  dir: string;
  /** One paasbox command as the user runs it (the bin of this checkout), its wall time included. */
  paasbox(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  progress: Progress;
}

export interface LabelToHttpsResult {
  /** `paasbox deploy --wait` of an app with HAPROXY_0_VHOST → first good HTTPS answer by that name. */
  seconds: Spread;
  /** The deploy's own wall time (until its instances run, healthy and routed by name). */
  deploySeconds: Spread;
}

const sec = (ms: number) => ms / 1000;

/**
 * The time from a public name's label to its first good HTTPS answer, as a
 * user waits for it: Pebble (Let's Encrypt's test server) on loopback, the
 * stack installed with acme: pointing at it, then per run an app labelled
 * HAPROXY_0_VHOST=NAME deployed with `paasbox deploy --wait`, timed from the
 * deploy's start to the first 200 over https://NAME/ whose certificate chains
 * to Pebble's root (a fresh connection each try, every 100 ms). Each app is
 * destroyed after its run; the stack is installed again without ACME at the end.
 */
export async function benchLabelToHttps(o: LabelToHttpsOptions): Promise<LabelToHttpsResult> {
  const pebble = await startPebble({ answer: o.address }, o.progress);
  const settings = (acme: Record<string, string>) => {
    const f = join(o.dir, 'paasbox.yaml');
    writeFileSync(f, stringify({ acme }));
    return f;
  };
  const must = async (args: string[]) => {
    const r = await o.paasbox(args);
    if (r.code !== 0)
      throw new PaasboxError(`paasbox ${args[0]} failed in the https benchmark`, 'read the detail', r.stderr);
    return r;
  };
  const example = JSON.parse(
    readFileSync(repoPath('examples', 'SimpleWebappPython', 'deploy1_marathon.json'), 'utf8'),
  ) as MarathonApp;
  const totals: number[] = [];
  const deploys: number[] = [];
  try {
    const acme = {
      directory: pebble.directory,
      email: 'bench@example.test',
      directoryCa: pebble.directoryCa,
    };
    await must(['install', '--mode', 'standalone', '--config', settings(acme)]);
    for (let i = 0; i < (o.runs ?? 5); i++) {
      const name = `pbtls${Date.now().toString(36)}`;
      const domain = `${name}.example.test`;
      const app: MarathonApp = {
        ...example,
        id: `/${name}`,
        instances: 1,
        env: { SERVICE_NAME: name, SERVICE_TAGS: 'http' },
        labels: { HAPROXY_0_VHOST: domain },
      };
      const file = join(o.dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(app));
      const t0 = Date.now();
      try {
        await must(['deploy', file, '--wait']);
        deploys.push(sec(Date.now() - t0));
        await poll(
          {
            what: `https://${domain}/ with a certificate from Pebble`,
            timeoutMs: 120_000,
            everyMs: 100,
            fix: 'read `npx paasbox status` (the certificates) and `npx paasbox logs acme`',
          },
          async () => {
            // A fresh connection each try, SNI from the Host, the chain checked against Pebble's root.
            const r = await httpHere(o.address, 443, '/', {
              host: domain,
              ca: { file: pebble.root },
              timeoutS: 2,
            });
            return r.status === 200 ? true : undefined;
          },
        );
        totals.push(sec(Date.now() - t0));
      } finally {
        await o.paasbox(['deploy', file, '--destroy']);
        await o.paasbox(['cert', 'rm', domain]);
      }
    }
  } finally {
    await pebble.stop();
    await o.paasbox([
      'install',
      '--mode',
      'standalone',
      '--config',
      settings({ directory: '', email: '', directoryCa: '' }),
    ]);
  }
  return { seconds: spread(totals), deploySeconds: spread(deploys) };
}
