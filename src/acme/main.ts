// The ACME renewer as a process (bin/paasbox-acme.mjs, in the stack's acme
// container on each master): its settings from the environment (paasbox.yaml
// acme:, through the stack file), its Consul token and the directory's CA
// from 0600 files, the HTTP server (challenges, /health), itself in Consul as
// `acme` (HAProxy routes /.well-known/acme-challenge/ to it), and, with a
// directory, the loop: contest the lock; as the leader, plan (./plan.ts),
// run lego for each domain due (./lego.ts), store the result (./store.ts);
// wait for a change of paasbox/domains/ or paasbox/acme/renew/, an hour at most.

import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import { ConsulClient } from '../consul/client.js';
import { isPaasboxError, PaasboxError } from '../errors.js';
import { poll } from '../poll.js';
import { checkAcme } from '../settings/acme.js';
import { httpHere } from '../system/http.js';
import { checkBundle, combinedPem } from './bundle.js';
import { LeaderLock, SESSION_TTL_S } from './leader.js';
import { runLego, withDirectoryCa, type LegoOptions } from './lego.js';
import { HOUR_MS, planRenewals, type Plan } from './plan.js';
import { createAcmeServer, HOP_HEADER, type ChallengeAnswer } from './server.js';
import {
  CertStore,
  DOMAINS_PREFIX,
  LEADER_KEY,
  MAX_FAILURES,
  oneLine,
  RENEW_PREFIX,
  type CertStatus,
} from './store.js';

export const SECRETS_IN_CONTAINER = '/run/secrets/paasbox';

export interface AcmeConfig {
  host: string;
  port: number;
  consulUrl: string;
  /** The renewer's Consul token, 0600; absent: no token (a stack without ACLs). */
  consulTokenFile: string;
  /** undefined: nothing is requested. */
  directory?: string;
  email?: string;
  renewDays: number;
  /** The directory's CA (install copies acme.directoryCa there), used when the file exists. */
  directoryCaFile: string;
  /** lego's account and certificates (path/) and the challenge webroot (webroot/): the named volume. */
  dataDir: string;
  legoBin: string;
  /** The stack's domain: no public name is under it. */
  stackDomain: string;
}

/** The settings from the environment the stack file gives the container (no secrets there). */
export function acmeConfigFromEnv(env: NodeJS.ProcessEnv): AcmeConfig {
  const listen = env.PAASBOX_ACME_LISTEN ?? '127.0.0.1:8402';
  const m = /^(.+):(\d{1,5})$/.exec(listen);
  const host = m?.[1] ?? '';
  if (!m || !isIPv4(host) || Number(m[2]) < 1 || Number(m[2]) > 65535)
    throw new PaasboxError(
      `PAASBOX_ACME_LISTEN=${listen.slice(0, 60)} is not IPv4:PORT`,
      'regenerate the stack (install)',
    );
  const secrets = env.PAASBOX_ACME_SECRETS ?? SECRETS_IN_CONTAINER;
  const renewDays = Number(env.PAASBOX_ACME_RENEW_DAYS || 30);
  const directory = env.PAASBOX_ACME_DIRECTORY || undefined;
  const email = env.PAASBOX_ACME_EMAIL || undefined;
  const acme = { renewDays, ...(directory ? { directory } : {}), ...(email ? { email } : {}) };
  // The same rules as paasbox.yaml's acme: (a hand-edited stack file is refused here too).
  checkAcme(acme);
  return {
    host,
    port: Number(m[2]),
    consulUrl: env.CONSUL_HTTP_ADDR ?? 'http://127.0.0.1:8500',
    consulTokenFile: join(secrets, 'consul-token'),
    ...acme,
    directoryCaFile: join(secrets, 'directory-ca.pem'),
    dataDir: env.PAASBOX_ACME_DATA ?? '/var/lib/paasbox-acme',
    legoBin: env.PAASBOX_LEGO ?? 'lego',
    stackDomain: env.PAASBOX_DOMAIN || 'consul',
  };
}

