// `paasbox tunnel up|down|status`: sshuttle in the background into the stack
// through its sshd service (port 2222), routing only the stack's advertised
// address (host networking: every service is there; --subnet adds networks,
// never one holding this machine's own address, never 0.0.0.0/0), sending
// the stack's domain (.consul) to its dnsmasq through the tunnel, and taking
// it all down again, verified (src/tunnel/). `--print` shows the sshuttle
// command instead of running it.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Argument, Option, type Command } from 'commander';
import { findStackContainer } from '../docker/compose.js';
import { PaasboxError } from '../errors.js';
import { hasCommand } from '../drivers/tools.js';
import type { Instance } from '../instance/state.js';
import { DEFAULT_LOCK_TIMEOUT_S } from '../instance/lock.js';
import { runInstall, type InstallFlags } from './install.js';
import { sshName } from '../target/ssh-info.js';
import { shq } from '../target/shell.js';
import { RESOLVER_KINDS, type ResolverKind } from '../tunnel/resolver.js';
import { commandLine } from '../tunnel/sshuttle.js';
import { tunnelInstance, tunnelPaths } from '../tunnel/state.js';
import {
  formatStatus,
  freePort,
  knownHostsLines,
  planTunnel,
  realSystem,
  tunnelDown,
  tunnelStatus,
  tunnelUp,
  type UpInput,
} from '../tunnel/tunnel.js';
import { intArg, jsonOption, listArg, stageOptions } from './program.js';
import { deployedStack, openStage, type OpenedStage, type StageFlags } from './stage.js';
import { clusterNote } from '../instance/hosts.js';

interface TunnelFlags extends StageFlags {
  sshPort: number;
  sshHost?: string;
  subnet?: string[];
  resolver: ResolverKind | 'auto';
  print?: boolean;
  json?: boolean;
}

const isLoopback = (h: string) => /^127\./.test(h) || h === 'localhost' || h === '::1';

/** What `up` needs from the stage: the stack's address, domain and DNS port; where ssh connects. */
async function stackFacts(
  stage: OpenedStage,
  f: TunnelFlags,
  connect: boolean,
): Promise<{
  address: string;
  domain: string;
  dnsPort: number;
  project: string;
  sshHost: string;
  keyPath?: string;
  proxyJump?: string;
}> {
  let address = stage.instance?.deployment?.ip;
  let domain = stage.instance?.deployment?.pinned?.domain ?? 'consul';
  let project = stage.instance?.deployment?.project ?? 'paasbox';
  let dnsPort = 53;
  if (connect || !address) {
    const d = await deployedStack(stage);
    address = d.deployment.meta.ip;
    domain = d.deployment.meta.domain ?? domain;
    project = d.project;
    if (!d.deployment.services.includes('sshd'))
      throw new PaasboxError(
        `the stack on ${stage.target.name} runs no sshd, the far end of the tunnel`,
        'enable it in paasbox.yaml (services: { sshd: { enabled: true } }) and run npx paasbox install again',
      );
    const m = /(?:^|,)\s*dns=(\d+)\/udp/.exec(d.deployment.ports['dns'] ?? '');
    if (m) dnsPort = Number(m[1]);
  }
  const ref = stage.ref;
  // The host as install reached it, unless that is a forwarded loopback port (Vagrant): then the stack's own
  // address.
  const sshHost = f.sshHost ?? (ref.kind === 'ssh' && !isLoopback(ref.ssh.host) ? ref.ssh.host : address);
  const keyPath = f.key ?? (ref.kind === 'ssh' ? ref.ssh.keyPath : undefined);
  const proxyJump =
    ref.kind === 'ssh' && ref.ssh.proxyJump && !f.sshHost ? sshName(ref.ssh.proxyJump) : undefined;
  return {
    address: address!,
    domain,
    dnsPort,
    project,
    sshHost,
    ...(keyPath ? { keyPath } : {}),
    ...(proxyJump ? { proxyJump } : {}),
  };
}

/**
 * The stack sshd's host keys, read from its container over the pinned SSH
 * connection (so sshuttle's ssh never has to trust a first-seen key). The
 * container is the one stack sshd (findStackContainer: never a swarm task or
 * an app carrying its labels; two is refused).
 */
