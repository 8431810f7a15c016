// The app policy (src/apps/): each category refused by default and opened
// only by its own allowance, the bounds from the recorded stack, and the
// host-side checks' script run for real against a directory with a planted
// symlink.
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { stackBounds, stackPorts } from '../../src/apps/bounds.js';
import {
  appDataDir,
  checkApp,
  policyProblems,
  taskBounds,
  type AppAllowances,
  type AppBounds,
} from '../../src/apps/policy.js';
import { AppNames } from '../../src/consul/app-names.js';
import { appHostPaths, claimedKeys, claimedNames, hostPathsScript } from '../../src/apps/target-checks.js';
import { AnsweringTarget } from '../helpers/answering-target.js';
import { withBounds } from '../../src/scheduler/marathon.js';
import type { MarathonApp } from '../../src/appspec/app.js';
import { parseDeployment } from '../../src/stackfile/deployment.js';
import { readFileSync } from 'node:fs';

const bounds: AppBounds = {
  maxInstances: 250,
  tcpPorts: { min: 10000, max: 10999 },
  stackServices: ['consul', 'haproxy', 'sshd'],
  stackPorts: [53, 80, 8500],
};
const app = (extra: Record<string, unknown> = {}, docker: Record<string, unknown> = {}): MarathonApp =>
  ({
    id: '/team/web',
    instances: 1,
    container: { type: 'DOCKER', docker: { image: 'web:1', ...docker } },
    ...extra,
  }) as MarathonApp;
const paths = (a: MarathonApp, allow: AppAllowances = {}) =>
  policyProblems(a, { allow, bounds }).map((p) => p.path);

