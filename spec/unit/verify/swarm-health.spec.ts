// The swarm-health judge behind verify's host/swarm/manager check and the
// swarm line of `paasbox status`: fed SWARM_HEALTH_COMMAND's output as docker
// prints it for a healthy manager, a manager Down, no leader, a hang, an
// error state, no swarm at all and a worker.
import { expect } from 'chai';
import {
  judgeSwarmHealth,
  SWARM_FIX,
  SWARM_HEALTH_COMMAND,
  swarmLine,
} from '../../../src/verify/swarm-health.js';

const info = (o: Record<string, unknown>, code = 0) =>
  `${JSON.stringify({ NodeID: 'n1', NodeAddr: '10.0.0.5', ...o })}\n@@info ${code}\n`;
const manager = info({ LocalNodeState: 'active', ControlAvailable: true, Error: '' });
const nodes = (lines: string[], code = 0) =>
  `${lines.join('\n')}${lines.length ? '\n' : ''}@@nodes ${code}\n`;

describe('swarm health (verify host/swarm/manager, status)', () => {
  it('bounds docker info and docker node ls with a 10 s timeout, each followed by its exit code', () => {
    expect(SWARM_HEALTH_COMMAND).to.include(
      '$T docker info --format \'{{json .Swarm}}\' 2>&1; echo "@@info $?"',
    );
    expect(SWARM_HEALTH_COMMAND).to.include("T='timeout 10'");
    expect(SWARM_HEALTH_COMMAND).to.match(/\$T docker node ls --format .* 2>&1; echo "@@nodes \$\?"/);
  });

  it('healthy: this node a Ready manager, a leader', () => {
    const h = judgeSwarmHealth(manager + nodes(['n1 h1 Ready Leader']));
    expect(h).to.deep.equal({ state: 'ok', got: 'manager h1 Ready/Leader, 1 manager, leader h1' });
    expect(
      judgeSwarmHealth(
        manager +
          nodes(['n1 h1 Ready Reachable', 'n2 h2 Ready Leader', 'n3 h3 Ready Reachable', 'w1 h4 Down']),
      ).state,
    ).to.equal('ok');
  });

  it('a manager Down or Unreachable fails, naming it', () => {
    const h = judgeSwarmHealth(manager + nodes(['n1 h1 Down Leader']));
    expect(h).to.deep.equal({
      state: 'failed',
      got: 'manager not Ready and reachable: h1 Down/Leader',
      fix: SWARM_FIX,
    });
    const other = judgeSwarmHealth(
      manager + nodes(['n1 h1 Ready Leader', 'n2 h2 Ready Unreachable', 'n3 h3 Unknown Reachable']),
    );
    expect(other.got).to.equal(
      'managers not Ready and reachable: h2 Ready/Unreachable, h3 Unknown/Reachable',
    );
  });

  it("no leader fails, in docker's words", () => {
    const said =
      "Error response from daemon: rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online.";
    const h = judgeSwarmHealth(manager + nodes([said], 1));
    expect(h.state).to.equal('failed');
    expect(h.got).to.match(/^the swarm has no leader \(rpc error: .*does not have a leader/);
    expect(judgeSwarmHealth(manager + nodes(['n1 h1 Ready Reachable'])).got).to.equal(
      'the swarm has no leader',
    );
  });

  it('a hang is a failure: timeout(1) exits 124, or the command was cut off before its marker', () => {
    expect(judgeSwarmHealth(manager + nodes([], 124))).to.deep.equal({
      state: 'failed',
      got: 'docker node ls did not answer within 10 s',
      fix: SWARM_FIX,
    });
    expect(judgeSwarmHealth(manager).got).to.equal('docker node ls did not answer within 10 s');
    expect(judgeSwarmHealth('@@info 124\n').got).to.equal('docker info did not answer within 10 s');
    expect(judgeSwarmHealth('').got).to.equal('docker info did not answer within 10 s');
  });

  it('an error or locked state fails; docker not answering fails', () => {
    expect(
      judgeSwarmHealth(
        info({ LocalNodeState: 'error', Error: "manager stopped: can't initialize raft node" }),
      ).got,
    ).to.equal("the swarm node is error: manager stopped: can't initialize raft node");
    expect(
      judgeSwarmHealth(
        info({
          LocalNodeState: 'active',
          ControlAvailable: true,
          Error: 'rpc error: code = DeadlineExceeded',
        }),
      ).got,
    ).to.equal('the swarm node reports an error: rpc error: code = DeadlineExceeded');
    expect(judgeSwarmHealth(info({ LocalNodeState: 'locked' })).got).to.match(/locked .*docker swarm unlock/);
    expect(
      judgeSwarmHealth('Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n@@info 1\n').got,
    ).to.equal('docker info failed: Cannot connect to the Docker daemon at unix:///var/run/docker.sock.');
  });

  it('no swarm (no app deployed yet) is no failure; a worker is judged on the masters', () => {
    const none = judgeSwarmHealth(
      `WARNING: bridge-nf-call-iptables is disabled\n${info({ LocalNodeState: 'inactive' })}${nodes(['Error response from daemon: This node is not a swarm manager.'], 1)}`,
    );
    expect(none).to.deep.equal({ state: 'none', got: 'no swarm on this host (no app deployed yet)' });
    expect(
      judgeSwarmHealth(
        info({ LocalNodeState: 'active', ControlAvailable: false }) + nodes(['not a manager'], 1),
      ).state,
    ).to.equal('ok');
  });

  it('status prints one line, and the fix when unhealthy', () => {
    expect(swarmLine({ state: 'none', got: 'no swarm on this host (no app deployed yet)' })).to.equal(
      'swarm: no swarm on this host (no app deployed yet)\n',
    );
    expect(swarmLine({ state: 'failed', got: 'the swarm has no leader', fix: SWARM_FIX })).to.equal(
      `swarm: UNHEALTHY: the swarm has no leader\n  fix: ${SWARM_FIX}\n`,
    );
  });
});
