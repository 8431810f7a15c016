// Checks of the stack's hardening that no single port check expresses:
// dnsmasq is no open resolver (on the advertised address it answers .consul
// and refuses every other name), ZooKeeper keeps its data and its
// transaction log on named volumes (an anonymous one is lost on down/up), and
// ZooKeeper's JVM opens no port beyond the ensemble's (a JMX or admin server
// would listen on every address of a host-networked container).

import type { Settings } from '../settings/settings.js';
import type { StackModel } from '../model/model.js';
import { findStackContainer } from '../docker/compose.js';
import { parseListening, LISTENING_COMMAND } from '../system/ports.js';
import { effectivePorts, zkClientPort, ZK_QUORUM_PORTS } from '../settings/services.js';
import { servicesOnThisHost } from '../stackfile/generate.js';
import { shq } from '../target/shell.js';
import { dnsLookup } from '../system/dns.js';
import type { Check } from './types.js';

interface Mount {
  Type?: string;
  Name?: string;
  Destination?: string;
}

/**
 * `docker top -eo pid` of the service's containers, a `---` line, then
 * LISTENING_COMMAND's output → the ports those processes listen on that are not
 * in `allowed` (pure).
 */
export function unexpectedListeners(out: string, allowed: number[]): string[] {
  const [top = '', ss = ''] = out.split(/^---$/m);
  const pids = new Set(
    top
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^\d+$/.test(l))
      .map(Number),
  );
  return parseListening(ss)
    .filter((l) => l.pid !== undefined && pids.has(l.pid) && !allowed.includes(l.port))
    .map((l) => `${l.protocol} ${l.address}:${l.port} (${l.process})`);
}

/** Destinations of `mounts` that are not on a named volume (pure). */
export function unnamedMounts(mounts: Mount[], wanted: string[]): string[] {
  return wanted.filter(
    (d) =>
      !mounts.some(
        (m) => m.Destination === d && m.Type === 'volume' && !!m.Name && !/^[0-9a-f]{64}$/.test(m.Name),
      ),
  );
}

export function hardeningChecks(
  model: StackModel,
  settings: Settings,
  host: string,
  unavailable: Record<string, string> = {},
): Check[] {
  const checks: Check[] = [];
  const dnsPort = effectivePorts(model, settings, 'dns').find((p) => p.name === 'dns')?.port;
  // Only the services this host runs (a cluster's agent runs no ZooKeeper).
  const here = servicesOnThisHost(model, settings);
  if (here.includes('dns') && dnsPort) {
    checks.push({
      id: 'dns/hardening/not-open-resolver',
      service: 'dns',
      host,
      description: `no open resolver: a name outside .${settings.domain} asked on :${dnsPort} is REFUSED`,
      attempts: 2,
      network: true,
      async run(target, ctx) {
        const d = await dnsLookup(target, ctx.address, dnsPort, 'paasbox-verify.example.org', 'A');
        return {
          ok: d.rcode === 'REFUSED',
          expected: 'REFUSED',
          got: d.error ? `${d.rcode}: ${d.error}` : d.rcode,
        };
      },
    });
  }
  if (here.includes('zookeeper')) {
    const wanted = ['/data', '/datalog'];
    checks.push({
      id: 'zookeeper/hardening/named-volumes',
      service: 'zookeeper',
      host,
      description: `data and transaction log (${wanted.join(', ')}) on named volumes`,
      async run(target) {
        const c = await findStackContainer(target, settings.projectName, 'zookeeper');
        if (!c) return { ok: false, expected: 'a running zookeeper container', got: 'none' };
        const r = await target.exec(`docker inspect -f '{{json .Mounts}}' ${shq(c.id)}`, {
          sudo: true,
          timeoutMs: 30_000,
        });
        const line = r.stdout.trim().split('\n')[0];
        if (!line)
          return {
            ok: false,
            expected: "the zookeeper container's mounts",
            got: r.stderr.trim() || `exit ${r.code}`,
          };
        const missing = unnamedMounts(JSON.parse(line) as Mount[], wanted);
        return {
          ok: missing.length === 0,
          expected: `${wanted.join(' and ')} on named volumes`,
          got: missing.length ? `not on a named volume: ${missing.join(', ')}` : 'both on named volumes',
        };
      },
    });
    const client = zkClientPort(model, settings);
    const allowed = [client, ZK_QUORUM_PORTS.quorum, ZK_QUORUM_PORTS.election];
    checks.push({
      id: 'zookeeper/hardening/listeners',
      service: 'zookeeper',
      host,
      description: `ZooKeeper listens on no port but ${allowed.join(', ')} (no JMX, no admin server)`,
      async run(target) {
        const c = await findStackContainer(target, settings.projectName, 'zookeeper');
        const r = await target.exec(
          `${c ? `docker top ${shq(c.id)} -eo pid; ` : ''}echo ---; ${LISTENING_COMMAND}`,
          { sudo: true, timeoutMs: 30_000 },
        );
        const extra = unexpectedListeners(r.stdout, allowed);
        return {
          ok: r.code === 0 && extra.length === 0,
          expected: `only ${allowed.join(', ')}`,
          got:
            r.code !== 0
              ? r.stderr.trim() || `exit ${r.code}`
              : extra.length
                ? `also ${extra.join(', ')}`
                : 'none other',
        };
      },
    });
  }
  for (const c of checks)
    if (unavailable[c.service])
      c.skip = `not provided by image source "${settings.imageSource}": ${unavailable[c.service]}`;
  return checks;
}
