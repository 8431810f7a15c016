// Helpers for the discovery chain specs (Registrator -> Consul -> HAProxy/DNS):
// the Host names HAProxy routes, dig's SRV output and answers per instance.

/** The Host header values stacks/templates/haproxy.cfg.ctmpl routes to `service`. */
export function serviceHosts(service: string, domain = 'consul', extraDomain?: string): string[] {
  const hosts = [`${service}.service.${domain}`, service];
  if (extraDomain) hosts.push(`${service}.${extraDomain}`);
  return hosts;
}

export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

/** Parse `dig +short NAME SRV` output; lines that are not SRV records are ignored. */
export function parseDigSrv(text: string): SrvRecord[] {
  const out: SrvRecord[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+)\s+(\d+)\s+(\d+)\s+(\S+)$/.exec(line.trim());
    if (m) out.push({ priority: Number(m[1]), weight: Number(m[2]), port: Number(m[3]), target: m[4] ?? '' });
  }
  return out.sort((a, b) => a.port - b.port);
}

/** Count answers per instance, e.g. { "3f2a9c0d1e2b": 10, "65b8a2d2c400": 10 }. */
export function tally(instances: (string | undefined)[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const i of instances) t[i ?? '(none)'] = (t[i ?? '(none)'] ?? 0) + 1;
  return t;
}
