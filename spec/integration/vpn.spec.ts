// OpenVPN end to end: the discovery part of the stack with openvpn enabled
// (consul, registrator, haproxy, dns, openvpn; ZooKeeper and Mesos left out by
// a settings file) installed by provisionTarget onto a docker-in-docker test
// host, which makes the PKI here with easy-rsa. The "laptop" is a container
// of this run on a second, internal network where the test host has another
// address: it has no route to the stack's address, so everything it reaches
// goes through the tunnel. `paasbox vpn client laptop --remote THAT_ADDRESS`
// exports the profile; an OpenVPN client started with it resolves
// consul.service.consul and python1.service.consul through the tunnel's DNS
// and gets python1's page through HAProxy. After `paasbox vpn revoke laptop`
// the open session is cut and the same profile is refused (the CRL).
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pushImages } from '../../src/images/push.js';
import { OPENVPN_DIR } from '../../src/provision/openvpn.js';
import { provisionTarget } from '../../src/provision/provision.js';
import { Progress } from '../../src/progress.js';
import { COMPOSE_PATH } from '../../src/stackfile/deployment.js';
import { repoPath } from '../../src/paths.js';
import { LocalTarget } from '../../src/target/local.js';
import { SshTarget } from '../../src/target/ssh.js';
import { pkiDir } from '../../src/vpn/pki.js';
import { isCI } from '../helpers/ci.js';
import { ensureExampleImage, ensureStackImages } from '../helpers/images.js';
import { createTestHosts, hostExec, type TestHosts } from '../helpers/testhosts.js';

// The install keeps its state and the PKI here, never in the user's .paasbox/.
process.env['PAASBOX_STATE_DIR'] ??= mkdtempSync(join(tmpdir(), 'paasbox-state-'));

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PREFIX = 'pbvpn';
const BASE = `${PREFIX}-p${process.pid}`;
const OUT_NET = `${BASE}-out`;
const CLIENT_IMAGE = 'pbvpn/client:bookworm';
const LABELS = [
  '--label',
  'paasbox.testhost=1',
  '--label',
  `paasbox.testhost.prefix=${PREFIX}`,
  '--label',
  `paasbox.testhost.pid=${process.pid}`,
];

/**
 * OpenVPN's --up script in the client: the profile's dhcp-option DNS/DOMAIN into resolv.conf (what
 * update-resolv-conf does on a laptop).
 */
const UP_SCRIPT = `#!/bin/sh
ns=""; search=""
i=1
while :; do
  eval o=\\"\\\${foreign_option_$i:-}\\"
  [ -n "$o" ] || break
  case "$o" in
    "dhcp-option DNS "*) ns="$ns \${o#dhcp-option DNS }" ;;
    "dhcp-option DOMAIN "*) search="$search \${o#dhcp-option DOMAIN }" ;;
  esac
  i=$((i + 1))
done
{ for n in $ns; do echo "nameserver $n"; done; [ -z "$search" ] || echo "search$search"; } > /etc/resolv.conf
`;

/** The client image: the paasbox base with Debian's openvpn and curl (built once, then docker's cache). */
async function ensureClientImage(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pbvpn-img-'));
  writeFileSync(
    join(dir, 'Dockerfile'),
    'FROM paasbox/debian:bookworm\nRUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openvpn curl iproute2 && apt-get clean && rm -rf /var/lib/apt/lists/*\n',
  );
  try {
    await run('docker', ['build', '-q', '-t', CLIENT_IMAGE, dir], { timeout: 900_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function docker(...args: string[]): Promise<{ code: number; out: string }> {
  return run('docker', args, { maxBuffer: 16 << 20, timeout: 120_000 }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof e.code === 'number' ? e.code : 1,
      out: `${e.stdout ?? ''}${e.stderr ?? ''}`,
    }),
  );
}

/** Poll fn until it returns a value (not undefined) or ms pass; the last value or undefined. */
async function until<T>(
  fn: () => Promise<T | undefined>,
  ms: number,
  everyMs = 1000,
): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined || Date.now() > end) return v;
    await sleep(everyMs);
  }
}

