// `paasbox tunnel up|status|down` end to end, from a "laptop" that has no
// route to the stack's address:
//
//   network A: the laptop container and the stack host (a docker-in-docker
//              test host): the laptop reaches the stack host's SSH ports only
//   network B: the stack host alone; the stack advertises its B address
//
// The stack (consul, registrator, haproxy, dns, sshd; images built here) is
// installed onto the stack host by provisionTarget with --ip = its B address,
// sshd letting in the test key, and the example app runs there as python1.
// The laptop runs the real `paasbox tunnel` (this checkout and this node,
// mounted read-only; sshuttle from Debian), with an instance record naming
// the stack host by its A address. Its firewall rejects network B outright,
// so nothing reaches B except through sshuttle's redirect (nat OUTPUT comes
// before the filter table). Its own DNS is a dnsmasq on 127.0.0.1 that knows
// laptop.example.test only: other names must keep resolving while the tunnel
// is up. Run twice: with a plain resolv.conf, and with systemd-resolved.
// Before `up` python1.service.consul neither resolves nor answers; after it
// both; after `down` iptables-save, nft list ruleset, the routes, rules,
// links, addresses and resolv.conf are what they were, and it fails again.
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Progress } from '../../src/progress.js';
import { parseAuthorizedKeys } from '../../src/provision/access.js';
import { provisionTarget } from '../../src/provision/provision.js';
import type { Instance } from '../../src/instance/state.js';
import { repoPath } from '../../src/paths.js';
import { SshTarget } from '../../src/target/ssh.js';
import { isCI } from '../helpers/ci.js';
import { ensureExampleImage, ensureStackImages } from '../helpers/images.js';
import {
  createTestHosts,
  ensureTestHostImage,
  hostExec,
  type TestHost,
  type TestHosts,
} from '../helpers/testhosts.js';

// The install keeps its secrets here, never in the user's .paasbox/.
process.env['PAASBOX_STATE_DIR'] ??= mkdtempSync(join(tmpdir(), 'paasbox-state-'));

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PREFIX = 'pbtun';

// The laptop: the test host image (sshd, iptables, curl, dig, python3) plus
// sshuttle, nft, a dnsmasq for its own names, and systemd-resolved with dbus.
const LAPTOP_DOCKERFILE = `FROM paasbox/dind-host:bare
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends sshuttle nftables dnsmasq-base systemd-resolved dbus \\
 && rm -rf /var/lib/apt/lists/*
`;

async function ensureLaptopImage(): Promise<string> {
  // Built here when missing: run alone (npm run test:one), no earlier spec has made it.
  const base = (
    await run('docker', ['image', 'inspect', '-f', '{{.Id}}', await ensureTestHostImage('bare')])
  ).stdout.trim();
  const hash = createHash('sha256').update(LAPTOP_DOCKERFILE).update(base).digest('hex').slice(0, 12);
  const ref = `paasbox/tunnel-laptop:${hash}`;
  if (
    await run('docker', ['image', 'inspect', ref]).then(
      () => true,
      () => false,
    )
  )
    return ref;
  await new Promise<void>((resolve, reject) => {
    const p = spawn('docker', ['build', '-q', '-t', ref, '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            new Error(
              `docker build of the laptop image failed (it apt-get installs sshuttle): ${err.slice(-2000)}`,
            ),
          ),
    );
    p.stdin.end(LAPTOP_DOCKERFILE);
  });
  return ref;
}

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

