// runDeploy's --allow-host-mounts / --allow-docker-parameters: what the user
// allows reaches both the app file's validation and the swarm back-end (which
// validates again before it builds a command), against a fake swarm manager.
import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Progress } from '../../src/progress.js';
import { runDeploy } from '../../src/scheduler/deploy.js';
import { AnsweringTarget } from '../helpers/answering-target.js';
import { failure } from '../helpers/failure.js';

describe('runDeploy: what --allow-host-mounts and --allow-docker-parameters allow', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pb-deploy-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const manager = () =>
    new AnsweringTarget('m', '10.0.0.2', (c) =>
      c.startsWith('docker info') ? { stdout: 'active true 10.0.0.2\n' } : c.startsWith('docker service inspect') ? { code: 1, stderr: 'no such service' } : {},
    );
  const appFile = async (name: string, container: object) => {
    const file = join(dir, `${name}.json`);
    await writeFile(file, JSON.stringify({ id: `/${name}`, instances: 1, container: { type: 'DOCKER', ...container } }));
    return file;
  };
  const deploy = (file: string, target: AnsweringTarget, safety?: { allowHostMounts?: boolean; allowDockerParameters?: boolean }) =>
    runDeploy({ file, action: 'deploy', scheduler: 'swarm', target, advertiseAddr: '10.0.0.2', ...(safety ? { safety } : {}) }, new Progress({ write: () => undefined }));

  it('a bind mount of the docker socket is refused by default, nothing run; with allowHostMounts the service mounts it', async () => {
    const file = await appFile('sock', { docker: { image: 'web:1' }, volumes: [{ containerPath: '/var/run/docker.sock', hostPath: '/var/run/docker.sock', mode: 'RW' }] });
    const refused = manager();
    const e = await failure(deploy(file, refused));
    expect(e.problem).to.match(/container\.volumes\[0\]\.hostPath: "\/var\/run\/docker\.sock" is \/run\/docker\.sock: binding it gives the app the host/);
    expect(e.fix).to.include('--allow-host-mounts');
    expect(refused.ran).to.deep.equal([]);

    const allowed = manager();
    const r = await deploy(file, allowed, { allowHostMounts: true });
    expect(r.created).to.equal(true);
    expect(allowed.ran.find((c) => c.startsWith('docker service create'))).to.include('--mount type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock');
  });

  it('a cap-add parameter is refused by default; with allowDockerParameters it passes validation (swarm reports it unsupported)', async () => {
    const file = await appFile('caps', { docker: { image: 'web:1', parameters: [{ key: 'cap-add', value: 'NET_ADMIN' }] } });
    const refused = manager();
    const e = await failure(deploy(file, refused, { allowHostMounts: true }));
    expect(e.problem).to.include('docker parameter "cap-add" is not allowed');
    expect(e.fix).to.include('--allow-docker-parameters');
    expect(refused.ran).to.deep.equal([]);

    const allowed = manager();
    const r = await deploy(file, allowed, { allowDockerParameters: true });
    expect(r.created).to.equal(true);
    expect(r.warnings).to.deep.equal(['container.docker.parameters: "cap-add" has no docker service equivalent and is ignored']);
  });
});
