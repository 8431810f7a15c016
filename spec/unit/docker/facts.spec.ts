// Docker facts: each parser on docker's and ss's own output forms, and each
// command run by a real shell against a stub `docker` (or this machine's ss),
// so the command and its parser are shown to fit together.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  imageIdsOf,
  imagesCommand,
  INSPECT_ALL_COMMAND,
  inspectAnswered,
  parseContainers,
  parseImages,
  parsePsIds,
} from '../../../src/docker/facts.js';
import { LISTENING_COMMAND, parseListening } from '../../../src/system/ports.js';

const INSPECT = [
  {
    Id: 'c0ffee1234567890abcdef',
    Name: '/paasbox-consul-1',
    Image: 'sha256:1111',
    RestartCount: 2,
    State: {
      Status: 'running',
      Running: true,
      ExitCode: 0,
      Health: { Status: 'unhealthy', Log: [{ Output: 'old' }, { Output: ' connection refused \n' }] },
    },
    Config: {
      Image: 'paasbox/consul:local',
      Labels: { 'com.docker.compose.project': 'paasbox', 'com.docker.compose.service': 'consul' },
    },
    HostConfig: { RestartPolicy: { Name: 'unless-stopped' }, NetworkMode: 'host' },
    NetworkSettings: { Ports: {} },
  },
  {
    Id: 'beef',
    Name: '/loose',
    State: { Status: 'exited', Running: false, ExitCode: 137 },
    Config: { Image: 'busybox', Labels: null },
    HostConfig: { RestartPolicy: { Name: '' }, NetworkMode: 'bridge' },
    NetworkSettings: {
      Ports: {
        '8080/tcp': [
          { HostIp: '0.0.0.0', HostPort: '31002' },
          { HostIp: '::', HostPort: '31002' },
        ],
        '53/udp': [{ HostPort: '31001' }],
        '9/tcp': null,
      },
    },
  },
];

