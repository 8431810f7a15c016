// Is an app reachable by name? What the stack promises for every deployed app:
// HAProxy routes NAME.service.DOMAIN by Host header (its stats list one server
// per instance) and DNS answers NAME.service.DOMAIN SRV on 53 and 8600. The
// orchestration benchmark (orchestration.ts) times deploy-to-reachable with it;
// the orchestration integration test asserts with the same probes.
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket from 'dns-packet';
import { PaasboxError } from '../errors.js';
import { poll, sleep } from '../poll.js';
import { httpHere } from '../system/http.js';
import type { MarathonApp } from '../appspec/app.js';
import type { Scheduler } from '../scheduler/scheduler.js';

export interface HaproxyServer {
  backend: string;
  server: string;
  status: string;
}

/** The servers of backend svc_NAME from HAProxy's stats CSV. Pure. */
export function parseHaproxyCsv(csv: string, service?: string): HaproxyServer[] {
  const lines = csv.split('\n').filter((l) => l.trim());
  const header = (lines.shift() ?? '').replace(/^#\s*/, '').split(',');
  const col = (n: string) => header.indexOf(n);
  const [px, sv, st] = [col('pxname'), col('svname'), col('status')];
  return lines
    .map((l) => l.split(','))
    .filter((f) => f[sv] !== 'FRONTEND' && f[sv] !== 'BACKEND')
    .map((f) => ({ backend: f[px] ?? '', server: f[sv] ?? '', status: f[st] ?? '' }))
    .filter((s) => service === undefined || s.backend === `svc_${service}`);
}

type HttpAnswer = { status: number; body: string };

/** A GET from this machine (src/system/http.ts: a connection per request), rejected when nothing answered. */
async function httpGet(address: string, port: number, path: string, host?: string): Promise<HttpAnswer> {
  const r = await httpHere(address, port, path, host ? { host } : {});
  const withHost = host ? ` (Host ${host})` : '';
  if (r.error) throw new Error(`GET http://${address}:${port}${path}${withHost}: ${r.error}`);
  return { status: r.status, body: r.body };
}

/** HAProxy's servers for a service (GET :81/haproxyStats;csv). */
export async function haproxyBackends(
  address: string,
  service: string,
  statsPort = 81,
): Promise<HaproxyServer[]> {
  const r = await httpGet(address, statsPort, '/haproxyStats;csv');
  if (r.status !== 200)
    throw new PaasboxError(
      `HAProxy stats at ${address}:${statsPort} answered HTTP ${r.status}`,
      'check the haproxy service of the stack',
    );
  return parseHaproxyCsv(r.body, service);
}

/** GET / through HAProxy with Host: NAME.service.DOMAIN. */
export function getByName(
  address: string,
  service: string,
  domain = 'consul',
  port = 80,
): Promise<{ status: number; body: string }> {
  return httpGet(address, port, '/', `${service}.service.${domain}`);
}

export interface SrvRecord {
  target: string;
  port: number;
}

/**
 * SRV records of NAME.service.DOMAIN from a DNS server. Over UDP Consul returns
 * at most 3 records by default (dns_config.udp_answer_limit) without setting
 * the truncation bit, so counting instances needs TCP.
 */
export function srvRecords(
  server: string,
  port: number,
  service: string,
  domain = 'consul',
  opts: { tcp?: boolean; timeoutMs?: number } = {},
): Promise<SrvRecord[]> {
  const name = `${service}.service.${domain}`;
  const timeoutMs = opts.timeoutMs ?? 3000;
  const id = Math.floor(Math.random() * 65535);
  const query = {
    type: 'query' as const,
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: 'SRV' as const, name }],
  };
  const answers = (res: dnsPacket.Packet): SrvRecord[] =>
    (res.answers ?? [])
      .filter((a): a is dnsPacket.SrvAnswer => a.type === 'SRV')
      .map((a) => ({ target: a.data.target, port: a.data.port }));
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err: Error | undefined, v?: SrvRecord[]) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      close();
      if (err) reject(err);
      else resolve(v ?? []);
    };
    const timer = setTimeout(
      () => finish(new Error(`no DNS answer from ${server}:${port} for ${name} SRV in ${timeoutMs} ms`)),
      timeoutMs,
    );
    let close: () => void;
    if (opts.tcp) {
      const sock = connect({ host: server, port });
      close = () => sock.destroy();
      let buf = Buffer.alloc(0);
      sock.on('connect', () => sock.write(dnsPacket.streamEncode(query)));
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0))
          finish(undefined, answers(dnsPacket.streamDecode(buf)));
      });
      sock.on('error', (e) => finish(e));
    } else {
      const sock = createSocket('udp4');
      close = () => sock.close();
      sock.on('message', (msg) => {
        const res = dnsPacket.decode(msg);
        if (res.id === id) finish(undefined, answers(res));
      });
      sock.on('error', (e) => finish(e));
      sock.send(dnsPacket.encode(query), port, server);
    }
  });
}

/** -1 (or HTTP status 0) means that probe failed: unknown, which is neither there nor gone. */
export interface Reachability {
  haproxyUp: number;
  httpStatus: number;
  /** SRV records over TCP (all of them) from dnsmasq on 53 and Consul on 8600. */
  srv53: number;
  srv8600: number;
}