function readToken(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

type Role = 'idle' | 'follower' | 'leader';

/** The renewer: its role, its last round, and the loop. */
class Renewer {
  role: Role = 'follower';
  stopped = false;
  last = 'no round yet';
  private said = new Set<string>();
  readonly self: string;
  readonly lock: LeaderLock;
  readonly store: CertStore;
  private readonly webroot: string;
  private readonly lego: LegoOptions;

  constructor(
    readonly cfg: AcmeConfig,
    consul: ConsulClient,
    blocking: ConsulClient,
    private readonly log: (line: string) => void,
  ) {
    this.self = `${cfg.host}:${cfg.port}`;
    this.lock = new LeaderLock(consul, blocking, this.self);
    this.store = new CertStore(consul, cfg.stackDomain);
    this.webroot = join(cfg.dataDir, 'webroot');
    this.lego = {
      bin: cfg.legoBin,
      directory: cfg.directory ?? '',
      ...(cfg.email ? { email: cfg.email } : {}),
      path: join(cfg.dataDir, 'lego'),
      webroot: this.webroot,
    };
    if (!cfg.directory) this.role = 'idle';
  }

  /** A line once, not again while it stays the same (the hourly round repeats itself). */
  private once(key: string, line: string): void {
    if (this.said.has(`${key} ${line}`)) return;
    for (const k of this.said) if (k.startsWith(`${key} `)) this.said.delete(k);
    this.said.add(`${key} ${line}`);
    this.log(line);
  }

  health(): string {
    if (this.role === 'idle')
      return 'paasbox-acme: idle: no ACME directory is configured (acme: { directory: URL } in paasbox.yaml)';
    return `paasbox-acme: ${this.role} ${this.self}, directory ${this.cfg.directory}; ${this.last}`;
  }

  /** A challenge file: the leader's from its webroot; a follower asks the leader. */
  async challenge(token: string, hop: boolean): Promise<ChallengeAnswer> {
    if (this.role === 'leader') {
      try {
        return {
          status: 200,
          body: readFileSync(join(this.webroot, '.well-known/acme-challenge', token), 'utf8'),
        };
      } catch {
        return { status: 404, body: 'no such challenge\n' };
      }
    }
    if (hop || this.role === 'idle') return { status: 404, body: 'not the leader\n' };
    const leader = await this.lock.leader();
    if (!leader || `${leader.host}:${leader.port}` === this.self) return { status: 404, body: 'no leader\n' };
    const r = await httpHere(leader.host, leader.port, `/.well-known/acme-challenge/${token}`, {
      timeoutS: 5,
      headers: { [HOP_HEADER]: '1' },
    });
    if (r.error) return { status: 502, body: 'the leader does not answer\n' };
    return r.status === 200
      ? { status: 200, body: r.body.slice(0, 4096) }
      : { status: 404, body: 'no such challenge\n' };
  }

  /** The loop; returns when stopped (or at once without a directory). */
  async run(): Promise<void> {
    if (!this.cfg.directory) {
      this.log(
        'no ACME directory is configured (acme: { directory: URL } in paasbox.yaml): nothing is requested',
      );
      return;
    }
    let leaderIndex = 0;
    while (!this.stopped) {
      try {
        if (this.role !== 'leader') {
          if (await this.lock.acquire()) this.lead();
          else {
            const at = await this.lock.leader().catch(() => undefined);
            this.once('role', `following the leader at ${at ? `${at.host}:${at.port}` : '(none yet)'}`);
            // Woken when the lock changes hands; at most a third of the TTL, so that the next
            // acquire renews this follower's session in time (and a lock delay's refusal is retried).
            const i = await this.lock.watch(LEADER_KEY, leaderIndex, SESSION_TTL_S / 3);
            leaderIndex = i >= leaderIndex ? i : 0;
            continue;
          }
        }
        const indexes = await Promise.all(
          [DOMAINS_PREFIX, RENEW_PREFIX].map((p) => this.lock.watch(p, 0, 0)),
        );
        const plan = await this.round();
        if (this.stopped || this.role !== 'leader') continue;
        // A change of either prefix (a domain claimed, a renewal asked for) or the plan's time ends the wait.
        const waitS = Math.min(plan.nextMs / 1000, 600);
        await Promise.race([
          this.lock.watch(DOMAINS_PREFIX, indexes[0]!, waitS),
          this.lock.watch(RENEW_PREFIX, indexes[1]!, waitS),
        ]);
      } catch (e) {
        const why = isPaasboxError(e) ? e.problem : (e as Error).message;
        this.once('error', `round failed (again once Consul answers, in 10 s at the earliest): ${why}`);
        await this.consulAgain();
      }
    }
  }

  /** After a failed round: 10 s at least, then until Consul answers (an hour at most). */
  private consulAgain(): Promise<unknown> {
    const opts = {
      what: 'Consul to answer the ACME renewer',
      timeoutMs: HOUR_MS,
      everyMs: 10_000,
      fix: "check Consul's health and the acme service's token",
      kind: 'transient' as const,
    };
    return poll(opts, async (attempt) => (attempt > 1 ? (await this.lock.leader(), true) : undefined)).catch(
      () => undefined,
    );
  }

  /**
   * Lead: the session renewed every third of its TTL, in the background, for
   * as long as this renewer leads (a lapsed session ends it).
   */
  private lead(): void {
    this.role = 'leader';
    this.log(`leading: ${this.self} holds paasbox/acme/leader`);
    const opts = {
      what: 'the end of leading',
      timeoutMs: Number.MAX_SAFE_INTEGER,
      everyMs: (SESSION_TTL_S * 1000) / 3,
      fix: 'none needed',
      kind: 'transient' as const,
    };
    void poll(opts, async (attempt) => {
      if (this.role !== 'leader' || this.stopped) return true;
      if (attempt === 1) return undefined;
      try {
        if (!(await this.lock.renew())) this.follow('the session lapsed');
      } catch (e) {
        this.log(`session renewal failed: ${(e as Error).message}`);
      }
      return undefined;
    }).catch(() => undefined);
  }

  private follow(why: string): void {
    if (this.role !== 'leader') return;
    this.role = 'follower';
    this.log(`no longer leading: ${why}`);
  }

  /** One round: read, plan, and get what is due. */
  async round(): Promise<Plan> {
    const now = new Date();
    const [claimed, statuses, renewals, stored] = await Promise.all([
      this.store.claimed(),
      this.store.statuses(),
      this.store.renewals(),
      this.store.keys('paasbox/certs/'),
    ]);
    const certs: Parameters<typeof planRenewals>[0]['certs'] = new Map();
    for (const d of claimed.keys()) {
      if (!stored.includes(d) || d.startsWith('*.') || statuses.get(d)?.source === 'operator') continue;
      const pem = await this.store.cert(d);
      if (pem === undefined) continue;
      try {
        const facts = checkBundle(pem, d, now);
        certs.set(d, { notAfter: facts.notAfter, notBefore: facts.notBefore });
      } catch (e) {
        certs.set(d, { unusable: isPaasboxError(e) ? e.problem : (e as Error).message });
      }
    }
    const plan = planRenewals({
      directory: this.cfg.directory,
      now,
      renewDays: this.cfg.renewDays,
      domains: [...claimed.keys()],
      certs,
      statuses,
      renewals,
      stored,
    });
    for (const d of plan.drop) await this.store.clearRenewal(d);
    for (const d of plan.remove) {
      if (this.stopped || this.role !== 'leader') break;
      await this.store.remove(d);
      this.log(`${d}: no app claims it any more: its ACME certificate removed`);
    }
    for (const s of plan.skipped) this.once(`skip ${s.domain}`, `${s.domain}: left alone: ${s.why}`);
    let ok = 0;
    let failed = 0;
    for (const item of plan.run) {
      if (this.stopped || this.role !== 'leader') break;
      this.log(
        `${item.domain}: asking ${this.cfg.directory} for a certificate (${item.reason}: ${item.detail})`,
      );
      const t0 = Date.now();
      const status = await this.obtain(item.domain, certs.get(item.domain), statuses.get(item.domain));
      if (renewals.has(item.domain)) await this.store.clearRenewal(item.domain);
      const took = ((Date.now() - t0) / 1000).toFixed(1);
      if (status.ok) ok++;
      else failed++;
      this.log(
        status.ok
          ? `${item.domain}: certificate stored (until ${status.notAfter}, issuer ${status.issuer}) in ${took} s`
          : `${item.domain}: failed in ${took} s: ${status.error}`,
      );
    }
    const total = (await this.store.keys('paasbox/certs/')).length;
    this.last =
      `last round ${now.toISOString()}: ${claimed.size} claimed, ${total} stored` +
      (plan.run.length ? `, ${ok} obtained, ${failed} failed` : '');
    return plan;
  }

  /** lego for one domain; the result stored (the certificate only when it passes checkBundle). */
  private async obtain(
    domain: string,
    had: { notAfter: string } | { unusable: string } | undefined,
    before: CertStatus | undefined,
  ): Promise<CertStatus> {
    // The directory's CA as it is now (install may add, replace or remove it while this runs).
    const r = await runLego(withDirectoryCa(this.lego, this.cfg.directoryCaFile), domain);
    const at = new Date().toISOString();
    let error: string;
    if (r.ok) {
      try {
        const facts = checkBundle(r.pem, domain, new Date(), `lego's certificate for ${domain}`);
        const status: CertStatus = {
          ok: true,
          at,
          source: 'acme',
          notAfter: facts.notAfter,
          issuer: facts.issuer,
        };
        await this.store.put(domain, combinedPem(r.pem), status);
        return status;
      } catch (e) {
        error = isPaasboxError(e) ? e.problem : (e as Error).message;
      }
    } else error = r.error;
    // The certificate stored before (if any) stays; the status says it is still the one served.
    const status: CertStatus = {
      ok: false,
      at,
      source: 'acme',
      error: oneLine(error, 500),
      failures: Math.min(before && !before.ok ? (before.failures ?? 1) + 1 : 1, MAX_FAILURES),
      ...(had && 'notAfter' in had ? { notAfter: had.notAfter } : {}),
      ...(had && 'notAfter' in had && before?.issuer ? { issuer: before.issuer } : {}),
    };
    await this.store.putStatus(domain, status);
    return status;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.role === 'leader') await this.lock.release().catch(() => undefined);
  }
}

