// The app format (src/appspec/): a Marathon app definition validated against
// its schema (validate.ts) and each field's grammar (fields.ts), and the app
// policy's refusals of what an app may ask of the host (src/apps/policy.ts).
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { normaliseId } from '../../../src/appspec/app.js';
import { canonicalHostPath, IMAGE_REFERENCE_PATTERN, isImageReference } from '../../../src/appspec/fields.js';
import {
  appProblems,
  fieldName,
  marathonSchemaPath,
  parseApp,
  validateApp,
} from '../../../src/appspec/validate.js';
import {
  checkApp,
  parseAllowedApp,
  SAFE_DOCKER_PARAMETERS,
  type AppPolicy,
} from '../../../src/apps/policy.js';
import { PaasboxError } from '../../../src/errors.js';

const example = (n: number): unknown =>
  JSON.parse(
    readFileSync(
      new URL(`../../../../examples/SimpleWebappPython/deploy${n}_marathon.json`, import.meta.url),
      'utf8',
    ),
  );

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
      container: {
        type: 'DOCKER',
        docker: { image: 'redis', network: 'BRIDGE', portMappings: [{ containerPort: 6379, hostPort: 0 }] },
      },
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
      container: {
        type: 'DOCKER',
        docker: { image: 'x', network: 'OVERLAY' },
        portMappings: [{ containerPort: 70000 }],
      },
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
      expect(err.problem).to.include('container.docker: missing required field "image"');
      expect(err.fix).to.include('add "image"');
    }
  });

  it('checks cross-field rules: something to run, health check port index', () => {
    expect(appProblems({ id: '/nothing' }).map((p) => p.path)).to.deep.equal(['/']);
    const p = appProblems({
      id: '/a',
      container: { type: 'DOCKER', docker: { image: 'x' } },
      healthChecks: [{ protocol: 'HTTP', portIndex: 1 }],
    });
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

/** An app running `image` with the given container extras. */
const withDocker = (
  docker: Record<string, unknown> = {},
  container: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) => ({
  id: '/web',
  ...extra,
  container: {
    type: 'DOCKER',
    docker: { image: 'paasbox/simplewebapp-python:latest', ...docker },
    ...container,
  },
});

/** The PaasboxError checkApp throws for json; fails the test when it accepts it. */
function refusal(json: unknown, policy: AppPolicy = {}): PaasboxError {
  try {
    checkApp(json, 'app.json', policy);
  } catch (e) {
    expect(e).to.be.instanceOf(PaasboxError);
    return e as PaasboxError;
  }
  return expect.fail(`accepted ${JSON.stringify(json)}`);
}

/** Every problem checkApp finds (form and policy), as appProblems lists them. */
function problems(json: unknown, policy: AppPolicy = {}): string[] {
  try {
    checkApp(json, 'app.json', policy);
    return [];
  } catch (e) {
    return ((e as PaasboxError).detail ?? '').split('\n');
  }
}

/** A refusal is one line that names the field and says what to do. */
function expectOneLine(e: PaasboxError, field: string, fix: RegExp): void {
  expect(e.problem).to.not.match(/[\n\r]/);
  expect(e.problem).to.include(`app.json is not a valid Marathon app: ${field}: `);
  expect(e.fix).to.include(`${field}: `).and.match(fix);
}

describe('marathon app safety: what app JSON may ask of the host', () => {
  describe('container.docker.image: the docker reference grammar', () => {
    const refused = [
      '--cap-add=ALL',
      '-v',
      '--privileged',
      'Python',
      'team/App:1',
      'a b',
      'web:1 --privileged',
      'web:',
      'web@sha256:abc',
      ':latest',
      '/web',
      'web/',
      'a..b',
      'a_-b',
      'web:-1',
      '',
      'web\n--cap-add=ALL',
      `x/${'a'.repeat(260)}`,
    ];
    for (const image of refused) {
      it(`refuses ${JSON.stringify(image.length > 40 ? image.slice(0, 40) + '...' : image)}`, () => {
        const e = refusal(withDocker({ image }));
        expectOneLine(e, 'container.docker.image', /\[registry\[:port\]\/\]name\[:tag\]\[@digest\]/);
        expect(e.problem).to.include(`${JSON.stringify(image)} is not a docker image reference`.slice(0, 40));
        expect(isImageReference(image)).to.equal(false);
      });
    }
    it('accepts real references: library, tags, registry with port, IPv6 registry, digests, separators', () => {
      const digest = 'sha256:' + 'ab12'.repeat(16);
      for (const image of [
        'python',
        'python:3.11-slim',
        'paasbox/simplewebapp-python:latest',
        'localhost:5000/a/b:1',
        'Registry.Example.com:5000/team/app@' + digest,
        `web:1@${digest}`,
        '[::1]:5000/x',
        'a__b',
        'a--b',
        'a.b_c',
        'x:V1.0_rc',
      ]) {
        expect(isImageReference(image), image).to.equal(true);
        expect(appProblems(withDocker({ image })), image).to.deep.equal([]);
      }
    });
    it('keeps the schema pattern equal to the code (editors validate with the schema)', () => {
      const schema = JSON.parse(readFileSync(marathonSchemaPath(), 'utf8')) as {
        properties: { container: { properties: { docker: { properties: { image: { pattern: string } } } } } };
      };
      expect(schema.properties.container.properties.docker.properties.image.pattern).to.equal(
        IMAGE_REFERENCE_PATTERN,
      );
    });
  });

  describe("container.volumes[].hostPath: only the app's own data root", () => {
    const refused = [
      '/',
      '/etc',
      '/etc/ssh',
      '/proc',
      '/sys/fs/cgroup',
      '/dev',
      '/root/.ssh',
      '/var/run/docker.sock',
      '/var/lib/docker',
      '/opt/paasbox/secrets',
      '/run/dbus',
      '/home',
      '/srv/paasbox/apps',
      '/srv/paasbox/apps/other',
      '/srv/paasbox/apps/web2',
      '/srv/paasbox/apps/web/../other',
      '/srv/web',
      '/var/spool/cron',
    ];
    for (const hostPath of refused) {
      it(`refuses ${hostPath} unless --allow-host-mounts`, () => {
        const app = withDocker({}, { volumes: [{ containerPath: '/data', hostPath, mode: 'RW' }] });
        const e = refusal(app);
        expectOneLine(e, 'container.volumes[0].hostPath', /--allow-host-mounts/);
        expect(e.problem).to.include("outside the app's own data root /srv/paasbox/apps/web");
        expect(problems(app, { allow: { hostMounts: true } })).to.deep.equal([]);
      });
    }
    it('accepts the app directory and what lies under it, read-only too', () => {
      for (const hostPath of [
        '/srv/paasbox/apps/web',
        '/srv/paasbox/apps/web/data',
        '//srv/paasbox/apps/web/./x/',
      ]) {
        expect(
          problems(withDocker({}, { volumes: [{ containerPath: '/d', hostPath, mode: 'RO' }] })),
          hostPath,
        ).to.deep.equal([]);
      }
      expect(canonicalHostPath('/var/run/./x/../docker.sock')).to.equal('/run/docker.sock');
    });
    it('refuses commas, quotes, control characters and relative paths in hostPath and containerPath, even with allowHostMounts', () => {
      const cases: [Record<string, string>, string, RegExp][] = [
        [{ hostPath: '/srv/a,readonly=false', containerPath: '/d' }, 'hostPath', /a comma/],
        [{ hostPath: '/srv/a', containerPath: '/d,source=/' }, 'containerPath', /a comma/],
        [{ hostPath: '/srv/a\nb', containerPath: '/d' }, 'hostPath', /control character U\+000A/],
        [{ hostPath: '/srv/a', containerPath: '/d\u0000' }, 'containerPath', /control character U\+0000/],
        [{ hostPath: '/srv/"a', containerPath: '/d' }, 'hostPath', /a double quote/],
        [{ hostPath: 'srv/a', containerPath: '/d' }, 'hostPath', /not an absolute path/],
        [{ hostPath: '/srv/a', containerPath: 'd' }, 'containerPath', /not an absolute path/],
      ];
      for (const [vol, field, why] of cases) {
        for (const policy of [{}, { allow: { hostMounts: true, dockerParameters: true } }]) {
          const e = refusal(withDocker({}, { volumes: [vol] }), policy);
          expectOneLine(e, `container.volumes[0].${field}`, /path/);
          expect(e.problem).to.match(why);
        }
      }
    });
  });

  describe('container.docker.parameters: an allow-list', () => {
    const refused: [string, string][] = [
      ['privileged', 'true'],
      ['cap-add', 'ALL'],
      ['device', '/dev/sda'],
      ['pid', 'host'],
      ['ipc', 'host'],
      ['network', 'host'],
      ['net', 'host'],
      ['security-opt', 'seccomp=unconfined'],
      ['userns', 'host'],
      ['volume', '/:/host'],
      ['volumes-from', 'other'],
      ['uts', 'host'],
      ['mount', 'type=bind,source=/,target=/h'],
    ];
    for (const [key, value] of refused) {
      it(`refuses ${key}=${value} unless allowDockerParameters`, () => {
        const app = withDocker({
          parameters: [
            { key: 'label', value: 'a=b' },
            { key, value },
          ],
        });
        const e = refusal(app);
        const namespace = ['pid', 'ipc', 'network', 'net', 'userns', 'uts'].includes(key);
        expectOneLine(
          e,
          'container.docker.parameters[1].key',
          namespace ? /--allow-host-namespaces/ : /--allow-docker-parameters/,
        );
        expect(e.problem).to.include(
          namespace
            ? `docker parameter "${key}" joins a host namespace`
            : `docker parameter "${key}" is not allowed`,
        );
        // A host namespace is a category of its own: --allow-host-namespaces opens it,
        // --allow-docker-parameters does not.
        expect(problems(app, { allow: { dockerParameters: true } })).to.have.length(namespace ? 1 : 0);
        expect(problems(app, { allow: { hostNamespaces: true } })).to.have.length(namespace ? 0 : 1);
        // The other option does not open this door.
        expect(problems(app, { allow: { hostMounts: true } })).to.have.length(1);
      });
    }
    it('accepts every allowed key', () => {
      const parameters = SAFE_DOCKER_PARAMETERS.map((key) => ({ key, value: 'v' }));
      expect(
        problems(withDocker({ parameters: parameters.filter((p) => !p.key.startsWith('log-')) })),
      ).to.deep.equal([]);
      expect(SAFE_DOCKER_PARAMETERS).to.not.include.members([
        'privileged',
        'cap-add',
        'device',
        'pid',
        'network',
        'security-opt',
        'volume',
      ]);
    });
    it('refuses control characters in values and malformed keys, whatever is allowed', () => {
      for (const policy of [{}, { allow: { dockerParameters: true } }]) {
        let e = refusal(withDocker({ parameters: [{ key: 'label', value: 'a=b\n--privileged' }] }), policy);
        expectOneLine(e, 'container.docker.parameters[0].value', /control characters/);
        e = refusal(withDocker({ parameters: [{ key: '--privileged', value: 'true' }] }), policy);
        expectOneLine(e, 'container.docker.parameters[0].key', /without dashes/);
      }
    });
  });

  describe('env: what the registrator would refuse anyway', () => {
    it('refuses a SERVICE_NAME that is not a DNS label and SERVICE_TAGS with a newline', () => {
      for (const name of ['my service', 'Python1', '-a', 'a.b', 'x'.repeat(64)]) {
        expectOneLine(
          refusal(withDocker({}, {}, { env: { SERVICE_NAME: name } })),
          'env.SERVICE_NAME',
          /lowercase letters, digits and dashes/,
        );
      }
      expectOneLine(
        refusal(withDocker({}, {}, { env: { SERVICE_TAGS: 'http,path=/x\nuse_backend evil if TRUE' } })),
        'env.SERVICE_TAGS',
        /one line/,
      );
      expect(
        appProblems(
          withDocker({}, {}, { env: { SERVICE_NAME: 'python1', SERVICE_TAGS: 'http,weight=3,path=/api' } }),
        ),
      ).to.deep.equal([]);
    });
  });

  it('reports every refusal in the detail and counts the rest on the one line', () => {
    const e = refusal(
      withDocker(
        { image: '--cap-add=ALL', parameters: [{ key: 'privileged', value: 'true' }] },
        { volumes: [{ containerPath: '/h', hostPath: '/' }] },
      ),
    );
    expect(e.problem).to.match(
      /container.docker.image: "--cap-add=ALL" is not a docker image reference \(and 2 more problem\(s\)\)$/,
    );
    expect(e.detail?.split('\n').map((l) => l.split(':')[0])).to.deep.equal([
      'container.docker.image',
      'container.volumes[0].hostPath',
      'container.docker.parameters[0].key',
    ]);
  });

  it('parseAllowedApp takes the same policy; parseApp checks the form only', () => {
    const text = JSON.stringify(
      withDocker({}, { volumes: [{ containerPath: '/h', hostPath: '/var/run/docker.sock' }] }),
    );
    expect(() => parseAllowedApp(text, 'app.json')).to.throw(PaasboxError, /container.volumes\[0\].hostPath/);
    expect(parseAllowedApp(text, 'app.json', { allow: { hostMounts: true } }).id).to.equal('/web');
    expect(parseApp(text, 'app.json').id).to.equal('/web');
  });

  it('names fields the way a user reads them', () => {
    expect(fieldName('/container/volumes/0/hostPath')).to.equal('container.volumes[0].hostPath');
    expect(fieldName('/')).to.equal('(the app)');
    expect(fieldName('/labels/a~1b')).to.equal('labels.a/b');
  });
});
