// Swarm membership against scripted fake Targets: ensureSwarm (one manager,
// its workers) and a cluster's swarm (what is missing; init, a quorum lost
// for good, joins, labels): which docker commands run, in which order, and
// how failures read.
import { expect } from 'chai';
import { AnsweringTarget } from '../../helpers/answering-target.js';
import {
  clusterSwarmGaps,
  ensureClusterSwarm,
  ensureSwarm,
  swarmGaps,
} from '../../../src/swarm/membership.js';
import { swarmJoinCommand } from '../../../src/swarm/join.js';
import { parseNodeList } from '../../../src/swarm/nodes.js';
import { PaasboxError } from '../../../src/errors.js';

describe('ensureSwarm (fake target)', () => {
  it('initialises the manager and joins the worker with the token on stdin', async () => {
    const m = new AnsweringTarget('m', '10.0.0.2', (c) =>
      c.startsWith('docker info')
        ? { stdout: 'inactive false \n' }
        : c.includes('join-token')
          ? { stdout: 'SWMTKN-1-secret\n' }
          : {},
    );
    const w = new AnsweringTarget('w', '10.0.0.3', (c) =>
      c.startsWith('docker info') ? { stdout: 'inactive false \n' } : {},
    );
    const r = await ensureSwarm(m, [w]);
    expect(r).to.deep.equal({ initialised: true, joined: ['w'], managerAddr: '10.0.0.2' });
    expect(m.calls.map((c) => c.command)).to.include('docker swarm init --advertise-addr 10.0.0.2');
    const join = w.calls.find((c) => c.command.includes('/swarm/join'))!;
    expect(join.command).to.equal(swarmJoinCommand());
    expect(join.command).to.not.include('SWMTKN');
    expect(JSON.parse(join.stdin!)).to.deep.equal({
      ListenAddr: '0.0.0.0:2377',
      RemoteAddrs: ['10.0.0.2:2377'],
      JoinToken: 'SWMTKN-1-secret',
    });
  });

  it('leaves nodes already in the swarm alone', async () => {
    const m = new AnsweringTarget('m', '10.0.0.2', (c) =>
      c.startsWith('docker info')
        ? { stdout: 'active true 10.0.0.2\n' }
        : c.includes('join-token')
          ? { stdout: 't\n' }
          : {},
    );
    const w = new AnsweringTarget('w', '10.0.0.3', (c) =>
      c.startsWith('docker info') ? { stdout: 'active false 10.0.0.3\n' } : {},
    );
    expect(await ensureSwarm(m, [w])).to.deep.equal({
      initialised: false,
      joined: [],
      managerAddr: '10.0.0.2',
    });
    expect([...m.calls, ...w.calls].some((c) => /swarm (init|join) /.test(c.command))).to.equal(false);
  });

  it('refuses a loopback advertise address and a non-manager node', async () => {
    const m = new AnsweringTarget('local', '127.0.0.1', () => ({ stdout: 'inactive false \n' }));
    await ensureSwarm(m).then(
      () => expect.fail('should throw'),
      (e: PaasboxError) => expect(e.fix).to.match(/routable IP/),
    );
    const w = new AnsweringTarget('w', '10.0.0.3', () => ({ stdout: 'active false 10.0.0.3\n' }));
    await ensureSwarm(w).then(
      () => expect.fail('should throw'),
      (e: PaasboxError) => expect(e.problem).to.match(/not a manager/),
    );
  });

  it('turns a missing docker into a PaasboxError with the install fix', async () => {
    const m = new AnsweringTarget('m', '10.0.0.2', () => ({ code: 127, stderr: 'sh: 1: docker: not found' }));
    await ensureSwarm(m).then(
      () => expect.fail('should throw'),
      (e: PaasboxError) => {
        expect(e).to.be.instanceOf(PaasboxError);
        expect(e.fix).to.match(/install docker.io/);
      },
    );
  });
});

describe("a cluster's swarm: what is missing", () => {
  const M = ['m1', 'm2', 'm3'];
  const line = (id: string, h: string, status: string, mgr = '') => `${id} ${h} ${status} ${mgr}`;
  it('parses docker node ls, and a converged swarm has no gaps', () => {
    const nodes = parseNodeList(
      [
        line('a1', 'm1', 'Ready', 'Leader'),
        line('a2', 'm2', 'Ready', 'Reachable'),
        line('a3', 'm3', 'Ready', 'Reachable'),
        line('a4', 'w1', 'Ready'),
      ].join('\n') + '\n',
    );
    expect(nodes[3]).to.deep.equal({ id: 'a4', hostname: 'w1', status: 'Ready', managerStatus: '' });
    expect(swarmGaps(nodes, M, ['w1'])).to.deep.equal([]);
  });
  it('names a master that is no manager, a missing worker and the stale node a returned host left', () => {
    const nodes = parseNodeList(
      [
        line('a1', 'm1', 'Ready', 'Leader'),
        line('a2', 'm2', 'Ready'),
        line('old3', 'm3', 'Down', 'Unreachable'),
        line('a3', 'm3', 'Ready', 'Reachable'),
      ].join('\n'),
    );
    expect(swarmGaps(nodes, M, ['w1'])).to.deep.equal([
      'm2 no reachable manager',
      'w1 no ready worker',
      'm3 stale node old3 (Down)',
    ]);
  });
});

