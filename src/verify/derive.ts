// Checks DERIVED from the stack model: every port's `checks` (logins read on
// the target, or from this machine's copy with verify --from-here; anonymous
// Consul requests refused under ACLs), and for every
// container the state checks (running, healthy, restart policy, no crash loop).
// A new service or port check in stacks/paasbox.yaml is verified without any
// change here. Pure: what the target has (unavailable services) comes in `env`.

import type {
  CheckAuth,
  CheckTls,
  ConsulAclProbe,
  PortCheck,
  PortSpec,
  ServiceSpec,
  StackModel,
} from '../model/model.js';
import type { Settings } from '../settings/settings.js';
import { effectivePorts, enabledServices } from '../settings/services.js';
import { placeholderValues, resolvePlaceholders, servicesOnThisHost } from '../stackfile/generate.js';
import type { Check, Outcome, VerifyContext } from './types.js';
import { forService, type ContainerState } from './docker.js';
import { describeHttp, httpGet, httpRequest, type SecretHeader } from '../system/http.js';
import { describeDns, dnsLookup } from '../system/dns.js';
import { fourLetterCommand, tcpConnectCommand } from '../system/tcp.js';
import { parseTlsProbe, tlsProbeCommand, type TlsFacts } from '../system/tls.js';
import { SECRET_FILES, SECRETS_DIR } from '../secrets/secrets.js';

export interface DeriveEnv {
  /** The target's name, for grouping. */
  host: string;
  /**
   * Services the image source cannot provide on this target: name → reason (src/stackfile/refs.ts
   * resolveImageRefs).
   */
  unavailable: Record<string, string>;
  /** Restart count above which a container counts as crash-looping (default 5). */
  maxRestarts?: number;
  /** Tries for DNS checks (default 3) and for health while "starting" (default 20). */
  dnsAttempts?: number;
  healthAttempts?: number;
}

export function deriveChecks(model: StackModel, settings: Settings, env: DeriveEnv): Check[] {
  const checks: Check[] = [];
  const here = new Set(servicesOnThisHost(model, settings));
  const enabled = new Set(enabledServices(model, settings));
  for (const [name, svc] of Object.entries(model.services)) {
    if (!enabled.has(name)) {
      checks.push(
        skipped(
          name,
          env.host,
          `${name}: enabled`,
          'optional service, not enabled in settings (services.' + name + '.enabled)',
        ),
      );
      continue;
    }
    if (!here.has(name)) continue; // its role places it on other hosts
    const unavailable = env.unavailable[name];
    const serviceChecks = [
      ...containerChecks(name, svc, settings, env),
      ...portChecks(model, settings, name, env),
    ];
    for (const c of serviceChecks) {
      if (unavailable) c.skip = `not provided by image source "${settings.imageSource}": ${unavailable}`;
      checks.push(c);
    }
  }
  return checks;
}

function skipped(service: string, host: string, description: string, reason: string): Check {
  return {
    id: `${service}/enabled`,
    service,
    host,
    description,
    skip: reason,
    run: async () => ({ ok: false, expected: '', got: 'not run' }),
  };
}

// ---------------------------------------------------------------- containers