describe('app policy (src/apps/policy.ts)', () => {
  const categories: [string, MarathonApp, string, keyof AppAllowances][] = [
    ['network HOST', app({}, { network: 'HOST' }), '/container/docker/network', 'hostNamespaces'],
    [
      'pid=host',
      app({}, { parameters: [{ key: 'pid', value: 'host' }] }),
      '/container/docker/parameters/0/key',
      'hostNamespaces',
    ],
    [
      'a compose label',
      app({ labels: { 'com.docker.compose.service': 'sshd' } }),
      '/labels/com.docker.compose.service',
      'reservedLabels',
    ],
    [
      'a paasbox label',
      app({ labels: { 'paasbox.marathon.id': '/python1' } }),
      '/labels/paasbox.marathon.id',
      'reservedLabels',
    ],
    [
      'a reserved label parameter',
      app({}, { parameters: [{ key: 'label', value: 'com.docker.compose.project=paasbox' }] }),
      '/container/docker/parameters/0/value',
      'reservedLabels',
    ],
    [
      'a syslog driver',
      app({}, { parameters: [{ key: 'log-driver', value: 'syslog' }] }),
      '/container/docker/parameters/0/value',
      'logDrivers',
    ],
    [
      'a log address',
      app({}, { parameters: [{ key: 'log-opt', value: 'syslog-address=udp://203.0.113.9:514' }] }),
      '/container/docker/parameters/0/value',
      'logDrivers',
    ],
    [
      '/opt/paasbox/secrets',
      app({
        container: {
          type: 'DOCKER',
          docker: { image: 'web:1' },
          volumes: [{ containerPath: '/s', hostPath: '/opt/paasbox/secrets', mode: 'RO' }],
        },
      }),
      '/container/volumes/0/hostPath',
      'hostMounts',
    ],
  ];
  for (const [what, a, path, allowance] of categories) {
    it(`refuses ${what} unless ${allowance}, and no other allowance opens it`, () => {
      expect(paths(a)).to.deep.equal([path]);
      expect(paths(a, { [allowance]: true })).to.deep.equal([]);
      const others = (['hostMounts', 'hostNamespaces', 'reservedLabels', 'logDrivers'] as const).filter(
        (k) => k !== allowance,
      );
      expect(paths(a, Object.fromEntries(others.map((k) => [k, true])))).to.deep.equal([path]);
    });
  }

  it('closes what a review found: templates in paths, nested volumes, names outside env, ID variants, no container', () => {
    const vol = (...hostPaths: string[]) =>
      app({
        container: {
          type: 'DOCKER',
          docker: { image: 'web:1' },
          volumes: hostPaths.map((hostPath, i) => ({ containerPath: `/v${i}`, hostPath })),
        },
      });
    const root = appDataDir('/team/web');
    const problems = (a: MarathonApp) => {
      try {
        checkApp(a, 'app.json', { bounds });
        return [];
      } catch (e) {
        return ((e as { detail?: string }).detail ?? '').split('\n').map((l) => l.split(':')[0]);
      }
    };
    // Swarm would expand {{..}} in a mount's source on the node, after every check.
    expect(problems(vol(`${root}/s/{{\`..\`}}/{{\`..\`}}/etc`))).to.deep.equal([
      'container.volumes[0].hostPath',
    ]);
    expect(problems(vol(root, `${root}/s`))).to.deep.equal(['container.volumes[1].hostPath']);
    expect(problems(vol(`${root}/a`, `${root}/a`))).to.deep.equal(['container.volumes[1].hostPath']);
    expect(problems(vol(`${root}/a`, `${root}/b`))).to.deep.equal([]);
    expect(problems(app({ env: { SERVICE_9_NAME: 'victim?' } }))).to.deep.equal(['env.SERVICE_9_NAME']);
    expect(problems(app({ env: { SERVICE_8_NAME: '../../../agent/leave?' } }))).to.deep.equal([
      'env.SERVICE_8_NAME',
    ]);
    expect(problems(app({ env: { 'SERVICE_NAME=victim': 'x' } }))).to.deep.equal(['env.SERVICE_NAME=victim']);
    expect(problems(app({ env: { SERVICE_name: 'consul' } }))).to.deep.equal(['env.SERVICE_name']);
    expect(problems(app({ env: { SERVICE_Id: 'x' } }))).to.deep.equal(['env.SERVICE_Id']);
    expect(problems(app({ env: { SERVICE_CONTAINER_ID: 'x' } }))).to.deep.equal(['env.SERVICE_CONTAINER_ID']);
    expect(problems(app({ labels: { SERVICE_NAME: 'web-8080' } }))).to.deep.equal(['labels.SERVICE_NAME']);
    expect(problems(app({}, { parameters: [{ key: 'env', value: 'SERVICE_NAME=victim' }] }))).to.deep.equal([
      'container.docker.parameters[0].value',
    ]);
    expect(problems(app({}, { parameters: [{ key: 'memory', value: '0' }] }))).to.deep.equal([
      'container.docker.parameters[0].key',
    ]);
    expect(
      problems({ id: '/m', cmd: 'docker run --privileged -v /:/h debian' } as MarathonApp),
    ).to.deep.equal(['container']);
    const inRange = app({
      container: {
        type: 'DOCKER',
        docker: { image: 'web:1' },
        portMappings: [{ containerPort: 80, hostPort: 10050 }],
      },
    });
    expect(problems(inRange)).to.deep.equal(['container.portMappings[0].hostPort']);
  });

  it('claims NAME-PORT for a multi-port app, and its tcp= ports', () => {
    const multi = app({
      env: { SERVICE_NAME: 'web', SERVICE_9090_NAME: 'web-admin', SERVICE_TAGS: 'tcp=10050' },
      container: {
        type: 'DOCKER',
        docker: { image: 'web:1' },
        portMappings: [{ containerPort: 8080 }, { containerPort: 9090 }, { containerPort: 7070 }],
      },
    });
    expect(claimedNames(multi, 'team-web')).to.deep.equal(['web', 'web-7070', 'web-8080', 'web-admin']);
    expect(claimedKeys(multi, 'team-web')).to.deep.equal([
      'paasbox/names/web',
      'paasbox/names/web-7070',
      'paasbox/names/web-8080',
      'paasbox/names/web-admin',
      'paasbox/tcp-ports/10050',
    ]);
  });

  it('Marathon runs an app with the bounds, its id label and the claimed name', () => {
    const m = withBounds(app({ backoffSeconds: 0 }));
    expect(m.mem).to.equal(128);
    expect(m.backoffSeconds).to.equal(1);
    expect(m.env?.['SERVICE_NAME']).to.equal('team-web');
    expect(m.container?.docker.parameters).to.deep.equal([
      { key: 'pids-limit', value: '2048' },
      { key: 'label', value: 'paasbox.marathon.id=/team/web' },
    ]);
  });

  it('keeps local logging: json-file, local and their size options pass', () => {
    const a = app(
      {},
      {
        parameters: [
          { key: 'log-driver', value: 'local' },
          { key: 'log-opt', value: 'max-size=10m' },
          { key: 'log-opt', value: 'max-file=3' },
        ],
      },
    );
    expect(paths(a)).to.deep.equal([]);
  });

  it('holds every app to the bounds, whatever is allowed', () => {
    const all = {
      hostMounts: true,
      hostNamespaces: true,
      reservedLabels: true,
      logDrivers: true,
      dockerParameters: true,
    };
    const cases: [MarathonApp, string][] = [
      [app({ instances: 100000000 }), '/instances'],
      [app({ env: { SERVICE_TAGS: 'http,tcp=8500' } }), '/env/SERVICE_TAGS'],
      [app({ env: { SERVICE_8080_TAGS: 'tcp=11000' } }), '/env/SERVICE_8080_TAGS'],
      [app({ env: { SERVICE_TAGS: 'tcp=x' } }), '/env/SERVICE_TAGS'],
      [app({ env: { SERVICE_NAME: 'consul' } }), '/env/SERVICE_NAME'],
      [app({ env: { SERVICE_8080_NAME: 'haproxy' } }), '/env/SERVICE_8080_NAME'],
      [app({ env: { SERVICE_ID: 'python1-abc' } }), '/env/SERVICE_ID'],
      [app({ env: { SERVICE_8080_ID: 'x' } }), '/env/SERVICE_8080_ID'],
      [
        app({
          container: {
            type: 'DOCKER',
            docker: { image: 'web:1' },
            portMappings: [{ containerPort: 80, hostPort: 8500 }],
          },
        }),
        '/container/portMappings/0/hostPort',
      ],
      [
        app({
          container: {
            type: 'DOCKER',
            docker: { image: 'web:1' },
            portMappings: [{ containerPort: 80, hostPort: 443 }],
          },
        }),
        '/container/portMappings/0/hostPort',
      ],
    ];
    for (const [a, path] of cases) expect(paths(a, all), path).to.deep.equal([path]);
    expect(
      paths(app({ instances: 250, env: { SERVICE_TAGS: 'tcp=10000', SERVICE_NAME: 'web' } })),
    ).to.deep.equal([]);
    expect(
      paths(
        app({
          container: {
            type: 'DOCKER',
            docker: { image: 'web:1' },
            portMappings: [{ containerPort: 80, hostPort: 31000 }],
          },
        }),
      ),
    ).to.deep.equal([]);
  });

  it('gives every task a memory, CPU and pids limit and a floor under the restart delay', () => {
    expect(taskBounds(app())).to.include({ memMiB: 128, cpuLimit: 1, pidsLimit: 2048, backoffSeconds: 1 });
    expect(taskBounds(app({ mem: 512, cpus: 2, backoffSeconds: 0.01 }))).to.include({
      memMiB: 512,
      cpuLimit: 2,
      backoffSeconds: 1,
    });
  });

  it('reads the bounds from the recorded stack: apps:, services, ports, nodes', () => {
    const d = parseDeployment(
      readFileSync(new URL('../../../spec/golden/docker-compose.local.yml', import.meta.url), 'utf8'),
    )!;
    const b = stackBounds(d, 3);
    expect(b.maxInstances).to.equal(750);
    expect(b.tcpPorts).to.deep.equal({ min: 10000, max: 10999 });
    expect(b.stackServices).to.include.members(['consul', 'haproxy', 'registrator', 'marathon']);
    expect(b.stackPorts).to.include.members([53, 80, 81, 2181, 8300, 8500, 8600]);
    expect(stackBounds(undefined).maxInstances).to.equal(250);
    // Marathon switched off, the apps API on: its Consul name is still the stack's.
    const api = { ...d, services: ['apps-api', 'consul'], meta: { ...d.meta, omitted: {} } };
    expect(stackBounds(api).stackServices).to.include('marathon');
    expect(stackBounds({ ...api, services: ['consul'] }).stackServices).not.to.include('marathon');
    expect(stackPorts({ consul: 'http=8500/tcp,dns=8600/udp' })).to.include.members([8500, 8600]);
  });

  it('claims the names the app registers under, the derived one when it gives none', () => {
    expect(
      claimedNames(app({ env: { SERVICE_NAME: 'web', SERVICE_9000_NAME: 'web-admin' } }), 'team-web'),
    ).to.deep.equal(['web', 'web-admin']);
    expect(claimedNames(app(), 'team-web')).to.deep.equal(['team-web']);
  });
});

