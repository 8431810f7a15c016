import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { MarathonApp } from '../../src/appspec/app.js';
import { validateApp } from '../../src/appspec/validate.js';
import { PaasboxError } from '../../src/errors.js';
import { SwarmScheduler } from '../../src/scheduler/swarm.js';
import { AnsweringTarget } from '../helpers/answering-target.js';
import {
  APP_IMAGE_LABEL,
  marathonToSwarmService,
  pinnedImage,
  swarmServiceName,
  publishSpecs,
  updateFlags,
  httpProbe,
  WORKER_CONSTRAINT,
} from '../../src/scheduler/swarm-service.js';
import { SPREAD_CONSTRAINT, withSpread } from '../../src/scheduler/marathon.js';
import { parseTaskPorts } from '../../src/scheduler/swarm.js';

const example = (n: number): MarathonApp =>
  validateApp(
    JSON.parse(
      readFileSync(
        new URL(`../../../examples/SimpleWebappPython/deploy${n}_marathon.json`, import.meta.url),
        'utf8',
      ),
    ),
  );

/** Values of every occurrence of a flag in an argv. */
function flag(argv: string[], name: string): string[] {
  return argv.flatMap((a, i) => (a === name && argv[i + 1] !== undefined ? [argv[i + 1]!] : []));
}