function containerChecks(name: string, svc: ServiceSpec, settings: Settings, env: DeriveEnv): Check[] {
  const project = settings.projectName;
  const base = { service: name, host: env.host };
  const maxRestarts = env.maxRestarts ?? 5;
  const healthcheck = svc.sources[settings.imageSource]?.healthcheck ?? svc.healthcheck;
  const get = async (ctx: VerifyContext): Promise<ContainerState[]> =>
    forService(await ctx.containers(), project, name);
  const none = (): Outcome => ({
    ok: false,
    expected: `a container of compose service ${name} (project ${project})`,
    got: 'no such container',
    final: true,
  });

  const checks: Check[] = [
    {
      ...base,
      id: `${name}/container/running`,
      description: 'container is running',
      attempts: 3,
      delayMs: 2000,
      run: async (_t, ctx) => {
        const cs = await get(ctx);
        if (!cs.length) return none();
        const bad = cs.filter((c) => !c.running);
        return {
          ok: bad.length === 0,
          expected: 'running',
          got: cs.map((c) => `${c.name} ${c.status}${c.running ? '' : ` (exit ${c.exitCode})`}`).join(', '),
        };
      },
    },
    {
      ...base,
      id: `${name}/container/restart-policy`,
      description: `restart policy ${svc.restart}`,
      run: async (_t, ctx) => {
        const cs = await get(ctx);
        if (!cs.length) return none();
        return {
          ok: cs.every((c) => c.restartPolicy === svc.restart),
          expected: `restart: ${svc.restart}`,
          got: cs.map((c) => `${c.name} restart: ${c.restartPolicy}`).join(', '),
        };
      },
    },
    {
      ...base,
      id: `${name}/container/no-crash-loop`,
      description: `not crash-looping (restart count steady and at most ${maxRestarts})`,
      run: async (_t, ctx) => {
        const before = forService(await ctx.baseline(), project, name);
        const now = await get(ctx);
        if (!now.length) return none();
        const got = now.map((c) => {
          const b = before.find((x) => x.id === c.id);
          return { c, from: b?.restartCount ?? c.restartCount };
        });
        return {
          ok: got.every(
            ({ c, from }) =>
              c.restartCount === from && c.restartCount <= maxRestarts && c.status !== 'restarting',
          ),
          expected: `restart count steady and <= ${maxRestarts}`,
          got: got
            .map(
              ({ c, from }) =>
                `${c.name} restarts ${from}→${c.restartCount}${c.status === 'restarting' ? ' (restarting)' : ''}`,
            )
            .join(', '),
        };
      },
    },
  ];
  if (healthcheck) {
    checks.push({
      ...base,
      id: `${name}/container/healthy`,
      description: 'container is healthy (its healthcheck passes)',
      attempts: env.healthAttempts ?? 20,
      delayMs: 3000,
      run: async (_t, ctx) => {
        const cs = await get(ctx);
        if (!cs.length) return none();
        return {
          ok: cs.every((c) => c.health === 'healthy'),
          // Only a running container's health can still change.
          final: cs.some((c) => !c.running),
          expected: 'healthy',
          got: cs
            .map(
              (c) =>
                `${c.name} ${c.health ?? 'no healthcheck configured'}${c.health !== 'healthy' && c.healthLog ? `: ${c.healthLog.slice(0, 200)}` : ''}`,
            )
            .join(', '),
        };
      },
    });
  }
  return checks;
}

// ---------------------------------------------------------------- ports

function portChecks(model: StackModel, settings: Settings, name: string, env: DeriveEnv): Check[] {
  const vals = placeholderValues(model, settings, name);
  const out: Check[] = [];
  for (const port of effectivePorts(model, settings, name)) {
    for (const check of port.checks ?? []) {
      out.push(portCheck(name, port, check, vals, env));
    }
  }
  return out;
}

/** The id part that tells a port's checks apart. */
export function portCheckLabel(check: PortCheck): string {
  switch (check.type) {
    case 'http':
      return `http:${check.path}`;
    case 'consul-acl':
      return `consul-acl:${check.probe}`;
    case 'four-letter':
      return `four-letter:${check.command}`;
    case 'dns':
      return `dns:${check.record}:${check.name}`;
    case 'tls':
      return `tls:${check.ca}`;
    case 'tcp':
      return 'tcp';
  }
}

