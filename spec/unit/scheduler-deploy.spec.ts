// runDeploy and the app policy: what the operator allows (--allow-…) reaches
// both the app file's check and the swarm back-end (which checks again before
// it builds a command), and a refused app runs nothing on the fake manager.
import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppPolicy } from '../../src/apps/policy.js';
import { Progress } from '../../src/progress.js';
import { runDeploy } from '../../src/scheduler/deploy.js';
import { AnsweringTarget } from '../helpers/answering-target.js';
import { failure } from '../helpers/failure.js';

describe('runDeploy: the app policy before any scheduler call', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pb-deploy-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const manager = () =>
    new AnsweringTarget('m', '10.0.0.2', (c) =>
      c.startsWith('docker info')
        ? { stdout: 'active true 10.0.0.2\n' }
        : c.startsWith('docker service inspect')
          ? { code: 1, stderr: 'no such service' }
          : {},
    );
  const appFile = async (name: string, container: object) => {
    const file = join(dir, `${name}.json`);
    await writeFile(
      file,
      JSON.stringify({ id: `/${name}`, instances: 1, container: { type: 'DOCKER', ...container } }),
    );
    return file;
  };
  const bounds = {
    maxInstances: 250,
    tcpPorts: { min: 10000, max: 10999 },
    stackServices: ['consul', 'haproxy'],
    stackPorts: [80, 8500],
  };
  const deploy = (
    file: string,
    target: AnsweringTarget,
    allow?: AppPolicy['allow'],
    action: 'deploy' | 'scale' = 'deploy',
    instances?: number,
  ) =>
    runDeploy(
      {
        file,
        action,
        scheduler: 'swarm',
        target,
        advertiseAddr: '10.0.0.2',
        policy: { ...(allow ? { allow } : {}), bounds },
        ...(instances !== undefined ? { instances } : {}),
      },
      new Progress({ write: () => undefined }),
    );

  it('a bind mount of the docker socket is refused by default, nothing run; with allowHostMounts the service mounts it', async () => {
    const file = await appFile('sock', {
      docker: { image: 'web:1' },
      volumes: [{ containerPath: '/var/run/docker.sock', hostPath: '/var/run/docker.sock', mode: 'RW' }],
    });
    const refused = manager();
    const e = await failure(deploy(file, refused));
    expect(e.problem).to.match(
      /container\.volumes\[0\]\.hostPath: "\/var\/run\/docker\.sock" is outside the app's own data root \/srv\/paasbox\/apps\/sock/,
    );
    expect(e.fix).to.include('--allow-host-mounts');
    expect(refused.ran).to.deep.equal([]);

    const allowed = manager();
    const r = await deploy(file, allowed, { hostMounts: true });
    expect(r.created).to.equal(true);
    expect(allowed.ran.find((c) => c.startsWith('docker service create'))).to.include(
      '--mount type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock',
    );
  });

  it('a cap-add parameter is refused by default; with allowDockerParameters it passes validation (swarm reports it unsupported)', async () => {
    const file = await appFile('caps', {
      docker: { image: 'web:1', parameters: [{ key: 'cap-add', value: 'NET_ADMIN' }] },
    });
    const refused = manager();
    const e = await failure(deploy(file, refused, { hostMounts: true }));
    expect(e.problem).to.include('docker parameter "cap-add" is not allowed');
    expect(e.fix).to.include('--allow-docker-parameters');
    expect(refused.ran).to.deep.equal([]);

    const allowed = manager();
    const r = await deploy(file, allowed, { dockerParameters: true });
    expect(r.created).to.equal(true);
    expect(r.warnings).to.include(
      'container.docker.parameters: "cap-add" has no docker service equivalent and is ignored',
    );
  });

  it('an instance count above the ceiling is refused for deploy and scale before the manager is asked anything', async () => {
    const file = await appFile('many', { docker: { image: 'web:1' } });
    const big = join(dir, 'big.json');
    await writeFile(
      big,
      JSON.stringify({
        id: '/big',
        instances: 100000000,
        container: { type: 'DOCKER', docker: { image: 'web:1' } },
      }),
    );
    const m = manager();
    const e = await failure(deploy(big, m));
    expect(e.problem).to.include("instances: 100000000 instances is above this stack's ceiling of 250");
    const s = await failure(deploy(file, m, undefined, 'scale', 251));
    expect(s.problem).to.include('/many: instances: 251 instances is above');
    expect(m.ran).to.deep.equal([]);
  });

  it('a tcp= route outside the range, a stack name or a stack port is refused, nothing run', async () => {
    const cases: [object, RegExp][] = [
      [
        { env: { SERVICE_TAGS: 'tcp=8500' } },
        /env\.SERVICE_TAGS: tcp=8500 is outside the stack's TCP route range 10000-10999/,
      ],
      [{ env: { SERVICE_NAME: 'consul' } }, /env\.SERVICE_NAME: "consul" is the name of a stack service/],
      [
        { env: { SERVICE_ID: 'python1-1' } },
        /env\.SERVICE_ID: SERVICE_ID would let the app replace another app's registration/,
      ],
      [
        { labels: { 'com.docker.compose.service': 'sshd' } },
        /labels\.com\.docker\.compose\.service: label .* is reserved/,
      ],
    ];
    for (const [extra, why] of cases) {
      const file = join(dir, 'x.json');
      await writeFile(
        file,
        JSON.stringify({ id: '/x', container: { type: 'DOCKER', docker: { image: 'web:1' } }, ...extra }),
      );
      const m = manager();
      expect((await failure(deploy(file, m))).problem).to.match(why);
      expect(m.ran).to.deep.equal([]);
    }
  });
});