describe('app host directories (src/apps/target-checks.ts), the script run here', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'pb-apps-'))));
  after(async () => rm(dir, { recursive: true, force: true }));
  const run = async (script: string) =>
    promisify(execFile)('bash', ['-c', script]).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );

  it("creates the app's directories under its root", async () => {
    const data = join(dir, 'data');
    const r = await run(hostPathsScript(`${data}/web`, [`${data}/web/db`, `${data}/web/cache/x`], data));
    expect(r.code).to.equal(0);
    expect((await readdir(`${data}/web`)).sort()).to.deep.equal(['cache', 'db']);
  });

  it('refuses a path through a symlink that leaves the app root (a link planted through a mount)', async () => {
    const data = join(dir, 'd2');
    await mkdir(`${data}/web`, { recursive: true });
    await mkdir(join(dir, 'secrets'));
    await symlink(join(dir, 'secrets'), `${data}/web/link`);
    const r = await run(hostPathsScript(`${data}/web`, [`${data}/web/link`], data));
    expect(r.code).to.equal(3);
    expect(r.stdout).to.include(`@@outside ${data}/web/link ${join(dir, 'secrets')}`);
    // A link to another app's directory leaves the root too.
    await mkdir(`${data}/other`);
    await symlink(`${data}/other`, `${data}/web/o`);
    expect((await run(hostPathsScript(`${data}/web`, [`${data}/web/o/x`], data))).code).to.equal(3);
  });

  it("prepares only the paths under the app's own root", () => {
    const a = app({
      container: {
        type: 'DOCKER',
        docker: { image: 'web:1' },
        volumes: [
          { containerPath: '/a', hostPath: `${appDataDir('/team/web')}/a` },
          { containerPath: '/b', hostPath: '/srv/elsewhere' },
        ],
      },
    });
    expect(appHostPaths(a)).to.deep.equal(['/srv/paasbox/apps/team-web/a']);
  });
});

