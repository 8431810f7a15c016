// `paasbox install`: choose the stage (a mode, given or detected), reach it,
// build the images here, provision the stack there (holding the target's
// lock), and record the instance so every later command connects exactly as
// this one did.

import { existsSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { PaasboxError } from '../errors.js';
import type { ImageSnapshot } from '../images/plan.js';
import { Progress } from '../progress.js';
import { findAuthorizedKeys } from '../provision/access.js';
import { BUILD_ON, decideBuildHost, prepareImages, prepareImagesOnBuildHost, type BuildOn } from '../provision/build-host.js';
import { provisionTarget, type ProvisionOptions } from '../provision/provision.js';
import { planSettings } from '../provision/plan.js';
import { detectAdvertiseAddress, envValues, loadSettings, readSettingsFile, settingsEnv, type Settings, type SettingsValues } from '../settings/index.js';
import { COMPOSE_PATH } from '../stackfile/deployment.js';
import { loadStackModel } from '../model/load.js';
import type { ImageSourceName } from '../model/model.js';
import { detectMode, dockerVmInfo, hasCommand, INSTALL_MODES, parseMode, sshInfoFor, vagrantInfo, vagrantMachineProvider, vagrantPrivateIp, type ModeChoice } from '../stage/discover.js';
import { checkInstanceName, DEFAULT_INSTANCE, readInstance, writeInstance, type Instance } from '../stage/instances.js';
import { openTarget } from '../stage/open.js';
import type { StageRef } from '../stage/ssh-info.js';
import { LocalTarget } from '../target/local.js';
import type { Target } from '../target/target.js';
import { intArg, jsonOption, listArg, lockTimeoutOption, sourceOption } from './program.js';
import { provisionCluster, removeClusterHost, type ClusterHost } from '../provision/cluster.js';
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
  /** Where the images are built: auto (here unless this machine cannot), here, or on the target. */
  buildOn?: BuildOn;
  /** Services to switch on for this instance and record (tunnel up: sshd); paasbox.yaml's entry wins. No flag. */
  enableServices?: string[];
  /** A cluster: its masters and agents as user@address[:port] (ssh mode). */
  masters?: string[];
  agents?: string[];
  /** Agents to take out of the cluster (drained first). */
  remove?: string[];
}