describe("a cluster's swarm: converging (fake targets)", () => {
  const NO_LEADER = {
    code: 1,
    stderr:
      "Error response from daemon: rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers are online.",
  };
  let forced = false;
  const lead = () =>
    new AnsweringTarget('m1', '10.0.0.1', (c) => {
      if (c.startsWith('docker info')) return { stdout: 'active true 10.0.0.1\n' };
      if (c.includes('--force-new-cluster')) return ((forced = true), {});
      if (c.startsWith('docker node ls'))
        return forced ? { stdout: 'a m1 Ready Leader\nb m2 Down Unreachable\n' } : NO_LEADER;
      if (c.includes('join-token')) return { stdout: 'SWMTKN-1-m\n' };
      return {};
    });
  const member = (t: AnsweringTarget, hostname: string) => ({ target: t, ip: t.address, hostname });

  it('recovers a quorum lost for good (the other manager came back empty) with a new cluster, then rejoins it after removing its stale node', async () => {
    forced = false;
    const m1 = lead();
    const m2 = new AnsweringTarget('m2', '10.0.0.2', (c) =>
      c.startsWith('docker info') ? { stdout: 'inactive false \n' } : {},
    );
    const changed = await ensureClusterSwarm([member(m1, 'm1'), member(m2, 'm2')], []);
    expect(changed[0]).to.match(/^new cluster from m1/);
    const cmds = m1.calls.map((c) => c.command);
    expect(cmds).to.include('docker swarm init --force-new-cluster --advertise-addr 10.0.0.1');
    expect(cmds.indexOf('docker node demote b')).to.be.lessThan(cmds.indexOf('docker node rm --force b'));
    const join = m2.calls.find((c) => c.command.includes('/swarm/join'))!;
    expect(join.command).to.not.include('SWMTKN');
    expect(JSON.parse(join.stdin!)).to.deep.equal({
      ListenAddr: '0.0.0.0:2377',
      AdvertiseAddr: '10.0.0.2',
      RemoteAddrs: ['10.0.0.1:2377'],
      JoinToken: 'SWMTKN-1-m',
    });
  });

  it('never forces a new cluster while another master still holds the swarm (it may only be unreachable)', async () => {
    forced = false;
    const m1 = lead();
    const m2 = new AnsweringTarget('m2', '10.0.0.2', (c) =>
      c.startsWith('docker info') ? { stdout: 'active true 10.0.0.2\n' } : {},
    );
    await ensureClusterSwarm([member(m1, 'm1'), member(m2, 'm2')], []).then(
      () => expect.fail('should throw'),
      (e: PaasboxError) =>
        expect(e.problem).to.match(/has no leader, and other masters still hold swarm state/),
    );
    expect(m1.calls.some((c) => c.command.includes('force-new-cluster'))).to.equal(false);
  });

  it('labels the agents (deploy places apps by the label); the check wants the label, a second run adds none', async () => {
    let labelled = false;
    const m1 = new AnsweringTarget('m1', '10.0.0.1', (c) => {
      if (c.startsWith('docker info')) return { stdout: 'active true 10.0.0.1\n' };
      if (c.startsWith('docker node ls')) return { stdout: 'a m1 Ready Leader\nb a1 Ready \n' };
      if (c.startsWith('docker node inspect'))
        return { stdout: `m1 10.0.0.2 ready \na1 10.0.0.4 ready ${labelled ? 'agent' : ''}\n` };
      if (c.startsWith('docker node update --label-add')) return ((labelled = true), {});
      return {};
    });
    const a1 = new AnsweringTarget('a1', '10.0.0.9', (c) =>
      c.startsWith('docker info') ? { stdout: 'active false 10.0.0.9\n' } : {},
    );
    const masters = [member(m1, 'm1')];
    const agents = [member(a1, 'a1')];
    expect(await clusterSwarmGaps(masters, agents)).to.deep.equal(['a1 not labelled paasbox.role=agent']);
    expect(await ensureClusterSwarm(masters, agents)).to.deep.equal(['a1 labelled paasbox.role=agent']);
    expect(m1.ran).to.include('docker node update --label-add paasbox.role=agent a1');
    expect(await clusterSwarmGaps(masters, agents)).to.deep.equal([]);
    expect(await ensureClusterSwarm(masters, agents)).to.deep.equal([]);
  });
});
