// Container state from docker inspect, including the race where a container
// disappears between `docker ps` and `docker inspect`.
import { expect } from 'chai';
import { forService, inspectAll, parseInspect } from '../../../src/verify/docker.js';
import { inspectJson, ScriptedTarget } from '../../helpers/scripted-target.js';

describe('verify: docker state', () => {
  const json = JSON.stringify([
    inspectJson({ name: 'paasbox-consul-1', service: 'consul', health: 'healthy', restartCount: 2 }),
    inspectJson({ name: 'web-1', service: 'web', project: 'apps', published: [31001, 31002], status: 'exited', restartPolicy: 'no' }),
  ]);

  it('reduces inspect JSON to what verify judges', () => {
    const [consul, web] = parseInspect(json);
    expect(consul).to.include({ name: 'paasbox-consul-1', project: 'paasbox', service: 'consul', running: true, health: 'healthy', restartCount: 2, restartPolicy: 'unless-stopped', networkMode: 'host' });
    expect(web).to.include({ running: false, status: 'exited', exitCode: 137, restartPolicy: 'no' });
    expect(web?.publishedPorts).to.deep.equal([31001, 31002]);
    expect(forService(parseInspect(json), 'PAASBOX', 'consul')).to.have.length(1);
  });

  it('keeps what inspect printed when a container vanished between ps and inspect; fails when docker is unreachable', async () => {
    const raced = new ScriptedTarget('h', () => ({ code: 1, stdout: json, stderr: 'Error: No such object: 0123abcd' }));
    expect(await inspectAll(raced)).to.have.length(2);
    const down = new ScriptedTarget('h', () => ({ code: 1, stdout: '', stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock' }));
    let err: unknown;
    try {
      await inspectAll(down);
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/docker on h: Cannot connect to the Docker daemon/);
  });
});