export function defineInstall(cmd: Command): Command {
  return cmd
    .description('provision the stack onto a stage (a mode, given or detected) and leave it running')
    .addOption(new Option('--mode <mode>', 'where the stack goes (default: detected, and the reason printed)').choices(INSTALL_MODES))
    .option('--host <host>', 'ssh/boot2docker: user@address[:port] or an ~/.ssh/config alias')
    .option('--masters <hosts>', 'a cluster (ssh mode): its masters, user@address[:port] comma separated (three for high availability)', listArg)
    .option('--agents <hosts>', 'a cluster (ssh mode): its agents, user@address[:port] comma separated', listArg)
    .option('--remove <hosts>', 'a cluster: agents to take out, user@address[:port] comma separated (Consul maintenance, swarm drain until their tasks run elsewhere, then leave)', listArg)
    .option('--key <file>', 'SSH private key (default: ~/.ssh/config, ssh-agent, ~/.ssh/id_*)')
    .option('--known-hosts <file>', 'where host keys are pinned (default ~/.paasbox/known_hosts; ~/.ssh/known_hosts is honoured too)')
    .option('--accept-new-host-key', 'pin the key of a host seen for the first time (without it an unknown key is refused with its fingerprint)')
    .addOption(new Option('--provider <provider>', 'vagrant provider').choices(['docker', 'virtualbox', 'libvirt']))
    .addOption(sourceOption())
    .addOption(new Option('--build-on <where>', 'where the images are built: auto (here, then sent; on the target when this machine has no docker or debootstrap or another CPU architecture), here, target').choices(BUILD_ON).env('PAASBOX_BUILD_ON'))
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

/** What one host's and a cluster's provisioning both take from install's flags and its resolved inputs. */
function provisionOptions(
  f: InstallFlags,
  p: Pick<ProvisionOptions, 'model' | 'progress' | 'flags' | 'env' | 'recorded' | 'authorizedKeys'>,
): ProvisionOptions {
  return {
    ...p,
    configPath: f.config,
    skipMissingImages: !!f.skipMissingImages,
    hostOnly: !!f.hostOnly,
    dryRun: !!f.dryRun,
    healthTimeoutS: f.healthTimeout,
    instance: f.instance,
    lockTimeoutS: f.lockTimeout,
  };
}

export async function runInstall(f: InstallFlags): Promise<void> {
  const json = !!f.json;
  const say = (l: string) => { if (!json) process.stderr.write(l + '\n'); };
  checkInstanceName(f.instance);
  if (f.key && !existsSync(f.key)) throw new PaasboxError(`--key ${f.key} does not exist`, 'pass the path of your private key file');
  if (f.config && !existsSync(f.config)) throw new PaasboxError(`--config ${f.config} does not exist`, 'pass an existing settings file, or omit --config to use ./paasbox.yaml');
  if (f.masters?.length || f.agents?.length) return runClusterInstall(f, say);
  if (f.remove?.length) throw new PaasboxError('--remove takes agents out of a cluster', 'name the cluster that stays: --masters ... --agents ... --remove user@address');
  // No host named on the command line: paasbox.yaml's cluster: describes the hosts (flags win when given).
  if (!f.host && (!f.mode || f.mode === 'ssh')) {
    const file = readSettingsFile(process.cwd(), f.config);
    const cluster = clusterInFile(file.obj);
    if (cluster) {
      say(`paasbox install: the cluster of ${file.path}`);
      return runClusterInstall({ ...f, masters: cluster.masters, agents: cluster.agents }, say);
    }
  }

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
    const pinnedBefore = previous?.deployment?.pinned;
    const recorded = f.enableServices?.length
      ? { ...pinnedBefore, services: { ...pinnedBefore?.services, ...Object.fromEntries(f.enableServices.map((n) => [n, { enabled: true }])) } }
      : pinnedBefore;
    const progress = new Progress({ json });
    const model = loadStackModel();
    let imagesBuiltOnTarget = false;
    // The settings are resolved once, here, and the plan uses them.
    let settings: Settings | undefined;
    let localImages: ImageSnapshot | undefined;
    if (!f.hostOnly) {
      // Images are built here (unchanged ones are skipped) and sent, or on the target itself (src/provision/build-host.ts).
      settings = await planSettings(target, { model, flags, env, recorded, ...(defaults ? { defaults } : {}), ...(f.config ? { configPath: f.config } : {}) });
      const choice = await decideBuildHost(target, f.buildOn ?? 'auto', settings.imageSource);
      imagesBuiltOnTarget = choice.where === 'target';
      const built = await prepareImages(target, choice, { model, source: settings.imageSource, progress, dryRun: !!f.dryRun, ...(settings.debianMirror ? { mirror: settings.debianMirror } : {}) });
      if (choice.where === 'here' && built.snapshot) localImages = built.snapshot;
    }
    const out = await provisionTarget(target, {
      ...provisionOptions(f, { model, progress, flags, env, recorded, authorizedKeys }),
      ...(settings ? { settings } : {}),
      ...(localImages ? { localImages } : {}),
      defaults,
      imagesBuiltOnTarget,
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

/** A recorded host of the cluster, as the instance keeps it. */
export interface RecordedMember {
  ssh: { host: string; port: number };
  ip: string;
  hostname?: string;
  role: 'master' | 'agent';
}

/**
 * How a cluster install changes the recorded cluster: which recorded agents
 * --remove takes out (drained first), refusing what users would not mean: a
 * recorded host left out of --masters/--agents without --remove (a typo must
 * not drain a host), a --remove that is no recorded host, a master (the
 * quorum is not changed this way), or a host both kept and removed. Hosts
 * are the same when their SSH address and port are, or the address is the
 * one it advertises. Pure.
 */
export function planMembership(recorded: RecordedMember[], named: { host: string; port: number }[], remove: { host: string; port: number }[], instance: string): RecordedMember[] {
  const same = (m: RecordedMember, h: { host: string; port: number }) => (m.ssh.host === h.host && m.ssh.port === h.port) || m.ip === h.host;
  const removing = remove.map((r) => {
    const m = recorded.find((x) => same(x, r));
    if (!m) throw new PaasboxError(`--remove ${r.host}: not a host of cluster ${instance} (${recorded.map((x) => x.ip).join(', ') || 'none recorded'})`, 'name a recorded agent (npx paasbox status lists them)');
    if (m.role === 'master') throw new PaasboxError(`--remove ${r.host}: ${m.ip} is a master; removing one changes the quorum`, 'only agents can be removed; keep three masters (replace a dead one by reinstalling it at the same address)');
    if (named.some((h) => same(m, h))) throw new PaasboxError(`${r.host} is both in --masters/--agents and in --remove`, 'name it in one place: kept, or removed');
    return m;
  });
  const left = recorded.filter((m) => !removing.includes(m) && !named.some((h) => same(m, h)));
  if (left.length)
    throw new PaasboxError(
      `${left.map((m) => `${m.ip} (${m.role})`).join(', ')} ${left.length === 1 ? 'is' : 'are'} in cluster ${instance} but not in --masters/--agents`,
      `to take ${left.length === 1 ? 'it' : 'them'} out (drained first), add --remove ${left.map((m) => m.ssh.host).join(',')}; to keep ${left.length === 1 ? 'it' : 'them'}, list ${left.length === 1 ? 'it' : 'them'}`,
    );
  return removing;
}

/**
 * paasbox.yaml's cluster: { masters: [...], agents: [...] } as the hosts to
 * reach (addresses; the user is ~/.ssh/config's for that address, else root),
 * or undefined when the file describes no cluster. The settings pipeline
 * validates the lists themselves. Pure.
 */
export function clusterInFile(obj: unknown): { masters: string[]; agents: string[] } | undefined {
  const c = obj && typeof obj === 'object' ? (obj as { cluster?: unknown }).cluster : undefined;
  if (!c || typeof c !== 'object') return undefined;
  const list = (v: unknown, field: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
      throw new PaasboxError(`paasbox.yaml cluster.${field} is not a list of addresses`, `write it as cluster: { ${field}: [10.0.0.5, 10.0.0.6] }`);
    return v as string[];
  };
  const masters = list((c as { masters?: unknown }).masters, 'masters');
  const agents = list((c as { agents?: unknown }).agents, 'agents');
  if (!masters.length) throw new PaasboxError('paasbox.yaml cluster: names no masters', 'add cluster: { masters: [A, B, C] } (three for high availability)');
  return { masters, agents };
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
  const previous = readInstance(f.instance);
  const recordedMembers: RecordedMember[] = previous?.cluster
    ? [...previous.cluster.masters.map((m) => ({ ...m, role: 'master' as const })), ...previous.cluster.agents.map((m) => ({ ...m, role: 'agent' as const }))]
    : [];
  const removeInfos: SshInfo[] = [];
  for (const r of f.remove ?? []) removeInfos.push(await sshInfoFor(r, sshOpts));
  const leaving = planMembership(recordedMembers, infos, removeInfos, f.instance);
  const hosts: ClusterHost[] = named.map((n, i) => ({ target: openTarget({ kind: 'ssh', ssh: infos[i]! }), role: n.role }));
  try {
    if (leaving.length && f.dryRun) say(`paasbox install: dry run: would drain and remove ${leaving.map((m) => m.ip).join(', ')} first`);
    if (leaving.length && !f.dryRun) {
      // Out first, so their tasks move to the agents that stay; the hosts that stay converge after (ok).
      const progress0 = new Progress({ json });
      const managers = hosts.filter((h) => h.role === 'master').map((h) => ({ target: h.target, ip: recordedMembers.find((m) => m.role === 'master' && m.ssh.host === infos[hosts.indexOf(h)]!.host)?.ip ?? infos[hosts.indexOf(h)]!.host }));
      for (const m of leaving) {
        const t = openTarget({ kind: 'ssh', ssh: { ...(m as unknown as { ssh: SshInfo }).ssh, hostKeyPolicy: 'strict' } });
        try {
          say(`paasbox install: removing agent ${m.ip} from cluster ${f.instance} (drained first)`);
          await removeClusterHost({ target: t, ip: m.ip, node: m.hostname ?? m.ip }, managers, progress0);
        } finally {
          await t.close();
        }
      }
      if (!json) progress0.finish();
    }
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
    const out = await provisionCluster(hosts, provisionOptions(f, { model, progress, flags, env, recorded, authorizedKeys }));
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
