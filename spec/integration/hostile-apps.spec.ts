// Hostile app JSON deployed for real through `paasbox deploy` on a standalone
// install, as an app owner who wants the platform would write it. Each is
// refused before any scheduler call (exit 2, one line naming the field and
// the fix, no swarm service, no directory, no registration), or kept out
// while python1 keeps working. Afterwards verify passes and nothing of the
// hostile apps is left.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { APP_DATA_ROOT } from '../../src/apps/policy.js';
import { getByName } from '../../src/bench/reach.js';
import { MANAGEMENT_TOKEN_FILE } from '../../src/consul/acl.js';
import { repoPath } from '../../src/paths.js';
import { fetchOnce } from '../helpers/http.js';
import { ensureExampleImage } from '../helpers/images.js';
import { installStandalone, paasboxCli } from '../helpers/standalone.js';

const exec = promisify(execFile);
const IMAGE = 'paasbox/simplewebapp-python:latest';

describe('hostile apps: the app policy on a real stack (integration)', function () {
  this.timeout(20 * 60_000);
  const state = mkdtempSync(join(tmpdir(), 'pb-hostile-state-'));
  const files = mkdtempSync(join(tmpdir(), 'pb-hostile-apps-'));
  const env = { ...process.env, PAASBOX_STATE_DIR: state };
  let ip = '';

  const cli = paasboxCli(env);
  const file = (name: string, app: object): string => {
    const f = join(files, `${name}.json`);
    writeFileSync(f, JSON.stringify(app));
    return f;
  };
  const app = (id: string, extra: Record<string, unknown> = {}, container: Record<string, unknown> = {}) => ({
    id,
    instances: 1,
    container: {
      type: 'DOCKER',
      docker: { image: IMAGE, network: 'BRIDGE' },
      portMappings: [{ containerPort: 8080, hostPort: 0, protocol: 'tcp' }],
      ...container,
    },
    env: { SERVICE_NAME: id.slice(1).replace(/\//g, '-'), SERVICE_TAGS: 'http' },
    ...extra,
  });
  const services = async () =>
    (await exec('docker', ['service', 'ls', '--format', '{{.Name}}'])).stdout
      .split('\n')
      .filter(Boolean)
      .sort();
  /** Consul's catalog: the service names (read with the management token, root's file here). */
  const consulServices = async (): Promise<string[]> => {
    const token = readFileSync(MANAGEMENT_TOKEN_FILE, 'utf8').trim();
    const r = await fetchOnce(`http://${ip}:8500/v1/catalog/services`, {
      headers: { 'X-Consul-Token': token },
    });
    expect(r.status).to.equal(200);
    return Object.keys((await r.json()) as Record<string, unknown>);
  };
  /**
   * A deploy refused before any scheduler call: exit 2, one line naming `field`, nothing new in the swarm.
   */
  const refused = async (name: string, body: object, field: string, fix: RegExp) => {
    const before = await services();
    const r = await cli(['deploy', file(name, body), '--json']);
    expect(r.code, `${name}: ${r.stderr}${r.stdout}`).to.equal(2);
    const line = r.stderr.split('\n').find((l) => l.startsWith('paasbox: '))!;
    expect(line, r.stderr).to.include(`${field}: `);
    expect(r.stderr.split('\n').find((l) => l.trim().startsWith('fix: '))).to.match(fix);
    expect(await services(), `${name} left a service`).to.deep.equal(before);
    expect(existsSync(join(APP_DATA_ROOT, name)), `${name} left a directory`).to.equal(false);
  };

  before(async () => {
    await ensureExampleImage();
    ip = await installStandalone(env);
    // python1, the app the others try to pose as.
    const p = await cli([
      'deploy',
      repoPath('examples', 'SimpleWebappPython', 'deploy1_marathon.json'),
      '--wait',
      '--json',
    ]);
    expect(p.code, p.stderr).to.equal(0);
  });

  after(async () => {
    for (const f of ['pb-hostile-data', 'pb-fake-marathon', 'pb-after-fake'])
      await cli(['deploy', join(files, `${f}.json`), '--destroy']).catch(() => undefined);
    await cli([
      'deploy',
      repoPath('examples', 'SimpleWebappPython', 'deploy1_marathon.json'),
      '--destroy',
    ]).catch(() => undefined);
    await exec('docker', ['swarm', 'leave', '--force']).catch(() => undefined);
    await exec('rm', ['-rf', join(APP_DATA_ROOT, 'pb-hostile-data')]).catch(() => undefined);
  });

  it('refuses an instance count that would take the host down', async () => {
    await refused('pb-many', app('/pb-many', { instances: 100000000 }), 'instances', /at most 250/);
  });

  it("refuses host paths outside the app's data root: the secrets, the docker socket, /", async () => {
    for (const [i, hostPath] of [
      '/opt/paasbox/secrets',
      '/var/run/docker.sock',
      '/',
      '/srv/paasbox/apps/pb-other',
    ].entries()) {
      await refused(
        `pb-mount${i}`,
        app(`/pb-mount${i}`, {}, { volumes: [{ containerPath: '/x', hostPath, mode: 'RO' }] }),
        'container.volumes[0].hostPath',
        /--allow-host-mounts/,
      );
    }
  });

  it('refuses host network and pid, reserved labels, off-host logging and ID overrides', async () => {
    const cases: [string, object, string, RegExp][] = [
      [
        'pb-net',
        app('/pb-net', {}, { docker: { image: IMAGE, network: 'HOST' } }),
        'container.docker.network',
        /--allow-host-namespaces/,
      ],
      [
        'pb-pid',
        app('/pb-pid', {}, { docker: { image: IMAGE, parameters: [{ key: 'pid', value: 'host' }] } }),
        'container.docker.parameters[0].key',
        /--allow-host-namespaces/,
      ],
      [
        'pb-sshd',
        app('/pb-sshd', {
          labels: { 'com.docker.compose.project': 'paasbox', 'com.docker.compose.service': 'sshd' },
        }),
        'labels.com.docker.compose.project',
        /--allow-reserved-labels/,
      ],
      [
        'pb-label',
        app(
          '/pb-label',
          {},
          { docker: { image: IMAGE, parameters: [{ key: 'label', value: 'paasbox.marathon.id=/python1' }] } },
        ),
        'container.docker.parameters[0].value',
        /--allow-reserved-labels/,
      ],
      [
        'pb-syslog',
        app(
          '/pb-syslog',
          {},
          { docker: { image: IMAGE, parameters: [{ key: 'log-driver', value: 'syslog' }] } },
        ),
        'container.docker.parameters[0].value',
        /--allow-log-drivers/,
      ],
      [
        'pb-id',
        app('/pb-id', { env: { SERVICE_NAME: 'pb-id', SERVICE_ID: 'python1' } }),
        'env.SERVICE_ID',
        /own ID/,
      ],
      // A name that would reach Consul's API as a path of its own, with the management token.
      [
        'pb-leave',
        app('/pb-leave', { env: { SERVICE_NAME: 'pb-leave', SERVICE_8_NAME: '../../../agent/leave?' } }),
        'env.SERVICE_8_NAME',
        /lowercase letters/,
      ],
      // Swarm would expand the template in the mount's source on the node: /etc.
      [
        'pb-tmpl',
        app(
          '/pb-tmpl',
          {},
          {
            volumes: [
              { containerPath: '/x', hostPath: '/srv/paasbox/apps/pb-tmpl/{{`..`}}/{{`..`}}/{{`..`}}/etc' },
            ],
          },
        ),
        'container.volumes[0].hostPath',
        /plain path/,
      ],
      [
        'pb-bare',
        { id: '/pb-bare', cmd: 'docker run --privileged -v /:/h debian' },
        'container',
        /container\.docker\.image/,
      ],
    ];
    for (const [name, body, field, fix] of cases) await refused(name, body, field, fix);
  });

  it("refuses a tcp= route on a stack port and a stack service's name", async () => {
    await refused(
      'pb-tcp',
      app('/pb-tcp', { env: { SERVICE_NAME: 'pb-tcp', SERVICE_TAGS: 'tcp=8500' } }),
      'env.SERVICE_TAGS',
      /10000 to 10999/,
    );
    await refused(
      'pb-consul',
      app('/pb-consul', { env: { SERVICE_NAME: 'consul' } }),
      'env.SERVICE_NAME',
      /a name of its own/,
    );
  });

  it("refuses python1's name to another app id; python1's traffic all reaches python1", async () => {
    await refused(
      'pb-evil',
      app('/pb-evil', { env: { SERVICE_NAME: 'python1', SERVICE_TAGS: 'http' } }),
      'env.SERVICE_NAME',
      /a name of its own/,
    );
    for (let i = 0; i < 20; i++) {
      const r = await getByName(ip, 'python1');
      expect(r.status).to.equal(200);
      expect(r.body).to.match(/^Hello from python1 /);
    }
    const catalog = await consulServices();
    expect(catalog).to.include('python1');
    expect(catalog).to.not.include('pb-evil');
  });

  it('bounds an app without mem: 128 MiB, a pids limit; and refuses a symlink planted through its own mount', async () => {
    const root = join(APP_DATA_ROOT, 'pb-hostile-data');
    const own = app(
      '/pb-hostile-data',
      {},
      { volumes: [{ containerPath: '/data', hostPath: `${root}/data`, mode: 'RW' }] },
    );
    const ok = await cli(['deploy', file('pb-hostile-data', own), '--wait', '--json']);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(existsSync(`${root}/data`)).to.equal(true);
    const task = (
      await exec('docker', ['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=pb-hostile-data'])
    ).stdout
      .trim()
      .split('\n')[0]!;
    const limits = (
      await exec('docker', ['inspect', '--format', '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}', task])
    ).stdout.trim();
    expect(limits).to.equal(`${128 * 1024 * 1024} 2048`);
    // The app plants a link to the secrets inside its own mount, then asks for it.
    await exec('docker', ['exec', task, 'ln', '-s', '/opt/paasbox/secrets', '/data/keys']);
    const before = (
      await exec('docker', [
        'service',
        'inspect',
        '--format',
        '{{json .Spec.TaskTemplate.ContainerSpec.Mounts}}',
        'pb-hostile-data',
      ])
    ).stdout;
    const r = await cli([
      'deploy',
      file('pb-hostile-data', {
        ...own,
        container: {
          ...own.container,
          volumes: [{ containerPath: '/k', hostPath: `${root}/data/keys`, mode: 'RO' }],
        },
      }),
      '--json',
    ]);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.include(`container.volumes: ${root}/data/keys resolves to /opt/paasbox/secrets`);
    const after = (
      await exec('docker', [
        'service',
        'inspect',
        '--format',
        '{{json .Spec.TaskTemplate.ContainerSpec.Mounts}}',
        'pb-hostile-data',
      ])
    ).stdout;
    expect(after).to.equal(before);
  });

  it("cannot take the apps API's :8080, and deploys go to the API the record names", async () => {
    // The stack's apps API holds 8080 (Marathon's port): an app asking for it is refused as a stack port.
    const pong =
      "import http.server as h\nclass H(h.BaseHTTPRequestHandler):\n  def do_GET(s): s.send_response(200); s.end_headers(); s.wfile.write(b'pong')\n  do_POST = do_GET\nh.HTTPServer(('', 8080), H).serve_forever()";
    const fake = app(
      '/pb-fake-marathon',
      { args: ['python3', '-c', pong], env: { SERVICE_NAME: 'pb-fake-marathon', SERVICE_TAGS: 'http' } },
      { portMappings: [{ containerPort: 8080, hostPort: 8080, protocol: 'tcp' }] },
    );
    await refused('pb-fake-marathon', fake, 'hostPort', /hostPort 0/);
    // And a name: an app may not register as the API's Consul service (marathon.service.DOMAIN).
    const posing = app('/pb-posing-marathon', { env: { SERVICE_NAME: 'marathon', SERVICE_TAGS: 'http' } });
    await refused('pb-posing-marathon', posing, 'SERVICE_NAME', /name of its own/);
    const r = await cli(['deploy', file('pb-after-fake', app('/pb-after-fake')), '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const report = JSON.parse(r.stdout) as { scheduler: string; where: string };
    expect(report.scheduler).to.equal('marathon');
    expect(report.where).to.equal(`http://${ip}:8080`);
    expect(await services()).to.include('pb-after-fake');
  });

  it('afterwards: verify passes, and nothing of the hostile apps is left', async () => {
    for (const f of ['pb-hostile-data', 'pb-fake-marathon', 'pb-after-fake']) {
      const r = await cli(['deploy', join(files, `${f}.json`), '--destroy', '--json']);
      expect(r.code, r.stderr).to.equal(0);
    }
    expect(await services()).to.deep.equal(['python1']);
    // Their instances leave Consul as their containers stop (each drains for a second first).
    const hostile = ['pb-evil', 'pb-fake-marathon', 'pb-after-fake', 'pb-hostile-data'];
    let left = hostile;
    for (let i = 0; i < 60 && left.length; i++) {
      const catalog = await consulServices();
      left = hostile.filter((n) => catalog.includes(n));
      if (left.length) await new Promise((r) => setTimeout(r, 500));
    }
    expect(left, 'registrations left behind').to.deep.equal([]);
    const v = await cli(['verify', '--json']);
    const failed = (
      JSON.parse(v.stdout) as { results: { id: string; status: string; got?: string }[] }
    ).results.filter((c) => c.status === 'failed');
    expect(failed.map((c) => `${c.id}: ${c.got ?? ''}`)).to.deep.equal([]);
    expect(v.code, v.stderr).to.equal(0);
  });
});
