import { expect } from 'chai';
import { sshuttleArgs, subnetsFromNetworkInspect } from '../../src/tunnel/sshuttle.js';
import { PaasboxError } from '../../src/errors.js';

describe('sshuttle tunnel', () => {
  it('routes the subnets through the stack sshd and sends DNS to dnsmasq', () => {
    const args = sshuttleArgs({ host: '10.0.0.5', port: 2222, user: 'root', keyPath: '/k/id', subnets: ['172.17.0.0/16'], dnsServer: '10.0.0.5' });
    expect(args).to.deep.equal(['-r', 'root@10.0.0.5:2222', '--ssh-cmd', 'ssh -i /k/id -o IdentitiesOnly=yes', '--dns', '--to-ns', '10.0.0.5', '172.17.0.0/16']);
  });

  it('rejects a subnet that is not a CIDR, naming it', () => {
    expect(() => sshuttleArgs({ host: 'h', port: 2222, user: 'root', subnets: ['172.17.0.0'] })).to.throw(PaasboxError, '"172.17.0.0"');
    expect(() => sshuttleArgs({ host: 'h', port: 2222, user: 'root', subnets: ['300.1.1.1/8'] })).to.throw(PaasboxError);
    expect(() => sshuttleArgs({ host: 'h', port: 2222, user: 'root', subnets: [] })).to.throw(PaasboxError, 'no subnets');
  });

  it('reads subnets from docker network inspect output', () => {
    const json = JSON.stringify([
      { IPAM: { Config: [{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' }] } },
      { IPAM: { Config: [{ Subnet: 'fd00::/64' }] } },
      { IPAM: { Config: null } },
      { IPAM: { Config: [{ Subnet: '172.17.0.0/16' }] } },
    ]);
    expect(subnetsFromNetworkInspect(json)).to.deep.equal(['172.17.0.0/16', '172.18.0.0/16']);
  });
});
