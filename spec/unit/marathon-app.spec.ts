import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { appProblems, parseApp, validateApp, normaliseId } from '../../src/marathon/app.js';
import { PaasboxError } from '../../src/errors.js';

const example = (n: number): unknown =>
  JSON.parse(readFileSync(new URL(`../../../examples/SimpleWebappPython/deploy${n}_marathon.json`, import.meta.url), 'utf8'));

describe('marathon app definition (validateApp)', () => {
  it('accepts both SimpleWebappPython examples', () => {
    for (const n of [1, 2]) {
      const app = validateApp(example(n));
      expect(app.id).to.equal(`/python${n}`);
      expect(app.instances).to.equal(2);
      expect(app.env?.SERVICE_NAME).to.equal(`python${n}`);
    }
  });

  it('accepts a Marathon < 1.5 document with docker.portMappings and a COMMAND check', () => {
    const app = validateApp({
      id: 'redis',
      cmd: 'redis-server',
      container: { type: 'DOCKER', docker: { image: 'redis', network: 'BRIDGE', portMappings: [{ containerPort: 6379, hostPort: 0 }] } },
      healthChecks: [{ protocol: 'COMMAND', command: { value: 'redis-cli ping' } }],
      constraints: [['hostname', 'UNIQUE']],
    });
    expect(app.container?.docker.portMappings?.[0]?.containerPort).to.equal(6379);
  });

  it('lists every problem by JSON path with a fix', () => {
    const bad = {
      id: '/Python_1',
      instances: -1,
      mem: 'lots',
      instance: 3,
      container: { type: 'DOCKER', docker: { image: 'x', network: 'OVERLAY' }, portMappings: [{ containerPort: 70000 }] },
      healthChecks: [{ protocol: 'HTTPS' }],
    };
    const problems = appProblems(bad);
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p]));
    expect(byPath['/id']?.fix).to.match(/lowercase/);
    expect(byPath['/instances']?.problem).to.match(/>= 0/);
    expect(byPath['/mem']?.problem).to.match(/number/);
    expect(byPath['/instance']?.problem).to.match(/unknown field "instance"/);
    expect(byPath['/instance']?.fix).to.equal('did you mean "instances"?');
    expect(byPath['/container/docker/network']?.fix).to.match(/"BRIDGE", "HOST"/);
    expect(byPath['/container/portMappings/0/containerPort']?.problem).to.match(/<= 65535/);
    expect(byPath['/healthChecks/0/protocol']?.fix).to.match(/"HTTP"/);
    expect(problems).to.have.length(7);
  });

  it('throws one PaasboxError that names the paths and fixes', () => {
    try {
      validateApp({ id: '/a', container: { type: 'DOCKER', docker: {} } }, 'deploy.json');
      expect.fail('should have thrown');
    } catch (e) {
      expect(e).to.be.instanceOf(PaasboxError);
      const err = e as PaasboxError;
      expect(err.problem).to.match(/^deploy.json is not a valid Marathon app/);
      expect(err.problem).to.include('/container/docker');
      expect(err.fix).to.include('add "image"');
    }
  });

  it('checks cross-field rules: something to run, health check port index', () => {
    expect(appProblems({ id: '/nothing' }).map((p) => p.path)).to.deep.equal(['/']);
    const p = appProblems({ id: '/a', container: { type: 'DOCKER', docker: { image: 'x' } }, healthChecks: [{ protocol: 'HTTP', portIndex: 1 }] });
    expect(p.map((x) => x.path)).to.deep.equal(['/healthChecks/0/portIndex']);
    expect(p[0]?.fix).to.match(/portMappings/);
  });

  it('reports JSON syntax errors as PaasboxError', () => {
    expect(() => parseApp('{"id": ', 'x.json')).to.throw(PaasboxError, /x.json is not JSON/);
  });

  it('normalises ids', () => {
    expect(normaliseId('python1')).to.equal('/python1');
    expect(normaliseId('/team/web/')).to.equal('/team/web');
  });
});
