// The dind driver: disposable docker-in-docker hosts reached over SSH, each
// in its own network namespace on a private docker network, with a freshly
// generated ed25519 key and a fresh known_hosts. kitchen's "dind" instances,
// the Vagrantfile's docker provider (same image, stacks/dind-host) and the
// benchmarks and integration tests all use it. Names carry the creating
// process's pid; leftovers of processes that are gone are removed on the next create.
//
//   const set = await createDindHosts(1, { prefix: 'pb-verify', withDocker: true });
//   openTarget({ kind: 'ssh', ssh: set.hosts[0].ssh }) ... await set.destroy();

import { parseContainers } from '../docker/facts.js';
import { IMAGE_FORMAT, parseImageLine } from '../docker/images.js';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, chmod, mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { isPaasboxError, PaasboxError } from '../errors.js';
import { repoPath } from '../paths.js';
import { poll } from '../poll.js';
import type { SshInfo } from '../target/ssh-info.js';
import type { Driver } from './driver.js';
import { execRun, type LocalRun } from './tools.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** 'bare': no docker.io (provisioning must install it); 'docker': preinstalled. */
export type DindVariant = 'bare' | 'docker';

export interface DindHost {
  /** Container name, also the host's name in reports. */
  name: string;
  address: string;
  port: number;
  user: string;
  keyPath: string;
  /** How to reach it (a fresh host key is pinned on first contact in the set's known_hosts). */
  ssh: SshInfo;
}

export interface DindHosts {
  hosts: DindHost[];
  network: string;
  keyPath: string;
  /** A fresh known_hosts file for this set. */
  knownHostsPath: string;
  destroy(): Promise<void>;
}

export interface DindOptions {
  /**
   * Prefix for container and network names (your helper tag + a word); names are PREFIX-p<pid>-h1..,
   * PREFIX-p<pid>-net.
   */
  prefix: string;
  /** Use the image with docker.io and start dockerd at boot (default false). */
  withDocker?: boolean;
  /** Start dockerd when the container starts (default = withDocker). */
  startDocker?: boolean;
  /** Seconds to wait for sshd (default 60). */
  sshTimeoutS?: number;
}

/** The docker run flags a dind host needs here (--privileged is refused). */
export const DIND_FLAGS = [
  '--cap-add=ALL',
  '--cap-drop=SYS_RESOURCE',
  '--security-opt',
  'seccomp=unconfined',
  '--security-opt',
  'apparmor=unconfined',
  '--device-cgroup-rule=a *:* rwm',
  '-v',
  '/sys/fs/cgroup:/sys/fs/cgroup:rw',
  '--tmpfs',
  '/run',
  '--tmpfs',
  '/var/lib/docker:exec',
];

const contextDir = repoPath('stacks', 'dind-host');

export function dindImage(variant: DindVariant): string {
  return `paasbox/dind-host:${variant}`;
}

/** Build the test host image unless one with the same content hash exists. */
export async function ensureDindImage(variant: DindVariant): Promise<string> {
  const ref = dindImage(variant);
  const h = createHash('sha256');
  for (const f of ['Dockerfile', 'testhost-init']) h.update(f).update(await readFile(join(contextDir, f)));
  h.update(variant);
  const base = await run('docker', [
    'image',
    'inspect',
    '--format',
    IMAGE_FORMAT,
    'paasbox/debian:bookworm',
  ]).catch(() => {
    throw new PaasboxError(
      'base image paasbox/debian:bookworm is missing',
      'build it first: npx paasbox build-images',
    );
  });
  h.update(parseImageLine(base.stdout)?.id ?? '');
  const hash = h.digest('hex').slice(0, 16);
  const have = await run('docker', [
    'image',
    'inspect',
    '-f',
    '{{index .Config.Labels "paasbox.testhost.hash"}}',
    ref,
  ])
    .then((r) => r.stdout.trim())
    .catch(() => '');
  if (have === hash) return ref;
  await new Promise<void>((resolve, reject) => {
    const p = spawn(
      'docker',
      [
        'build',
        '-q',
        '--build-arg',
        `WITH_DOCKER=${variant === 'docker' ? 1 : 0}`,
        '--label',
        `paasbox.testhost.hash=${hash}`,
        '-t',
        ref,
        contextDir,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            new PaasboxError(
              `docker build ${ref} failed`,
              'read the build output; the base image must be able to apt-get install from a Debian mirror',
              err.slice(-2000),
              'target',
            ),
          ),
    );
  });
  return ref;
}

