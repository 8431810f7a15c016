// Changing a cluster's hosts: which recorded agents --remove takes out and
// what install refuses (planMembership), and the removal plan run against a
// simulated swarm and Consul: maintenance, drain, wait until the tasks run
// elsewhere, leave, stack down, swarm leave, node rm, in that order; a second
// run all ok; the last agent with tasks refused; a host that is gone forced
// out from a manager.
import { expect } from 'chai';
import { planMembership, type RecordedMember } from '../../../src/instance/membership.js';
import { PaasboxError } from '../../../src/errors.js';
import { Progress } from '../../../src/progress.js';
import { removeClusterHost } from '../../../src/provision/cluster.js';
import { drainState } from '../../../src/swarm/removal.js';
import type { ExecResult, Target } from '../../../src/target/target.js';
import { thrown } from '../../helpers/failure.js';

const MARK = '\n__paasbox_http_status__=';
const member = (ip: string, role: 'master' | 'agent'): RecordedMember => ({
  ssh: { host: ip, port: 22 },
  ip,
  hostname: `h${ip.split('.')[3]}`,
  role,
});
const recorded = [
  member('10.1.0.1', 'master'),
  member('10.1.0.2', 'master'),
  member('10.1.0.3', 'master'),
  member('10.1.0.21', 'agent'),
  member('10.1.0.22', 'agent'),
];
const at = (host: string, port = 22) => ({ host, port });

function refused(fn: () => unknown, ...parts: string[]): void {
  const e = thrown(fn);
  for (const p of parts) expect(`${e.problem} ${e.fix}`).to.include(p);
}

