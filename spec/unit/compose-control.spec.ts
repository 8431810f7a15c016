import { expect } from 'chai';
import { PaasboxError } from '../../src/errors.js';
import { detectComposeTool, parseComposeVersion } from '../../src/compose/tool.js';
import { isReady, parseInspect } from '../../src/compose/status.js';
import { parsePsIds } from '../../src/docker/facts.js';
import { StackControl } from '../../src/compose/control.js';
import { Progress } from '../../src/progress.js';
import type { ExecResult } from '../../src/target/target.js';
import { AnsweringTarget } from '../helpers/answering-target.js';
import { failure } from '../helpers/failure.js';

/** The compose tests' fake host: name 'fake', address 10.0.0.9. */
const fake = (answer: (cmd: string) => Partial<ExecResult>) =>
  new AnsweringTarget('fake', '10.0.0.9', answer);

const notFound = { code: 127, stderr: 'not found' };

describe('compose tool detection', () => {
  it('parses v1 and v2 version lines', () => {
    expect(parseComposeVersion('docker-compose version 1.29.2, build unknown')).to.equal('1.29.2');
    expect(parseComposeVersion('Docker Compose version v2.24.6')).to.equal('2.24.6');
    expect(parseComposeVersion("docker: 'compose' is not a docker command.")).to.equal(undefined);
  });
  it('prefers docker compose (v2) when it works', async () => {
    const t = fake((c) =>
      c === 'docker compose version'
        ? { stdout: 'Docker Compose version v2.24.6\n' }
        : { stdout: 'docker-compose version 1.29.2, build x' },
    );
    expect(await detectComposeTool(t)).to.deep.equal({
      kind: 'v2',
      argv: ['docker', 'compose'],
      version: '2.24.6',
    });
  });
  it('falls back to docker-compose (v1)', async () => {
    const t = fake((c) =>
      c === 'docker compose version'
        ? { code: 1, stderr: "docker: 'compose' is not a docker command." }
        : { stdout: 'docker-compose version 1.29.2, build unknown' },
    );
    expect(await detectComposeTool(t)).to.deep.equal({
      kind: 'v1',
      argv: ['docker-compose'],
      version: '1.29.2',
    });
  });
  it('names the missing tool and the fix when there is none, and rejects v1 older than 1.27', async () => {
    for (const [answer, msg] of [
      [() => notFound, 'no compose tool on fake'],
      [
        (c: string) =>
          c.startsWith('docker-compose') ? { stdout: 'docker-compose version 1.25.0, build x' } : notFound,
        'docker-compose 1.25.0 on fake is too old',
      ],
    ] as const) {
      let err: unknown;
      try {
        await detectComposeTool(fake(answer));
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(PaasboxError);
      expect((err as PaasboxError).problem).to.include(msg);
      expect((err as PaasboxError).fix).to.match(/install/);
    }
  });
});

describe('compose status parsing', () => {
  const inspect = JSON.stringify([
    {
      Id: 'a',
      Name: '/paasbox_consul_1',
      RestartCount: 0,
      State: { Status: 'running', Health: { Status: 'healthy' } },
      HostConfig: { RestartPolicy: { Name: 'unless-stopped' } },
      Config: { Labels: { 'com.docker.compose.service': 'consul' } },
    },
    {
      Id: 'b',
      Name: '/paasbox_dns_1',
      RestartCount: 4,
      State: { Status: 'restarting' },
      HostConfig: { RestartPolicy: { Name: 'unless-stopped' } },
      Config: { Labels: { 'com.docker.compose.service': 'dns' } },
    },
    {
      Id: 'c',
      Name: '/paasbox_registrator_1',
      RestartCount: 0,
      State: { Status: 'running' },
      HostConfig: { RestartPolicy: { Name: '' } },
      Config: { Labels: { 'com.docker.compose.service': 'registrator' } },
    },
  ]);
  it('reads service, state, health, restart policy and count, in the file order, with missing services', () => {
    const st = parseInspect(inspect, ['zookeeper', 'consul', 'registrator', 'dns']);
    expect(st.map((s) => [s.service, s.state, s.health, s.restartPolicy, s.restartCount])).to.deep.equal([
      ['zookeeper', 'missing', 'none', 'no', 0],
      ['consul', 'running', 'healthy', 'unless-stopped', 0],
      ['registrator', 'running', 'none', 'no', 0],
      ['dns', 'restarting', 'none', 'unless-stopped', 4],
    ]);
    expect(st.map(isReady)).to.deep.equal([false, true, true, false]);
  });
  it("leaves out a swarm task or an app carrying the project's compose labels; refuses an id not in docker's format", () => {
    const labels = { 'com.docker.compose.project': 'paasbox', 'com.docker.compose.service': 'consul' };
    const inspect = JSON.stringify([
      { Id: 'a', Name: '/paasbox-consul-1', State: { Status: 'running' }, Config: { Labels: labels } },
      {
        Id: 'b',
        Name: '/web.1.x',
        State: { Status: 'exited' },
        Config: { Labels: { ...labels, 'com.docker.swarm.task.id': 't' } },
      },
      {
        Id: 'c',
        Name: '/web',
        State: { Status: 'exited' },
        Config: { Labels: { ...labels, 'paasbox.marathon.id': 'web' } },
      },
    ]);
    expect(parseInspect(inspect, ['consul']).map((s) => [s.service, s.state, s.container])).to.deep.equal([
      ['consul', 'running', 'paasbox-consul-1'],
    ]);
    expect(() => parsePsIds('{"ID":"32a190eb06b5; id"}\n')).to.throw(
      /docker ps has a container id "32a190eb06b5; id": not a container id/,
    );
  });

  it('reads ids from docker ps json lines', () => {
    expect(parsePsIds('{"ID":"32a190eb06b5","Names":"x"}\n{"ID":"bdbb8a848ad3"}\n')).to.deep.equal([
      '32a190eb06b5',
      'bdbb8a848ad3',
    ]);
  });
});

describe('StackControl command lines', () => {
  const tool = { kind: 'v1' as const, argv: ['docker-compose'], version: '1.29.2' };
  it('runs compose with project and file, detached up with --remove-orphans, down keeping volumes', async () => {
    const t = fake(() => ({}));
    const ctl = new StackControl(t, '/opt/paasbox/docker compose.yml', 'paasbox', { tool });
    await ctl.up();
    await ctl.restart('consul');
    await ctl.down();
    await ctl.down({ volumes: true });
    await ctl.logs('dns', 20);
    expect(t.ran).to.deep.equal([
      "docker-compose -p paasbox -f '/opt/paasbox/docker compose.yml' up -d --remove-orphans",
      "docker-compose -p paasbox -f '/opt/paasbox/docker compose.yml' restart consul",
      "docker-compose -p paasbox -f '/opt/paasbox/docker compose.yml' down --remove-orphans",
      "docker-compose -p paasbox -f '/opt/paasbox/docker compose.yml' down --remove-orphans -v",
      "docker-compose -p paasbox -f '/opt/paasbox/docker compose.yml' logs --no-color --tail 20 dns",
    ]);
  });
  it('turns a failing compose command into a PaasboxError with the output as detail', async () => {
    const t = fake(() => ({ code: 1, stderr: 'ERROR: pull access denied for consul' }));
    let err: unknown;
    try {
      await new StackControl(t, '/f.yml', 'paasbox', { tool }).up();
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(PaasboxError);
    expect((err as PaasboxError).problem).to.include('starting the stack failed on fake');
    expect((err as PaasboxError).detail).to.include('pull access denied');
  });
  it('waitHealthy returns once all are ready, and times out naming the laggards with their logs', async () => {
    let polls = 0;
    const states = (healthy: boolean) =>
      JSON.stringify([
        {
          Id: 'a',
          Name: '/p_consul_1',
          State: { Status: 'running', Health: { Status: healthy ? 'healthy' : 'starting' } },
          Config: { Labels: { 'com.docker.compose.service': 'consul' } },
        },
      ]);
    const answer =
      (ready: () => boolean) =>
      (c: string): Partial<ExecResult> => {
        if (c.endsWith('config --services')) return { stdout: 'consul\n' };
        if (c.startsWith('docker ps')) return { stdout: '{"ID":"0123456789ab"}\n' };
        if (c.startsWith('docker inspect')) return { stdout: states(ready()) };
        if (c.includes(' logs ')) return { stdout: 'consul | waiting for leader' };
        return {};
      };
    const ok = await new StackControl(fake(answer(() => ++polls >= 3)), '/f.yml', 'p', { tool }).waitHealthy(
      10_000,
      undefined,
      { intervalMs: 1 },
    );
    expect(ok[0]).to.include({ service: 'consul', health: 'healthy' });
    expect(polls).to.equal(3);
    let err: unknown;
    try {
      await new StackControl(fake(answer(() => false)), '/f.yml', 'p', { tool }).waitHealthy(30, undefined, {
        intervalMs: 5,
      });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(PaasboxError);
    expect((err as PaasboxError).problem).to.include('consul running/starting');
    expect((err as PaasboxError).detail).to.include('waiting for leader');
  });
  describe('waitHealthy over a dockerd restart, and why a service is unhealthy', () => {
    const daemonDown = {
      code: 1,
      stderr:
        'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
    };
    const container = (health: string, log: string) =>
      JSON.stringify([
        {
          Id: 'a',
          Name: '/p_consul_1',
          State: {
            Status: 'running',
            Health: { Status: health, Log: [{ Output: 'old probe' }, { Output: log }] },
          },
          Config: { Labels: { 'com.docker.compose.service': 'consul' } },
        },
      ]);
    const lines: string[] = [];
    const progress = () => new Progress({ write: (l) => lines.push(l) });
    beforeEach(() => (lines.length = 0));

    it('waits out docker not answering (said once), and returns when the stack is healthy again', async () => {
      let polls = 0;
      const t = fake((c) => {
        if (c.endsWith('config --services')) return { stdout: 'consul\n' };
        if (c.startsWith('docker ps'))
          return ++polls <= 3 ? daemonDown : { stdout: '{"ID":"0123456789ab"}\n' };
        if (c.startsWith('docker inspect')) return { stdout: container('healthy', 'ok') };
        return {};
      });
      const st = await new StackControl(t, '/f.yml', 'p', { tool }).waitHealthy(10_000, progress(), {
        intervalMs: 1,
      });
      expect(st[0]).to.include({ service: 'consul', health: 'healthy' });
      expect(polls).to.equal(4);
      expect(lines.filter((l) => l.includes('docker does not answer'))).to.have.length(1);
      expect(lines.find((l) => l.includes('docker does not answer')))
        .to.include('Cannot connect to the Docker daemon')
        .and.include('retrying until the deadline');
    });

    it('fails only at the deadline when docker never answers, naming its last error', async () => {
      let polls = 0;
      const t = fake((c) =>
        c.endsWith('config --services')
          ? { stdout: 'consul\n' }
          : c.startsWith('docker ps')
            ? (++polls, daemonDown)
            : {},
      );
      const t0 = Date.now();
      const e = await failure(
        new StackControl(t, '/f.yml', 'p', { tool }).waitHealthy(300, undefined, { intervalMs: 20 }),
      );
      expect(Date.now() - t0).to.be.at.least(290);
      expect(polls).to.be.above(3);
      expect(e.kind).to.equal('target');
      expect(e.problem).to.equal(
        'stack not healthy on fake after 0s: docker did not answer (listing containers failed on fake: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?)',
      );
      expect(e.fix).to.include('dockerd');
    });

    it('a compose file docker compose refuses fails at once, not at the deadline', async () => {
      const t = fake((c) =>
        c.endsWith('config --services')
          ? { code: 15, stderr: 'yaml: line 3: mapping values are not allowed' }
          : {},
      );
      const t0 = Date.now();
      const e = await failure(
        new StackControl(t, '/f.yml', 'p', { tool }).waitHealthy(5000, undefined, { intervalMs: 1 }),
      );
      expect(Date.now() - t0).to.be.below(1000);
      expect(e.detail).to.include('mapping values');
    });

    it('an unhealthy service is reported with its last health check output, in the line and the detail', async () => {
      const t = fake((c) => {
        if (c.endsWith('config --services')) return { stdout: 'consul\n' };
        if (c.startsWith('docker ps')) return { stdout: '{"ID":"0123456789ab"}\n' };
        if (c.startsWith('docker inspect'))
          return {
            stdout: container('unhealthy', 'Error querying Consul agent: 403 (ACL not found)\nsecond line'),
          };
        if (c.includes(' logs ')) return { stdout: 'consul | agent started' };
        return {};
      });
      const e = await failure(
        new StackControl(t, '/f.yml', 'p', { tool }).waitHealthy(30, undefined, { intervalMs: 5 }),
      );
      expect(e.problem).to.equal(
        'stack not healthy on fake after 0s: consul running/unhealthy (health check: Error querying Consul agent: 403 (ACL not found))',
      );
      expect(e.detail)
        .to.include('last health check: Error querying Consul agent: 403 (ACL not found)\nsecond line')
        .and.include('agent started');
      expect(e.detail).to.not.include('old probe');
    });
  });
});
