// Container and image state for verify (parsing itself: spec/unit/docker),
// including the race where a container disappears between `docker ps` and
// `docker inspect`, and a target whose docker does not answer.
import { expect } from 'chai';
import { forService, inspectAll, presentImages } from '../../../src/verify/docker.js';
import { inspectJson, ok, ScriptedTarget } from '../../helpers/scripted-target.js';

describe('verify: docker state', () => {
  const json = JSON.stringify([
    inspectJson({ name: 'paasbox-consul-1', service: 'consul', health: 'healthy', restartCount: 2 }),
    inspectJson({
      name: 'web-1',
      service: 'web',
      project: 'apps',
      published: [31001, 31002],
      status: 'exited',
      restartPolicy: 'no',
    }),
  ]);

  it('reads every container as root and picks a compose service case-insensitively by project', async () => {
    const t = new ScriptedTarget('h', (cmd) =>
      cmd.includes('docker ps -aq') ? ok(json) : { code: 1, stdout: '', stderr: 'unexpected' },
    );
    const all = await inspectAll(t);
    expect(all.map((c) => c.name)).to.deep.equal(['paasbox-consul-1', 'web-1']);
    expect(forService(all, 'PAASBOX', 'consul').map((c) => c.name)).to.deep.equal(['paasbox-consul-1']);
    expect(forService(all, 'apps', 'web')[0]).to.include({ running: false, status: 'exited', exitCode: 137 });
    expect(forService(all, 'paasbox', 'web')).to.have.length(0);
  });

  it('keeps what inspect printed when a container vanished between ps and inspect; fails when docker is unreachable', async () => {
    const raced = new ScriptedTarget('h', () => ({
      code: 1,
      stdout: json,
      stderr: 'Error: No such object: 0123abcd',
    }));
    expect(await inspectAll(raced)).to.have.length(2);
    const down = new ScriptedTarget('h', () => ({
      code: 1,
      stdout: '',
      stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock',
    }));
    let err: unknown;
    try {
      await inspectAll(down);
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/docker on h: Cannot connect to the Docker daemon/);
  });

  it('says which images are present, and none when docker does not answer', async () => {
    const there = new ScriptedTarget('h', (cmd) =>
      cmd.includes('docker image inspect')
        ? ok('mesosphere/marathon:v1\tsha256:aa\tnull\nmesosphere/mesos:1\t\n')
        : { code: 1, stdout: '', stderr: 'unexpected' },
    );
    expect([...(await presentImages(there, ['mesosphere/marathon:v1', 'mesosphere/mesos:1']))]).to.deep.equal(
      ['mesosphere/marathon:v1'],
    );
    const down = new ScriptedTarget('h', () => ({
      code: 1,
      stdout: '',
      stderr: 'Cannot connect to the Docker daemon',
    }));
    expect([...(await presentImages(down, ['mesosphere/marathon:v1']))]).to.deep.equal([]);
    expect([...(await presentImages(down, []))]).to.deep.equal([]);
  });
});