/** One look at everything that makes an app reachable by name. */
export async function reachability(
  stackAddress: string,
  service: string,
  domain = 'consul',
): Promise<Reachability> {
  const [up, http, s53, s8600] = await Promise.all([
    haproxyBackends(stackAddress, service).then(
      (s) => s.filter((x) => x.status === 'UP').length,
      () => -1,
    ),
    getByName(stackAddress, service, domain).then(
      (r) => r.status,
      () => 0,
    ),
    srvRecords(stackAddress, 53, service, domain, { tcp: true }).then(
      (r) => r.length,
      () => -1,
    ),
    srvRecords(stackAddress, 8600, service, domain, { tcp: true }).then(
      (r) => r.length,
      () => -1,
    ),
  ]);
  return { haproxyUp: up, httpStatus: http, srv53: s53, srv8600: s8600 };
}

/**
 * Consul's passing instances of `service` (anonymous may read services and
 * nodes), as a blocking query: it answers when the count may have changed
 * since `index`, or after `waitMs`. undefined when Consul cannot be asked.
 */
export async function consulPassing(
  stackAddress: string,
  service: string,
  index: string,
  waitMs: number,
  port = 8500,
): Promise<{ count: number; index: string } | undefined> {
  const q = index ? `&index=${encodeURIComponent(index)}&wait=${Math.max(1, Math.round(waitMs))}ms` : '';
  const path = `/v1/health/service/${encodeURIComponent(service)}?passing=1${q}`;
  const r = await httpHere(stackAddress, port, path, { timeoutS: (waitMs + 5000) / 1000 });
  if (r.status !== 200) return undefined;
  try {
    return { count: (JSON.parse(r.body) as unknown[]).length, index: r.headers?.['x-consul-index'] ?? '' };
  } catch {
    return undefined;
  }
}

/**
 * Wait until exactly `instances` instances are reachable every way (0 = all
 * gone), with poll. Between looks it does not pause a fixed interval: each
 * try ends on Consul's catalog (a blocking query: a change wakes it at once)
 * while Consul's passing count is not the wanted one, and with a short pause
 * while only HAProxy's reload or DNS is still to catch up. Without an answer
 * from Consul the pause is intervalMs. poll's own pause is 0: the try paces itself.
 */
export async function waitReachable(
  stackAddress: string,
  service: string,
  instances: number,
  opts: { timeoutMs?: number; intervalMs?: number; domain?: string } = {},
): Promise<Reachability> {
  const timeoutMs = opts.timeoutMs ?? 120000;
  const deadline = Date.now() + timeoutMs;
  let index = '';
  return poll(
    {
      what: `${service} reachable by name with ${instances} instance(s)`,
      timeoutMs,
      everyMs: 0,
      fix: 'check registrator (SERVICE_NAME set? ports published?), consul-template and dnsmasq on the stack',
    },
    async (_, note) => {
      const r = await reachability(stackAddress, service, opts.domain);
      // Gone means answered without it, not "no answer": a failed probe never counts.
      const counts = [r.haproxyUp, r.srv53, r.srv8600];
      const done =
        instances === 0
          ? counts.every((n) => n === 0) && (r.httpStatus === 404 || r.httpStatus === 503)
          : counts.every((n) => n === instances) && r.httpStatus === 200;
      if (done) return r;
      note(`HAProxy UP ${r.haproxyUp}, HTTP ${r.httpStatus}, SRV on 53: ${r.srv53}, on 8600: ${r.srv8600}`);
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      const c = await consulPassing(stackAddress, service, index, Math.min(2000, left));
      if (c === undefined) await sleep(Math.min(opts.intervalMs ?? 500, left));
      else if (c.count === instances || c.index === index)
        await sleep(25); // HAProxy/DNS catching up
      else index = c.index;
      if (c && !index) index = c.index;
      return undefined;
    },
  );
}

export interface BenchDeployResult {
  instances: number;
  /** Deploy request sent → scheduler says every instance runs healthy. */
  readySeconds: number;
  /** Deploy request sent → every instance reachable by name via HAProxy and DNS. */
  reachableSeconds: number;
}

/**
 * Benchmark: time from the deploy request to all N instances reachable by name
 * through HAProxy (and SRV on 53/8600). Deploys app with N instances, measures,
 * destroys it again and waits until it is gone (benchOrchestration runs it
 * with N = 2 and N = 20).
 */
export async function benchDeployReachable(
  scheduler: Scheduler,
  app: MarathonApp,
  instances: number,
  stackAddress: string,
  opts: { timeoutMs?: number; domain?: string } = {},
): Promise<BenchDeployResult> {
  const service = app.env?.SERVICE_NAME ?? app.id.replace(/^\/+/, '').replace(/\//g, '-');
  const timeoutMs = opts.timeoutMs ?? 300000;
  const t0 = Date.now();
  await scheduler.deploy({ ...app, instances });
  await waitReachable(stackAddress, service, instances, {
    timeoutMs,
    intervalMs: 200,
    ...(opts.domain ? { domain: opts.domain } : {}),
  });
  const reachableSeconds = (Date.now() - t0) / 1000;
  // Asked only now: its polls (docker CLI runs over SSH, every second) would
  // take CPU from the tasks starting, and Docker's health is later anyway.
  await scheduler.waitReady(app.id, timeoutMs);
  const readySeconds = (Date.now() - t0) / 1000;
  await scheduler.destroy(app.id);
  await waitReachable(stackAddress, service, 0, {
    timeoutMs,
    ...(opts.domain ? { domain: opts.domain } : {}),
  });
  return { instances, readySeconds, reachableSeconds };
}
