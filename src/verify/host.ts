// Checks of the host itself, not of a service: the address the stack
// advertises must still be one of the host's own. A laptop that changed
// networks (new Wi-Fi, new DHCP lease) keeps a stack advertising an address
// nobody answers at; verify names the mismatch and the fix.

import { ADDRESS_COMMAND } from '../settings/address.js';
import type { Check } from './types.js';

/** IPv4 addresses in `ip -4 -o addr` output (pure). */
export function hostAddresses(ipOutput: string): string[] {
  return [...ipOutput.matchAll(/^\d+:\s+\S+\s+inet\s+(\d+\.\d+\.\d+\.\d+)\//gm)].map((m) => m[1]!);
}

export function hostChecks(advertised: string, host: string): Check[] {
  return [
    {
      id: 'host/advertised-address',
      service: 'host',
      host,
      description: `the advertised address ${advertised} is one of the host's`,
      async run(target) {
        const r = await target.exec(ADDRESS_COMMAND, { timeoutMs: 20_000 });
        const have = hostAddresses(r.stdout);
        return have.includes(advertised)
          ? { ok: true, expected: advertised, got: advertised }
          : {
              ok: false,
              expected: `${advertised} on the host`,
              got: `the host has ${have.join(', ') || 'no IPv4 address'} now: run install again to move the stack (data is kept)`,
            };
      },
    },
  ];
}
