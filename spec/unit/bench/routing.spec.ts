import { expect } from 'chai';
import { parseDockerPort, parseInstance } from '../../../src/bench/routing.js';
import { dockerRunLine, modelVals } from '../../helpers/devstack.js';
import { parseDigSrv, serviceHosts, tally } from '../../helpers/routing.js';
import { loadStackModel } from '../../../src/model/load.js';

describe('discovery: routing helpers', () => {
  it('lists the Host names HAProxy routes to a service', () => {
    expect(serviceHosts('python1')).to.deep.equal(['python1.service.consul', 'python1']);
    expect(serviceHosts('web', 'paas', 'example.org')).to.deep.equal([
      'web.service.paas',
      'web',
      'web.example.org',
    ]);
  });

  it('reads the instance id from a SimpleWebappPython answer', () => {
    expect(parseInstance('Hello from python1 (instance 3f2a9c0d1e2b)\n')).to.equal('3f2a9c0d1e2b');
    expect(parseInstance('paasbox: no service for this Host')).to.equal(undefined);
  });

  it('parses dig +short SRV output, ignoring other lines, sorted by port', () => {
    const out =
      '1 1 32805 ac110002.addr.paasbox.consul.\n;; connection timed out\n1 1 32804 ac110002.addr.paasbox.consul.\n';
    expect(parseDigSrv(out)).to.deep.equal([
      { priority: 1, weight: 1, port: 32804, target: 'ac110002.addr.paasbox.consul.' },
      { priority: 1, weight: 1, port: 32805, target: 'ac110002.addr.paasbox.consul.' },
    ]);
    expect(parseDigSrv('')).to.deep.equal([]);
  });

  it('parses docker port output (IPv4 and IPv6 lines)', () => {
    expect(parseDockerPort('0.0.0.0:49153\n:::49153\n')).to.equal(49153);
    expect(parseDockerPort('Error: No public port')).to.equal(undefined);
  });

  it('tallies answers per instance', () => {
    expect(tally(['a', 'b', 'a', undefined])).to.deep.equal({ a: 2, b: 1, '(none)': 1 });
  });

  it("builds docker run lines from the stack's own service definitions", () => {
    const model = loadStackModel();
    const vals = { IP: '10.0.0.5', HOSTNAME: 'node1', DOMAIN: 'consul', ZK_HOSTS: '10.0.0.5:2181' };
    const dns = dockerRunLine('dns', model.services.dns!, 'img/dns', modelVals(model, 'dns', vals));
    expect(dns)
      .to.include('--network host')
      .and.include("'--server=/consul/10.0.0.5#8600'")
      .and.include(' --listen-address=10.0.0.5');
    expect(
      dockerRunLine('openvpn', model.services.openvpn!, 'img/vpn', modelVals(model, 'openvpn', vals)),
    ).to.include('--cap-add NET_ADMIN');
    const reg = dockerRunLine(
      'registrator',
      model.services.registrator!,
      'img/reg',
      modelVals(model, 'registrator', vals),
    );
    expect(reg)
      .to.include('-e REGISTRATOR_HOST_IP=10.0.0.5')
      .and.include('-v /var/run/docker.sock:/var/run/docker.sock');
    expect(
      dockerRunLine('consul', model.services.consul!, 'img/c', modelVals(model, 'consul', vals)),
    ).to.include('-dns-port=8600');
    expect(() => dockerRunLine('dns', model.services.dns!, 'x', { IP: '1.2.3.4' })).to.throw(/DOMAIN/);
  });
});
