// provisionCluster's pure-ish front: where each host is (given, or detected
// on it) and what it is; a cluster without a master, a host whose address
// cannot be found and two hosts advertising one address are refused before
// anything on a host changes.
import { expect } from 'chai';
import { clusterAddresses, type ClusterHost } from '../../../src/provision/cluster.js';
import type { ExecResult, Target } from '../../../src/target/target.js';
import { failure } from '../../helpers/failure.js';

/** A target that only answers the address detection, with `ip` output for `addr`. */
function host(name: string, addr: string | undefined): Target {
  const out = addr ? `default via 10.40.0.254 dev eth0 proto dhcp src ${addr}\n` : '';
  return {
    name,
    exec: async (): Promise<ExecResult> => ({ code: 0, stdout: out, stderr: '' }),
  } as unknown as Target;
}

async function refused(p: Promise<unknown>, text: string): Promise<void> {
  expect((await failure(p)).problem).to.include(text);
}

describe('cluster provisioning: the hosts and their addresses', () => {
  it('detects each address on its host, a given one wins; masters and agents in the order named', async () => {
    const hosts: ClusterHost[] = [
      { target: host('m1', '10.40.0.1'), role: 'master' },
      { target: host('a1', '10.40.0.9'), role: 'agent' },
      { target: host('m2', '10.40.0.2'), role: 'master' },
      { target: host('m3', '10.40.0.99'), role: 'master', ip: '10.40.0.3' },
    ];
    expect(await clusterAddresses(hosts)).to.deep.equal({
      masters: ['10.40.0.1', '10.40.0.2', '10.40.0.3'],
      agents: ['10.40.0.9'],
      ips: ['10.40.0.1', '10.40.0.9', '10.40.0.2', '10.40.0.3'],
    });
  });

  it('refuses a cluster without a master, an undetectable address, and one address twice (naming both hosts)', async () => {
    await refused(
      clusterAddresses([{ target: host('a1', '10.40.0.9'), role: 'agent' }]),
      'needs at least one master',
    );
    await refused(
      clusterAddresses([{ target: host('m1', undefined), role: 'master' }]),
      'the address of m1 could not be detected',
    );
    await refused(
      clusterAddresses([
        { target: host('m1', '10.40.0.1'), role: 'master' },
        { target: host('m2', '10.40.0.1'), role: 'master' },
      ]),
      'm2 and m1 both advertise 10.40.0.1',
    );
  });
});