describe("a cluster's hosts change: adding and removing agents", () => {
  describe('planMembership', () => {
    const all = recorded.map((m) => at(m.ip));
    it('the same hosts, or one more, remove nothing', () => {
      expect(planMembership(recorded, all, [], 'cl')).to.deep.equal([]);
      expect(planMembership(recorded, [...all, at('10.1.0.23')], [], 'cl')).to.deep.equal([]);
      expect(planMembership([], all, [], 'cl')).to.deep.equal([]);
    });

    it('--remove takes a recorded agent out, by SSH address or advertised address', () => {
      expect(planMembership(recorded, all.slice(0, 4), [at('10.1.0.22')], 'cl')).to.deep.equal([recorded[4]]);
      const viaAlias = [{ ...recorded[4]!, ssh: { host: 'gw', port: 2222 } }];
      expect(
        planMembership([...recorded.slice(0, 4), ...viaAlias], all.slice(0, 4), [at('gw', 2222)], 'cl'),
      ).to.deep.equal(viaAlias);
    });

    it('refuses a host left out without --remove (naming it and both fixes), a master, an unknown host, a host kept and removed', () => {
      refused(
        () => planMembership(recorded, all.slice(0, 4), [], 'cl'),
        '10.1.0.22 (agent) is in cluster cl but not in --masters/--agents',
        '--remove 10.1.0.22',
        'to keep it, list it',
      );
      refused(
        () => planMembership(recorded, [all[0]!, all[1]!, all[3]!, all[4]!], [at('10.1.0.3')], 'cl'),
        '10.1.0.3 is a master',
        'only agents can be removed',
      );
      refused(() => planMembership(recorded, all, [at('10.1.0.99')], 'cl'), 'not a host of cluster cl');
      refused(
        () => planMembership(recorded, all, [at('10.1.0.22')], 'cl'),
        'both in --masters/--agents and in --remove',
      );
    });
  });

  it('drainState: tasks still on the node, services short of their replicas', () => {
    expect(drainState('', 'python1 2/2\npython2 2/2 (max 1 per node)\n')).to.deep.equal({
      onNode: 0,
      short: [],
    });
    expect(
      drainState('Shutdown 3 seconds ago\nFailed 2 hours ago\nComplete 1 hour ago\n', 'python1 2/2\n'),
    ).to.deep.equal({ onNode: 0, short: [] });
    // Just drained: the task is still Running (its desired state is shutdown), and the count may still
    // include it.
    expect(
      drainState('Running 5 minutes ago\nStarting 1 second ago\nShutdown 1 hour ago\n', 'python1 2/2\n'),
    ).to.deep.equal({ onNode: 2, short: [] });
    expect(drainState('Preparing 1 second ago\n', 'python1 1/2\npython2 2/2\n')).to.deep.equal({
      onNode: 1,
      short: ['python1 1/2'],
    });
  });

  describe('removeClusterHost against a simulated swarm and Consul', () => {
    /** One leaving agent a2 (10.1.0.22) with one python1 task, another agent a1, a manager m1. */
    function world(opts: { otherWorker?: boolean; reachable?: boolean } = {}) {
      const st = {
        maint: false,
        left: false,
        stackUp: true,
        inSwarm: true,
        node: true,
        drain: false,
        polls: 0,
        forceLeft: false,
      };
      const log: string[] = [];
      const http = (body: string, status = 200) => ({ stdout: `${body}${MARK}${status}` });
      const leaving = {
        name: 'root@10.1.0.22:22',
        address: '10.1.0.22',
        exec: async (cmd: string): Promise<ExecResult> => {
          if (opts.reachable === false) throw new Error('connect ECONNREFUSED');
          const r = ((): Partial<ExecResult> => {
            if (cmd === 'true') return {};
            if (cmd.startsWith('for t in curl')) return { stdout: 'curl\ndocker\n' };
            if (cmd.includes('/v1/agent/checks')) return http(st.maint ? '{"_node_maintenance":{}}' : '{}');
            if (cmd.includes('/v1/agent/maintenance'))
              return (log.push('consul maint'), (st.maint = true), http(''));
            if (cmd.includes('/v1/agent/leave'))
              return (log.push('consul leave'), (st.left = true), http(''));
            if (cmd.startsWith('cat '))
              return {
                stdout:
                  'services: {}\nx-paasbox: { stack: paasbox, source: local, hostname: h22, ip: 10.1.0.22, domain: consul, project: paasbox, omitted: {}, elsewhere: [] }\n',
              };
            if (cmd === 'docker-compose version')
              return { stdout: 'docker-compose version 1.29.2, build unknown\n' };
            if (cmd === 'docker compose version') return { code: 1 };
            if (cmd.startsWith('docker ps -q')) return { stdout: st.stackUp ? 'c1\nc2\n' : '' };
            if (cmd.includes(' down --remove-orphans'))
              return (log.push('stack down'), (st.stackUp = false), {});
            if (cmd.includes('LocalNodeState')) return { stdout: st.inSwarm ? 'active\n' : 'inactive\n' };
            if (cmd === 'docker swarm leave') return (log.push('swarm leave'), (st.inSwarm = false), {});
            return { code: 127, stderr: `unexpected: ${cmd}` };
          })();
          return { code: 0, stdout: '', stderr: '', ...r };
        },
        facts: async () => ({ hostname: 'a2' }),
        close: async () => undefined,
      } as unknown as Target;
      const manager = {
        name: 'root@10.1.0.1:22',
        address: '10.1.0.1',
        exec: async (cmd: string): Promise<ExecResult> => {
          const r = ((): Partial<ExecResult> => {
            if (cmd === 'docker node ls -q') return { stdout: 'x\n' };
            if (cmd.startsWith('for t in curl')) return { stdout: 'curl\n' };
            if (/--format '\{\{\.ID\}\}' (a2|h22)$/.test(cmd))
              return st.node ? { stdout: 'n2\n' } : { code: 1, stderr: 'No such node' };
            if (cmd.includes('{{.Spec.Availability}}')) return { stdout: st.drain ? 'drain\n' : 'active\n' };
            if (/^docker node ps (a2|h22) --filter desired-state=running/.test(cmd))
              return { stdout: st.drain ? '' : 'python1.2\n' };
            if (/^docker node ps (a2|h22) --format/.test(cmd)) {
              // Right after the drain its task is still Running (desired: shutdown); then it is shut down.
              if (!st.drain) return { stdout: 'Running 5 minutes ago\n' };
              return {
                stdout:
                  st.polls++ < 1
                    ? 'Running 5 minutes ago\nShutdown 2 hours ago\n'
                    : 'Shutdown 1 second ago\nShutdown 2 hours ago\n',
              };
            }
            if (cmd.startsWith('docker service ls'))
              return { stdout: st.drain && st.polls < 2 ? 'python1 1/2\n' : 'python1 2/2\n' };
            if (cmd.includes('--filter role=worker'))
              return { stdout: `a2 Ready Active\n${opts.otherWorker === false ? '' : 'a1 Ready Active\n'}` };
            if (/--availability drain (a2|h22)$/.test(cmd)) return (log.push('drain'), (st.drain = true), {});
            if (/docker node rm --force (a2|h22)$/.test(cmd))
              return (log.push('node rm'), (st.node = false), {});
            if (cmd.includes('/v1/agent/members'))
              return http(JSON.stringify([{ Name: 'h22', Status: st.forceLeft ? 3 : 4 }]));
            if (cmd.includes('/v1/agent/force-leave/h22'))
              return (log.push('force-leave'), (st.forceLeft = true), http(''));
            return { code: 127, stderr: `unexpected: ${cmd}` };
          })();
          return { code: 0, stdout: '', stderr: '', ...r };
        },
      } as unknown as Target;
      return { st, log, leaving, manager };
    }
    const quiet = () => new Progress({ json: true });

    it('maintenance, drain, wait until the tasks run elsewhere, leave and stack down, swarm leave, node rm; a second run is all ok', async () => {
      const w = world();
      const r = await removeClusterHost(
        { target: w.leaving, ip: '10.1.0.22', node: 'h22' },
        [{ target: w.manager, ip: '10.1.0.1' }],
        quiet(),
        { pollMs: 1 },
      );
      expect(w.log).to.deep.equal([
        'consul maint',
        'drain',
        'consul leave',
        'stack down',
        'swarm leave',
        'node rm',
      ]);
      expect(r.steps.map((s) => [s.step, s.status])).to.deep.equal([
        ['consul maintenance on h22', 'changed'],
        ['swarm drain h22', 'changed'],
        ['tasks moved off h22', 'changed'],
        ['consul leave and stack down on h22', 'changed'],
        ['swarm leave on h22', 'changed'],
        ['swarm node rm h22', 'changed'],
      ]);
      expect(w.st.polls, 'waited for the task to leave the node').to.be.greaterThan(1);
      const again = await removeClusterHost(
        { target: w.leaving, ip: '10.1.0.22', node: 'h22' },
        [{ target: w.manager, ip: '10.1.0.1' }],
        quiet(),
        { pollMs: 1 },
      );
      expect(again.steps.map((s) => s.status)).to.deep.equal(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    });

    it('refuses to drain the last agent while tasks run on it, before anything is drained', async () => {
      const w = world({ otherWorker: false });
      const e = await removeClusterHost(
        { target: w.leaving, ip: '10.1.0.22', node: 'h22' },
        [{ target: w.manager, ip: '10.1.0.1' }],
        quiet(),
        { pollMs: 1 },
      ).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).to.be.instanceOf(PaasboxError);
      expect(`${(e as PaasboxError).problem} ${(e as PaasboxError).detail ?? ''}`).to.include('last agent');
      expect(w.log).to.deep.equal(['consul maint']);
      expect(w.st.drain).to.equal(false);
    });

    it('a host that is gone is forced out from a manager: drained, Consul force-leave, node removed', async () => {
      const w = world({ reachable: false });
      const r = await removeClusterHost(
        { target: w.leaving, ip: '10.1.0.22', node: 'h22' },
        [{ target: w.manager, ip: '10.1.0.1' }],
        quiet(),
        { pollMs: 1 },
      );
      expect(r.steps.map((s) => s.step)).to.deep.equal([
        'swarm drain h22',
        'tasks moved off h22',
        'consul force-leave h22 (unreachable)',
        'swarm node rm h22',
      ]);
      expect(w.log).to.deep.equal(['drain', 'force-leave', 'node rm']);
    });
  });
});
