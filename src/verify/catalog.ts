// DNS checks for EVERY service in Consul's catalog: NAME.service.DOMAIN A and
// SRV on each DNS port of the stack (dnsmasq 53, Consul 8600, as the model
// declares them), answers compared with the catalog's healthy instances; and a
// cross-check that each instance's port on this node is really served (a
// container publishes it, or something listens on it for host networking).

import type { StackModel } from '../model/model.js';
import type { Settings } from '../settings/settings.js';
import { effectivePorts } from '../settings/services.js';
import { servicesOnThisHost } from '../stackfile/generate.js';
import type { Target } from '../target/target.js';
import type { Check, Outcome } from './types.js';
import { httpGet, type Tools } from '../system/http.js';
import { describeDns, dnsLookup } from '../system/dns.js';
import { parseSsListening } from '../system/ports.js';

/** One catalog instance as DNS should present it. */
export interface CatalogInstance {
  node: string;
  nodeAddress: string;
  address: string;
  port: number;
  tags: string[];
  /** A critical check keeps the instance out of DNS answers. */
  critical: boolean;
  criticalOutput?: string;
}

export type CatalogSnapshot = Record<string, CatalogInstance[]>;

/** Where DNS is served: every port of a service here whose model checks include a dns check. */
export function dnsPorts(
  model: StackModel,
  settings: Settings,
  unavailable: Record<string, string> = {},
): { service: string; port: number }[] {
  const out: { service: string; port: number }[] = [];
  for (const name of servicesOnThisHost(model, settings)) {
    if (unavailable[name]) continue;
    for (const p of effectivePorts(model, settings, name)) {
      if (p.checks?.some((c) => c.type === 'dns')) out.push({ service: name, port: p.port });
    }
  }
  return out;
}

export function consulHttpPort(model: StackModel, settings: Settings): number {
  return effectivePorts(model, settings, 'consul').find((p) => p.name === 'http')?.port ?? 8500;
}

interface HealthEntry {
  Node?: { Node?: string; Address?: string };
  Service?: { Address?: string; Port?: number; Tags?: string[] | null };
  Checks?: { Status?: string; Output?: string; Name?: string }[];
}

/** Pure: /v1/health/service/NAME JSON → instances. */
export function parseHealthEntries(json: string): CatalogInstance[] {
  const entries = JSON.parse(json) as HealthEntry[];
  return entries.map((e) => {
    const crit = (e.Checks ?? []).filter((c) => c.Status === 'critical');
    const nodeAddress = e.Node?.Address ?? '';
    return {
      node: e.Node?.Node ?? '',
      nodeAddress,
      address: e.Service?.Address || nodeAddress,
      port: e.Service?.Port ?? 0,
      tags: e.Service?.Tags ?? [],
      critical: crit.length > 0,
      ...(crit.length
        ? {
            criticalOutput: crit.map((c) => `${c.Name}: ${(c.Output ?? '').trim().slice(0, 120)}`).join('; '),
          }
        : {}),
    };
  });
}

/**
 * Read the catalog and every service's health through the target (Consul's HTTP API on the target's address).
 */
export async function readCatalog(
  target: Target,
  tools: Tools,
  address: string,
  consulPort: number,
): Promise<CatalogSnapshot> {
  const get = async (path: string): Promise<string> => {
    const r = await httpGet(target, tools, address, consulPort, path);
    if (r.error || r.status !== 200)
      throw new Error(
        `Consul ${address}:${consulPort}${path}: ${r.error ?? `HTTP ${r.status} ${r.body.slice(0, 200)}`}`,
      );
    return r.body;
  };
  const names = Object.keys(JSON.parse(await get('/v1/catalog/services')) as Record<string, unknown>).sort();
  const snap: CatalogSnapshot = {};
  await Promise.all(
    names.map(
      async (n) => (snap[n] = parseHealthEntries(await get(`/v1/health/service/${encodeURIComponent(n)}`))),
    ),
  );
  return snap;
}

/** Consul only answers DNS for names that are valid labels. */
export function dnsSafe(name: string): boolean {
  return /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i.test(name);
}

/**
 * Pure: the checks for a catalog snapshot. Consul answers UDP queries with at
 * most 3 records, so with more instances the answer must be a subset.
 */
