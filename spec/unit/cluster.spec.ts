// A cluster's description and per-host generation: masters and agents from
// flags, the environment or paasbox.yaml's cluster:, and each host's compose
// file (golden files for the second of three masters and for an agent, plus
// the lines that make the ensemble: ZooKeeper's server lines and myid,
// Consul's -bootstrap-expect and -retry-join, a client agent elsewhere).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { PaasboxError } from '../../src/errors.js';
import {
  clusterHosts,
  isCluster,
  resolveSettings,
  type Settings,
  type SettingsValues,
} from '../../src/settings/settings.js';
import { generateCompose, renderCompose, type ComposeFile } from '../../src/stackfile/generate.js';
import { loadStackModel } from '../../src/model/load.js';
import { consulRoleArgs, zkMyId, zkServers } from '../../src/settings/services.js';
import { resolveImageRefs } from '../../src/stackfile/refs.js';
import { repoPath } from '../../src/paths.js';
import { readInstance, writeInstance, type Instance } from '../../src/instance/state.js';
import { clusterInFile } from '../../src/settings/cluster.js';
import { closeHosts, clusterNote, stageHosts } from '../../src/instance/hosts.js';
import { AnsweringTarget } from '../helpers/answering-target.js';
import { thrown } from '../helpers/failure.js';

const model = loadStackModel();
const M = ['10.20.0.11', '10.20.0.12', '10.20.0.13'];
const A = '10.20.0.21';
const noMesos = {
  services: {
    'mesos-master': { enabled: false },
    'mesos-slave': { enabled: false },
    marathon: { enabled: false },
  },
};

const settings = (ip: string, flags: SettingsValues = {}, file: unknown = noMesos): Settings =>
  resolveSettings(
    { flags: { ip, hostname: `h${ip.split('.')[3]}`, imageSource: 'local', ...flags }, file },
    model,
  );

async function compose(s: Settings): Promise<ComposeFile> {
  return generateCompose(model, s, await resolveImageRefs(model, s, () => false));
}

function fails(fn: () => unknown, ...parts: string[]): void {
  const err = thrown(fn);
  for (const p of parts) expect(err.problem).to.include(p);
}

function golden(name: string, text: string): void {
  const path = repoPath('spec', 'golden', name);
  if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(path, text);
  expect(text).to.equal(readFileSync(path, 'utf8'));
}