/** Generate an ed25519 key pair in a new temp dir; returns the private key path. */
export async function generateKey(dir?: string): Promise<string> {
  const d = dir ?? (await mkdtemp(join(tmpdir(), 'paasbox-key-')));
  const keyPath = join(d, 'id_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'paasbox-test', '-f', keyPath]);
  return keyPath;
}

export async function createDindHosts(n: number, opts: DindOptions): Promise<DindHosts> {
  const { prefix } = opts;
  const withDocker = opts.withDocker ?? false;
  const startDocker = opts.startDocker ?? withDocker;
  const image = await ensureDindImage(withDocker ? 'docker' : 'bare');
  const dir = await mkdtemp(join(tmpdir(), `${prefix}-`));
  const keyPath = await generateKey(dir);
  // One authorized_keys file per login user (root, paas, nosudo), mounted read-only.
  const akDir = join(dir, 'authorized_keys');
  await mkdir(akDir);
  const pub = await readFile(`${keyPath}.pub`, 'utf8');
  for (const u of ['root', 'paas', 'nosudo']) await writeFile(join(akDir, u), pub, { mode: 0o644 });
  await chmod(dir, 0o755);
  await chmod(akDir, 0o755);
  const knownHostsPath = join(dir, 'known_hosts');

  // Names carry this process's pid so concurrent runs (a helper's and the lead's) never
  // collide; leftovers of runs whose process is gone are removed here.
  await removeOrphans(prefix);
  const base = `${prefix}-p${process.pid}`;
  const network = `${base}-net`;
  const names = Array.from({ length: n }, (_, i) => `${base}-h${i + 1}`);
  const labels = [
    '--label',
    'paasbox.testhost=1',
    '--label',
    `paasbox.testhost.prefix=${prefix}`,
    '--label',
    `paasbox.testhost.pid=${process.pid}`,
  ];
  await run('docker', ['rm', '-f', ...names]).catch(() => undefined);
  await run('docker', ['network', 'rm', network]).catch(() => undefined);
  await run('docker', ['network', 'create', ...labels, network]);

  const destroy = async () => {
    await run('docker', ['rm', '-f', ...names]).catch(() => undefined);
    await run('docker', ['network', 'rm', network]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const hosts: DindHost[] = [];
    for (const name of names) {
      await run('docker', [
        'run',
        '-d',
        '--name',
        name,
        '--hostname',
        name,
        '--network',
        network,
        ...labels,
        ...DIND_FLAGS,
        '-v',
        `${akDir}:/etc/ssh/authorized_keys:ro`,
        '-e',
        `START_DOCKERD=${startDocker ? 1 : 0}`,
        image,
      ]);
      const address = (
        await run('docker', [
          'inspect',
          '-f',
          `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
          name,
        ])
      ).stdout.trim();
      hosts.push({
        name,
        address,
        port: 22,
        user: 'root',
        keyPath,
        ssh: {
          host: address,
          port: 22,
          user: 'root',
          keyPath,
          knownHostsPath,
          hostKeyPolicy: 'accept-new',
          alias: name,
        },
      });
    }
    const deadline = Date.now() + (opts.sshTimeoutS ?? 60) * 1000;
    for (const h of hosts) {
      const fix = 'read its log below; the docker-in-docker flags need cgroup access (see DIND_FLAGS)';
      const what = `sshd on ${h.address}:${h.port}`;
      const wait = { what, timeoutMs: deadline - Date.now(), everyMs: 300, fix, onRetry: debug(what) };
      await poll(wait, async () => (await sshBanner(h.address, h.port), true)).catch(async (e: unknown) => {
        const logs = await run('docker', ['logs', '--tail', '20', h.name]).then(
          (r) => r.stdout + r.stderr,
          () => '',
        );
        throw new PaasboxError(`dind host ${h.name} did not start: ${errorText(e)}`, fix, logs, 'target');
      });
    }
    const sock = 'test -S /var/run/docker.sock && docker info >/dev/null';
    for (const h of startDocker ? hosts : []) {
      const what = `dockerd on ${h.name}`;
      const fix = `read \`docker logs ${h.name}\`: dockerd inside needs the DIND_FLAGS`;
      const wait = { what, timeoutMs: deadline - Date.now(), everyMs: 300, fix, onRetry: debug(what) };
      await poll(wait, async () => (await hostExec(h, sock), true));
    }
    return { hosts, network, keyPath, knownHostsPath, destroy };
  } catch (e) {
    await destroy();
    throw e;
  }
}

/** Remove containers and networks of this prefix left by processes that no longer run. */
async function removeOrphans(prefix: string): Promise<void> {
  const alive = (pid: string) => {
    try {
      process.kill(Number(pid), 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  const list = async (kind: 'ps' | 'network') => {
    const args = kind === 'ps' ? ['ps', '-a'] : ['network', 'ls'];
    const r = await run('docker', [
      ...args,
      '--filter',
      `label=paasbox.testhost.prefix=${prefix}`,
      '--format',
      `{{.Names}}\t{{.Label "paasbox.testhost.pid"}}`,
    ]).catch(() => ({ stdout: '' }));
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t') as [string, string]);
  };
  const deadContainers = (await list('ps'))
    .filter(([, pid]) => pid && pid !== String(process.pid) && !alive(pid))
    .map(([n]) => n);
  if (deadContainers.length) await run('docker', ['rm', '-f', ...deadContainers]).catch(() => undefined);
  for (const [net, pid] of await list('network')) {
    if (pid && pid !== String(process.pid) && !alive(pid))
      await run('docker', ['network', 'rm', net]).catch(() => undefined);
  }
}

/** Run a shell command in a dind host through docker exec (no SSH: for the host's own setup). */
export async function hostExec(host: DindHost | string, command: string): Promise<string> {
  const name = typeof host === 'string' ? host : host.name;
  const r = await run('docker', ['exec', name, 'sh', '-c', command], { maxBuffer: 64 * 1024 * 1024 });
  return r.stdout;
}

function sshBanner(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, timeout: 5000 });
    s.once('data', (d) => {
      s.destroy();
      d.toString().startsWith('SSH-') ? resolve() : reject(new Error('no ssh banner'));
    });
    s.once('error', reject);
    s.once('timeout', () => {
      s.destroy();
      reject(new Error('timeout'));
    });
  });
}

/** PBH3_DEBUG=1: each failed try of a wait on stderr. */
const debug = (what: string) => (_attempt: number, last: unknown) => {
  if (process.env['PBH3_DEBUG'] && last !== undefined) console.error(what, last);
};

/** A failure as one line: a timeout's problem with the last error it saw. */
function errorText(e: unknown): string {
  if (isPaasboxError(e)) return e.detail ? `${e.problem}: ${e.detail}` : e.problem;
  return e instanceof Error ? e.message : String(e);
}

export interface DindDriverOptions {
  /** Container name prefix (default paasbox-kitchen); the instance name follows it. */
  prefix?: string;
  run?: LocalRun;
  create?: typeof createDindHosts;
}

/**
 * Disposable docker-in-docker hosts (kitchen's dind); destroy works from the recorded names alone, in a
 * later process too.
 */
export function dindDriver(opts: DindDriverOptions = {}): Driver {
  const run = opts.run ?? execRun;
  return {
    name: 'dind',
    async create(o) {
      const set = await (opts.create ?? createDindHosts)(1, {
        prefix: `${opts.prefix ?? 'paasbox-kitchen'}-${o.instance}`,
        withDocker: true,
      });
      const h = set.hosts[0]!;
      const dind = { container: h.name, network: set.network, workDir: set.keyPath.replace(/\/[^/]+$/, '') };
      return { ref: { kind: 'ssh', ssh: h.ssh }, seedNames: false, dind };
    },
    async destroy(state) {
      const d = state.dind ?? {};
      if (d.container) await run('docker', ['rm', '-f', d.container]).catch(() => undefined);
      if (d.network) await run('docker', ['network', 'rm', d.network]).catch(() => undefined);
      // Only the temp dir the driver made (the schema allows nothing else).
      if (d.workDir && /^\/tmp\/[^/]+$/.test(d.workDir)) rmSync(d.workDir, { recursive: true, force: true });
    },
    async state(state) {
      const name = state.dind?.container;
      if (!name) return { state: 'unknown', detail: 'no container recorded' };
      const out = await run('docker', ['inspect', '--type', 'container', name]).then(
        (r) => r.stdout,
        (e: Error & { stderr?: string }) => e,
      );
      if (out instanceof Error) {
        const gone = /no such (container|object)/i.test(`${out.stderr ?? ''} ${out.message}`);
        return gone
          ? { state: 'absent', detail: `container ${name} is gone` }
          : { state: 'unknown', detail: out.message };
      }
      const c = parseContainers(out)[0];
      if (!c) return { state: 'absent', detail: `container ${name} is gone` };
      return { state: c.running ? 'running' : 'stopped', detail: `container ${name}: ${c.status}` };
    },
  };
}