async function sshdHostKeys(stage: OpenedStage, project: string): Promise<string> {
  const notRunning = (detail?: string) =>
    new PaasboxError(
      `the stack's sshd on ${stage.target.name} is not running`,
      'start it: npx paasbox stack up sshd (enable it first in paasbox.yaml: services: { sshd: { enabled: true } }, then install)',
      detail,
      'target',
    );
  const c = await findStackContainer(stage.target, project, 'sshd');
  if (!c) throw notRunning('no running sshd container of the stack');
  const r = await stage.target.exec(`docker exec ${shq(c.id)} sh -c 'cat /etc/ssh/ssh_host_*_key.pub'`, {
    sudo: true,
    timeoutMs: 30_000,
  });
  if (r.code !== 0 || !/AAAA/.test(r.stdout)) throw notRunning(r.stderr);
  return r.stdout;
}

function sudoFirst(): void {
  if (realSystem.isRoot || process.platform === 'win32') return;
  const r = spawnSync('sudo', ['-v'], { stdio: 'inherit' });
  if (r.status !== 0)
    throw new PaasboxError(
      'the tunnel needs root for its firewall rules and the resolver, and sudo refused',
      'run as root, or as a user who may sudo',
    );
}

export function defineTunnel(cmd: Command): Command {
  return stageOptions(cmd)
    .addArgument(
      new Argument('[verb]', 'up (start in the background), down (stop, verified), status').choices([
        'up',
        'down',
        'status',
      ]),
    )
    .option('--ssh-port <port>', "the stack's sshd port", intArg('--ssh-port', 1, 65535), 2222)
    .option(
      '--ssh-host <host>',
      "where ssh reaches the stack host (default: the host install connected to, or the stack's address)",
    )
    .option(
      '--subnet <cidr>',
      "also route this network (repeatable, or comma-separated); never one holding this machine's address",
      listArg,
    )
    .addOption(
      new Option(
        '--resolver <how>',
        'how .consul names reach the tunnel: auto, resolved (systemd-resolved link), resolv.conf (a first nameserver), macos (/etc/resolver), none',
      )
        .choices(['auto', ...RESOLVER_KINDS])
        .default('auto'),
    )
    .option('--print', 'print the sshuttle command `up` runs, and change nothing')
    .addOption(jsonOption())
    .description(
      "sshuttle into the stack through its sshd: up, down, status (routes only the stack's address, .consul DNS through it)",
    )
    .action(async (verb: 'up' | 'down' | 'status' | undefined, f: TunnelFlags) => {
      const instance = tunnelInstance(f.target);
      const paths = tunnelPaths(instance);
      const out = (human: string, json: unknown) =>
        process.stdout.write(f.json ? JSON.stringify(json, null, 2) + '\n' : human);
      if (f.print && verb !== undefined && verb !== 'up')
        throw new PaasboxError(`--print goes with up, not ${verb}`, 'npx paasbox tunnel up --print');
      if (!verb && !f.print)
        throw new PaasboxError(
          'tunnel needs a verb: up, down or status',
          'npx paasbox tunnel up (then status, down); --print shows the sshuttle command',
        );

      if (verb === 'status') {
        const s = await tunnelStatus(realSystem, paths, instance);
        out(formatStatus(s), s);
        if (s.state !== 'up') process.exitCode = 1;
        return;
      }
      if (verb === 'down') {
        if (readableState(paths)) sudoFirst();
        const r = await tunnelDown(realSystem, paths);
        out(
          r.wasRunning || r.removed.length || r.undone.length
            ? `tunnel ${instance}: down${r.stopped ? ` (sshuttle pid ${r.stopped} stopped)` : ''}; ${r.removed.length} route/rule/link line(s) it added verified gone${r.undone.length ? `; ${r.undone.join('; ')}` : ''}\n`
            : `tunnel ${instance}: was not running; nothing to do\n`,
          { instance, state: 'down', ...r },
        );
        return;
      }

      // up (or --print)
      let stage = await openStage(f);
      const note = clusterNote(stage, 'tunnel');
      if (note) process.stderr.write(note + '\n');
      try {
        if (
          !f.print &&
          stage.instance &&
          !(await deployedStack(stage)).deployment.services.includes('sshd')
        ) {
          // The far end of the tunnel is the stack's own sshd: switch it on (recorded for this
          // instance, so later installs keep it) and converge, letting in the install key.
          const inst = stage.instance;
          process.stderr.write(
            `paasbox tunnel: the stack on ${stage.target.name} runs no sshd, the far end of the tunnel: enabling it for instance ${inst.name} (root by key: ${keyPathOf(stage, f) ?? 'your ~/.ssh/id_*'}.pub) and converging\n`,
          );
          await stage.target.close();
          await runInstall(reinstallFlags(inst, f));
          stage = await openStage(f);
        }
        if (f.print) {
          const s = await stackFacts(stage, f, false);
          const plan = planTunnel(realSystem, {
            instance,
            paths,
            ...s,
            sshPort: f.sshPort,
            user: 'root',
            extraSubnets: f.subnet ?? [],
            resolver: f.resolver,
            listenPort: await freePort(),
          });
          process.stdout.write(`sshuttle ${commandLine(plan.argv)}\n`);
          process.stderr.write(
            `paasbox tunnel: resolver ${plan.resolver} (${plan.resolverWhy}); DNS to ${plan.nsHosts.join(', ')} goes through the tunnel to ${plan.toNs}\n`,
          );
          return;
        }
        if (!(await hasCommand('sshuttle')))
          throw new PaasboxError(
            'sshuttle is not installed',
            'apt-get install sshuttle (Debian/Ubuntu) or brew install sshuttle (macOS)',
          );
        const s = await stackFacts(stage, f, true);
        const keys = knownHostsLines(s.sshHost, f.sshPort, await sshdHostKeys(stage, s.project));
        await stage.target.close();
        sudoFirst();
        const input: UpInput = {
          instance,
          paths,
          address: s.address,
          domain: s.domain,
          dnsPort: s.dnsPort,
          sshHost: s.sshHost,
          sshPort: f.sshPort,
          user: 'root',
          ...(s.keyPath ? { keyPath: s.keyPath } : {}),
          ...(s.proxyJump ? { proxyJump: s.proxyJump } : {}),
          knownHosts: keys,
          extraSubnets: f.subnet ?? [],
          resolver: f.resolver,
          log: (l) => {
            if (!f.json) process.stderr.write(`paasbox tunnel: ${l}\n`);
          },
        };
        const r = await tunnelUp(realSystem, input);
        for (const w of r.warnings) process.stderr.write(`paasbox tunnel: warning: ${w}\n`);
        const head = r.already
          ? `tunnel ${instance}: already up, nothing changed\n`
          : `tunnel ${instance}: started; resolver ${r.plan!.resolver} (${r.plan!.resolverWhy})\n`;
        out(
          head +
            formatStatus(r.status) +
            (r.already
              ? ''
              : `try: curl http://python1.service.${s.domain}/   stop: npx paasbox tunnel down${f.target ? ` --target ${f.target}` : ''}\n`),
          {
            instance,
            already: r.already,
            ...(r.plan ? { plan: r.plan } : {}),
            status: r.status,
            warnings: r.warnings,
          },
        );
      } finally {
        await stage.target.close();
      }
    });
}