/** A directory with an executable `docker` stub; returns its PATH and a cleanup. */
function stubDocker(script: string): { path: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'paasbox-facts-'));
  writeFileSync(join(dir, 'docker'), `#!/bin/sh\n${script}\n`);
  chmodSync(join(dir, 'docker'), 0o755);
  return {
    path: `${dir}:${process.env.PATH ?? ''}`,
    done: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function runSh(command: string, path: string): { code: number; stdout: string } {
  const r = spawnSync('sh', ['-c', command], { env: { ...process.env, PATH: path }, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout };
}

describe('docker facts: containers', () => {
  it('reads id, name, compose labels, image ref and id, state, health and its last log, restarts, network and published ports', () => {
    const [consul, loose] = parseContainers(JSON.stringify(INSPECT));
    expect(consul).to.deep.equal({
      id: 'c0ffee1234567890abcdef',
      name: 'paasbox-consul-1',
      project: 'paasbox',
      service: 'consul',
      image: 'paasbox/consul:local',
      imageId: 'sha256:1111',
      status: 'running',
      running: true,
      health: 'unhealthy',
      healthLog: 'connection refused',
      restartPolicy: 'unless-stopped',
      restartCount: 2,
      networkMode: 'host',
      publishedPorts: [],
      exitCode: 0,
    });
    expect(loose).to.deep.equal({
      id: 'beef',
      name: 'loose',
      project: '',
      service: '',
      image: 'busybox',
      imageId: '',
      status: 'exited',
      running: false,
      restartPolicy: 'no',
      restartCount: 0,
      networkMode: 'bridge',
      publishedPorts: [31001, 31002],
      exitCode: 137,
    });
  });

  it('reads empty output as no containers, and ids from docker ps json lines', () => {
    expect(parseContainers(' \n')).to.deep.equal([]);
    expect(parseContainers('[]')).to.deep.equal([]);
    expect(parsePsIds('{"ID":"32a190eb06b5","Names":"x"}\n\n{"ID":"bdbb8a848ad3"}\n')).to.deep.equal([
      '32a190eb06b5',
      'bdbb8a848ad3',
    ]);
  });

  it('counts inspect as answered when it printed its array, even with exit 1 (a container vanished)', () => {
    expect(inspectAnswered({ code: 0, stdout: '' })).to.equal(true);
    expect(inspectAnswered({ code: 1, stdout: ' [{"Id":"a"}]' })).to.equal(true);
    expect(inspectAnswered({ code: 1, stdout: '' })).to.equal(false);
    expect(inspectAnswered({ code: 3, stdout: 'Cannot connect' })).to.equal(false);
  });

  it('INSPECT_ALL_COMMAND prints [] with no containers, the inspect array with some, and exits 3 when docker does not answer', () => {
    const json = JSON.stringify(INSPECT);
    const cases: [string, number, number][] = [
      ['ps) exit 0 ;;', 0, 0],
      [
        `ps) echo c0ffee; echo beef ;; inspect) [ "$2 $3" = "c0ffee beef" ] && printf '%s\\n' '${json}' ;;`,
        0,
        2,
      ],
      ['ps) echo "Cannot connect to the Docker daemon" >&2; exit 1 ;;', 3, -1],
    ];
    for (const [answers, code, count] of cases) {
      const stub = stubDocker(`case "$1" in ${answers} esac`);
      try {
        const r = runSh(INSPECT_ALL_COMMAND, stub.path);
        expect(r.code, answers).to.equal(code);
        if (count >= 0) expect(parseContainers(r.stdout).map((c) => c.name)).to.have.length(count);
      } finally {
        stub.done();
      }
    }
  });
});

describe('docker facts: images', () => {
  it('parses ref, id and labels; absent refs and null labels', () => {
    // ref, then IMAGE_FORMAT (src/docker/images.ts): id, tags, digests, layers, labels.
    const out =
      'paasbox/zookeeper:local\tsha256:aa\t["paasbox/zookeeper:local"]\t[]\t["sha256:l1"]\t{"paasbox.hash":"h1"}\n' +
      'mesosphere/marathon:v1\t\ndebian:bookworm-slim\tsha256:bb\t[]\t[]\t[]\tnull\n';
    expect(parseImages(out)).to.deep.equal({
      'paasbox/zookeeper:local': { id: 'sha256:aa', labels: { 'paasbox.hash': 'h1' } },
      'debian:bookworm-slim': { id: 'sha256:bb', labels: {} },
    });
    expect(imageIdsOf(parseImages(out), ['debian:bookworm-slim', 'mesosphere/marathon:v1'])).to.deep.equal({
      'debian:bookworm-slim': 'sha256:bb',
      'mesosphere/marathon:v1': '',
    });
  });

  it('imagesCommand asks docker once per distinct ref and its output parses; it fails when docker does not answer', () => {
    const stub = stubDocker(
      [
        'case "$1" in',
        '  version) [ -n "$NO_DOCKERD" ] && exit 1; echo 24.0.7 ;;',
        '  image)',
        `    [ "$2 $3 $4" = "inspect --format $(printf '{{.Id}}\\t{{json .RepoTags}}\\t{{json .RepoDigests}}\\t{{json .RootFS.Layers}}\\t{{json .Config.Labels}}')" ] || { echo "unexpected: $*" >&2; exit 2; }`,
        '    echo "$5" >> "$CALLS"',
        '    case "$5" in',
        `      "paasbox/zookeeper:local") printf 'sha256:aa\\t[]\\t[]\\t[]\\t{"paasbox.hash":"h1"}\\n' ;;`,
        `      "weird ref") printf 'sha256:cc\\t[]\\t[]\\t[]\\tnull\\n' ;;`,
        '      *) echo "Error: No such image: $5" >&2; exit 1 ;;',
        '    esac ;;',
        'esac',
      ].join('\n'),
    );
    const calls = join(tmpdir(), `paasbox-facts-calls-${process.pid}`);
    try {
      const refs = ['paasbox/zookeeper:local', 'missing:1', 'weird ref', 'paasbox/zookeeper:local'];
      const r = spawnSync('sh', ['-c', imagesCommand(refs)], {
        env: { ...process.env, PATH: stub.path, CALLS: calls },
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).to.equal(0);
      expect(parseImages(r.stdout)).to.deep.equal({
        'paasbox/zookeeper:local': { id: 'sha256:aa', labels: { 'paasbox.hash': 'h1' } },
        'weird ref': { id: 'sha256:cc', labels: {} },
      });
      // Side by side: once each, in any order.
      expect(execFileSync('cat', [calls], { encoding: 'utf8' }).trim().split('\n').sort()).to.deep.equal([
        'missing:1',
        'paasbox/zookeeper:local',
        'weird ref',
      ]);
      const down = spawnSync('sh', ['-c', imagesCommand(refs)], {
        env: { ...process.env, PATH: stub.path, CALLS: calls, NO_DOCKERD: '1' },
        encoding: 'utf8',
      });
      expect(down.status).to.not.equal(0);
      expect(parseImages(down.stdout)).to.deep.equal({});
    } finally {
      stub.done();
      rmSync(calls, { force: true });
    }
  });
});

describe('docker facts: listening sockets', () => {
  it('parses ss lines in every local address form, with and without the process', () => {
    const ss = [
      'tcp   LISTEN 0      5            0.0.0.0:8500       0.0.0.0:*    users:(("python3",pid=123,fd=3))',
      'tcp   LISTEN 0      128             [::]:22            [::]:*    users:(("sshd",pid=7,fd=4),("sshd",pid=8,fd=4))',
      'udp   UNCONN 0      0        127.0.0.1%lo:53          0.0.0.0:*    users:(("dnsmasq",pid=900,fd=4))',
      'tcp   LISTEN 0      4096               *:2181             *:*    users:(("java",pid=501,fd=40))',
      'tcp   LISTEN 0      4096       127.0.0.1:9999       0.0.0.0:*',
      'Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port',
      'u_str LISTEN 0      5      /run/x.sock 123 * 0',
      '',
    ].join('\n');
    expect(parseListening(ss)).to.deep.equal([
      { protocol: 'tcp', address: '0.0.0.0', port: 8500, process: 'python3', pid: 123 },
      { protocol: 'tcp', address: '::', port: 22, process: 'sshd', pid: 7 },
      { protocol: 'udp', address: '127.0.0.1', port: 53, process: 'dnsmasq', pid: 900 },
      { protocol: 'tcp', address: '*', port: 2181, process: 'java', pid: 501 },
      { protocol: 'tcp', address: '127.0.0.1', port: 9999 },
    ]);
  });

  describe('LISTENING_COMMAND on this machine', () => {
    let server: Server;
    before(function () {
      if (spawnSync('sh', ['-c', 'command -v ss']).status !== 0) this.skip();
    });
    afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

    it('finds a socket this process listens on, with this process as holder', async () => {
      server = createServer();
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as { port: number }).port;
      const out = execFileSync('sh', ['-c', LISTENING_COMMAND], { encoding: 'utf8' });
      const mine = parseListening(out).filter((s) => s.port === port);
      expect(mine).to.have.length(1);
      expect(mine[0]).to.include({ protocol: 'tcp', address: '127.0.0.1', pid: process.pid });
    });
  });
});
