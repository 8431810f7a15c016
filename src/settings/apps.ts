// The `apps:` settings: the limits the app policy puts on every app (deploy
// reads them; HAProxy gets the TCP port range as PAASBOX_TCP_PORT_MIN/MAX).
// paasbox.yaml writes the range as "10000-10999"; generation records it as
// {min, max} in the compose file's x-paasbox.apps, read back as the recorded
// layer. Pure.
import { PaasboxError } from '../errors.js';

export interface PortRange {
  min: number;
  max: number;
}

export interface AppsSettings {
  /** The only ports an app's `tcp=PORT` route (HAProxy TCP frontend) may use. */
  tcpPorts: PortRange;
  /** At most this many app instances on one node. */
  maxInstancesPerNode: number;
}

/** paasbox.yaml's apps: block as written. */
export interface AppsFile {
  tcpPorts?: string;
  maxInstancesPerNode?: number;
}

export const DEFAULT_APPS: AppsSettings = { tcpPorts: { min: 10000, max: 10999 }, maxInstancesPerNode: 250 };

/**
 * Ports the stack uses that are no port of stacks/paasbox.yaml: Consul's
 * server RPC and gossip, ZooKeeper's quorum and election, swarm's manager,
 * gossip and overlay (VXLAN) ports.
 */
export const IMPLICIT_STACK_PORTS: Record<number, string> = {
  8300: 'consul server RPC',
  8301: 'consul LAN gossip',
  8302: 'consul WAN gossip',
  2888: 'zookeeper quorum',
  3888: 'zookeeper election',
  2377: 'swarm manager',
  7946: 'swarm gossip',
  4789: 'swarm overlay (VXLAN)',
};

/** "10000-10999" -> {min, max}; a PaasboxError naming apps.tcpPorts when it is no range of ports. */
export function parseTcpPorts(text: string): PortRange {
  const m = /^([0-9]{1,5})-([0-9]{1,5})$/.exec(text.trim());
  if (!m)
    throw new PaasboxError(
      `apps.tcpPorts "${text}" is not a port range`,
      'write it as MIN-MAX, e.g. apps: { tcpPorts: "10000-10999" }',
    );
  return { min: Number(m[1]), max: Number(m[2]) };
}

/**
 * The apps: settings of the layers, field by field: paasbox.yaml, then the recorded deployment, then the
 * defaults.
 */
export function resolveApps(
  file: AppsFile | undefined,
  recorded: Partial<AppsSettings> | undefined,
): AppsSettings {
  return {
    tcpPorts:
      file?.tcpPorts !== undefined
        ? parseTcpPorts(file.tcpPorts)
        : (recorded?.tcpPorts ?? DEFAULT_APPS.tcpPorts),
    maxInstancesPerNode:
      file?.maxInstancesPerNode ?? recorded?.maxInstancesPerNode ?? DEFAULT_APPS.maxInstancesPerNode,
  };
}

/**
 * The range is ports 1..65535, MIN <= MAX, and holds no stack port (`used`:
 * port -> the service port using it, plus IMPLICIT_STACK_PORTS): HAProxy would
 * bind an app's port on every host. Values read back from a target pass here too.
 */
export function checkApps(apps: AppsSettings, used: Map<number, string>): void {
  const { min, max } = apps.tcpPorts ?? ({} as PortRange);
  const isPort = (n: unknown) => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;
  if (!isPort(min) || !isPort(max) || min > max)
    throw new PaasboxError(
      `apps.tcpPorts ${JSON.stringify(apps.tcpPorts)} is not a range of ports MIN-MAX with 1 <= MIN <= MAX <= 65535`,
      'write it as MIN-MAX, e.g. apps: { tcpPorts: "10000-10999" }',
    );
  const all = new Map<number, string>([
    ...Object.entries(IMPLICIT_STACK_PORTS).map(([p, w]) => [Number(p), w] as const),
    ...used,
  ]);
  const clash = [...all].filter(([p]) => p >= min && p <= max).sort((a, b) => a[0] - b[0])[0];
  if (clash)
    throw new PaasboxError(
      `apps.tcpPorts ${min}-${max} holds port ${clash[0]}, used by the stack (${clash[1]})`,
      'pick a range without stack ports, e.g. apps: { tcpPorts: "10000-10999" } (the default)',
    );
  const n = apps.maxInstancesPerNode;
  if (!Number.isInteger(n) || n < 1)
    throw new PaasboxError(
      `apps.maxInstancesPerNode ${JSON.stringify(n)} is not a whole number >= 1`,
      'e.g. apps: { maxInstancesPerNode: 250 }',
    );
}