const keyPathOf = (stage: OpenedStage, f: TunnelFlags) =>
  f.key ?? (stage.ref.kind === 'ssh' ? stage.ref.ssh.keyPath : undefined);

/** install's flags that reach a recorded instance again exactly as its install did, with sshd switched on. */
export function reinstallFlags(inst: Instance, f: Pick<TunnelFlags, 'key'>): InstallFlags {
  if (inst.cluster)
    throw new PaasboxError(
      `instance ${inst.name} is a cluster: tunnel up does not enable sshd on its hosts`,
      'enable it in paasbox.yaml (services: { sshd: { enabled: true } }) and run npx paasbox install again',
    );
  const mode = inst.mode ?? (inst.stage.kind === 'local' ? 'standalone' : 'ssh');
  const ssh = inst.stage.kind === 'ssh' ? inst.stage.ssh : undefined;
  const key = f.key ?? ssh?.keyPath;
  return {
    mode,
    ...(ssh && (mode === 'ssh' || mode === 'boot2docker')
      ? { host: ssh.alias ?? `${ssh.user}@${ssh.host}:${ssh.port}` }
      : {}),
    ...(key ? { key } : {}),
    instance: inst.name,
    healthTimeout: 300,
    lockTimeout: DEFAULT_LOCK_TIMEOUT_S,
    enableServices: ['sshd'],
  };
}

/** Is there anything of a tunnel to take down (then root is needed)? */
function readableState(paths: ReturnType<typeof tunnelPaths>): boolean {
  return existsSync(paths.state) || existsSync(paths.pidfile);
}
