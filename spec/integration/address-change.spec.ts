// A host that changed networks (a laptop on new Wi-Fi): the discovery stack
// (Consul, registrator, HAProxy, dns; ZooKeeper, Mesos and Marathon left out
// by a settings file) is installed on a docker-in-docker host, a Consul K/V
// key is written, then the host moves to a new docker network and so to a new
// address. verify names the mismatch; one more install on the new address
// moves the stack there, keeping the key, and verify passes again, from
// inside the host and from this machine (verify --from-here).
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Progress } from '../../src/progress.js';
import { provisionTarget } from '../../src/provision/provision.js';
import { SECRET_FILES, SECRETS_DIR } from '../../src/secrets/secrets.js';
import { localSecretsDir } from '../../src/secrets/store.js';
import { readDeployment } from '../../src/stackfile/deployment.js';
import { loadStackModel } from '../../src/model/load.js';
import { LocalTarget } from '../../src/target/local.js';
import { SshTarget } from '../../src/target/ssh.js';
import { httpRequest, probeTools, type HttpOptions } from '../../src/system/http.js';
import { runVerify } from '../../src/verify/run.js';
import { settingsForTarget } from '../../src/stackfile/deployed-settings.js';
import { isCI } from '../helpers/ci.js';
import { ensureStackImages } from '../helpers/images.js';
import { createTestHosts, type TestHosts } from '../helpers/testhosts.js';

// The install keeps its secrets here, never in the user's .paasbox/.
process.env['PAASBOX_STATE_DIR'] ??= mkdtempSync(join(tmpdir(), 'paasbox-state-'));

const run = promisify(execFile);
const model = loadStackModel();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quiet = () => new Progress({ json: true });

describe('a host whose address changes (integration)', function () {
  this.timeout(1_800_000);
  let th: TestHosts | undefined;
  let target: SshTarget | undefined;
  let configPath: string;
  const newNetwork = `pbaddr-p${process.pid}-moved`;

  const sshTo = (address: string): SshTarget => {
    const h = th!.hosts[0]!;
    return new SshTarget({
      host: address,
      user: h.user,
      keyPath: h.keyPath,
      knownHostsPath: th!.knownHostsPath,
    });
  };
  /** Consul's HTTP API from inside the host, as the management token. */
  const consul = async (
    t: SshTarget,
    ip: string,
    method: NonNullable<HttpOptions['method']>,
    path: string,
    body?: string,
  ) =>
    httpRequest(t, await probeTools(t), ip, 8500, path, {
      method,
      ...(body !== undefined ? { body } : {}),
      secret: { name: 'X-Consul-Token', file: `${SECRETS_DIR}/${SECRET_FILES.managementToken}` },
    });
  const install = (t: SshTarget) =>
    provisionTarget(t, {
      flags: { imageSource: 'local' },
      env: {},
      configPath,
      progress: quiet(),
      healthTimeoutS: 300,
    });

  before(async function () {
    if (
      !(await run('docker', ['info']).then(
        () => true,
        () => false,
      ))
    ) {
      // .ci/run provides docker: there its absence is a failure, never a skip.
      if (isCI()) throw new Error('no usable docker daemon, and CI=true: this spec must run');
      console.log('    skipped: no usable docker daemon on this machine for the dind test host');
      this.skip();
    }
    await ensureStackImages(['registry', 'consul', 'registrator', 'haproxy', 'dns']);
    const dir = mkdtempSync(join(tmpdir(), 'pbaddr-'));
    configPath = join(dir, 'paasbox.yaml');
    writeFileSync(
      configPath,
      'services:\n  mesos-master: { enabled: false }\n  mesos-slave: { enabled: false }\n  marathon: { enabled: false }\n  zookeeper: { enabled: false }\n',
    );
    th = await createTestHosts(1, { prefix: 'pbaddr', withDocker: true });
    target = sshTo(th.hosts[0]!.address);
    await install(target);
  });
  after(async () => {
    await target?.close();
    await th?.destroy();
    await run('docker', ['network', 'rm', newNetwork]).catch(() => undefined);
  });

  it('names the mismatch after a move, re-converges to the new address in one install, and keeps Consul K/V', async () => {
    const h = th!.hosts[0]!;
    const oldIp = h.address;
    expect((await consul(target!, oldIp, 'PUT', '/v1/kv/pbaddr-kept', 'kept')).status).to.equal(200);

    // The move: off the test network, onto a new one (the host key stays).
    await target!.close();
    target = undefined;
    await run('docker', ['network', 'create', newNetwork]);
    await run('docker', ['network', 'disconnect', th!.network, h.name]);
    await run('docker', ['network', 'connect', newNetwork, h.name]);
    const newIp = (
      await run('docker', [
        'inspect',
        '-f',
        `{{(index .NetworkSettings.Networks "${newNetwork}").IPAddress}}`,
        h.name,
      ])
    ).stdout.trim();
    expect(newIp)
      .to.match(/^\d+\.\d+\.\d+\.\d+$/)
      .and.not.equal(oldIp);
    target = sshTo(newIp);

    // Judged by the deployed compose file, which still records the old address.
    const before = await settingsForTarget(target, model, { configPath, env: {} });
    expect(before.settings.ip).to.equal(oldIp);
    const stale = await runVerify(target, model, before.settings, {
      only: (c) => c.id === 'host/advertised-address',
    });
    expect(stale.results.map((r) => [r.id, r.status])).to.deep.equal([['host/advertised-address', 'failed']]);
    expect(stale.results[0]!.got).to.include(newIp).and.include('run install again');

    await install(target);
    const moved = await readDeployment(target);
    expect(moved?.meta.ip).to.equal(newIp);
    let kv = { status: 0, body: '' };
    for (let i = 0; i < 60 && kv.status !== 200; i++) {
      kv = await consul(target, newIp, 'GET', '/v1/kv/pbaddr-kept?raw').catch(() => kv);
      if (kv.status !== 200) await sleep(1000);
    }
    expect([kv.status, kv.body]).to.deep.equal([200, 'kept']);
    const leader = await consul(target, newIp, 'GET', '/v1/status/leader');
    expect(leader.body).to.include(`${newIp}:8300`);

    const { settings } = await settingsForTarget(target, model, { configPath, env: {} });
    expect(settings.ip).to.equal(newIp);
    const r = await runVerify(target, model, settings, {});
    const failed = r.results.filter((x) => x.status === 'failed');
    expect(failed, JSON.stringify(failed, null, 1)).to.deep.equal([]);
    // And from this machine, as `verify --from-here` runs it: the stats login from the local copy.
    const here = await runVerify(target, model, settings, {
      probeFrom: { target: new LocalTarget(), secretsDir: localSecretsDir('default') },
    });
    const failedHere = here.results.filter((x) => x.status === 'failed');
    expect(failedHere, JSON.stringify(failedHere, null, 1)).to.deep.equal([]);
    expect(here.results.find((x) => x.id === 'haproxy/stats/http:/haproxyStats')?.status).to.equal('passed');
  });
});