describe('paasbox tunnel: sshuttle from a laptop with no route to the stack (integration)', function () {
  this.timeout(1_800_000);
  let th: TestHosts | undefined;
  let stackHost: TestHost;
  let netB: string | undefined;
  let laptop: string | undefined;
  let addrB: string;
  let subnetB: string;
  let target: SshTarget | undefined;
  const quiet = () => new Progress({ json: true });

  /** A shell command in the laptop. */
  const lap = (cmd: string, timeoutMs = 120_000): Promise<Out> =>
    run('docker', ['exec', laptop!, 'sh', '-c', cmd], { timeout: timeoutMs, maxBuffer: 1 << 24 }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({
        code: typeof e.code === 'number' ? e.code : 1,
        stdout: e.stdout ?? '',
        stderr: e.stderr ?? '',
      }),
    );
  /** The real command, as a user on the laptop runs it (PBTUN_SHOW=1 prints what it said). */
  const paasbox = async (args: string) => {
    const r = await lap(
      `cd /tmp && PAASBOX_STATE_DIR=/state node ${repoPath('bin', 'paasbox.mjs')} tunnel ${args}`,
      180_000,
    );
    if (process.env['PBTUN_SHOW'])
      console.log(
        `      $ paasbox tunnel ${args} → exit ${r.code}\n${(r.stdout + r.stderr).replace(/^/gm, '        ')}`,
      );
    return r;
  };
  // -f: an HTTP error (a 404 or 503 from HAProxy) is a failure, never an answer.
  const curl = (url: string, extra = '') => lap(`curl -fsS -m 8 ${extra} ${url}`);
  /** python1's page: the example app's own answer, through HAProxy by name. */
  const PYTHON1_PAGE = /^Hello from python1 \(instance [0-9a-f]{12}\)\n$/;
  // curl's exit codes for "not reachable": 6 the name does not resolve, 7 no connection
  // (the laptop's REJECT rule for network B answers at once, so never 28, a timeout).
  const CANNOT_RESOLVE = 6;
  const CANNOT_CONNECT = 7;
  /** Everything a tunnel could leave behind on the laptop, counters left out. */
  const snapshot = async () => {
    const r = await lap(
      [
        `iptables-save | grep -v '^#' | sed -E 's/ \\[[0-9]+:[0-9]+\\]$//'`,
        `echo ---; nft list ruleset | sed -E 's/ counter packets [0-9]+ bytes [0-9]+/ counter/'`,
        'echo ---; ip route show table all; echo ---; ip rule show',
        "echo ---; ip -o link show | awk '{print $2}'; echo ---; ip -o addr show | awk '{print $2, $4}'",
        'echo ---; cat /etc/resolv.conf',
      ].join('; '),
    );
    expect(r.code, r.stderr).to.equal(0);
    return r.stdout;
  };
  const sshuttleCount = async () =>
    Number((await lap("ps -eo stat=,args= | grep -v '^Z' | grep -c '[s]shuttle -r' || true")).stdout.trim());
  const waitFor = async (what: string, fn: () => Promise<boolean>, ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await fn().catch(() => false)) return;
      await sleep(1000);
    }
    throw new Error(`timed out after ${ms / 1000}s waiting for ${what}`);
  };

  before(async function () {
    if (
      !(await run('docker', ['info']).then(
        () => true,
        () => false,
      ))
    ) {
      // .ci/run provides docker: there its absence is a failure, never a skip.
      if (isCI()) throw new Error('no usable docker daemon, and CI=true: this spec must run');
      console.log('    skipped: no usable docker daemon on this machine for the test hosts');
      this.skip();
    }
    // Built (or found up to date) by the real builder; a build failure fails the spec.
    await ensureStackImages(['registry', 'consul', 'registrator', 'haproxy', 'dns', 'sshd']);
    const app = await ensureExampleImage();
    const laptopImage = await ensureLaptopImage();

    th = await createTestHosts(1, { prefix: PREFIX, withDocker: true });
    stackHost = th.hosts[0]!;
    const labels = [
      '--label',
      'paasbox.testhost=1',
      '--label',
      `paasbox.testhost.prefix=${PREFIX}`,
      '--label',
      `paasbox.testhost.pid=${process.pid}`,
    ];
    netB = `${PREFIX}-p${process.pid}-b`;
    await run('docker', ['network', 'rm', netB]).catch(() => undefined);
    await run('docker', ['network', 'create', ...labels, netB]);
    await run('docker', ['network', 'connect', netB, stackHost.name]);
    addrB = (
      await run('docker', [
        'inspect',
        '-f',
        `{{(index .NetworkSettings.Networks "${netB}").IPAddress}}`,
        stackHost.name,
      ])
    ).stdout.trim();
    subnetB = (
      await run('docker', ['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}}', netB])
    ).stdout.trim();
    expect(addrB).to.match(/^\d+\.\d+\.\d+\.\d+$/);

    // The stack, advertising the B address; its sshd lets in the test key (the user's key on the laptop).
    const configPath = join(mkdtempSync(join(tmpdir(), 'pbtun-')), 'paasbox.yaml');
    writeFileSync(
      configPath,
      'services:\n  zookeeper: { enabled: false }\n  mesos-master: { enabled: false }\n  mesos-slave: { enabled: false }\n  marathon: { enabled: false }\n  sshd: { enabled: true }\n',
    );
    target = new SshTarget({
      host: stackHost.address,
      user: stackHost.user,
      keyPath: stackHost.keyPath,
      knownHostsPath: th.knownHostsPath,
    });
    const authorizedKeys = parseAuthorizedKeys(
      readFileSync(`${stackHost.keyPath}.pub`, 'utf8'),
      `${stackHost.keyPath}.pub`,
    );
    const out = await provisionTarget(target, {
      flags: { imageSource: 'local', ip: addrB },
      env: {},
      configPath,
      authorizedKeys,
      progress: quiet(),
      healthTimeoutS: 300,
    });
    expect(Object.keys(out.plan!.compose.services)).to.include.members([
      'consul',
      'registrator',
      'haproxy',
      'dns',
      'sshd',
    ]);
    expect(out.plan!.settings.ip).to.equal(addrB);

    // python1, registered by the registrator, routed by HAProxy by name.
    await run('sh', ['-c', `docker save ${app} | docker exec -i ${stackHost.name} docker load`], {
      maxBuffer: 1 << 26,
    });
    await hostExec(
      stackHost,
      `docker run -d --name pbtun-python1 -P -e SERVICE_NAME=python1 -e SERVICE_TAGS=http -e SERVICE_CHECK_HTTP=/health ${app}`,
    );
    await waitFor(
      'python1 routed by HAProxy on the stack host',
      async () =>
        (await hostExec(stackHost, `curl -fsS -m 5 -H 'Host: python1.service.consul' http://${addrB}/`))
          .length > 0,
      120_000,
    );

    // The laptop: on network A only, its firewall rejecting network B, its own DNS on 127.0.0.1.
    laptop = `${PREFIX}-p${process.pid}-laptop`;
    await run('docker', ['rm', '-f', laptop]).catch(() => undefined);
    await run('docker', [
      'run',
      '-d',
      '--init',
      '--name',
      laptop,
      '--hostname',
      'laptop',
      '--network',
      th.network,
      ...labels,
      '--cap-add',
      'NET_ADMIN',
      '--cap-add',
      'NET_RAW',
      '-v',
      `${repoPath()}:${repoPath()}:ro`,
      '-v',
      `${realpathSync(process.execPath)}:/usr/local/bin/node:ro`,
      laptopImage,
      'sleep',
      'infinity',
    ]);
    const setup = await lap(
      [
        'set -e',
        `iptables -A OUTPUT -d ${subnetB} -j REJECT`,
        'dnsmasq --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts --address=/laptop.example.test/10.1.2.3',
        "printf 'nameserver 127.0.0.1\\noptions timeout:2 attempts:1\\n' > /etc/resolv.conf",
        // The user's state: the instance install recorded (the stack host by its A address), the key, the
        // pinned host key.
        'mkdir -p /state/instances && chmod 700 /state',
      ].join('\n'),
    );
    expect(setup.code, setup.stderr).to.equal(0);
    const instance: Instance = {
      name: 'default',
      driver: 'ssh',
      mode: 'ssh',
      lifecycle: 'converged',
      updatedAt: new Date().toISOString(),
      stage: {
        kind: 'ssh',
        ssh: {
          host: stackHost.address,
          port: 22,
          user: 'root',
          keyPath: '/state/id_ed25519',
          knownHostsPath: '/state/known_hosts',
          hostKeyPolicy: 'strict',
        },
      },
      deployment: {
        ip: addrB,
        imageSource: 'local',
        composePath: '/opt/paasbox/docker-compose.yml',
        project: out.plan!.project,
      },
    };
    const dir = mkdtempSync(join(tmpdir(), 'pbtun-state-'));
    writeFileSync(join(dir, 'default.json'), JSON.stringify(instance, null, 2));
    await run('docker', ['cp', join(dir, 'default.json'), `${laptop}:/state/instances/default.json`]);
    await run('docker', ['cp', stackHost.keyPath, `${laptop}:/state/id_ed25519`]);
    await run('docker', ['cp', th.knownHostsPath, `${laptop}:/state/known_hosts`]);
    const perms = await lap(
      'chown -R root:root /state && chmod 600 /state/id_ed25519 /state/known_hosts /state/instances/default.json && sshuttle --version',
    );
    expect(perms.code, perms.stderr).to.equal(0);
  });

  after(async () => {
    if (laptop) await run('docker', ['rm', '-f', laptop]).catch(() => undefined);
    await target?.close();
    await th?.destroy();
    if (netB) await run('docker', ['network', 'rm', netB]).catch(() => undefined);
  });

  it('before up: the laptop neither resolves nor reaches the stack; its own names resolve', async () => {
    const byName = await curl('http://python1.service.consul/');
    expect(byName.code, byName.stdout + byName.stderr).to.equal(CANNOT_RESOLVE);
    expect(byName.stderr).to.match(/Could not resolve host: python1\.service\.consul/);
    const byAddress = await curl(`http://${addrB}/`, "-H 'Host: python1.service.consul'");
    expect(byAddress.code, byAddress.stdout + byAddress.stderr).to.equal(CANNOT_CONNECT);
    expect(byAddress.stderr).to.match(/Failed to connect to /);
    const dig = await lap(`dig +short +time=2 +tries=1 @${addrB} consul.service.consul`);
    expect(dig.stdout).to.not.match(/^\d+\.\d+\.\d+\.\d+$/m);
    expect((await lap('getent hosts laptop.example.test')).stdout).to.match(/^10\.1\.2\.3\s/);
    const st = await paasbox('status');
    expect(st.code).to.equal(1);
    expect(st.stdout).to.match(/tunnel default: down/);
  });

  it("--print shows the command up runs: only the stack's address, DNS to the stack only, in the background", async () => {
    const r = await paasbox('--print');
    expect(r.code, r.stderr).to.equal(0);
    const line = r.stdout.trim();
    expect(line).to.match(new RegExp(`^sshuttle -r root@${stackHost.address.replace(/\./g, '\\.')}:2222 `));
    expect(line).to.match(
      new RegExp(
        `--ns-hosts ${addrB.replace(/\./g, '\\.')},127\\.0\\.0\\.153 --to-ns ${addrB.replace(/\./g, '\\.')} `,
      ),
    );
    expect(line).to.match(/ -D --pidfile \/state\/tunnel\/default\/sshuttle\.pid /);
    expect(line.endsWith(` ${addrB}/32`)).to.equal(true);
    expect(line).to.not.match(/ --dns\b/);
    expect(r.stderr).to.match(/resolver resolv\.conf/);
    // Never everything, never the laptop's own network; refused before anything changes.
    const all = await paasbox('up --subnet 0.0.0.0/0');
    expect(all.code).to.equal(2);
    expect(all.stderr).to.match(/would send all of this machine's traffic/);
    const subnetA = (
      await run('docker', ['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}}', th!.network])
    ).stdout.trim();
    const own = await paasbox(`up --subnet ${subnetA}`);
    expect(own.code).to.equal(2);
    expect(own.stderr).to.match(/holds this machine's own address/);
    expect(await sshuttleCount()).to.equal(0);
  });

  describe('with a plain resolv.conf', () => {
    let before = '';

    it('up: python1.service.consul resolves and answers through the tunnel, other names still resolve', async () => {
      before = await snapshot();
      const up = await paasbox('up');
      expect(up.code, `${up.stdout}\n${up.stderr}`).to.equal(0);
      expect(up.stdout).to.match(/tunnel default: started; resolver resolv\.conf/);
      const page = await curl('http://python1.service.consul/');
      expect(page.code, page.stderr).to.equal(0);
      expect(page.stdout).to.match(PYTHON1_PAGE);
      const leader = await curl('http://consul.service.consul:8500/v1/status/leader');
      expect(leader.code, leader.stderr).to.equal(0);
      expect(leader.stdout).to.include(`${addrB}:8300`);
      expect((await lap('getent hosts python1.service.consul')).stdout).to.match(
        new RegExp(`^${addrB.replace(/\./g, '\\.')}\\s`),
      );
      expect((await lap('getent hosts laptop.example.test')).stdout).to.match(/^10\.1\.2\.3\s/);
      expect(
        (await lap(`dig +short +time=3 +tries=1 @${addrB} consul.service.consul`)).stdout.trim(),
      ).to.equal(addrB);
      // Only the stack's address is routed; the rest of network B is not (an address no container has: the
      // laptop's own REJECT answers).
      const other = await curl(`http://${subnetB.replace(/\.0\/\d+$/, '.250')}:8500/`);
      expect(other.code, other.stderr).to.equal(CANNOT_CONNECT);
      expect(other.stderr).to.match(/Failed to connect to /);
    });

    it('status: running, what it routes and where DNS goes; up again is the same one tunnel', async () => {
      const st = await paasbox('status');
      expect(st.code, st.stdout + st.stderr).to.equal(0);
      expect(st.stdout).to.match(/tunnel default: up \(sshuttle pid \d+, via root@/);
      expect(st.stdout).to.include(`routes:   ${addrB}/32`);
      expect(st.stdout).to.include(`dns:      queries to ${addrB}, 127.0.0.153`);
      const json = JSON.parse((await paasbox('status --json')).stdout) as {
        state: string;
        routes: string[];
        pid: number;
      };
      expect(json.state).to.equal('up');
      expect(json.routes).to.deep.equal([`${addrB}/32`]);
      const pid = json.pid;
      const again = await paasbox('up');
      expect(again.code, again.stderr).to.equal(0);
      expect(again.stdout).to.match(/already up, nothing changed/);
      expect(await sshuttleCount()).to.equal(1);
      expect((JSON.parse((await paasbox('status --json')).stdout) as { pid: number }).pid).to.equal(pid);
      expect(
        (await lap('test -s /state/tunnel/default/sshuttle.log && cat /state/tunnel/default/sshuttle.log'))
          .stdout,
      ).to.match(/Connected to server/);
    });

    it('down: sshuttle stopped, every rule, route and resolver line it added gone, the stack unreachable again', async () => {
      const down = await paasbox('down');
      expect(down.code, down.stderr).to.equal(0);
      expect(down.stdout).to.match(
        /tunnel default: down \(sshuttle pid \d+ stopped\); \d+ route\/rule\/link line\(s\) it added verified gone/,
      );
      expect(await snapshot()).to.equal(before);
      expect(await sshuttleCount()).to.equal(0);
      expect((await lap('ls /state/tunnel/default/')).stdout).to.not.match(/sshuttle\.pid|state\.json/);
      const byName = await curl('http://python1.service.consul/');
      expect(byName.code, byName.stdout + byName.stderr).to.equal(CANNOT_RESOLVE);
      const byAddress = await curl(`http://${addrB}/`, "-H 'Host: python1.service.consul'");
      expect(byAddress.code, byAddress.stdout + byAddress.stderr).to.equal(CANNOT_CONNECT);
      const again = await paasbox('down');
      expect(again.code, again.stderr).to.equal(0);
      expect(again.stdout).to.match(/was not running; nothing to do/);
    });
  });

  describe('with systemd-resolved', () => {
    let before = '';

    it('up: only .consul goes to the stack, through a link of its own', async () => {
      const start = await lap(
        [
          'set -e',
          'mkdir -p /run/dbus /etc/systemd/resolved.conf.d && rm -rf /run/systemd/resolve',
          "printf '[Resolve]\\nDNS=127.0.0.1\\nLLMNR=no\\nMulticastDNS=no\\n' > /etc/systemd/resolved.conf.d/laptop.conf",
          'dbus-daemon --system --fork',
          '(/lib/systemd/systemd-resolved >/var/log/resolved.log 2>&1 &)',
          'for i in $(seq 50); do [ -e /run/systemd/resolve/stub-resolv.conf ] && break; sleep 0.2; done',
          "printf 'nameserver 127.0.0.53\\noptions edns0\\n' > /etc/resolv.conf",
        ].join('\n'),
      );
      expect(start.code, start.stderr).to.equal(0);
      await waitFor(
        'systemd-resolved answering laptop.example.test',
        async () => /^10\.1\.2\.3\s/.test((await lap('getent hosts laptop.example.test')).stdout),
        20_000,
      );
      expect((await curl('http://python1.service.consul/')).code).to.equal(CANNOT_RESOLVE);
      before = await snapshot();

      const up = await paasbox('up');
      expect(up.code, `${up.stdout}\n${up.stderr}`).to.equal(0);
      expect(up.stdout).to.match(/started; resolver resolved \(systemd-resolved/);
      const page = await curl('http://python1.service.consul/');
      expect(page.code, page.stderr).to.equal(0);
      expect(page.stdout).to.match(PYTHON1_PAGE);
      const q = await lap('resolvectl query python1.service.consul');
      expect(q.stdout, q.stderr).to.match(
        new RegExp(
          `python1\\.service\\.consul: ${addrB.replace(/\./g, '\\.')}\\s+-- link: pbtun-[0-9a-f]{6}`,
        ),
      );
      expect((await lap('getent hosts laptop.example.test')).stdout).to.match(/^10\.1\.2\.3\s/);
      expect((await lap('resolvectl domain')).stdout).to.match(/pbtun-[0-9a-f]{6}\): ~consul/);
      // resolv.conf is left alone in this mode.
      expect((await lap('cat /etc/resolv.conf')).stdout).to.equal('nameserver 127.0.0.53\noptions edns0\n');
      expect((await paasbox('status')).code).to.equal(0);
    });

    it('down: the link, its address and the rules are gone; .consul stops resolving', async () => {
      const down = await paasbox('down');
      expect(down.code, down.stderr).to.equal(0);
      expect(down.stdout).to.match(/resolver link pbtun-[0-9a-f]{6} removed/);
      expect(await snapshot()).to.equal(before);
      expect((await lap('resolvectl status')).stdout).to.not.match(/pbtun-/);
      await waitFor(
        'python1.service.consul to stop resolving',
        async () => (await curl('http://python1.service.consul/')).code === CANNOT_RESOLVE,
        15_000,
      );
      expect((await lap('getent hosts laptop.example.test')).stdout).to.match(/^10\.1\.2\.3\s/);
    });
  });

  describe('as a user with sudo, not root', () => {
    let before = '';
    // The same state, the user's own; paasbox and sshuttle take root through sudo.
    const asUser = (args: string) =>
      lap(
        `su paas -c 'cd /tmp && PAASBOX_STATE_DIR=/home/paas/state node ${repoPath('bin', 'paasbox.mjs')} tunnel ${args}'`,
        180_000,
      );

    it('up and down through sudo leave the laptop as it was', async () => {
      const cp = await lap(
        `rm -rf /home/paas/state && mkdir -p /home/paas/state && cp -r /state/instances /state/id_ed25519 /state/known_hosts /home/paas/state/ && sed -i 's#"/state/#"/home/paas/state/#g' /home/paas/state/instances/default.json && chown -R paas:paas /home/paas/state && chmod 700 /home/paas/state`,
      );
      expect(cp.code, cp.stderr).to.equal(0);
      before = await snapshot();
      const up = await asUser('up');
      expect(up.code, `${up.stdout}\n${up.stderr}`).to.equal(0);
      const page = await curl('http://python1.service.consul/');
      expect(page.code, page.stderr).to.equal(0);
      expect(page.stdout).to.match(PYTHON1_PAGE);
      expect(
        (await lap('ps -o user= -p $(cat /home/paas/state/tunnel/default/sshuttle.pid)')).stdout.trim(),
      ).to.equal('paas');
      const st = await asUser('status');
      expect(st.code, st.stdout).to.equal(0);
      expect(st.stdout).to.include(`routes:   ${addrB}/32`);
      const down = await asUser('down');
      expect(down.code, `${down.stdout}\n${down.stderr}`).to.equal(0);
      expect(await snapshot()).to.equal(before);
      await waitFor(
        'python1.service.consul to stop resolving',
        async () => (await curl('http://python1.service.consul/')).code === CANNOT_RESOLVE,
        15_000,
      );
    });
  });
});
