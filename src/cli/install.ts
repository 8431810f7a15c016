// `paasbox install`: choose the stage (a mode, given or detected), reach it,
// build the images here, provision the stack there (holding the target's
// lock), and record the instance so every later command connects exactly as
// this one did.

import { existsSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { PaasboxError } from '../errors.js';
import { Progress } from '../progress.js';
import { findAuthorizedKeys } from '../provision/access.js';
import { prepareImagesOnBuildHost } from '../provision/build-host.js';
import { provisionTarget } from '../provision/provision.js';
import { planSettings } from '../provision/plan.js';
import { detectAdvertiseAddress, envValues, loadSettings, settingsEnv, type Settings, type SettingsValues } from '../settings/index.js';
import { COMPOSE_PATH } from '../stack/deployment.js';
import { loadStackModel } from '../stack/load.js';
import type { ImageSourceName } from '../stack/model.js';
import { detectMode, dockerVmInfo, hasCommand, INSTALL_MODES, parseMode, sshInfoFor, vagrantInfo, vagrantMachineProvider, vagrantPrivateIp, type ModeChoice } from '../stage/discover.js';
import { checkInstanceName, DEFAULT_INSTANCE, readInstance, writeInstance, type Instance } from '../stage/instances.js';
import { openTarget } from '../stage/open.js';
import type { StageRef } from '../stage/ssh-info.js';
import { LocalTarget } from '../target/local.js';
import type { Target } from '../target/target.js';
import { intArg, jsonOption, listArg, lockTimeoutOption, sourceOption } from './program.js';
import { provisionCluster, type ClusterHost } from '../provision/cluster.js';
import type { SshInfo } from '../stage/ssh-info.js';

export interface InstallFlags {
  mode?: string;
  host?: string;
  key?: string;
  knownHosts?: string;
  acceptNewHostKey?: boolean;
  provider?: string;
  source?: ImageSourceName;
  hostname?: string;
  ip?: string;
  config?: string;
  instance: string;
  json?: boolean;
  skipMissingImages?: boolean;
  hostOnly?: boolean;
  dryRun?: boolean;
  healthTimeout: number;
  lockTimeout: number;
  authorizedKey?: string;
  /** A cluster: its masters and agents as user@address[:port] (ssh mode). */
  masters?: string[];
  agents?: string[];
}

export function defineInstall(cmd: Command): Command {
  return cmd
    .description('provision the stack onto a stage (a mode, given or detected) and leave it running')
    .addOption(new Option('--mode <mode>', 'where the stack goes (default: detected, and the reason printed)').choices(INSTALL_MODES))
    .option('--host <host>', 'ssh/boot2docker: user@address[:port] or an ~/.ssh/config alias')
    .option('--masters <hosts>', 'a cluster (ssh mode): its masters, user@address[:port] comma separated (three for high availability)', listArg)
    .option('--agents <hosts>', 'a cluster (ssh mode): its agents, user@address[:port] comma separated', listArg)
    .option('--key <file>', 'SSH private key (default: ~/.ssh/config, ssh-agent, ~/.ssh/id_*)')
    .option('--known-hosts <file>', 'where host keys are pinned (default ~/.paasbox/known_hosts; ~/.ssh/known_hosts is honoured too)')
    .option('--accept-new-host-key', 'pin the key of a host seen for the first time (without it an unknown key is refused with its fingerprint)')
    .addOption(new Option('--provider <provider>', 'vagrant provider').choices(['docker', 'virtualbox', 'libvirt']))
    .addOption(sourceOption())
    .option('--hostname <name>', 'the name the stack advertises for the host (default: the target\'s hostname)')
    .option('--ip <address>', 'the address the stack advertises (default: detected on the target; never 127.x or 0.0.0.0)')
    .option('--config <file>', 'settings file (default ./paasbox.yaml)')
    .option('--instance <name>', 'the name this install is recorded under', DEFAULT_INSTANCE)
    .addOption(jsonOption())
    .option('--skip-missing-images', 'leave out services whose image is not built here (instead of failing)')
    .option('--host-only', 'only the host steps (docker engine, compose tool), no stack')
    .option('--dry-run', 'only check and report what would change (pre-flight gates still stop)')
    .option('--health-timeout <seconds>', 'seconds to wait for every service to be healthy', intArg('--health-timeout', 1, 86_400), 300)
    .addOption(lockTimeoutOption())
    .option('--authorized-key <file>', "public key(s) allowed to log in to the stack's sshd when it is enabled (default: the --key's .pub, else ~/.ssh/id_*.pub)")
    .addHelpText('after', '\nExamples:\n  npx paasbox install --mode standalone\n  npx paasbox install --mode ssh --host root@10.0.0.5 --key ~/.ssh/id_ed25519 --accept-new-host-key\n  npx paasbox install --mode ssh --masters root@10.0.0.5,root@10.0.0.6,root@10.0.0.7 --agents root@10.0.0.8 --key ~/.ssh/id_ed25519\n  npx paasbox install --mode vagrant')
    .action(async (flags: InstallFlags) => {
      await runInstall(flags);
    });
}

function sshOptions(f: InstallFlags) {
  return {
    ...(f.key ? { keyPath: f.key } : {}),
    ...(f.knownHosts ? { knownHostsPath: f.knownHosts } : {}),
    hostKeyPolicy: f.acceptNewHostKey ? ('accept-new' as const) : ('strict' as const),
  };
}

/** The stage a mode means, and the environment layer that describes it. */
async function chooseStage(mode: ModeChoice['mode'], f: InstallFlags, say: (l: string) => void): Promise<{ ref: StageRef; seedNames: boolean; defaults?: SettingsValues }> {
  const sshOpts = sshOptions(f);
  // The seed's HOSTNAME/IP describe this machine, or the docker VM it drives: not a host over SSH.
  if (mode === 'standalone') return { ref: { kind: 'local', address: '127.0.0.1' }, seedNames: true };
  if (mode === 'ssh') {
    if (!f.host) throw new PaasboxError('--mode ssh needs --host', 'add --host user@address[:port] (and --key FILE unless ssh-agent has the key)');
    return { ref: { kind: 'ssh', ssh: await sshInfoFor(f.host, sshOpts) }, seedNames: false };
  }
  if (mode === 'vagrant') {
    const ssh = await vagrantInfo({ ...(f.provider ?? process.env['VAGRANT_DEFAULT_PROVIDER'] ? { provider: f.provider ?? process.env['VAGRANT_DEFAULT_PROVIDER']! } : {}), instance: f.instance, log: say });
    const provider = await vagrantMachineProvider();
    // A VM's default route is its NAT or management network, which the laptop cannot
    // reach: the stack advertises the Vagrantfile's private network address instead.
    const defaults = provider && provider !== 'docker' ? { ip: vagrantPrivateIp() } : undefined;
    say(`vagrant machine ${ssh.alias ?? ''} (${provider ?? 'provider unknown'}): ${ssh.user}@${ssh.host}:${ssh.port}${defaults ? `, advertising the private network address ${defaults.ip}` : ''}`);
    return { ref: { kind: 'ssh', ssh: { ...ssh, ...(f.key ? { keyPath: f.key } : {}) } }, seedNames: false, ...(defaults ? { defaults } : {}) };
  }
  const vm = f.host ? { tool: '--host', ssh: await sshInfoFor(f.host, sshOpts) } : await dockerVmInfo(f.instance);
  say(`docker VM via ${vm.tool}: ${vm.ssh.user}@${vm.ssh.host}:${vm.ssh.port}`);
  return { ref: { kind: 'ssh', ssh: { ...vm.ssh, ...(f.key ? { keyPath: f.key } : {}) } }, seedNames: true };
}

export async function runInstall(f: InstallFlags): Promise<void> {
  const json = !!f.json;
  const say = (l: string) => { if (!json) process.stderr.write(l + '\n'); };
  checkInstanceName(f.instance);
  if (f.key && !existsSync(f.key)) throw new PaasboxError(`--key ${f.key} does not exist`, 'pass the path of your private key file');
  if (f.config && !existsSync(f.config)) throw new PaasboxError(`--config ${f.config} does not exist`, 'pass an existing settings file, or omit --config to use ./paasbox.yaml');
  if (f.masters?.length || f.agents?.length) return runClusterInstall(f, say);

  let choice: ModeChoice;
  if (f.mode) choice = { mode: parseMode(f.mode), why: 'given with --mode' };
  else {
    const commands: string[] = [];
    for (const c of ['vagrant', 'docker', 'docker-machine', 'colima', 'limactl', 'boot2docker']) if (await hasCommand(c)) commands.push(c);
    const dockerRuns = commands.includes('docker') && (await new LocalTarget().exec('docker info', { timeoutMs: 20_000 })).code === 0;
    choice = detectMode({ platform: process.platform, commands, dockerRuns, hasHost: !!f.host });
  }
  say(`paasbox install: mode ${choice.mode} (${choice.why})`);

  // A re-run pins host keys where the last install of this instance did, unless told otherwise.
  const before = readInstance(f.instance);
  const recordedKnownHosts = before?.stage.kind === 'ssh' ? before.stage.ssh.knownHostsPath : undefined;
  const { ref, seedNames, defaults } = await chooseStage(choice.mode, { ...f, ...(f.knownHosts ?? recordedKnownHosts ? { knownHosts: f.knownHosts ?? recordedKnownHosts } : {}) }, say);
  const keyPath = f.key ?? (ref.kind === 'ssh' ? ref.ssh.keyPath : undefined);
  const authorizedKeys = findAuthorizedKeys({ ...(f.authorizedKey ? { file: f.authorizedKey } : {}), ...(keyPath ? { keyPath } : {}) });
  const target: Target = openTarget(ref);
  try {
    const previous = before;
    const env = settingsEnv(process.env, { seedNames });
    const flags: SettingsValues = { ...(f.source ? { imageSource: f.source } : {}), ...(f.hostname ? { hostname: f.hostname } : {}), ...(f.ip ? { ip: f.ip } : {}) };
    const recorded = previous?.deployment?.pinned;
    const progress = new Progress({ json });
    const model = loadStackModel();
    // The settings are resolved once, here, and the plan uses them.
    let settings: Settings | undefined;
    if (!f.hostOnly) {
      // Images are built on this machine (unchanged ones are skipped), then sent to the target.
      settings = await planSettings(target, { model, flags, env, recorded, ...(defaults ? { defaults } : {}), ...(f.config ? { configPath: f.config } : {}) });
      await prepareImagesOnBuildHost({ model, source: settings.imageSource, progress, dryRun: !!f.dryRun, ...(settings.debianMirror ? { mirror: settings.debianMirror } : {}) });
    }
    const out = await provisionTarget(target, {
      model,
      ...(settings ? { settings } : {}),
      progress,
      flags,
      env,
      recorded,
      defaults,
      configPath: f.config,
      skipMissingImages: !!f.skipMissingImages,
      hostOnly: !!f.hostOnly,
      dryRun: !!f.dryRun,
      healthTimeoutS: f.healthTimeout,
      instance: f.instance,
      lockTimeoutS: f.lockTimeout,
      ...(authorizedKeys ? { authorizedKeys } : {}),
    });
    if (out.plan && !f.dryRun) {
      const s = out.plan.settings;
      // What the user chose (flags, environment) is kept for the next run; what was detected is detected again.
      const chosen = { ...envValues(env), ...flags };
      const pinned = {
        ...recorded,
        ...(chosen.hostname ? { hostname: chosen.hostname } : {}),
        ...(chosen.ip ? { ip: chosen.ip } : {}),
        ...(chosen.imageSource ? { imageSource: chosen.imageSource } : {}),
        ...(chosen.domain ? { domain: chosen.domain } : {}),
      };
      const inst: Instance = {
        name: f.instance,
        driver: choice.mode === 'standalone' ? 'local' : choice.mode,
        mode: choice.mode,
        // The key is pinned now: later commands check it strictly.
        stage: ref.kind === 'local' ? { kind: 'local', address: s.ip } : { kind: 'ssh', ssh: { ...ref.ssh, hostKeyPolicy: 'strict' } },
        lifecycle: 'converged',
        deployment: { ip: s.ip, hostname: s.hostname, imageSource: s.imageSource, composePath: COMPOSE_PATH, project: out.plan.project, ...(Object.keys(pinned).length ? { pinned } : {}) },
        updatedAt: '',
      };
      writeInstance(inst);
    }
    if (json) {
      process.stdout.write(JSON.stringify({ mode: choice.mode, why: choice.why, target: target.name, ...progress.summary(), omitted: out.plan?.omitted ?? {}, ip: out.plan?.settings.ip, hostname: out.plan?.settings.hostname }, null, 2) + '\n');
    } else {
      progress.finish();
      if (out.plan) {
        const ip = out.plan.settings.ip;
        process.stdout.write(`\nThe stack runs on ${target.name} (${ip}); every URL and a DNS check: npx paasbox info\n`);
        for (const [s, why] of Object.entries(out.plan.omitted)) process.stdout.write(`  left out ${s}: ${why}\n`);
      }
    }
  } finally {
    await target.close();
  }
}

/**
 * install --masters A,B,C [--agents D,...]: a cluster over SSH. The images are
 * built here once, the hosts converge as src/provision/cluster.ts orders
 * them, and the instance records every host (its stage and deployment are the
 * first master's, so one-host commands keep working against it).
 */
async function runClusterInstall(f: InstallFlags, say: (l: string) => void): Promise<void> {
  const json = !!f.json;
  if (f.mode && f.mode !== 'ssh') throw new PaasboxError(`--masters/--agents need --mode ssh, not --mode ${f.mode}`, 'use --mode ssh (or leave --mode out)');
  if (f.host) throw new PaasboxError('--host and --masters/--agents name the hosts twice', 'use --masters (and --agents) alone for a cluster, --host alone for one host');
  if (f.ip || f.hostname) throw new PaasboxError('--ip/--hostname name one host; a cluster\'s hosts advertise their own', 'leave out --ip and --hostname (each host\'s address is detected, its hostname is its own)');
  if (!f.masters?.length) throw new PaasboxError('--agents needs --masters', 'add --masters user@a,user@b,user@c');
  const sshOpts = sshOptions(f);
  const named = [...f.masters.map((h) => ({ h, role: 'master' as const })), ...(f.agents ?? []).map((h) => ({ h, role: 'agent' as const }))];
  say(`paasbox install: a cluster over ssh, ${f.masters.length} masters and ${f.agents?.length ?? 0} agents`);
  const infos: SshInfo[] = [];
  for (const n of named) infos.push(await sshInfoFor(n.h, sshOpts));
  const hosts: ClusterHost[] = named.map((n, i) => ({ target: openTarget({ kind: 'ssh', ssh: infos[i]! }), role: n.role }));
  try {
    const previous = readInstance(f.instance);
    const env = settingsEnv(process.env, { seedNames: false });
    const flags: SettingsValues = { ...(f.source ? { imageSource: f.source } : {}) };
    const recorded = previous?.deployment?.pinned?.imageSource ? { imageSource: previous.deployment.pinned.imageSource } : undefined;
    const progress = new Progress({ json });
    const model = loadStackModel();
    const keyPath = f.key ?? infos[0]!.keyPath;
    const authorizedKeys = findAuthorizedKeys({ ...(f.authorizedKey ? { file: f.authorizedKey } : {}), ...(keyPath ? { keyPath } : {}) });
    if (!f.hostOnly) {
      const settings = await loadSettings({ model, flags, env, recorded, configPath: f.config, detectIp: () => detectAdvertiseAddress(hosts[0]!.target) });
      await prepareImagesOnBuildHost({ model, source: settings.imageSource, progress, dryRun: !!f.dryRun, ...(settings.debianMirror ? { mirror: settings.debianMirror } : {}) });
    }
    const out = await provisionCluster(hosts, {
      model,
      progress,
      flags,
      env,
      recorded,
      configPath: f.config,
      skipMissingImages: !!f.skipMissingImages,
      hostOnly: !!f.hostOnly,
      dryRun: !!f.dryRun,
      healthTimeoutS: f.healthTimeout,
      instance: f.instance,
      lockTimeoutS: f.lockTimeout,
      ...(authorizedKeys ? { authorizedKeys } : {}),
    });
    const firstPlan = out.hosts[0]?.outcome.plan;
    if (firstPlan && !f.dryRun) {
      // The keys are pinned now: later commands check them strictly.
      const member = (d: (typeof out.hosts)[number]) => ({ ssh: { ...infos[hosts.findIndex((h) => h.target === d.target)]!, hostKeyPolicy: 'strict' as const }, ip: d.ip, ...(d.outcome.plan ? { hostname: d.outcome.plan.settings.hostname } : {}) });
      const s = firstPlan.settings;
      const inst: Instance = {
        name: f.instance,
        driver: 'ssh',
        mode: 'ssh',
        stage: { kind: 'ssh', ssh: { ...infos[0]!, hostKeyPolicy: 'strict' } },
        lifecycle: 'converged',
        deployment: { ip: s.ip, hostname: s.hostname, imageSource: s.imageSource, composePath: COMPOSE_PATH, project: firstPlan.project, ...(flags.imageSource ? { pinned: { imageSource: flags.imageSource } } : {}) },
        cluster: { masters: out.hosts.filter((d) => d.role === 'master').map(member), agents: out.hosts.filter((d) => d.role === 'agent').map(member) },
        updatedAt: '',
      };
      writeInstance(inst);
    }
    if (json) {
      process.stdout.write(JSON.stringify({ mode: 'ssh', cluster: { masters: out.masters, agents: out.agents }, targets: hosts.map((h) => h.target.name), ...progress.summary() }, null, 2) + '\n');
    } else {
      progress.finish();
      if (firstPlan) process.stdout.write(`\nThe cluster runs on masters ${out.masters.join(', ')}${out.agents.length ? ` and agents ${out.agents.join(', ')}` : ''}; check it: npx paasbox verify\n`);
    }
  } finally {
    await Promise.all(hosts.map((h) => h.target.close()));
  }
}
