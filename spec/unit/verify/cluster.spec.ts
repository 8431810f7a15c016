// verify's cluster checks: which exist on which host, and how Consul's
// members, its Raft configuration and ZooKeeper's srvr answers are judged
// (each failure naming the member or master it concerns).
import { expect } from 'chai';
import { resolveSettings } from '../../../src/settings/settings.js';
import { loadStackModel } from '../../../src/model/load.js';
import { parseNodeList } from '../../../src/swarm/nodes.js';
import {
  clusterChecks,
  judgeEnsemble,
  judgeMembers,
  judgeRaft,
  judgeSwarm,
  type ConsulMember,
  type RaftServer,
} from '../../../src/verify/cluster.js';

const model = loadStackModel();
const M = ['10.30.0.1', '10.30.0.2', '10.30.0.3'];
const A = '10.30.0.4';
const file = {
  services: {
    'mesos-master': { enabled: false },
    'mesos-slave': { enabled: false },
    marathon: { enabled: false },
  },
};
const settings = (ip: string, masters = M, agents = [A]) =>
  resolveSettings({ flags: { ip, hostname: 'h', masters, agents }, file }, model);

const member = (Addr: string, Status = 1): ConsulMember => ({ Name: `n-${Addr}`, Addr, Status });
const server = (a: string, Leader = false, Voter = true): RaftServer => ({
  Node: `n-${a}`,
  Address: `${a}:8300`,
  Leader,
  Voter,
});
const srvr = (mode: string) =>
  `Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: ${mode}\nNode count: 5\n`;

describe('verify: the cluster as a whole', () => {
  it('has no cluster checks on one host; on a master the members, Raft and ensemble checks; on an agent the same but Raft (no management token there), naming the host', () => {
    expect(
      clusterChecks(
        model,
        resolveSettings({ flags: { ip: '10.30.0.9', hostname: 'h' }, file }, model),
        'one',
      ),
    ).to.deep.equal([]);
    const master = clusterChecks(model, settings(M[0]!), 'root@m1');
    expect(master.map((c) => c.id)).to.deep.equal([
      'cluster/consul/members',
      'cluster/consul/raft',
      'cluster/swarm/managers',
      'cluster/registry/masters',
      'cluster/zookeeper/ensemble',
    ]);
    expect(master.every((c) => c.host === 'root@m1' && c.description.startsWith('from root@m1:'))).to.equal(
      true,
    );
    expect(clusterChecks(model, settings(A), 'root@a').map((c) => c.id)).to.deep.equal([
      'cluster/consul/members',
      'cluster/swarm/worker',
      'cluster/registry/masters',
      'cluster/zookeeper/ensemble',
    ]);
  });

  it('members: every host alive passes; a failed or missing one fails by its address', () => {
    const hosts = [...M, A];
    expect(
      judgeMembers(
        hosts.map((h) => member(h)),
        hosts,
      ).ok,
    ).to.equal(true);
    const failed = judgeMembers([member(M[0]!), member(M[1]!, 4), member(M[2]!)], hosts);
    expect(failed.ok).to.equal(false);
    expect(failed.got).to.equal('2 alive; 10.30.0.2 (n-10.30.0.2) failed; 10.30.0.4 not a member');
  });

  it('raft: one voter per master and a leader passes; no leader, a missing voter or a stranger fails', () => {
    expect(judgeRaft([server(M[0]!), server(M[1]!, true), server(M[2]!)], M)).to.deep.include({
      ok: true,
      got: '3 servers, leader n-10.30.0.2 (10.30.0.2)',
    });
    expect(judgeRaft([server(M[0]!), server(M[1]!), server(M[2]!)], M)).to.deep.include({
      ok: false,
      got: '3 servers; no leader',
    });
    const odd = judgeRaft([server(M[0]!, true), server(M[1]!, false, false), server('10.30.0.9')], M);
    expect(odd.ok).to.equal(false);
    expect(odd.got)
      .to.include('10.30.0.2 no voter')
      .and.include('10.30.0.3 no voter')
      .and.include('n-10.30.0.9 (10.30.0.9:8300) is no master');
  });

  it('ensemble: one leader and two followers passes; two leaders, a standalone or a silent master fails', () => {
    const answers = (modes: string[]) =>
      M.map((m, i) => ({ master: m, answer: modes[i] ? srvr(modes[i]!) : '' }));
    expect(judgeEnsemble(answers(['follower', 'leader', 'follower']))).to.deep.include({
      ok: true,
      got: '10.30.0.1 follower, 10.30.0.2 leader, 10.30.0.3 follower',
    });
    expect(judgeEnsemble(answers(['leader', 'leader', 'follower'])).ok).to.equal(false);
    expect(judgeEnsemble(answers(['standalone', 'follower', 'follower'])).ok).to.equal(false);
    const silent = judgeEnsemble(answers(['leader', 'follower', '']));
    expect(silent).to.deep.include({
      ok: false,
      got: '10.30.0.1 leader, 10.30.0.2 follower, 10.30.0.3 no answer',
    });
    const lost = judgeEnsemble([
      { master: M[0]!, answer: 'This ZooKeeper instance is not currently serving requests\n' },
      { master: M[1]!, answer: '' },
      { master: M[2]!, answer: '' },
    ]);
    expect(lost).to.deep.include({
      ok: false,
      got: '10.30.0.1 not serving (no quorum), 10.30.0.2 no answer, 10.30.0.3 no answer',
    });
  });

  it('swarm: three reachable managers with a leader and every host ready passes; a lost manager fails by name', () => {
    const ok = parseNodeList('a h1 Ready Leader\nb h2 Ready Reachable\nc h3 Ready Reachable\nd h4 Ready\n');
    expect(judgeSwarm(ok, 3, 4)).to.deep.include({
      ok: true,
      got: '3 reachable managers, leader h1, 4 ready nodes',
    });
    const lost = parseNodeList(
      'a h1 Down Unreachable\nb h2 Ready Leader\nc h3 Ready Reachable\nd h4 Ready\n',
    );
    expect(judgeSwarm(lost, 3, 4)).to.deep.include({
      ok: false,
      got: '2 reachable managers, leader h2, 3 ready nodes; not ready: h1 Down/Unreachable',
    });
  });
});
