import { expect } from 'chai';
import { LISTENING_COMMAND, parseListening } from '../../../src/system/ports.js';
import {
  composeHostPorts,
  conflictsFromPortsOutput,
  descendants,
  findPortConflicts,
  portsCommand,
  stackPids,
} from '../../../src/provision/ports.js';

const SS = [
  'tcp   LISTEN 0      5            0.0.0.0:8500       0.0.0.0:*    users:(("python3",pid=123,fd=3))',
  'tcp   LISTEN 0      128             [::]:22            [::]:*    users:(("sshd",pid=7,fd=4))',
  'udp   UNCONN 0      0        127.0.0.1%lo:53          0.0.0.0:*    users:(("dnsmasq",pid=900,fd=4))',
  'tcp   LISTEN 0      4096               *:2181             *:*    users:(("java",pid=501,fd=40))',
  'tcp   LISTEN 0      4096       127.0.0.1:9999       0.0.0.0:*',
].join('\n');

describe('port pre-flight', () => {
  it("gathers listeners with the docker-facts command, then the project's container pids, then the process tree", () => {
    const parts = portsCommand('my_stack').split(/^echo ---$/m);
    expect(parts).to.have.length(3);
    expect(parts[0]).to.include(LISTENING_COMMAND);
    expect(parts[1]).to.include('--filter label=com.docker.compose.project=my_stack');
    expect(parts[1]).to.include("docker inspect -f '{{.State.Pid}} {{json .Config.Labels}}'");
    expect(() => portsCommand('my stack; id')).to.throw(
      /compose project "my stack; id": not a compose project name/,
    );
    expect(parts[2]?.trim()).to.equal('ps -e -o pid=,ppid=');
  });

  it('finds descendants of container pids', () => {
    const ps = '1 0\n500 1\n501 500\n502 501\n123 1\n';
    expect([...descendants(ps, [500])].sort()).to.deep.equal([500, 501, 502]);
  });

  it('reports a port held by another process, matching the protocol', () => {
    const wanted = [
      { port: 8500, protocol: 'tcp' as const, service: 'consul' },
      { port: 8500, protocol: 'udp' as const, service: 'other' },
      { port: 53, protocol: 'udp' as const, service: 'dns' },
    ];
    const c = findPortConflicts(parseListening(SS), wanted, new Set());
    expect(c.map((x) => `${x.service}:${x.holder}`)).to.deep.equal([
      'consul:python3 (pid 123)',
      'dns:dnsmasq (pid 900)',
    ]);
  });

  it('ignores ports held by this stack (pids under its containers)', () => {
    const out = `${SS}\n---\n500\n---\n1 0\n500 1\n501 500\n123 1\n`;
    const c = conflictsFromPortsOutput(out, [
      { port: 2181, protocol: 'tcp', service: 'zookeeper' },
      { port: 8500, protocol: 'tcp', service: 'consul' },
    ]);
    expect(c.map((x) => x.port)).to.deep.equal([8500]);
  });

  it("does not count a swarm task or an app carrying the project's compose labels as the stack (its ports conflict)", () => {
    const pids = [
      '500 {"com.docker.compose.project":"paasbox","com.docker.compose.service":"zookeeper"}',
      '123 {"com.docker.compose.project":"paasbox","com.docker.compose.service":"consul","com.docker.swarm.task.id":"t1"}',
      '900 {"com.docker.compose.project":"paasbox","paasbox.marathon.id":"/web"}',
    ].join('\n');
    expect(stackPids(pids)).to.deep.equal([500]);
    const out = `${SS}\n---\n${pids}\n---\n1 0\n500 1\n501 500\n123 1\n900 1\n`;
    const c = conflictsFromPortsOutput(out, [
      { port: 2181, protocol: 'tcp', service: 'zookeeper' },
      { port: 8500, protocol: 'tcp', service: 'consul' },
    ]);
    expect(c.map((x) => `${x.port}:${x.holder}`)).to.deep.equal(['8500:python3 (pid 123)']);
  });

  it('reads the host ports from the generated compose labels', () => {
    const compose = {
      services: {
        consul: { labels: { 'paasbox.ports': 'http=8500/tcp,dns=8600/udp' } },
        registrator: { labels: {} },
      },
    };
    expect(composeHostPorts(compose)).to.deep.equal([
      { service: 'consul', port: 8500, protocol: 'tcp' },
      { service: 'consul', port: 8600, protocol: 'udp' },
    ]);
  });

  it("systemd-resolved on 127.0.0.53/127.0.0.54 does not take dnsmasq's port: it binds 127.0.0.1 and the stack address only", () => {
    const resolved = [
      'udp UNCONN 0 0 127.0.0.53%lo:53 0.0.0.0:* users:(("systemd-resolve",pid=411,fd=13))',
      'udp UNCONN 0 0 127.0.0.54:53 0.0.0.0:* users:(("systemd-resolve",pid=411,fd=15))',
      'tcp LISTEN 0 4096 127.0.0.53%lo:53 0.0.0.0:* users:(("systemd-resolve",pid=411,fd=14))',
    ].join('\n');
    const compose = {
      services: {
        dns: {
          labels: { 'paasbox.ports': 'dns=53/udp' },
          command: ['--port=53', '--listen-address=192.168.59.103'],
        },
      },
    };
    const wanted = composeHostPorts(compose);
    expect(wanted).to.deep.equal([
      { service: 'dns', port: 53, protocol: 'udp', addresses: ['127.0.0.1', '192.168.59.103'] },
    ]);
    expect(findPortConflicts(parseListening(resolved), wanted, new Set())).to.deep.equal([]);
    // A resolver on the stack's address, or on every address, still collides.
    const onIp = 'udp UNCONN 0 0 192.168.59.103:53 0.0.0.0:* users:(("named",pid=7,fd=1))';
    expect(findPortConflicts(parseListening(onIp), wanted, new Set()).map((c) => c.holder)).to.deep.equal([
      'named (pid 7)',
    ]);
    const any = 'udp UNCONN 0 0 0.0.0.0:53 0.0.0.0:* users:(("named",pid=7,fd=1))';
    expect(findPortConflicts(parseListening(any), wanted, new Set())).to.have.length(1);
    // A service binding every address collides with resolved's stub.
    expect(
      findPortConflicts(parseListening(resolved), [{ service: 'x', port: 53, protocol: 'udp' }], new Set()),
    ).to.have.length(1);
  });

  it('a listener whose process exited between ss and ps (an old HAProxy worker) holds nothing', () => {
    const ss = 'tcp LISTEN 0 128 0.0.0.0:80 0.0.0.0:* users:(("haproxy",pid=4242,fd=7))';
    const wanted = [{ port: 80, protocol: 'tcp' as const, service: 'haproxy' }];
    expect(conflictsFromPortsOutput(`${ss}\n---\n\n---\n1 0\n77 1\n`, wanted)).to.deep.equal([]);
    expect(
      conflictsFromPortsOutput(`${ss}\n---\n\n---\n1 0\n4242 1\n`, wanted).map((c) => c.holder),
    ).to.deep.equal(['haproxy (pid 4242)']);
  });
});