export function deriveCatalogChecks(
  snap: CatalogSnapshot,
  opts: {
    host: string;
    domain: string;
    dnsPorts: { service: string; port: number }[];
    thisNode: { ip: string; hostname: string };
    attempts?: number;
    /**
     * HAProxy's Host-routing port when haproxy runs here: each HTTP-routed service must answer through it.
     */
    haproxyPort?: number;
  },
): Check[] {
  const checks: Check[] = [];
  // No wildcard: a name no service has must be NXDOMAIN (a catch-all answer hides typos and loops).
  const unknown = `paasbox-verify-no-such-service.service.${opts.domain}`;
  for (const { service: server, port } of opts.dnsPorts) {
    checks.push({
      service: 'catalog:(unknown name)',
      host: opts.host,
      id: `catalog/unknown-name/nxdomain@${port}`,
      description: `${unknown} is NXDOMAIN via ${server} :${port}`,
      attempts: opts.attempts ?? 3,
      delayMs: 1000,
      network: true,
      run: async (t, ctx) => {
        const d = await dnsLookup(t, ctx.address, port, unknown, 'A');
        return { ok: d.rcode === 'NXDOMAIN', expected: 'NXDOMAIN', got: describeDns(d, 'A') };
      },
    });
  }
  for (const [name, all] of Object.entries(snap)) {
    const fqdn = `${name}.service.${opts.domain}`;
    const base = { service: `catalog:${name}`, host: opts.host };
    const healthy = all.filter((i) => !i.critical);
    const unsafe = dnsSafe(name)
      ? undefined
      : `"${name}" is not a valid DNS label, Consul does not serve it over DNS`;
    for (const { service: server, port } of opts.dnsPorts) {
      for (const record of ['A', 'SRV'] as const) {
        const want =
          record === 'A' ? new Set(healthy.map((i) => i.address)) : new Set(healthy.map((i) => i.port));
        const expected = healthy.length
          ? `${record} ${[...want].join(', ')}`
          : `≥1 healthy instance (all ${all.length} critical: ${all.map((i) => i.criticalOutput).join(' | ')})`;
        checks.push({
          ...base,
          id: `catalog/${name}/dns:${record}@${port}`,
          description: `${fqdn} ${record} via ${server} :${port}`,
          ...(unsafe ? { skip: unsafe } : {}),
          attempts: opts.attempts ?? 3,
          delayMs: 1000,
          network: true,
          run: async (t, ctx): Promise<Outcome> => {
            const d = await dnsLookup(t, ctx.address, port, fqdn, record);
            const got: (string | number)[] = record === 'A' ? d.a : d.srv.map((s) => s.port);
            const subset = got.length > 0 && got.every((g) => want.has(g as never));
            const complete = want.size > 3 || [...want].every((w) => got.includes(w));
            return {
              ok: healthy.length > 0 && d.rcode === 'NOERROR' && subset && complete,
              expected,
              got: describeDns(d, record),
            };
          },
        });
      }
    }
    const tags = [...new Set(all.flatMap((i) => i.tags))];
    if (opts.haproxyPort !== undefined && haproxyRoutes(name, tags)) {
      const port = opts.haproxyPort;
      checks.push({
        ...base,
        id: `catalog/${name}/haproxy-route`,
        description: `http://${fqdn}/ through HAProxy :${port} (Host header)`,
        // consul-template renders a catalog change within seconds.
        attempts: 5,
        delayMs: 2000,
        network: true,
        run: async (t, ctx) => {
          const r = await httpGet(t, ctx.tools, ctx.address, port, '/', { host: fqdn });
          const noService = r.body.includes(NO_SERVICE_BODY);
          return {
            ok: !r.error && r.status !== 503 && r.status < 500 && !noService,
            expected: "an answer from an instance (not 503 no server, not HAProxy's no-service 404)",
            got: r.error
              ? `no answer: ${r.error}`
              : noService
                ? `HTTP ${r.status}: HAProxy has no route for ${fqdn}`
                : `HTTP ${r.status}`,
          };
        },
      });
    }
    const mine = all.filter((i) => i.nodeAddress === opts.thisNode.ip || i.node === opts.thisNode.hostname);
    if (mine.length) {
      checks.push({
        ...base,
        id: `catalog/${name}/ports-served`,
        description: `catalog port${mine.length > 1 ? 's' : ''} ${mine.map((i) => i.port).join(', ')} served on this node (no stale registration)`,
        run: async (t, ctx) => {
          const containers = (await ctx.containers()).filter((c) => c.running);
          const published = new Set(containers.flatMap((c) => c.publishedPorts));
          let listening = new Set<number>();
          if (ctx.tools.ss)
            listening = parseSsListening((await t.exec('ss -Hltun', { timeoutMs: 15_000 })).stdout);
          const missing = mine.filter((i) => !published.has(i.port) && !listening.has(i.port));
          return {
            ok: missing.length === 0,
            expected: `ports ${mine.map((i) => i.port).join(', ')} published by a running container or listening`,
            got: missing.length
              ? `not served: ${missing.map((i) => i.port).join(', ')}${ctx.tools.ss ? '' : ' (ss missing on target: only published ports seen)'}`
              : 'all served',
          };
        },
      });
    }
  }
  return checks;
}

/** HAProxy's answer for a Host it has no service for (stacks/templates/haproxy.cfg.ctmpl). */
export const NO_SERVICE_BODY = 'paasbox: no service for this Host';

/** The template's tag contract: HTTP routing unless consul, a udp tag, or a tcp tag without http. */
export function haproxyRoutes(name: string, tags: string[]): boolean {
  if (name === 'consul' || tags.includes('udp')) return false;
  const tcp = tags.some((t) => /^tcp(=.*)?$/.test(t));
  return tags.includes('http') || !tcp;
}

/** A failing check standing for the whole catalog when it cannot be read. */
export function catalogUnreadable(host: string, address: string, port: number, error: string): Check {
  return {
    id: 'catalog/read',
    service: 'catalog:consul',
    host,
    description: `read Consul's catalog at ${address}:${port}`,
    run: async () => ({ ok: false, expected: 'catalog and health readable', got: error }),
  };
}
