// paasbox.yaml's cluster: entry as the hosts an install reaches. The
// settings pipeline validates the lists; this reads them before any host is
// reached (install takes the cluster's hosts from the file when no host is
// named on the command line).

import { PaasboxError } from '../errors.js';

/**
 * paasbox.yaml's cluster: { masters: [...], agents: [...] } as the hosts to
 * reach (addresses; the user is ~/.ssh/config's for that address, else root),
 * or undefined when the file describes no cluster. The settings pipeline
 * validates the lists themselves. Pure.
 */
export function clusterInFile(obj: unknown): { masters: string[]; agents: string[] } | undefined {
  const c = obj && typeof obj === 'object' ? (obj as { cluster?: unknown }).cluster : undefined;
  if (!c || typeof c !== 'object') return undefined;
  const list = (v: unknown, field: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
      throw new PaasboxError(
        `paasbox.yaml cluster.${field} is not a list of addresses`,
        `write it as cluster: { ${field}: [10.0.0.5, 10.0.0.6] }`,
      );
    return v as string[];
  };
  const masters = list((c as { masters?: unknown }).masters, 'masters');
  const agents = list((c as { agents?: unknown }).agents, 'agents');
  if (!masters.length)
    throw new PaasboxError(
      'paasbox.yaml cluster: names no masters',
      'add cluster: { masters: [A, B, C] } (three for high availability)',
    );
  return { masters, agents };
}