describe('marathonToSwarmService (Marathon app JSON → docker service argv)', () => {
  it('translates the SimpleWebappPython app', () => {
    const s = marathonToSwarmService(example(1));
    expect(s.name).to.equal('python1');
    expect(s.create.slice(0, 4)).to.deep.equal(['docker', 'service', 'create', '--detach']);
    expect(flag(s.create, '--name')).to.deep.equal(['python1']);
    expect(flag(s.create, '--replicas')).to.deep.equal(['2']);
    // hostPort 0: host-mode publish, port left to Docker (no routing mesh in dind).
    expect(flag(s.create, '--publish')).to.deep.equal(['mode=host,target=8080,protocol=tcp']);
    expect(flag(s.create, '--env')).to.include.members([
      'SERVICE_NAME=python1',
      'SERVICE_CHECK_HTTP=/health',
      'SERVICE_CHECK_INTERVAL=5s',
    ]);
    expect(flag(s.create, '--label')).to.include.members([
      'example=SimpleWebappPython',
      'paasbox.marathon.id=/python1',
    ]);
    expect(flag(s.create, '--container-label')).to.include('paasbox.marathon.id=/python1');
    // cpus is a share on Mesos: swarm has only caps, so a task is capped at one core at least.
    expect(flag(s.create, '--limit-cpu')).to.deep.equal(['1']);
    expect(flag(s.update, '--limit-cpu')).to.deep.equal(['1']);
    expect(flag(s.create, '--limit-memory')).to.deep.equal(['64M']);
    expect(flag(s.create, '--limit-pids')).to.deep.equal(['2048']);
    expect(flag(s.create, '--restart-delay')).to.deep.equal(['1s']);
    expect(flag(s.create, '--health-interval')).to.deep.equal(['5s']);
    expect(flag(s.create, '--health-timeout')).to.deep.equal(['3s']);
    expect(flag(s.create, '--health-retries')).to.deep.equal(['3']);
    expect(flag(s.create, '--health-start-period')).to.deep.equal(['10s']);
    expect(flag(s.create, '--health-cmd')[0]).to.include('http://127.0.0.1:8080/health');
    // minimumHealthCapacity 0.5, maximumOverCapacity 0.5 of 2 instances: start one new before stopping one
    // old.
    expect(flag(s.create, '--update-order')).to.deep.equal(['start-first']);
    expect(flag(s.create, '--update-parallelism')).to.deep.equal(['1']);
    expect(s.create).to.include('--no-resolve-image');
    expect(s.create.slice(-2)).to.deep.equal(['--', 'paasbox/simplewebapp-python:latest']);
    expect(s.warnings).to.deep.equal([]);
  });

  it('builds an update argv that names the service last and adds rather than replaces', () => {
    const s = marathonToSwarmService(example(2));
    expect(s.update.slice(0, 3)).to.deep.equal(['docker', 'service', 'update']);
    expect(s.update[s.update.length - 1]).to.equal('python2');
    expect(flag(s.update, '--image')).to.deep.equal(['paasbox/simplewebapp-python:latest']);
    expect(flag(s.update, '--env-add')).to.include('SERVICE_NAME=python2');
    expect(flag(s.update, '--publish-add')).to.deep.equal(['mode=host,target=8080,protocol=tcp']);
    expect(s.update).not.to.include('--name');
  });

  it('names nested ids with dashes and keeps an explicit SERVICE_NAME', () => {
    expect(swarmServiceName('/team/web/api')).to.equal('team-web-api');
    const s = marathonToSwarmService({
      id: '/team/web',
      env: { SERVICE_NAME: 'web' },
      container: { type: 'DOCKER', docker: { image: 'x' } },
    });
    expect(flag(s.create, '--env')).to.deep.equal(['SERVICE_NAME=web']);
    expect(flag(s.create, '--name')).to.deep.equal(['team-web']);
  });

  it('maps fixed host ports, udp,tcp, cmd, constraints, parameters, volumes and reports what swarm cannot do', () => {
    const app = validateApp(
      {
        id: '/dns',
        cmd: 'exec dnsmasq -k',
        instances: 3,
        disk: 10,
        container: {
          type: 'DOCKER',
          docker: {
            image: 'dns:1',
            forcePullImage: true,
            parameters: [
              { key: 'hostname', value: 'ns' },
              { key: 'cap-add', value: 'NET_ADMIN' },
              { key: 'memory', value: '32m' },
            ],
          },
          portMappings: [{ containerPort: 53, hostPort: 5353, protocol: 'udp,tcp', servicePort: 10053 }],
          volumes: [{ containerPath: '/etc/dnsmasq.d', hostPath: '/srv/dns', mode: 'RO' }],
        },
        constraints: [
          ['hostname', 'UNIQUE'],
          ['rack', 'CLUSTER', 'r1'],
          ['zone', 'GROUP_BY'],
        ],
        healthChecks: [{ protocol: 'TCP', portIndex: 0, intervalSeconds: 2, maxConsecutiveFailures: 0 }],
        upgradeStrategy: { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 },
        mem: 64,
      },
      'dns.json',
    );
    const s = marathonToSwarmService(app, { allow: { dockerParameters: true, hostMounts: true } });
    expect(flag(s.create, '--publish')).to.deep.equal([
      'mode=host,target=53,published=5353,protocol=udp',
      'mode=host,target=53,published=5353,protocol=tcp',
    ]);
    expect(s.create.slice(-5)).to.deep.equal(['--', 'dns:1', 'sh', '-c', 'exec dnsmasq -k']);
    // The memory parameter comes after mem's flag, so docker takes it.
    expect(flag(s.create, '--limit-memory')).to.deep.equal(['64M', '32m']);
    expect(flag(s.update, '--args')).to.deep.equal(["sh -c 'exec dnsmasq -k'"]);
    expect(flag(s.create, '--replicas-max-per-node')).to.deep.equal(['1']);
    expect(flag(s.create, '--constraint')).to.deep.equal(['node.labels.rack==r1']);
    expect(flag(s.create, '--hostname')).to.deep.equal(['ns']);
    expect(flag(s.create, '--mount')).to.deep.equal([
      'type=bind,source=/srv/dns,target=/etc/dnsmasq.d,readonly',
    ]);
    expect(flag(s.create, '--health-retries')).to.deep.equal(['1']);
    expect(flag(s.create, '--health-cmd')[0]).to.include('create_connection(("127.0.0.1", 53), 20)');
    expect(flag(s.create, '--update-order')).to.deep.equal(['stop-first']);
    expect(s.create).not.to.include('--no-resolve-image');
    expect(s.warnings.join('\n'))
      .to.match(/disk/)
      .and.match(/GROUP_BY/)
      .and.match(/cap-add/)
      .and.match(/servicePort 10053/);
  });

  it('maps upgradeStrategy to rolling-update flags', () => {
    expect(updateFlags({ id: '/a' }, 4)).to.deep.equal([
      '--update-order',
      'start-first',
      '--update-parallelism',
      '4',
      '--update-failure-action',
      'rollback',
    ]);
    expect(
      updateFlags({ id: '/a', upgradeStrategy: { minimumHealthCapacity: 0.25, maximumOverCapacity: 0 } }, 4),
    ).to.deep.equal([
      '--update-order',
      'stop-first',
      '--update-parallelism',
      '3',
      '--update-failure-action',
      'rollback',
    ]);
    expect(
      updateFlags({ id: '/a', upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 0 } }, 4),
    ).to.deep.equal([
      '--update-order',
      'stop-first',
      '--update-parallelism',
      '1',
      '--update-failure-action',
      'rollback',
    ]);
  });

  it('publishes with Docker picking the port when hostPort is 0 or absent', () => {
    expect(publishSpecs({ containerPort: 80 })).to.deep.equal(['mode=host,target=80,protocol=tcp']);
    expect(publishSpecs({ containerPort: 80, hostPort: 0 })).to.deep.equal([
      'mode=host,target=80,protocol=tcp',
    ]);
  });

  it('writes an HTTP probe that falls back from curl to wget to bash to python3', () => {
    const p = httpProbe(8080, '/health', 3);
    expect(p).to.match(
      /^if command -v curl .* curl -fsS -o \/dev\/null -m 3 http:\/\/127.0.0.1:8080\/health;/,
    );
    expect(p).to.include('wget -q -O /dev/null -T 3');
    expect(p.indexOf('command -v bash'))
      .to.be.greaterThan(p.indexOf('command -v wget'))
      .and.lessThan(p.indexOf('python3 -c'));
    expect(p).to.include(
      `python3 -c 'import urllib.request as u; u.urlopen("http://127.0.0.1:8080/health", timeout=3)'`,
    );
  });

  it("the probe's bash branch (an image without curl and wget) passes on 2xx-3xx and fails otherwise", async () => {
    // A PATH with only what that branch uses, so curl and wget are not found.
    const bin = mkdtempSync(join(tmpdir(), 'pbprobe-'));
    for (const tool of ['bash', 'head', 'grep'])
      symlinkSync(
        execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(),
        join(bin, tool),
      );
    const server = createServer((req, res) => {
      res.writeHead(req.url === '/health' || req.url === "/q'%s" ? 200 : req.url === '/moved' ? 302 : 500);
      res.end('x');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const probe = (path: string) =>
      new Promise<number>((resolve) =>
        execFile('/bin/sh', ['-c', httpProbe(port, path, 3)], { env: { PATH: bin } }, (e) =>
          resolve(e ? Number(e.code ?? 1) : 0),
        ),
      );
    try {
      expect(await probe('/health')).to.equal(0);
      expect(await probe('/moved')).to.equal(0);
      expect(await probe('/broken')).to.not.equal(0);
      // Quotes and printf's % in a path reach the server as they are.
      expect(await probe("/q'%s")).to.equal(0);
    } finally {
      server.close();
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('pins the image by registry digest, else by ID, unless the app forces a pull', () => {
    const id = `sha256:${'a'.repeat(64)}`;
    const d = `sha256:${'b'.repeat(64)}`;
    expect(pinnedImage('paasbox/simplewebapp-python:latest', `${id}\n`)).to.equal(id);
    expect(pinnedImage('nginx:1.25', `${id} nginx@${d}`)).to.equal(`nginx@${d}`);
    expect(pinnedImage('nginx', `${id} docker.io/library/nginx@${d}`)).to.equal(
      `docker.io/library/nginx@${d}`,
    );
    expect(pinnedImage('registry:5000/lib/app:1', `${id} registry:5000/lib/app@${d}`)).to.equal(
      `registry:5000/lib/app@${d}`,
    );
    // A digest of another repository the same image was pushed to is not this name's.
    expect(pinnedImage('app:1', `${id} other/app@${d}`)).to.equal(id);
    expect(pinnedImage('app:1', '')).to.equal(undefined);
    expect(pinnedImage('app:1', 'Error: No such image')).to.equal(undefined);

    const app = validateApp({ id: '/web', container: { type: 'DOCKER', docker: { image: 'app:1' } } });
    const pinned = marathonToSwarmService(app, {}, { pinnedImage: id });
    expect(pinned.create.slice(pinned.create.indexOf('--') + 1)).to.deep.equal([id]);
    expect(pinned.update).to.include(id);
    // Listings show the name the app gave.
    expect(pinned.create).to.include(`${APP_IMAGE_LABEL}=app:1`);
    const forced = validateApp({
      id: '/web',
      container: { type: 'DOCKER', docker: { image: 'app:1', forcePullImage: true } },
    });
    const s = marathonToSwarmService(forced, {}, { pinnedImage: id });
    expect(s.create.slice(s.create.indexOf('--') + 1)).to.deep.equal(['app:1']);
  });

  it('parses task host ports from docker service ps', () => {
    expect(parseTaskPorts('*:32772->8080/tcp')).to.deep.equal([32772]);
    expect(parseTaskPorts('*:5353->53/udp, *:5353->53/tcp')).to.deep.equal([5353, 5353]);
    expect(parseTaskPorts('')).to.deep.equal([]);
    // Drifted IPv4/IPv6 allocators: one port per container port, the IPv4 one (listed first).
    expect(parseTaskPorts('*:32782->8080/tcp,*:32781->8080/tcp')).to.deep.equal([32782]);
  });
});

describe('marathonToSwarmService refuses unsafe apps before any command exists', () => {
  // Cast: these come from JSON nobody validated (an API caller, a test).
  const app = (docker: Record<string, unknown> = {}, container: Record<string, unknown> = {}) =>
    ({
      id: '/evil',
      container: { type: 'DOCKER', docker: { image: 'web:1', ...docker }, ...container },
    }) as unknown as MarathonApp;
  const hostile: [
    string,
    MarathonApp,
    string,
    'hostMounts' | 'dockerParameters' | 'hostNamespaces' | undefined,
  ][] = [
    ['an image that is a flag', app({ image: '--cap-add=ALL' }), 'container.docker.image', undefined],
    ['an image with a space', app({ image: 'web:1 --privileged' }), 'container.docker.image', undefined],
    [
      'a bind of /',
      app({}, { volumes: [{ containerPath: '/host', hostPath: '/', mode: 'RW' }] }),
      'container.volumes[0].hostPath',
      'hostMounts',
    ],
    [
      'the docker socket',
      app({}, { volumes: [{ containerPath: '/var/run/docker.sock', hostPath: '/var/run/docker.sock' }] }),
      'container.volumes[0].hostPath',
      'hostMounts',
    ],
    [
      'a comma in hostPath',
      app({}, { volumes: [{ containerPath: '/d', hostPath: '/srv/x,readonly=false' }] }),
      'container.volumes[0].hostPath',
      undefined,
    ],
    [
      'a newline in containerPath',
      app({}, { volumes: [{ containerPath: '/d\nx', hostPath: '/srv/x' }] }),
      'container.volumes[0].containerPath',
      undefined,
    ],
    [
      'privileged',
      app({ parameters: [{ key: 'privileged', value: 'true' }] }),
      'container.docker.parameters[0].key',
      'dockerParameters',
    ],
    [
      'cap-add',
      app({ parameters: [{ key: 'cap-add', value: 'SYS_ADMIN' }] }),
      'container.docker.parameters[0].key',
      'dockerParameters',
    ],
    ['network HOST', app({ network: 'HOST' }), 'container.docker.network', 'hostNamespaces'],
    [
      'device',
      app({ parameters: [{ key: 'device', value: '/dev/mem' }] }),
      'container.docker.parameters[0].key',
      'dockerParameters',
    ],
  ];
  for (const [what, a, field, allow] of hostile) {
    it(`refuses ${what} (${field})${allow ? `, accepts it with ${allow}` : ', whatever is allowed'}`, () => {
      let err: unknown;
      try {
        marathonToSwarmService(a);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(PaasboxError);
      expect((err as PaasboxError).problem)
        .to.match(new RegExp(`^app /evil is not a valid Marathon app: ${field.replace(/[.[\]]/g, '\\$&')}: `))
        .and.not.match(/\n/);
      if (allow) {
        const s = marathonToSwarmService(a, { allow: { [allow]: true } });
        expect(s.create.slice(-2)).to.deep.equal(['--', 'web:1']);
      } else {
        const all = {
          hostMounts: true,
          dockerParameters: true,
          hostNamespaces: true,
          reservedLabels: true,
          logDrivers: true,
        };
        expect(() => marathonToSwarmService(a, { allow: all })).to.throw(PaasboxError);
      }
    });
  }

  it('bounds every task: 128 MiB without mem, a pids limit, a restart delay of at least 1 s', () => {
    const bare = {
      id: '/b',
      instances: 1,
      backoffSeconds: 0,
      container: { type: 'DOCKER', docker: { image: 'web:1' } },
    } as MarathonApp;
    const s = marathonToSwarmService(bare);
    expect(flag(s.create, '--limit-memory')).to.deep.equal(['128M']);
    expect(flag(s.update, '--limit-memory')).to.deep.equal(['128M']);
    expect(flag(s.create, '--limit-pids')).to.deep.equal(['2048']);
    expect(flag(s.create, '--restart-delay')).to.deep.equal(['1s']);
    expect(s.warnings).to.include('backoffSeconds: raised to 1');
    const big = marathonToSwarmService({ ...bare, cpus: 3, mem: 1.5, backoffSeconds: 7 });
    expect(flag(big.create, '--limit-cpu')).to.deep.equal(['3']);
    expect(flag(big.create, '--limit-memory')).to.deep.equal(['6M']);
    expect(flag(big.create, '--restart-delay')).to.deep.equal(['7s']);
  });

  it('passes an allowed host mount through as one --mount field set', () => {
    const s = marathonToSwarmService(
      app({}, { volumes: [{ containerPath: '/host', hostPath: '/', mode: 'RO' }] }),
      { allow: { hostMounts: true } },
    );
    expect(flag(s.create, '--mount')).to.deep.equal(['type=bind,source=/,target=/host,readonly']);
  });

  it('maps the allowed log parameters; memory and cpus only when allowed (0 would lift the bounds)', () => {
    const s = marathonToSwarmService(
      app({
        parameters: [
          { key: 'log-driver', value: 'json-file' },
          { key: 'log-opt', value: 'max-size=10m' },
        ],
      }),
    );
    expect(flag(s.create, '--log-driver')).to.deep.equal(['json-file']);
    expect(flag(s.create, '--log-opt')).to.deep.equal(['max-size=10m']);
    expect(s.warnings).to.deep.equal([
      "mem: none given, each instance is limited to 128 MiB (Marathon's default)",
    ]);
    for (const key of ['memory', 'cpus']) {
      expect(() => marathonToSwarmService(app({ parameters: [{ key, value: '0' }] }))).to.throw(
        PaasboxError,
        /--allow-docker-parameters/,
      );
    }
    // Allowed, the parameter comes after the one-core cap: docker takes the last.
    const cpus = marathonToSwarmService(app({ parameters: [{ key: 'cpus', value: '0.5' }] }), {
      allow: { dockerParameters: true },
    });
    expect(flag(cpus.create, '--limit-cpu')).to.deep.equal(['1', '0.5']);
  });

  it('derives a SERVICE_NAME the registrator accepts from an id with dots', () => {
    const s = marathonToSwarmService({
      id: '/team/web.v2',
      container: { type: 'DOCKER', docker: { image: 'x' } },
    });
    expect(flag(s.create, '--env')).to.deep.equal(['SERVICE_NAME=team-web-v2']);
    expect(flag(s.create, '--name')).to.deep.equal(['team-web.v2']);
  });

  it('SwarmScheduler.deploy runs no command at all for a refused app', async () => {
    const m = new AnsweringTarget('m', '10.0.0.2', () => ({}));
    for (const [, a] of hostile) {
      const e = await new SwarmScheduler(m).deploy(a).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).to.be.instanceOf(PaasboxError);
    }
    expect(m.ran).to.deep.equal([]);
    // A target like it does run commands for a good app: the fake would have seen them.
    const good = new AnsweringTarget('m', '10.0.0.2', (c) =>
      c.includes('service inspect') ? { code: 1 } : {},
    );
    await new SwarmScheduler(good).deploy(app());
    expect(good.ran.at(-1)).to.match(/^docker service create .* web:1/);
  });

  describe('placement on a cluster', () => {
    it('without workers (one host, or masters only) the argv is unchanged', () => {
      expect(marathonToSwarmService(example(1), {}, { workers: false })).to.deep.equal(
        marathonToSwarmService(example(1)),
      );
      expect(flag(marathonToSwarmService(example(1)).create, '--constraint')).to.deep.equal([]);
    });

    it("with workers (a cluster's agents) apps are kept on them, on create and update", () => {
      const s = marathonToSwarmService(example(1), {}, { workers: true });
      expect(flag(s.create, '--constraint')).to.deep.equal([WORKER_CONSTRAINT]);
      expect(flag(s.update, '--constraint-add')).to.deep.equal([WORKER_CONSTRAINT]);
      expect(WORKER_CONSTRAINT).to.equal('node.labels.paasbox.role==agent');
      // Spreading is swarm's own: no max-per-node cap is invented (2 instances may share 1 agent).
      expect(s.create).to.not.include('--replicas-max-per-node');
    });

    it('an app that places itself (CLUSTER / IS) still stays on the workers; UNIQUE too', () => {
      const pinned = marathonToSwarmService(
        { ...example(1), constraints: [['hostname', 'CLUSTER', 'm1']] },
        {},
        { workers: true },
      );
      expect(flag(pinned.create, '--constraint')).to.deep.equal(['node.hostname==m1', WORKER_CONSTRAINT]);
      const unique = marathonToSwarmService(
        { ...example(1), constraints: [['hostname', 'UNIQUE']] },
        {},
        { workers: true },
      );
      expect(flag(unique.create, '--constraint')).to.deep.equal([WORKER_CONSTRAINT]);
      expect(flag(unique.create, '--replicas-max-per-node')).to.deep.equal(['1']);
    });

    it('SwarmScheduler.deploy asks the swarm for nodes labelled as agents (a worker without the label is no agent) and places accordingly', async () => {
      for (const [nodes, want] of [
        ['m1 10.0.0.2 ready \n', []],
        ['m1 10.0.0.2 ready \nw1 10.0.0.3 ready \n', []],
        ['m1 10.0.0.2 ready \na1 10.0.0.4 ready agent\n', [WORKER_CONSTRAINT]],
      ] as const) {
        const m = new AnsweringTarget('m', '10.0.0.2', (c) =>
          c.startsWith('docker node inspect')
            ? { stdout: nodes }
            : c.includes('service inspect')
              ? { code: 1 }
              : {},
        );
        await new SwarmScheduler(m).deploy(example(1));
        expect(m.ran.some((c) => c.startsWith('docker node inspect') && c.includes('paasbox.role'))).to.equal(
          true,
        );
        const create = m.ran.at(-1)!;
        expect(create).to.match(/^docker service create /);
        expect(
          create.includes(`--constraint ${WORKER_CONSTRAINT}`) ||
            create.includes(`--constraint '${WORKER_CONSTRAINT}'`),
        ).to.equal(want.length > 0);
      }
    });

    it('Marathon: instances spread over the agents (GROUP_BY hostname) unless the app gives constraints', () => {
      expect(withSpread(example(1)).constraints).to.deep.equal([['hostname', 'GROUP_BY']]);
      expect(SPREAD_CONSTRAINT).to.deep.equal(['hostname', 'GROUP_BY']);
      const own = {
        ...example(1),
        constraints: [['hostname', 'UNIQUE']] as NonNullable<MarathonApp['constraints']>,
      };
      expect(withSpread(own)).to.equal(own);
      // The app itself is not changed.
      const app = example(2);
      withSpread(app);
      expect(app.constraints).to.equal(undefined);
    });
  });
});
