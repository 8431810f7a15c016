// SwarmScheduler against a scripted fake Target: which docker commands it
// runs to deploy, scale, destroy and await an app, and how failures read.
import { expect } from 'chai';
import { AnsweringTarget } from '../helpers/answering-target.js';
import { SwarmScheduler } from '../../src/scheduler/swarm.js';
import { PaasboxError } from '../../src/errors.js';

describe('SwarmScheduler (fake target)', () => {
  const app = {
    id: '/python1',
    instances: 2,
    mem: 64,
    container: { type: 'DOCKER' as const, docker: { image: 'web:1' } },
  };

  it('creates a new service and updates an existing one, removing the mounts the app no longer has', async () => {
    let exists = false;
    const m = new AnsweringTarget('m', '10.0.0.2', (c) =>
      c.startsWith('docker service inspect')
        ? exists
          ? { stdout: '/python1 /old /data\n' }
          : { code: 1, stderr: 'no such service' }
        : {},
    );
    const s = new SwarmScheduler(m);
    expect(await s.deploy(app)).to.deep.equal({ created: true, warnings: [] });
    expect(m.calls.at(-1)!.command).to.match(
      /^docker service create --detach --name python1 --replicas 2 .* web:1$/,
    );
    exists = true;
    const withData = {
      ...app,
      container: {
        ...app.container,
        volumes: [{ containerPath: '/data', hostPath: '/srv/paasbox/apps/python1/d' }],
      },
    };
    expect((await s.deploy(withData)).created).to.equal(false);
    expect(m.calls.at(-1)!.command).to.match(
      /^docker service update --detach --replicas 2 .* --image web:1 --mount-rm \/old python1$/,
    );
  });

  it("refuses to update, scale or destroy a service that is another app's or no app's", async () => {
    for (const owner of ['/python1-x', '']) {
      const m = new AnsweringTarget('m', '10.0.0.2', (c) =>
        c.startsWith('docker service inspect') ? { stdout: `${owner}\n` } : {},
      );
      const s = new SwarmScheduler(m);
      for (const op of [() => s.deploy(app), () => s.scale('/python1', 1), () => s.destroy('/python1')]) {
        const e = (await op().then(
          () => undefined,
          (x: unknown) => x,
        )) as PaasboxError;
        expect(e.problem).to.match(
          /^the swarm service python1 is (app \/python1-x's|no app's), not \/python1's$/,
        );
      }
      expect(m.ran.filter((c) => /service (create|update|scale|rm)/.test(c))).to.deep.equal([]);
    }
  });

  it('scales with docker service scale and destroys idempotently', async () => {
    let exists = true;
    const m = new AnsweringTarget('m', '10.0.0.2', (c) =>
      c.startsWith('docker service inspect') ? (exists ? { stdout: '/python1\n' } : { code: 1 }) : {},
    );
    const s = new SwarmScheduler(m);
    await s.scale('/python1', 4);
    expect(m.calls.at(-1)!.command).to.equal('docker service scale --detach python1=4');
    expect(await s.destroy('/python1')).to.equal(true);
    expect(m.calls.at(-1)!.command).to.equal('docker service rm python1');
    exists = false;
    expect(await s.destroy('/python1')).to.equal(false);
    await s.scale('/python1', 2).then(
      () => expect.fail('should throw'),
      (e: PaasboxError) => expect(e.fix).to.equal('deploy it first'),
    );
  });

  it("waitReady does not wait for a lost node's task to stop (it never reports), but does for a live node's", async () => {
    const task = (id: string, node: string, desired: string) =>
      JSON.stringify({
        ID: id,
        Name: `python1.${id}`,
        Node: node,
        DesiredState: desired,
        CurrentState: 'Running 2 minutes ago',
        Error: '',
        Ports: '*:31001->8080/tcp',
      });
    let lostState = 'down';
    const m = new AnsweringTarget('m', '10.0.0.2', (c) =>
      c.includes('Replicas}}')
        ? { stdout: '1\n' }
        : c.startsWith('docker service ps')
          ? { stdout: [task('new', 'a2', 'Running'), task('old', 'a1', 'Shutdown')].join('\n') + '\n' }
          : c.startsWith('docker node inspect')
            ? { stdout: `a1 10.0.0.4 ${lostState} agent\na2 10.0.0.5 ready agent\n` }
            : {},
    );
    const ready = await new SwarmScheduler(m, { pollMs: 1 }).waitReady('/python1', 5000);
    expect(ready.map((i) => i.host)).to.deep.equal(['10.0.0.5']);
    lostState = 'ready'; // a live node still running the old task: it still serves, so not ready yet
    await new SwarmScheduler(m, { pollMs: 1 }).waitReady('/python1', 50).then(
      () => expect.fail('should wait'),
      (e: PaasboxError) =>
        expect(e.problem).to.match(/timed out after 0.1 s waiting for app \/python1 to be ready/),
    );
  });

  it('waitReady waits while an update still rolls, and reads the count and the update from one inspect', async () => {
    const task = (id: string) =>
      JSON.stringify({
        ID: id,
        Name: `python1.${id}`,
        Node: 'a2',
        DesiredState: 'Running',
        CurrentState: 'Running 1 second ago',
        Error: '',
        Ports: '*:31001->8080/tcp',
      });
    let update = 'updating';
    const m = new AnsweringTarget('m', '10.0.0.2', (c) =>
      c.includes('Replicas}}')
        ? { stdout: `2 ${update}\n` }
        : c.startsWith('docker service ps')
          ? { stdout: [task('t1'), task('t2')].join('\n') + '\n' }
          : c.startsWith('docker node inspect')
            ? { stdout: 'a2 10.0.0.5 ready agent\n' }
            : {},
    );
    await new SwarmScheduler(m, { pollMs: 1 }).waitReady('/python1', 50).then(
      () => expect.fail('should wait for the update'),
      (e: PaasboxError) => {
        expect(e.problem).to.match(/timed out after .* waiting for app \/python1 to be ready/);
        expect(e.detail).to.equal('2/2 running (update updating)');
      },
    );
    update = 'completed';
    expect(
      (await new SwarmScheduler(m, { pollMs: 1 }).waitReady('/python1', 5000)).map((i) => i.id),
    ).to.deep.equal(['t1', 't2']);
    // One inspect per poll, beside its one ps.
    expect(m.ran.filter((c) => c.startsWith('docker service inspect')).length).to.equal(
      m.ran.filter((c) => c.startsWith('docker service ps')).length,
    );
  });

  it('waitReady fails fast with the fix when a node lacks the image', async () => {
    const task = {
      ID: 't1',
      Name: 'python1.1',
      Node: 'h2',
      DesiredState: 'Running',
      CurrentState: 'Rejected 1 second ago',
      Error: 'No such image: web:1',
      Ports: '',
    };
    const m = new AnsweringTarget('m', '10.0.0.2', (c) =>
      c.includes('Replicas}}')
        ? { stdout: '2\n' }
        : c.startsWith('docker service ps')
          ? { stdout: JSON.stringify(task) + '\n' }
          : {},
    );
    await new SwarmScheduler(m, { pollMs: 1 }).waitReady('/python1', 5000).then(
      () => expect.fail('should throw'),
      (e: PaasboxError) => {
        expect(e.problem).to.equal('app /python1 cannot start on node h2: No such image: web:1');
        expect(e.fix).to.match(/load the image on every swarm node/);
      },
    );
  });
});
