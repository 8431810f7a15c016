import { expect } from 'chai';
import { PaasboxError } from '../../src/errors.js';
import { detectComposeTool, parseComposeVersion } from '../../src/compose/tool.js';
import { isReady, parseInspect, parsePsIds } from '../../src/compose/status.js';
import { StackControl } from '../../src/compose/control.js';
import type { ExecResult } from '../../src/target/target.js';
import { AnsweringTarget } from '../helpers/answering-target.js';

/** The compose tests' fake host: name 'fake', address 10.0.0.9. */
const fake = (answer: (cmd: string) => Partial<ExecResult>) => new AnsweringTarget('fake', '10.0.0.9', answer);

const notFound = { code: 127, stderr: 'not found' };

describe('compose tool detection', () => {
  it('parses v1 and v2 version lines', () => {
    expect(parseComposeVersion('docker-compose version 1.29.2, build unknown')).to.equal('1.29.2');
    expect(parseComposeVersion('Docker Compose version v2.24.6')).to.equal('2.24.6');
    expect(parseComposeVersion("docker: 'compose' is not a docker command.")).to.equal(undefined);
  });
  it('prefers docker compose (v2) when it works', async () => {
    const t = fake((c) => (c === 'docker compose version' ? { stdout: 'Docker Compose version v2.24.6\n' } : { stdout: 'docker-compose version 1.29.2, build x' }));
    expect(await detectComposeTool(t)).to.deep.equal({ kind: 'v2', argv: ['docker', 'compose'], version: '2.24.6' });
  });
  it('falls back to docker-compose (v1)', async () => {
    const t = fake((c) => (c === 'docker compose version' ? { code: 1, stderr: "docker: 'compose' is not a docker command." } : { stdout: 'docker-compose version 1.29.2, build unknown' }));
    expect(await detectComposeTool(t)).to.deep.equal({ kind: 'v1', argv: ['docker-compose'], version: '1.29.2' });
  });
  it('names the missing tool and the fix when there is none, and rejects v1 older than 1.27', async () => {
    for (const [answer, msg] of [
      [() => notFound, 'no compose tool on fake'],
      [(c: string) => (c.startsWith('docker-compose') ? { stdout: 'docker-compose version 1.25.0, build x' } : notFound), 'docker-compose 1.25.0 on fake is too old'],
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
    { Id: 'a', Name: '/paasbox_consul_1', RestartCount: 0, State: { Status: 'running', Health: { Status: 'healthy' } }, HostConfig: { RestartPolicy: { Name: 'unless-stopped' } }, Config: { Labels: { 'com.docker.compose.service': 'consul' } } },
    { Id: 'b', Name: '/paasbox_dns_1', RestartCount: 4, State: { Status: 'restarting' }, HostConfig: { RestartPolicy: { Name: 'unless-stopped' } }, Config: { Labels: { 'com.docker.compose.service': 'dns' } } },
    { Id: 'c', Name: '/paasbox_registrator_1', RestartCount: 0, State: { Status: 'running' }, HostConfig: { RestartPolicy: { Name: '' } }, Config: { Labels: { 'com.docker.compose.service': 'registrator' } } },
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
  it('reads ids from docker ps json lines', () => {
    expect(parsePsIds('{"ID":"32a190eb06b5","Names":"x"}\n{"ID":"bdbb8a848ad3"}\n')).to.deep.equal(['32a190eb06b5', 'bdbb8a848ad3']);
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
      JSON.stringify([{ Id: 'a', Name: '/p_consul_1', State: { Status: 'running', Health: { Status: healthy ? 'healthy' : 'starting' } }, Config: { Labels: { 'com.docker.compose.service': 'consul' } } }]);
    const answer = (ready: () => boolean) => (c: string): Partial<ExecResult> => {
      if (c.endsWith('config --services')) return { stdout: 'consul\n' };
      if (c.startsWith('docker ps')) return { stdout: '{"ID":"a"}\n' };
      if (c.startsWith('docker inspect')) return { stdout: states(ready()) };
      if (c.includes(' logs ')) return { stdout: 'consul | waiting for leader' };
      return {};
    };
    const ok = await new StackControl(fake(answer(() => ++polls >= 3)), '/f.yml', 'p', { tool }).waitHealthy(10_000, undefined, { intervalMs: 1 });
    expect(ok[0]).to.include({ service: 'consul', health: 'healthy' });
    expect(polls).to.equal(3);
    let err: unknown;
    try {
      await new StackControl(fake(answer(() => false)), '/f.yml', 'p', { tool }).waitHealthy(30, undefined, { intervalMs: 5 });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(PaasboxError);
    expect((err as PaasboxError).problem).to.include('consul running/starting');
    expect((err as PaasboxError).detail).to.include('waiting for leader');
  });
});