function portCheck(
  service: string,
  port: PortSpec,
  check: PortCheck,
  vals: Record<string, string>,
  env: DeriveEnv,
): Check {
  const base = {
    service,
    host: env.host,
    id: `${service}/${port.name}/${portCheckLabel(check)}`,
    network: true,
  };
  switch (check.type) {
    case 'http': {
      const status = check.status ?? 200;
      const answer = `HTTP ${status}${check.bodyIncludes !== undefined ? `, body includes ${JSON.stringify(check.bodyIncludes)}` : ''}`;
      const login = check.auth;
      const expected = login ? `HTTP 401 without the login, ${answer} with it` : answer;
      const tls = check.tls;
      return {
        ...base,
        description: `GET ${tls ? `https (${tls} CA) ` : ''}:${port.port}${check.path} → ${expected}`,
        attempts: 2,
        delayMs: 1000,
        run: async (t, ctx) => {
          if (login) {
            const anonymous = await httpRequest(t, ctx.tools, ctx.address, port.port, check.path, {
              ...(tls ? { ca: checkCa(tls, ctx) } : {}),
            });
            if (anonymous.error || anonymous.status !== 401)
              return { ok: false, expected, got: `without the login: ${describeHttp(anonymous)}` };
          }
          const r = await httpRequest(t, ctx.tools, ctx.address, port.port, check.path, {
            ...(login ? { secret: checkLogin(login, ctx) } : {}),
            ...(tls ? { ca: checkCa(tls, ctx) } : {}),
          });
          const ok =
            !r.error &&
            r.status === status &&
            (check.bodyIncludes === undefined || r.body.includes(check.bodyIncludes));
          return {
            ok,
            expected,
            got: `${login ? 'with the login: ' : ''}${describeHttp(r, check.bodyIncludes)}`,
          };
        },
      };
    }
    case 'consul-acl':
      return { ...base, ...consulAclCheck(check.probe, port.port), attempts: 2, delayMs: 1000 };
    case 'four-letter':
      return {
        ...base,
        description: `"${check.command}" on :${port.port} → "${check.expect}"`,
        attempts: 2,
        delayMs: 1000,
        run: async (t, ctx) => {
          const r = await t.exec(fourLetterCommand(ctx.address, port.port, check.command), {
            timeoutMs: 20_000,
          });
          const got =
            r.stdout.trim() || `no answer (${r.stderr.trim().split('\n').slice(-1)[0] || `exit ${r.code}`})`;
          return { ok: r.stdout.trim() === check.expect, expected: check.expect, got };
        },
      };
    case 'dns': {
      const name = resolvePlaceholders(check.name, vals, `services.${service}.ports.${port.name}.checks`);
      return {
        ...base,
        id: `${service}/${port.name}/dns:${check.record}:${name}`,
        description: `${name} ${check.record} on :${port.port}`,
        attempts: env.dnsAttempts ?? 3,
        delayMs: 1000,
        run: async (t, ctx) => {
          const d = await dnsLookup(t, ctx.address, port.port, name, check.record);
          const n = check.record === 'A' ? d.a.length : d.srv.length;
          return {
            ok: d.rcode === 'NOERROR' && n > 0,
            expected: `NOERROR with ≥1 ${check.record} record`,
            got: describeDns(d, check.record),
          };
        },
      };
    }
    case 'tls': {
      const name = resolvePlaceholders(check.name, vals, `services.${service}.ports.${port.name}.checks`);
      const expected = `chains to the ${check.ca} CA, for ${name}, HTTP/2, ≥ ${TLS_MIN_DAYS_LEFT} days left`;
      return {
        ...base,
        description: `TLS on :${port.port} (SNI ${name})`,
        attempts: 2,
        delayMs: 1000,
        run: async (t, ctx) => {
          const ca = checkCa(check.ca, ctx);
          const r = await t.exec(tlsProbeCommand(ctx.address, port.port, name, ca.file), {
            timeoutMs: 20_000,
            ...(ca.asUser ? {} : { sudo: true }),
          });
          return { expected, ...judgeTls(parseTlsProbe(r.stdout, r.code)) };
        },
      };
    }
    case 'tcp':
      return {
        ...base,
        description: `TCP connect to :${port.port}`,
        attempts: 2,
        delayMs: 1000,
        run: async (t, ctx) => {
          const r = await t.exec(tcpConnectCommand(ctx.address, port.port), { timeoutMs: 20_000 });
          return {
            ok: r.stdout.trim() === 'open',
            expected: 'connection accepted',
            got: r.stdout.trim() === 'open' ? 'connection accepted' : `refused or timed out (exit ${r.code})`,
          };
        },
      };
  }
}

// ---------------------------------------------------------------- logins and ACLs

/**
 * A check's login, never printed: read on the target as root, or from this machine's copy (verify
 * --from-here).
 */
function checkLogin(auth: CheckAuth, ctx: VerifyContext): SecretHeader {
  const at = (file: string) =>
    ctx.localSecretsDir
      ? { file: `${ctx.localSecretsDir}/${file}`, asUser: true }
      : { file: `${SECRETS_DIR}/${file}` };
  switch (auth) {
    case 'haproxy-stats':
      return { name: 'Authorization', ...at(SECRET_FILES.statsAuth), basic: true };
  }
}

