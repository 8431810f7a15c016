// The laptop stage for real: a VM under vagrant-libvirt (QEMU emulation unless
// PAASBOX_LIBVIRT_DRIVER=kvm), booted from a box built offline by
// spec/vm/build-box.sh (Debian bookworm with systemd-resolved on 127.0.0.53,
// a private network address and the default route on the management network).
// `vagrant up` with the project's own Vagrantfile provisions it through
// paasbox (its trigger), python1 is deployed, and from this host: verify
// --from-here passes, the VM's DNS answers python1 with the VM's private
// address, and curl reaches python1 by that name. `vagrant provision` then
// converges again. Slow (emulation): `npm run test:vm`, not in `npm test`.
// With CI=true anything missing fails; otherwise it is skipped with the reason.

import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pushImages } from '../../src/images/push.js';
import { repoPath } from '../../src/paths.js';
import { readInstance } from '../../src/instance/state.js';
import { openTarget } from '../../src/instance/open.js';
import { LocalTarget } from '../../src/target/local.js';
import { asRoot } from '../../src/target/sudo.js';
import { isCI } from '../helpers/ci.js';
import { ensureExampleImage } from '../helpers/images.js';

const run = promisify(execFile);
const CI = isCI();
const VM_IP = process.env['PAASBOX_IP'] ?? '192.168.59.103';
const PACKAGES = [
  'vagrant',
  'vagrant-libvirt',
  'libvirt-daemon-system',
  'libvirt-clients',
  'qemu-system-x86',
  'qemu-utils',
  'debootstrap',
  'parted',
  'dnsutils',
  'curl',
];

const sh = (cmd: string, env: NodeJS.ProcessEnv = process.env) =>
  run('sh', ['-c', cmd], { env, maxBuffer: 64 << 20 }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof e.code === 'number' ? e.code : 1,
      out: `${e.stdout ?? ''}${e.stderr ?? ''}`,
    }),
  );

/**
 * A long command with its output streamed (indented) under the spec's, and its tail kept for the assertion.
 */
function stream(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd = repoPath(),
): Promise<{ code: number; tail: string; seconds: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    let atLineStart = true;
    const take = (b: Buffer) => {
      const s = b.toString();
      tail = (tail + s).slice(-20_000);
      // Prefix whole lines only: chunks end mid-line.
      process.stderr.write((atLineStart ? '      | ' : '') + s.replace(/\n(?=.)/g, '\n      | '));
      atLineStart = s.endsWith('\n');
    };
    p.stdout.on('data', take);
    p.stderr.on('data', take);
    p.on('close', (code) =>
      resolve({ code: code ?? 1, tail, seconds: Math.round((Date.now() - t0) / 1000) }),
    );
  });
}

