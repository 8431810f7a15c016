// The app bounds of a deployed stack, read from what install recorded in its
// compose file (x-paasbox.apps, the services and their ports): deploy judges
// an app by the stack it lands on, not by flags the app owner could pass.
// Pure.

import { DEFAULT_APPS, IMPLICIT_STACK_PORTS } from '../settings/apps.js';
import type { Deployment } from '../stackfile/deployment.js';
import type { AppBounds } from './policy.js';

/** Every port of the stack: its paasbox.ports labels ("http=8500/tcp,dns=8600/udp") and the implicit ones. */
export function stackPorts(ports: Deployment['ports']): number[] {
  const out = new Set<number>(Object.keys(IMPLICIT_STACK_PORTS).map(Number));
  for (const label of Object.values(ports))
    for (const m of label.matchAll(/=(\d+)\//g)) out.add(Number(m[1]));
  return [...out].sort((a, b) => a - b);
}

/**
 * The bounds for apps on `d` (undefined: a bare swarm with no paasbox stack
 * file). `nodes`: how many hosts apps run on (a cluster's agents, else its
 * masters; one host: 1).
 */
export function stackBounds(
  d: Pick<Deployment, 'ports' | 'services' | 'meta'> | undefined,
  nodes = 1,
): AppBounds {
  // A file written before apps: existed records none: the defaults then.
  const apps = d?.meta.apps ?? DEFAULT_APPS;
  return {
    maxInstances: apps.maxInstancesPerNode * Math.max(1, nodes),
    tcpPorts: { ...apps.tcpPorts },
    stackServices: d
      ? [
          ...d.services,
          ...Object.keys(d.meta.omitted ?? {}),
          ...Object.keys(d.meta.replaced ?? {}),
          ...(d.meta.elsewhere ?? []),
          // The apps API registers as Marathon's Consul service (marathon.service.DOMAIN).
          ...(d.services.includes('apps-api') ? ['marathon'] : []),
        ]
      : [],
    stackPorts: stackPorts(d?.ports ?? {}),
    ...(d?.meta.domain ? { domain: d.meta.domain } : {}),
  };
}

/**
 * Whether the recorded stack serves Marathon's API (deploy's scheduler then): Marathon, or apps-api
 * (issue 21), which speaks it over swarm. Never asked of the network.
 */
export function stackHasMarathon(d: Pick<Deployment, 'services'>): boolean {
  return d.services.includes('marathon') || d.services.includes('apps-api');
}
