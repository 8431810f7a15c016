import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { validateApp, type MarathonApp } from '../../src/marathon/app.js';
import { marathonToSwarmService, swarmServiceName, publishSpecs, updateFlags, httpProbe } from '../../src/scheduler/swarm-service.js';
import { parseTaskPorts } from '../../src/scheduler/swarm.js';

const example = (n: number): MarathonApp =>
  validateApp(JSON.parse(readFileSync(new URL(`../../../examples/SimpleWebappPython/deploy${n}_marathon.json`, import.meta.url), 'utf8')));

/** Values of every occurrence of a flag in an argv. */
function flag(argv: string[], name: string): string[] {
  return argv.flatMap((a, i) => (a === name && argv[i + 1] !== undefined ? [argv[i + 1]!] : []));
}

describe('marathonToSwarmService (Marathon app JSON → docker service argv)', () => {
  it('translates the SimpleWebappPython app', () => {
    const s = marathonToSwarmService(example(1));
    expect(s.name).to.equal('python1');
    expect(s.create.slice(0, 4)).to.deep.equal(['docker', 'service', 'create', '--detach']);
    expect(flag(s.create, '--name')).to.deep.equal(['python1']);
    expect(flag(s.create, '--replicas')).to.deep.equal(['2']);
    // hostPort 0: host-mode publish, port left to Docker (no routing mesh in dind).
    expect(flag(s.create, '--publish')).to.deep.equal(['mode=host,target=8080,protocol=tcp']);
    expect(flag(s.create, '--env')).to.include.members(['SERVICE_NAME=python1', 'SERVICE_CHECK_HTTP=/health', 'SERVICE_CHECK_INTERVAL=5s']);
    expect(flag(s.create, '--label')).to.include.members(['example=SimpleWebappPython', 'paasbox.marathon.id=/python1']);
    expect(flag(s.create, '--container-label')).to.include('paasbox.marathon.id=/python1');
    expect(flag(s.create, '--limit-cpu')).to.deep.equal(['0.1']);
    expect(flag(s.create, '--limit-memory')).to.deep.equal(['64M']);
    expect(flag(s.create, '--health-interval')).to.deep.equal(['5s']);
    expect(flag(s.create, '--health-timeout')).to.deep.equal(['3s']);
    expect(flag(s.create, '--health-retries')).to.deep.equal(['3']);
    expect(flag(s.create, '--health-start-period')).to.deep.equal(['10s']);
    expect(flag(s.create, '--health-cmd')[0]).to.include('http://127.0.0.1:8080/health');
    // minimumHealthCapacity 0.5, maximumOverCapacity 0.5 of 2 instances: start one new before stopping one old.
    expect(flag(s.create, '--update-order')).to.deep.equal(['start-first']);
    expect(flag(s.create, '--update-parallelism')).to.deep.equal(['1']);
    expect(s.create).to.include('--no-resolve-image');
    expect(s.create[s.create.length - 1]).to.equal('paasbox/simplewebapp-python:latest');
    expect(s.warnings).to.deep.equal([]);
  });

  it('builds an update argv that names the service last and adds rather than replaces', () => {
    const s = marathonToSwarmService(example(2));
    expect(s.update.slice(0, 3)).to.deep.equal(['docker', 'service', 'update']);
    expect(s.update[s.update.length - 1]).to.equal('python2');
    expect(flag(s.update, '--image')).to.deep.equal(['paasbox/simplewebapp-python:latest']);
    expect(flag(s.update, '--env-add')).to.include('SERVICE_NAME=python2');
    expect(flag(s.update, '--publish-add')).to.deep.equal(['mode=host,target=8080,protocol=tcp']);
    expect(s.update).not.to.include('--name');
  });

  it('names nested ids with dashes and keeps an explicit SERVICE_NAME', () => {
    expect(swarmServiceName('/team/web/api')).to.equal('team-web-api');
    const s = marathonToSwarmService({ id: '/team/web', env: { SERVICE_NAME: 'web' }, container: { type: 'DOCKER', docker: { image: 'x' } } });
    expect(flag(s.create, '--env')).to.deep.equal(['SERVICE_NAME=web']);
    expect(flag(s.create, '--name')).to.deep.equal(['team-web']);
  });

  it('maps fixed host ports, udp,tcp, cmd, constraints, parameters, volumes and reports what swarm cannot do', () => {
    const app = validateApp({
      id: '/dns',
      cmd: 'exec dnsmasq -k',
      instances: 3,
      disk: 10,
      container: {
        type: 'DOCKER',
        docker: { image: 'dns:1', forcePullImage: true, parameters: [{ key: 'hostname', value: 'ns' }, { key: 'cap-add', value: 'NET_ADMIN' }] },
        portMappings: [{ containerPort: 53, hostPort: 5353, protocol: 'udp,tcp', servicePort: 10053 }],
        volumes: [{ containerPath: '/etc/dnsmasq.d', hostPath: '/srv/dns', mode: 'RO' }],
      },
      constraints: [['hostname', 'UNIQUE'], ['rack', 'CLUSTER', 'r1'], ['zone', 'GROUP_BY']],
      healthChecks: [{ protocol: 'TCP', portIndex: 0, intervalSeconds: 2, maxConsecutiveFailures: 0 }],
      upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 },
    });
    const s = marathonToSwarmService(app);
    expect(flag(s.create, '--publish')).to.deep.equal(['mode=host,target=53,published=5353,protocol=udp', 'mode=host,target=53,published=5353,protocol=tcp']);
    expect(s.create.slice(-4)).to.deep.equal(['dns:1', 'sh', '-c', 'exec dnsmasq -k']);
    expect(flag(s.update, '--args')).to.deep.equal(["sh -c 'exec dnsmasq -k'"]);
    expect(flag(s.create, '--replicas-max-per-node')).to.deep.equal(['1']);
    expect(flag(s.create, '--constraint')).to.deep.equal(['node.labels.rack==r1']);
    expect(flag(s.create, '--hostname')).to.deep.equal(['ns']);
    expect(flag(s.create, '--mount')).to.deep.equal(['type=bind,source=/srv/dns,target=/etc/dnsmasq.d,readonly']);
    expect(flag(s.create, '--health-retries')).to.deep.equal(['1']);
    expect(flag(s.create, '--health-cmd')[0]).to.include('create_connection(("127.0.0.1", 53), 20)');
    expect(flag(s.create, '--update-order')).to.deep.equal(['stop-first']);
    expect(s.create).not.to.include('--no-resolve-image');
    expect(s.warnings.join('\n')).to.match(/disk/).and.match(/GROUP_BY/).and.match(/cap-add/).and.match(/servicePort 10053/);
  });

  it('maps upgradeStrategy to rolling-update flags', () => {
    expect(updateFlags({ id: '/a' }, 4)).to.deep.equal(['--update-order', 'start-first', '--update-parallelism', '4', '--update-failure-action', 'rollback']);
    expect(updateFlags({ id: '/a', upgradeStrategy: { minimumHealthCapacity: 0.25, maximumOverCapacity: 0 } }, 4)).to.deep.equal(['--update-order', 'stop-first', '--update-parallelism', '3', '--update-failure-action', 'rollback']);
    expect(updateFlags({ id: '/a', upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 0 } }, 4)).to.deep.equal(['--update-order', 'stop-first', '--update-parallelism', '1', '--update-failure-action', 'rollback']);
  });

  it('publishes with Docker picking the port when hostPort is 0 or absent', () => {
    expect(publishSpecs({ containerPort: 80 })).to.deep.equal(['mode=host,target=80,protocol=tcp']);
    expect(publishSpecs({ containerPort: 80, hostPort: 0 })).to.deep.equal(['mode=host,target=80,protocol=tcp']);
  });

  it('writes an HTTP probe that falls back from curl to wget to python3', () => {
    const p = httpProbe(8080, '/health', 3);
    expect(p).to.match(/^if command -v curl .* curl -fsS -o \/dev\/null -m 3 http:\/\/127.0.0.1:8080\/health;/);
    expect(p).to.include('wget -q -O /dev/null -T 3');
    expect(p).to.include(`python3 -c 'import urllib.request as u; u.urlopen("http://127.0.0.1:8080/health", timeout=3)'`);
  });

  it('parses task host ports from docker service ps', () => {
    expect(parseTaskPorts('*:32772->8080/tcp')).to.deep.equal([32772]);
    expect(parseTaskPorts('*:5353->53/udp, *:5353->53/tcp')).to.deep.equal([5353, 5353]);
    expect(parseTaskPorts('')).to.deep.equal([]);
  });
});