describe('OpenVPN end to end: a client profile reaches the stack by name, and revoke shuts it out (integration)', function () {
  this.timeout(1_800_000);
  let th: TestHosts | undefined;
  let target: SshTarget;
  let ip: string;
  let outsideIp: string;
  let configPath: string;
  let work: string;
  const clients: string[] = [];
  const quiet = () => new Progress({ json: true });
  const install = () =>
    provisionTarget(target, {
      flags: { imageSource: 'local', ip },
      env: {},
      configPath,
      progress: quiet(),
      healthTimeoutS: 300,
    });

  /** `paasbox vpn ARGS` against the test host, as a user runs it. */
  const vpn = async (...args: string[]) => {
    const h = th!.hosts[0]!;
    const r = await run(
      'node',
      [
        repoPath('bin', 'paasbox.mjs'),
        'vpn',
        ...args,
        '--target',
        `root@${h.address}`,
        '--key',
        th!.keyPath,
        '--known-hosts',
        th!.knownHostsPath,
      ],
      {
        cwd: work,
        env: { ...process.env, PAASBOX_STATE_DIR: process.env['PAASBOX_STATE_DIR']! },
        timeout: 300_000,
      },
    ).then(
      (x) => ({ code: 0, stdout: x.stdout, stderr: x.stderr }),
      (x: { code: number; stdout: string; stderr: string }) => ({
        code: x.code,
        stdout: x.stdout,
        stderr: x.stderr,
      }),
    );
    return r;
  };

  /** Start an OpenVPN client container on the outside network with the profile; its name. */
  const startClient = async (profile: string) => {
    const name = `${BASE}-client${clients.length + 1}`;
    clients.push(name);
    const r = await docker(
      'run',
      '-d',
      '--name',
      name,
      ...LABELS,
      '--network',
      OUT_NET,
      '--cap-add',
      'NET_ADMIN',
      '--device',
      '/dev/net/tun',
      '-v',
      `${work}:/vpn:ro`,
      CLIENT_IMAGE,
      'sh',
      '-c',
      `exec openvpn --config /vpn/${profile} --script-security 2 --up /vpn/up.sh > /tmp/openvpn.log 2>&1`,
    );
    expect(r.code, r.out).to.equal(0);
    return name;
  };
  const clientLog = async (name: string) => (await docker('exec', name, 'cat', '/tmp/openvpn.log')).out;
  const inClient = (name: string, command: string) => docker('exec', name, 'sh', '-c', command);
  const serverLog = () =>
    hostExec(
      th!.hosts[0]!,
      'docker logs $(docker ps -aq --filter label=com.docker.compose.service=openvpn) 2>&1',
    );

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
    let tun = false;
    try {
      tun = statSync('/dev/net/tun').isCharacterDevice();
    } catch {
      /* absent */
    }
    if (!tun) {
      if (isCI())
        throw new Error(
          'no /dev/net/tun on this machine, and CI=true: the OpenVPN client container needs it (modprobe tun)',
        );
      console.log(
        '    skipped: no /dev/net/tun on this machine for the OpenVPN client container (modprobe tun)',
      );
      this.skip();
    }
    await ensureStackImages(['registry', 'consul', 'registrator', 'haproxy', 'dns', 'openvpn']);
    await ensureExampleImage();
    await ensureClientImage();
    work = mkdtempSync(join(tmpdir(), 'pbvpn-'));
    chmodSync(work, 0o755);
    writeFileSync(join(work, 'up.sh'), UP_SCRIPT, { mode: 0o755 });
    configPath = join(work, 'paasbox.yaml');
    writeFileSync(
      configPath,
      'services:\n  zookeeper: { enabled: false }\n  mesos-master: { enabled: false }\n  mesos-slave: { enabled: false }\n  marathon: { enabled: false }\n  openvpn: { enabled: true }\n',
    );
    th = await createTestHosts(1, { prefix: PREFIX, withDocker: true });
    const h = th.hosts[0]!;
    ip = h.address;
    // The laptop's network: internal (no way out), the test host has a second address there.
    await docker('network', 'rm', OUT_NET);
    const net = await docker('network', 'create', '--internal', ...LABELS, OUT_NET);
    expect(net.code, net.out).to.equal(0);
    const conn = await docker('network', 'connect', OUT_NET, h.name);
    expect(conn.code, conn.out).to.equal(0);
    outsideIp = (
      await run('docker', [
        'inspect',
        '-f',
        `{{(index .NetworkSettings.Networks "${OUT_NET}").IPAddress}}`,
        h.name,
      ])
    ).stdout.trim();
    target = new SshTarget({
      host: h.address,
      user: h.user,
      keyPath: h.keyPath,
      knownHostsPath: th.knownHostsPath,
    });
    const out = await install();
    const steps = Object.fromEntries(out.steps.map((s) => [s.step, s.status]));
    expect(Object.keys(out.plan!.compose.services)).to.include.members([
      'consul',
      'registrator',
      'haproxy',
      'dns',
      'openvpn',
    ]);
    expect(steps[`VPN server files ${OPENVPN_DIR}`]).to.equal('changed');
    await pushImages(new LocalTarget(), target, ['paasbox/simplewebapp-python:latest']);
  });

  after(async () => {
    if (clients.length) await docker('rm', '-f', ...clients);
    await target?.close();
    await th?.destroy();
    await docker('network', 'rm', OUT_NET);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('install made the PKI here (0700/0600, the CA key stays) and gave the server only its own files, root 0600, mounted read-only', async () => {
    const pki = pkiDir('default');
    expect(statSync(pki).mode & 0o777).to.equal(0o700);
    for (const f of ['private/ca.key', 'private/server.key', 'tc.key', 'ca.crt', 'crl.pem', 'index.txt'])
      expect(statSync(join(pki, f)).mode & 0o777, f).to.equal(0o600);
    const listing = (await hostExec(th!.hosts[0]!, `cd ${OPENVPN_DIR} && stat -c '%n %a %U' . * | sort`))
      .trim()
      .split('\n');
    expect(listing).to.deep.equal([
      '. 700 root',
      'ca.crt 600 root',
      'crl.pem 600 root',
      'server.conf 600 root',
      'server.crt 600 root',
      'server.key 600 root',
      'tc.key 600 root',
    ]);
    const serverKey = await hostExec(th!.hosts[0]!, `cat ${OPENVPN_DIR}/server.key`);
    expect(serverKey).to.equal(readFileSync(join(pki, 'private', 'server.key'), 'utf8'));
    const caKey = readFileSync(join(pki, 'private', 'ca.key'), 'utf8');
    const all = await hostExec(th!.hosts[0]!, `cat ${OPENVPN_DIR}/*`);
    expect(all).to.not.include(caKey.split('\n')[1]!);
    expect((await target.exec(`cat ${COMPOSE_PATH}`, { sudo: true })).stdout).to.include(
      `${OPENVPN_DIR}:/etc/openvpn/paasbox:ro`,
    );
    // Nothing of the PKI in the image: the server generated nothing itself.
    const made = await hostExec(
      th!.hosts[0]!,
      "docker exec $(docker ps -q --filter label=com.docker.compose.service=openvpn) sh -c 'ls /etc/openvpn; test -e /etc/openvpn/pki && echo HAS-PKI || true'",
    );
    expect(made).to.not.include('HAS-PKI');
  });

  it('a second install is all ok', async () => {
    const out = await install();
    const notOk = out.steps.filter((s) => s.status !== 'ok');
    expect(notOk, JSON.stringify(notOk)).to.deep.equal([]);
  });

  it('the laptop cannot reach the stack without the VPN', async () => {
    const r = await docker(
      'run',
      '--rm',
      '--network',
      OUT_NET,
      CLIENT_IMAGE,
      'curl',
      '-fsS',
      '-m',
      '3',
      `http://${ip}:8500/v1/status/leader`,
    );
    // The internal network drops what leaves it: no connection within the time, curl's 28 in the
    // connect phase (not a refusal, an HTTP error or an image without curl, which also exit non-zero).
    expect(r.code, r.out).to.equal(28);
    expect(r.out).to.match(/Connection timed out after \d+ milliseconds/);
  });

  it('vpn client laptop writes a 0600 profile with every key inline, the remote, and .consul DNS; again, the same certificate', async () => {
    const r = await vpn('client', 'laptop', '--remote', outsideIp, '--out', join(work, 'laptop.ovpn'));
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^issued a certificate for laptop; wrote .*laptop\.ovpn \(mode 0600/);
    const file = join(work, 'laptop.ovpn');
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    const p = readFileSync(file, 'utf8');
    for (const l of [
      `remote ${outsideIp} 1194`,
      'proto udp',
      `dhcp-option DNS ${ip}`,
      'dhcp-option DOMAIN consul',
      '<ca>',
      '<cert>',
      '<key>',
      '<tls-crypt>',
    ])
      expect(p.split('\n'), l).to.include(l);
    expect(p).to.not.include('pull-filter');
    const again = await vpn('client', 'laptop', '--remote', outsideIp, '--out', join(work, 'laptop.ovpn'));
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.match(/^exported the existing certificate of laptop/);
    const cert = (t: string) => /<cert>[\s\S]*<\/cert>/.exec(t)![0];
    expect(cert(readFileSync(file, 'utf8'))).to.equal(cert(p));
  });

  it('refuses bad names and unknown clients with the cause and the fix', async () => {
    const bad = await vpn('client', 'a;b');
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/VPN client name "a;b" is not usable\n {2}fix: /);
    const unknown = await vpn('revoke', 'nobody');
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.include('no VPN client "nobody"');
  });

  it("a client with the profile connects, resolves consul.service.consul and python1.service.consul through the tunnel, and gets python1's page", async () => {
    // python1, as examples/SimpleWebappPython/start.sh runs it: registered by the registrator, routed by
    // HAProxy. (Started here, after the installs: its registration reloads HAProxy, and the ports pre-flight
    // can mistake a worker that exits during a reload for a stranger.)
    await hostExec(
      th!.hosts[0]!,
      'docker run -d --name pbvpn-python1 -P -e SERVICE_NAME=python1 -e SERVICE_TAGS=http -e SERVICE_CHECK_HTTP=/health paasbox/simplewebapp-python:latest',
    );
    const c = await startClient('laptop.ovpn');
    const up = await until(
      async () => ((await clientLog(c)).includes('Initialization Sequence Completed') ? true : undefined),
      60_000,
    );
    expect(up, await clientLog(c)).to.equal(true);
    expect((await inClient(c, 'ip route')).out).to.include(`${ip} via`);
    const resolved = await until(async () => {
      const r = await inClient(c, 'getent hosts consul.service.consul');
      return r.code === 0 ? r.out : undefined;
    }, 30_000);
    expect(resolved, (await inClient(c, 'cat /etc/resolv.conf')).out).to.match(
      new RegExp(`^${ip.replace(/\./g, '\\.')}\\s+consul\\.service\\.consul`),
    );
    const leader = await inClient(c, 'curl -sS -m 5 http://consul.service.consul:8500/v1/status/leader');
    expect(leader.out).to.include(':8300');
    const page = await until(
      async () => {
        const r = await inClient(c, 'curl -sS -m 5 http://python1.service.consul/');
        return r.code === 0 && r.out.startsWith('Hello from python1 ') ? r.out : undefined;
      },
      90_000,
      2000,
    );
    expect(
      page,
      (
        await inClient(
          c,
          'curl -sS -m 5 -i http://python1.service.consul/; getent hosts python1.service.consul',
        )
      ).out,
    ).to.be.a('string');
  });

  it('vpn list shows laptop valid', async () => {
    const r = await vpn('list');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^laptop\s+valid\s+\d{4}-/m);
    expect(r.stdout).to.not.match(/^server\s/m);
  });

  it('after vpn revoke laptop the open session is cut and the same profile is refused (CRL)', async () => {
    const first = clients[0]!;
    const r = await vpn('revoke', 'laptop');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('revoked laptop');
    expect(r.stdout).to.match(/open session: SUCCESS: common name 'laptop' found, 1 client\(s\) killed/);
    const crl = readFileSync(join(pkiDir('default'), 'crl.pem'), 'utf8');
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    expect((await hostExec(th!.hosts[0]!, `sha256sum < ${OPENVPN_DIR}/crl.pem`)).split(' ')[0]).to.equal(
      sha(crl),
    );
    // A fresh client with the same profile never completes its handshake.
    const again = await startClient('laptop.ovpn');
    const refused = await until(
      async () => (/certificate revoked|CRL CHECK FAILED/i.test(await serverLog()) ? true : undefined),
      60_000,
      2000,
    );
    expect(refused, await serverLog()).to.equal(true);
    await sleep(5000);
    expect(await clientLog(again)).to.not.include('Initialization Sequence Completed');
    // The first one was cut and cannot come back: nothing reaches the stack from it any more.
    const cut = await until(
      async () =>
        (await inClient(first, `curl -sS -m 3 http://${ip}:8500/v1/status/leader`)).code !== 0
          ? true
          : undefined,
      60_000,
      2000,
    );
    expect(cut, await clientLog(first)).to.equal(true);
    const list = await vpn('list');
    expect(list.stdout).to.match(/^laptop\s+revoked\s/m);
    // Again (say the server was unreachable the first time): no error, the CRL is sent again.
    const twice = await vpn('revoke', 'laptop');
    expect(twice.code, twice.stderr).to.equal(0);
    expect(twice.stdout).to.include('laptop was already revoked');
    expect(twice.stdout).to.include('sent the CRL to');
  });

  it('a new profile for another name still connects (the server keeps running)', async () => {
    const r = await vpn('client', 'phone', '--remote', outsideIp, '--out', join(work, 'phone.ovpn'));
    expect(r.code, r.stderr).to.equal(0);
    const c = await startClient('phone.ovpn');
    const up = await until(
      async () => ((await clientLog(c)).includes('Initialization Sequence Completed') ? true : undefined),
      60_000,
    );
    expect(up, await clientLog(c)).to.equal(true);
    const leader = await until(async () => {
      const x = await inClient(c, `curl -sS -m 5 http://${ip}:8500/v1/status/leader`);
      return x.code === 0 ? x.out : undefined;
    }, 20_000);
    expect(leader).to.include(':8300');
  });

  it('install removes the volume where an older version let the server make its own PKI (and the container using it)', async () => {
    const h = th!.hosts[0]!;
    await hostExec(
      h,
      'docker volume create paasbox_openvpn-data >/dev/null && docker run -d --name pbvpn-legacy -v paasbox_openvpn-data:/etc/openvpn --entrypoint sleep paasbox/openvpn:local infinity',
    );
    const out = await install();
    const step = out.steps.find((x) => x.step === `VPN server files ${OPENVPN_DIR}`)!;
    expect([step.status, step.detail]).to.deep.equal([
      'changed',
      'removed the old server-made PKI (volume paasbox_openvpn-data)',
    ]);
    expect(
      (
        await hostExec(
          h,
          'docker volume ls -q --filter name=openvpn-data; docker ps -aq --filter name=pbvpn-legacy',
        )
      ).trim(),
    ).to.equal('');
    const again = await install();
    expect(
      again.steps.filter((x) => x.status !== 'ok'),
      JSON.stringify(again.steps),
    ).to.deep.equal([]);
  });

  it('the image refuses to start without the mounted PKI, saying what is missing', async () => {
    const name = `${BASE}-nopki`;
    const r = await docker('run', '--rm', '--name', name, ...LABELS, 'paasbox/openvpn:local');
    expect(r.code).to.equal(78);
    expect(r.out).to.include(
      'paasbox-openvpn: missing in /etc/openvpn/paasbox: server.conf ca.crt server.crt server.key tc.key crl.pem',
    );
    expect(r.out).to.include('never makes keys');
    expect(existsSync(join(work, 'pki'))).to.equal(false);
  });
});