describe('laptop stage: vagrant-libvirt VM provisioned by the Vagrantfile trigger (vm)', function () {
  this.timeout(3 * 3600_000);
  const work = mkdtempSync(join(tmpdir(), 'paasbox-vm-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    VAGRANT_DOTFILE_PATH: join(work, 'vagrant'),
    VAGRANT_CWD: repoPath(),
    VAGRANT_DEFAULT_PROVIDER: 'libvirt',
    PAASBOX_STATE_DIR: join(work, 'state'),
    PAASBOX_IP: VM_IP,
    // Nested KVM is unusable on most CI runners even where /dev/kvm opens.
    PAASBOX_LIBVIRT_DRIVER: process.env['PAASBOX_LIBVIRT_DRIVER'] ?? 'qemu',
    // ZooKeeper (a JVM) and the registry-only Mesos/Marathon are left out: emulation runs
    // guest code 7-16x slower, and this test is about reaching the stack from here.
    PAASBOX_INSTALL_ARGS: `--config ${join(work, 'paasbox.yaml')} --health-timeout 1800`,
  };
  // readInstance here reads what the trigger's install recorded there.
  process.env['PAASBOX_STATE_DIR'] = env['PAASBOX_STATE_DIR'];
  const times: Record<string, number> = {};
  let upped = false;

  const unavailable = (ctx: Mocha.Context, why: string) => {
    if (CI) throw new Error(`the VM test cannot run: ${why}`);
    console.log(`      skipped: ${why}`);
    ctx.skip();
  };

  before(async function () {
    if (process.getuid?.() !== 0) return unavailable(this, 'needs root (libvirtd, loop devices for the box)');
    // Everything it needs, installed here from Debian when missing.
    const have = await sh(
      'command -v vagrant virsh libvirtd virtlogd qemu-system-x86_64 qemu-img debootstrap parted dig curl >/dev/null && vagrant plugin list | grep -q vagrant-libvirt',
    );
    if (have.code !== 0) {
      const apt = await sh(
        `apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${PACKAGES.join(' ')}`,
      );
      if (apt.code !== 0)
        return unavailable(
          this,
          `apt-get install ${PACKAGES.join(' ')} failed: ${apt.out.trim().split('\n').slice(-3).join(' / ')}`,
        );
    }
    // No systemd here: libvirt's daemons are started by hand when not running.
    if ((await sh('virsh -c qemu:///system version >/dev/null 2>&1')).code !== 0) {
      await sh('pgrep -x virtlogd >/dev/null || virtlogd -d; pgrep -x libvirtd >/dev/null || libvirtd -d');
      const ok = await sh(
        'for i in $(seq 1 30); do virsh -c qemu:///system version >/dev/null 2>&1 && exit 0; sleep 1; done; exit 1',
      );
      if (ok.code !== 0)
        return unavailable(
          this,
          'libvirtd does not answer on qemu:///system after 30 s (virtlogd -d; libvirtd -d)',
        );
    }
    // libvirt's networks run their own dnsmasq on port 53 of their bridge: a DNS server
    // bound to every address of this host (a dnsmasq with --bind-dynamic, or on 0.0.0.0)
    // keeps them from starting. paasbox's own dnsmasq binds 127.0.0.1 and the stack address only.
    const dns53 = await sh("ss -Hlnup 'sport = :53' | awk '{print $5}'");
    const wildcard = dns53.out.split('\n').filter((a) => /^(0\.0\.0\.0|\*|\[::\]):53$/.test(a.trim()));
    if (wildcard.length)
      return unavailable(
        this,
        `port 53 is bound on every address (${wildcard.join(', ')}): libvirt's networks could not start their DNS; stop that server or bind it to given addresses`,
      );

    const t0 = Date.now();
    const box = await stream('sh', [repoPath('spec', 'vm', 'build-box.sh')], env);
    if (box.code !== 0) throw new Error(`building the box failed:\n${box.tail}`);
    times['box (build or cache) s'] = Math.round((Date.now() - t0) / 1000);
    env['PAASBOX_BOX'] = box.tail.trim().split('\n').pop()!.trim();
    writeFileSync(
      join(work, 'paasbox.yaml'),
      'services:\n  zookeeper: { enabled: false }\n  mesos-master: { enabled: false }\n  mesos-slave: { enabled: false }\n  marathon: { enabled: false }\n',
    );
    await ensureExampleImage();
  });

  after(async function () {
    if (upped) {
      const d = await stream('vagrant', ['destroy', '-f'], env);
      times['vagrant destroy s'] = d.seconds;
    }
    rmSync(work, { recursive: true, force: true });
    console.log(`      measured: ${JSON.stringify(times)}`);
  });

  it('vagrant up boots the box and the trigger provisions the stack, advertising the private address', async () => {
    upped = true;
    const up = await stream('vagrant', ['up', '--provider=libvirt'], env);
    times['vagrant up (boot + provision) s'] = up.seconds;
    expect(up.code, up.tail).to.equal(0);
    expect(up.tail).to.match(/paasbox install/);
    const inst = readInstance('default');
    expect(inst?.deployment?.ip, 'the recorded advertised address').to.equal(VM_IP);
    // The box is "like Ubuntu": resolved runs on 127.0.0.53 beside the stack's dnsmasq, and the default route
    // is the management network.
    const vm = await sh(
      "vagrant ssh -c 'systemctl is-active systemd-resolved; ip route show default; sudo ss -Hlnup sport = :53'",
      env,
    );
    expect(vm.out).to.match(/^active$/m);
    expect(vm.out).to.match(/default via 192\.168\.121\.\d+ dev eth0/);
    expect(vm.out).to.match(/127\.0\.0\.53(%lo)?:53/);
    expect(vm.out).to.include(`${VM_IP}:53`);
  });

  it('python1 deploys, and from this host verify --from-here passes, the VM answers its name with its address, and curl reaches it by name', async () => {
    const inst = readInstance('default');
    expect(inst, 'the instance the trigger recorded').to.not.equal(undefined);
    const target = openTarget(inst!.stage);
    const t0 = Date.now();
    try {
      await pushImages(new LocalTarget(), asRoot(target), ['paasbox/simplewebapp-python:latest']);
    } finally {
      await target.close();
    }
    times['push the example image s'] = Math.round((Date.now() - t0) / 1000);
    // The example's health check (3 s timeout, 3 failures, 10 s grace) kills every task in a
    // guest running 7-16x slower (measured: python3's probe alone outlasts 3 s there, 0/2 ready
    // after 300 s): the same app with the slack an emulated VM needs.
    const app = JSON.parse(
      readFileSync(repoPath('examples', 'SimpleWebappPython', 'deploy1_marathon.json'), 'utf8'),
    ) as { healthChecks: Array<Record<string, unknown>> };
    app.healthChecks = app.healthChecks.map((hc) => ({
      ...hc,
      gracePeriodSeconds: 600,
      intervalSeconds: 20,
      timeoutSeconds: 30,
      maxConsecutiveFailures: 6,
    }));
    writeFileSync(join(work, 'python1.json'), JSON.stringify(app, null, 2));
    const dep = await stream(
      'npx',
      ['paasbox', 'deploy', join(work, 'python1.json'), '--wait', '--timeout', '1200'],
      env,
    );
    times['deploy python1 s'] = dep.seconds;
    expect(dep.code, dep.tail).to.equal(0);

    // The settings the trigger's install was given (ZooKeeper left out), as a user with that file would.
    const v = await stream(
      'npx',
      ['paasbox', 'verify', '--from-here', '--config', join(work, 'paasbox.yaml')],
      env,
    );
    times['verify --from-here s'] = v.seconds;
    expect(v.code, v.tail).to.equal(0);

    const dig = await sh(`dig +short +time=5 +tries=3 @${VM_IP} python1.service.consul A`);
    expect(dig.out.trim().split('\n'), dig.out).to.include(VM_IP);
    // The name resolved by the VM's DNS (above), the request sent to that address with the name as Host.
    const addr = dig.out.trim().split('\n')[0]!;
    const curl = await sh(
      `curl -sS --max-time 30 --resolve python1.service.consul:80:${addr} http://python1.service.consul/`,
    );
    expect(curl.code, curl.out).to.equal(0);
    expect(curl.out).to.match(/^Hello from python1 /);
  });

  it('vagrant provision runs paasbox again, and it converges (nothing fails)', async () => {
    const p = await stream('vagrant', ['provision'], env);
    times['vagrant provision (re-converge) s'] = p.seconds;
    expect(p.code, p.tail).to.equal(0);
    expect(p.tail).to.match(/paasbox install/);
    expect(p.tail).to.match(/failed=0\b/);
  });
});
