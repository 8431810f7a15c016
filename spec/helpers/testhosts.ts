// Test hosts for integration tests: the dind driver's hosts (src/drivers/dind.ts)
// plus what only tests need: an address in their network where nothing answers.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createDindHosts, type DindHost, type DindHosts, type DindOptions } from '../../src/drivers/dind.js';

export {
  DIND_FLAGS,
  ensureDindImage as ensureTestHostImage,
  generateKey,
  hostExec,
} from '../../src/drivers/dind.js';
export type TestHost = DindHost;

const run = promisify(execFile);

export interface TestHosts extends DindHosts {
  /** An address inside the private network where no container answers. */
  unusedAddress(): Promise<string>;
}

export async function createTestHosts(n: number, opts: DindOptions): Promise<TestHosts> {
  const set = await createDindHosts(n, opts);
  return { ...set, unusedAddress: () => unusedAddress(set.network, set.hosts) };
}

async function unusedAddress(network: string, hosts: DindHost[]): Promise<string> {
  const subnet = (
    await run('docker', ['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}}', network])
  ).stdout.trim();
  const [base] = subnet.split('/');
  const parts = (base ?? '').split('.').map(Number);
  const taken = new Set(hosts.map((h) => h.address));
  for (let last = 200; last < 254; last++) {
    const a = `${parts[0]}.${parts[1]}.${parts[2]}.${last}`;
    if (!taken.has(a)) return a;
  }
  throw new Error(`no unused address in ${subnet}`);
}