/** Start serving (and, with a directory, renewing); resolves once listening, with a stop function. */
export async function startRenewer(
  cfg: AcmeConfig,
  log: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<{ stop: () => Promise<void>; address: string }> {
  const token = readToken(cfg.consulTokenFile);
  const auth = token ? { token } : {};
  const consul = new ConsulClient({ baseUrl: cfg.consulUrl, timeoutMs: 10_000, ...auth });
  // Blocking queries wait up to 10 minutes (and Consul's jitter).
  const blocking = new ConsulClient({ baseUrl: cfg.consulUrl, timeoutMs: 11 * 60_000, ...auth });
  const renewer = new Renewer(cfg, consul, blocking, log);
  const server = createAcmeServer(
    { health: () => renewer.health(), challenge: (t, hop) => renewer.challenge(t, hop) },
    log,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => resolve());
  });
  const address = `${cfg.host}:${cfg.port}`;
  log(`paasbox ACME renewer listening on ${address}; directory ${cfg.directory ?? 'none'}`);
  const serviceId = `acme-${cfg.host}-${cfg.port}`;
  consul.registerInBackground(
    {
      id: serviceId,
      name: 'acme',
      host: cfg.host,
      port: cfg.port,
      checkPath: '/health',
      tag: 'paasbox-acme',
      fix: "check the acme service's Consul token (install writes it) and Consul's health",
    },
    log,
  );
  void renewer.run().catch((e: unknown) => log(`renewer stopped: ${(e as Error).message}`));
  return {
    address,
    stop: async () => {
      await renewer.stop();
      await consul.agentServiceDeregister(serviceId).catch(() => undefined);
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