describe('a cluster: description and per-host generation', () => {
  describe('settings', () => {
    it('one host stays the default: masters and agents are this host, no cluster', () => {
      const s = settings('10.20.0.5');
      expect([s.masters, s.agents, isCluster(s)]).to.deep.equal([['10.20.0.5'], ['10.20.0.5'], false]);
    });

    it('takes the masters and agents from flags; agents default to the masters', () => {
      const s = settings(M[1]!, { masters: M, agents: [A] });
      expect([s.masters, s.agents, clusterHosts(s), isCluster(s)]).to.deep.equal([M, [A], [...M, A], true]);
      expect(settings(M[0]!, { masters: M }).agents).to.deep.equal(M);
      // A host that is no master joins as an agent when none are listed.
      expect(settings(A, { masters: M }).agents).to.deep.equal([...M, A]);
    });

    it("takes paasbox.yaml's cluster: { masters, agents }", () => {
      const s = settings(A, {}, { ...noMesos, cluster: { masters: M, agents: [A] } });
      expect([s.masters, s.agents]).to.deep.equal([M, [A]]);
      // Flags win over the file.
      expect(
        settings(M[0]!, { masters: [M[0]!] }, { ...noMesos, cluster: { masters: M } }).masters,
      ).to.deep.equal([M[0]]);
    });

    it("install takes its hosts from paasbox.yaml's cluster: when no host is named on the command line", () => {
      expect(clusterInFile({ cluster: { masters: M, agents: [A] } })).to.deep.equal({
        masters: M,
        agents: [A],
      });
      expect(clusterInFile({ cluster: { masters: M } })).to.deep.equal({ masters: M, agents: [] });
      expect(clusterInFile({ services: {} })).to.equal(undefined);
      expect(clusterInFile(undefined)).to.equal(undefined);
      fails(() => clusterInFile({ cluster: { agents: [A] } }), 'names no masters');
      fails(() => clusterInFile({ cluster: { masters: 'a,b' } }), 'cluster.masters is not a list');
    });

    it('refuses cluster: beside masters:, an address twice, a non-address, and a host outside the cluster', () => {
      fails(() => settings(M[0]!, {}, { cluster: { masters: M }, masters: M }), 'both cluster: and masters:');
      fails(() => settings(M[0]!, { masters: [M[0]!, M[0]!, M[1]!] }), 'masters: 10.20.0.11 is listed twice');
      fails(() => settings(M[0]!, { masters: [M[0]!, 'zk2'] }), 'masters[1] "zk2" is not an IPv4 address');
      fails(
        () => settings('10.20.0.99', { masters: M, agents: [A] }),
        '10.20.0.99 is neither a master',
        'nor an agent',
      );
      fails(() => settings(M[0]!, {}, { cluster: { masters: M, extra: 1 } }), 'paasbox.yaml');
    });
  });

  describe('roles', () => {
    it('ZooKeeper: a server line per master with its client address, myid by place', () => {
      const s = settings(M[1]!, { masters: M, agents: [A] });
      expect(zkServers(model, s)).to.equal(
        'server.1=10.20.0.11:2888:3888;10.20.0.11:2181 server.2=10.20.0.12:2888:3888;10.20.0.12:2181 server.3=10.20.0.13:2888:3888;10.20.0.13:2181',
      );
      expect(M.map((m) => zkMyId(settings(m, { masters: M })))).to.deep.equal([1, 2, 3]);
      // One host keeps its line.
      expect(zkServers(model, settings('10.20.0.5'))).to.equal('server.1=localhost:2888:3888;10.20.0.5:2181');
    });

    it('Consul: servers expect all masters and join the others; any other host is a client joining every master', () => {
      expect(consulRoleArgs(settings(M[1]!, { masters: M, agents: [A] }))).to.deep.equal([
        '-server',
        '-bootstrap-expect=3',
        '-retry-join=10.20.0.11',
        '-retry-join=10.20.0.13',
      ]);
      expect(consulRoleArgs(settings(A, { masters: M, agents: [A] }))).to.deep.equal([
        '-retry-join=10.20.0.11',
        '-retry-join=10.20.0.12',
        '-retry-join=10.20.0.13',
      ]);
      expect(consulRoleArgs(settings('10.20.0.5'))).to.deep.equal(['-server', '-bootstrap-expect=1']);
    });
  });

  describe("a host's compose file", () => {
    it('the second of three masters (golden spec/golden/cluster-master2.local.yml)', async () => {
      const c = await compose(settings(M[1]!, { masters: M, agents: [A] }));
      expect(Object.keys(c.services)).to.deep.equal([
        'zookeeper',
        'apps-api',
        'acme',
        'registry',
        'consul',
        'registrator',
        'haproxy',
        'dns',
      ]);
      expect(c.services['zookeeper']!.environment).to.include({
        ZOO_MY_ID: '2',
        ZOO_SERVERS: zkServers(model, settings(M[1]!, { masters: M })),
      });
      const cmd = c.services['consul']!.command!;
      expect(cmd.slice(0, 6)).to.deep.equal([
        'agent',
        '-server',
        '-bootstrap-expect=3',
        '-retry-join=10.20.0.11',
        '-retry-join=10.20.0.13',
        '-ui',
      ]);
      expect(cmd).to.include.members(['-bind=10.20.0.12', '-advertise=10.20.0.12', '-node=h12']);
      golden('cluster-master2.local.yml', renderCompose(c));
    });

    it('an agent: a Consul client agent, the registrator, HAProxy and dns; no ZooKeeper (golden spec/golden/cluster-agent.local.yml)', async () => {
      const c = await compose(settings(A, { masters: M, agents: [A] }));
      expect(Object.keys(c.services)).to.deep.equal(['consul', 'registrator', 'haproxy', 'dns']);
      expect(c['x-paasbox'].elsewhere).to.deep.equal(['zookeeper', 'apps-api', 'acme', 'registry']);
      const cmd = c.services['consul']!.command!;
      expect(cmd).to.not.include('-server');
      expect(cmd.filter((a) => a.startsWith('-bootstrap-expect'))).to.deep.equal([]);
      expect(cmd.slice(0, 5)).to.deep.equal([
        'agent',
        '-retry-join=10.20.0.11',
        '-retry-join=10.20.0.12',
        '-retry-join=10.20.0.13',
        '-ui',
      ]);
      expect(c.services['haproxy']!.environment!['CONSUL_HTTP_ADDR']).to.equal(`${A}:8500`);
      golden('cluster-agent.local.yml', renderCompose(c));
    });

    it("adding or removing an agent leaves every other host's file byte for byte (only the new host converges), and a file read back regenerates itself", async () => {
      const A2 = '10.20.0.22';
      for (const ip of [...M, A]) {
        const before = renderCompose(await compose(settings(ip, { masters: M, agents: [A] })));
        const after = renderCompose(await compose(settings(ip, { masters: M, agents: [A, A2] })));
        expect(after, ip).to.equal(before);
        // The recorded view (this host's file) gives the same file again: later commands on one host see what
        // install made.
        const c = await compose(settings(ip, { masters: M, agents: [A] }));
        const again = await compose(
          settings(ip, { masters: c['x-paasbox'].cluster!.masters, agents: c['x-paasbox'].cluster!.agents }),
        );
        expect(renderCompose(again), ip).to.equal(before);
      }
      // Masters that are the agents (none named) stay agents in their view; naming agents changes them (the
      // Mesos agent moves).
      const alone = await compose(settings(M[0]!, { masters: M }));
      expect(alone['x-paasbox'].cluster).to.deep.equal({ masters: M, agents: [M[0]] });
      expect(
        (await compose(settings(M[0]!, { masters: M, agents: [A] })))['x-paasbox'].cluster,
      ).to.deep.equal({ masters: M, agents: [] });
    });

    it('with Mesos: masters run the master and Marathon against the ensemble, agents the Mesos agent', async () => {
      const m = await compose(settings(M[0]!, { masters: M, agents: [A], imageSource: 'registry' }, {}));
      expect(Object.keys(m.services))
        .to.include.members(['zookeeper', 'mesos-master', 'marathon'])
        .and.not.include('mesos-slave');
      const zk = 'zk://10.20.0.11:2181,10.20.0.12:2181,10.20.0.13:2181';
      expect(m.services['mesos-master']?.environment?.['MESOS_ZK']).to.equal(`${zk}/mesos`);
      const a = await compose(settings(A, { masters: M, agents: [A], imageSource: 'registry' }, {}));
      expect(Object.keys(a.services)).to.include('mesos-slave').and.not.include('zookeeper');
      expect(a.services['mesos-slave']?.environment?.['MESOS_MASTER']).to.equal(`${zk}/mesos`);
    });

    it('with Mesos: quorum 2 of 3 masters, the replicated registry, Marathon on the ensemble; the agent in the host PID namespace with a docker CLI (golden spec/golden/cluster-master1.registry.yml)', async () => {
      const zk = 'zk://10.20.0.11:2181,10.20.0.12:2181,10.20.0.13:2181';
      const m = await compose(settings(M[0]!, { masters: M, agents: [A], imageSource: 'registry' }, {}));
      expect(m.services['mesos-master']!.environment).to.include({
        MESOS_QUORUM: '2',
        MESOS_ZK: `${zk}/mesos`,
        MESOS_IP: M[0],
        LIBPROCESS_IP: M[0],
      });
      expect(m.services['mesos-master']!.command).to.deep.equal([
        '--registry=replicated_log',
        '--authenticate_http_readonly',
        '--authenticate_http_readwrite',
        '--http_credentials=/run/secrets/paasbox/http-credentials.json',
      ]);
      expect(m.services['marathon']!.command).to.deep.equal([
        '--master',
        `${zk}/mesos`,
        '--zk',
        `${zk}/marathon`,
        '--hostname',
        'h11',
        '--http_port',
        '8080',
      ]);
      expect(m.services['marathon']!.image).to.equal('mesosphere/marathon:v1.7.50');
      golden('cluster-master1.registry.yml', renderCompose(m));
      // One host: a quorum of 1.
      const one = await compose(settings('10.20.0.5', { imageSource: 'registry' }, {}));
      expect(one.services['mesos-master']!.environment!['MESOS_QUORUM']).to.equal('1');
      const a = await compose(settings(A, { masters: M, agents: [A], imageSource: 'registry' }, {}));
      const slave = a.services['mesos-slave']!;
      expect(slave.pid).to.equal('host');
      expect(slave.volumes).to.include.members([
        '/var/run/docker.sock:/var/run/docker.sock',
        '/usr/bin/docker:/usr/local/bin/docker:ro',
        '/sys/fs/cgroup:/sys/fs/cgroup',
      ]);
      expect(slave.environment).to.include({
        MESOS_DOCKER: '/usr/local/bin/docker',
        MESOS_LAUNCHER: 'posix',
        MESOS_SYSTEMD_ENABLE_SUPPORT: 'false',
        MESOS_IP: A,
      });
      // The health checks ask the address libprocess binds, not 127.0.0.1.
      expect(slave.healthcheck!.test.join(' ')).to.include(`/dev/tcp/${A}/5051`);
      expect(m.services['mesos-master']!.healthcheck!.test.join(' ')).to.include(`/dev/tcp/${M[0]}/5050`);
      // Masters with dedicated agents run no Mesos agent.
      expect(m.services).to.not.have.property('mesos-slave');
    });
  });

  describe('the instance', () => {
    it('records every host of the cluster (how to reach it, its address), and refuses a member without an address', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pbcl-state-'));
      const saved = process.env['PAASBOX_STATE_DIR'];
      delete process.env['PAASBOX_STATE_DIR'];
      try {
        const ssh = (host: string) => ({
          host,
          port: 22,
          user: 'root',
          keyPath: '/k/id',
          hostKeyPolicy: 'strict' as const,
        });
        const member = (ip: string) => ({ ssh: ssh(ip), ip, hostname: `h${ip.split('.')[3]}` });
        const inst: Instance = {
          name: 'cl',
          driver: 'ssh',
          mode: 'ssh',
          stage: { kind: 'ssh', ssh: ssh(M[0]!) },
          lifecycle: 'converged',
          deployment: {
            ip: M[0]!,
            imageSource: 'local',
            composePath: '/opt/paasbox/docker-compose.yml',
            project: 'paasbox',
          },
          cluster: { masters: M.map(member), agents: [member(A)] },
          updatedAt: '',
        };
        writeInstance(inst, dir);
        expect(readInstance('cl', dir)?.cluster).to.deep.equal(inst.cluster);
        // info, status and uninstall go over every host, the stage (first master) first; one-host commands
        // say where they act.
        const first = new AnsweringTarget(`root@${M[0]}`, M[0]!, () => ({}));
        const hosts = stageHosts({ target: first, instance: inst });
        expect(hosts.map((h) => [h.target.name, h.role])).to.deep.equal([
          [`root@${M[0]}`, 'master'],
          ...M.slice(1).map((m) => [`root@${m}:22`, 'master']),
          [`root@${A}:22`, 'agent'],
        ]);
        expect(hosts[0]!.target).to.equal(first);
        expect(clusterNote({ target: first, instance: inst }, 'stack')).to.equal(
          `paasbox stack: cl is a cluster of 4 hosts; this acts on its first master root@${M[0]} only (another host: --target user@address)`,
        );
        const one = { ...inst, cluster: undefined } as Instance;
        expect(stageHosts({ target: first, instance: one }).map((h) => h.target)).to.deep.equal([first]);
        expect(clusterNote({ target: first, instance: one }, 'stack')).to.equal(undefined);
        await closeHosts(hosts);
        const bad = {
          ...inst,
          cluster: { masters: [{ ssh: ssh(M[0]!) }], agents: [] },
        } as unknown as Instance;
        expect(() => writeInstance(bad, dir)).to.throw(PaasboxError);
      } finally {
        if (saved !== undefined) process.env['PAASBOX_STATE_DIR'] = saved;
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