describe('AppNames (claims in Consul K/V, against a fake target)', () => {
  it("claims with cas=0, refuses another app's key, and probes the target's tools once", async () => {
    const kv = new Map<string, string>([['paasbox/names/taken', '/other']]);
    const status = (body: string, code = 200) => ({ stdout: `${body}\n__paasbox_http_status__=${code}` });
    const t = new AnsweringTarget('m', '10.0.0.2', (c) => {
      if (c.startsWith('for t in curl')) return { stdout: 'curl\n' };
      const url = /'(http:[^']+)'/.exec(c)?.[1] ?? '';
      const key = decodeURIComponent(url.replace(/^.*\/v1\/kv\//, '').replace(/\?.*$/, ''));
      if (url.includes('recurse')) {
        const rows = [...kv]
          .filter(([k]) => k.startsWith(key))
          .map(([Key, v]) => ({ Key, Value: Buffer.from(v).toString('base64') }));
        return rows.length ? status(JSON.stringify(rows)) : status('', 404);
      }
      kv.set(key, '/team/web');
      return status('true');
    });
    const names = new AppNames({
      target: t,
      address: '10.0.0.2',
      port: 8500,
      token: { name: 'X-Consul-Token', file: '/nonexistent' },
    });
    expect(await names.claim('/team/web', ['paasbox/names/web', 'paasbox/tcp-ports/10050'])).to.deep.equal([
      'paasbox/names/web',
      'paasbox/tcp-ports/10050',
    ]);
    const e = await names.claim('/team/web', ['paasbox/names/taken']).then(
      () => undefined,
      (x: Error) => x,
    );
    expect(e?.message).to.include('env.SERVICE_NAME: "taken" belongs to app /other');
    expect(t.ran.filter((c) => c.includes('?cas=0')).length).to.equal(2);
    expect(t.ran.filter((c) => c.startsWith('for t in curl'))).to.have.length(1);
  });
});