/** The CA file an HTTPS check trusts: on the target (root's), or this machine's copy. */
function checkCa(tls: CheckTls, ctx: VerifyContext): { file: string; asUser?: boolean } {
  const rel = tls === 'registry' ? SECRET_FILES.registryCaCert : SECRET_FILES.edgeCaCert;
  return ctx.localSecretsDir
    ? { file: `${ctx.localSecretsDir}/${rel}`, asUser: true }
    : { file: `${SECRETS_DIR}/${rel}` };
}

/** A certificate with fewer days left fails verify (install makes a new one at 30). */
export const TLS_MIN_DAYS_LEFT = 14;

/** Whether a handshake's facts pass: verified, h2 chosen, enough days left. Pure. */
export function judgeTls(f: TlsFacts, now = new Date()): { ok: boolean; got: string } {
  if (f.error) return { ok: false, got: f.error };
  const days = f.notAfter ? Math.floor((f.notAfter.getTime() - now.getTime()) / 86_400_000) : undefined;
  const parts = [
    f.verified ? 'chain and name verified' : `not verified (${f.verifyError ?? 'unknown'})`,
    f.alpn ? `ALPN ${f.alpn}` : 'no ALPN',
    days === undefined ? 'no end date' : `${days} days left`,
  ];
  const ok = f.verified && f.alpn === 'h2' && days !== undefined && days >= TLS_MIN_DAYS_LEFT;
  return { ok, got: parts.join(', ') };
}

/** The key and service an ACL probe tries to write (removed again when the write is wrongly accepted). */
const ACL_PROBE_NAME = 'paasbox-verify';

/**
 * Anonymous requests to Consul's HTTP API under ACLs with default deny: a K/V
 * write and a service registration are refused (403), the catalog is still
 * readable (the anonymous policy lets DNS and the UI read services and nodes).
 * A write that goes through is undone at once, and fails the check.
 */
function consulAclCheck(probe: ConsulAclProbe, port: number): Pick<Check, 'description' | 'run'> {
  const refused = (
    path: string,
    body: string,
    undo: { method: 'PUT' | 'DELETE'; path: string },
    what: string,
  ): Pick<Check, 'description' | 'run'> => ({
    description: `anonymous PUT :${port}${path} → HTTP 403 (${what} refused: ACLs, default deny)`,
    run: async (t, ctx) => {
      const r = await httpRequest(t, ctx.tools, ctx.address, port, path, { method: 'PUT', body });
      if (!r.error && r.status === 200)
        await httpRequest(t, ctx.tools, ctx.address, port, undo.path, { method: undo.method });
      const got = r.error
        ? `no answer: ${r.error}`
        : r.status === 200
          ? `HTTP 200: anyone can ${what} (ACLs off?)`
          : `HTTP ${r.status} ${r.body.trim().slice(0, 80)}`;
      return { ok: !r.error && r.status === 403, expected: 'HTTP 403', got };
    },
  });
  switch (probe) {
    case 'kv-write':
      return refused(
        `/v1/kv/${ACL_PROBE_NAME}`,
        'x',
        { method: 'DELETE', path: `/v1/kv/${ACL_PROBE_NAME}` },
        'write K/V',
      );
    case 'service-register':
      return refused(
        '/v1/agent/service/register',
        JSON.stringify({ ID: ACL_PROBE_NAME, Name: ACL_PROBE_NAME }),
        { method: 'PUT', path: `/v1/agent/service/deregister/${ACL_PROBE_NAME}` },
        'register a service',
      );
    case 'catalog-read':
      return {
        description: `anonymous GET :${port}/v1/catalog/services lists consul (DNS and the UI read without a login)`,
        run: async (t, ctx) => {
          const r = await httpGet(t, ctx.tools, ctx.address, port, '/v1/catalog/services');
          return {
            ok: !r.error && r.status === 200 && r.body.includes('"consul"'),
            expected: 'HTTP 200 listing "consul"',
            got: describeHttp(r, '"consul"'),
          };
        },
      };
  }
}
