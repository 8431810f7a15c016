// `paasbox install`: its flags, turned into the one install path's options
// (src/install/install.ts: choose the driver, reach the hosts, build the
// images, provision holding each target's lock, record the instance), and
// what it prints.

import { existsSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { INSTALL_MODES } from '../drivers/index.js';
import { PaasboxError } from '../errors.js';
import { DEFAULT_INSTANCE } from '../instance/state.js';
import { checkInstanceName } from '../paths.js';
import { install } from '../install/install.js';
import type { ImageSourceName } from '../model/model.js';
import { BUILD_ON, type BuildOn } from '../provision/build-host.js';
import type { SettingsValues } from '../settings/index.js';
import { intArg, jsonOption, listArg, lockTimeoutOption, sourceOption } from './program.js';

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
  /**
   * Services to switch on for this instance and record (tunnel up: sshd); paasbox.yaml's entry wins. No
   * flag.
   */
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
    .addOption(
      new Option('--mode <mode>', 'where the stack goes (default: detected, and the reason printed)').choices(
        INSTALL_MODES,
      ),
    )
    .option('--host <host>', 'ssh/boot2docker: user@address[:port] or an ~/.ssh/config alias')
    .option(
      '--masters <hosts>',
      'a cluster (ssh mode): its masters, user@address[:port] comma separated (three for high availability)',
      listArg,
    )
    .option(
      '--agents <hosts>',
      'a cluster (ssh mode): its agents, user@address[:port] comma separated',
      listArg,
    )
    .option(
      '--remove <hosts>',
      'a cluster: agents to take out, user@address[:port] comma separated (Consul maintenance, swarm drain until their tasks run elsewhere, then leave)',
      listArg,
    )
    .option('--key <file>', 'SSH private key (default: ~/.ssh/config, ssh-agent, ~/.ssh/id_*)')
    .option(
      '--known-hosts <file>',
      'where host keys are pinned (default ~/.paasbox/known_hosts; ~/.ssh/known_hosts is honoured too)',
    )
    .option(
      '--accept-new-host-key',
      'pin the key of a host seen for the first time (without it an unknown key is refused with its fingerprint)',
    )
    .addOption(
      new Option('--provider <provider>', 'vagrant provider').choices(['docker', 'virtualbox', 'libvirt']),
    )
    .addOption(sourceOption())
    .addOption(
      new Option(
        '--build-on <where>',
        'where the images are built: auto (here, then sent; on the target when this machine has no docker or debootstrap or another CPU architecture), here, target',
      )
        .choices(BUILD_ON)
        .env('PAASBOX_BUILD_ON'),
    )
    .option(
      '--hostname <name>',
      "the name the stack advertises for the host (default: the target's hostname)",
    )
    .option(
      '--ip <address>',
      'the address the stack advertises (default: detected on the target; never 127.x or 0.0.0.0)',
    )
    .option('--config <file>', 'settings file (default ./paasbox.yaml)')
    .option('--instance <name>', 'the name this install is recorded under', DEFAULT_INSTANCE)
    .addOption(jsonOption())
    .option('--skip-missing-images', 'leave out services whose image is not built here (instead of failing)')
    .option('--host-only', 'only the host steps (docker engine, compose tool), no stack')
    .option('--dry-run', 'only check and report what would change (pre-flight gates still stop)')
    .option(
      '--health-timeout <seconds>',
      'seconds to wait for every service to be healthy',
      intArg('--health-timeout', 1, 86_400),
      300,
    )
    .addOption(lockTimeoutOption())
    .option(
      '--authorized-key <file>',
      "public key(s) allowed to log in to the stack's sshd when it is enabled (default: the --key's .pub, else ~/.ssh/id_*.pub)",
    )
    .addHelpText(
      'after',
      '\nExamples:\n  npx paasbox install --mode standalone\n  npx paasbox install --mode ssh --host root@10.0.0.5 --key ~/.ssh/id_ed25519 --accept-new-host-key\n  npx paasbox install --mode ssh --masters root@10.0.0.5,root@10.0.0.6,root@10.0.0.7 --agents root@10.0.0.8 --key ~/.ssh/id_ed25519\n  npx paasbox install --mode vagrant',
    )
    .action(async (flags: InstallFlags) => {
      await runInstall(flags);
    });
}

export async function runInstall(f: InstallFlags): Promise<void> {
  const json = !!f.json;
  const say = (l: string) => {
    if (!json) process.stderr.write(l + '\n');
  };
  checkInstanceName(f.instance);
  if (f.key && !existsSync(f.key))
    throw new PaasboxError(`--key ${f.key} does not exist`, 'pass the path of your private key file');
  if (f.config && !existsSync(f.config))
    throw new PaasboxError(
      `--config ${f.config} does not exist`,
      'pass an existing settings file, or omit --config to use ./paasbox.yaml',
    );
  const flags: SettingsValues = {
    ...(f.source ? { imageSource: f.source } : {}),
    ...(f.hostname ? { hostname: f.hostname } : {}),
    ...(f.ip ? { ip: f.ip } : {}),
  };
  const provider = f.provider ?? process.env['VAGRANT_DEFAULT_PROVIDER'];
  const r = await install({
    instance: f.instance,
    ...(f.mode ? { mode: f.mode } : {}),
    ...(f.host ? { host: f.host } : {}),
    ...(f.masters ? { masters: f.masters } : {}),
    ...(f.agents ? { agents: f.agents } : {}),
    ...(f.remove ? { remove: f.remove } : {}),
    ...(f.key ? { keyPath: f.key } : {}),
    ...(f.knownHosts ? { knownHostsPath: f.knownHosts } : {}),
    acceptNewHostKey: !!f.acceptNewHostKey,
    ...(provider ? { provider } : {}),
    ...(f.config ? { configPath: f.config } : {}),
    flags,
    ...(f.buildOn ? { buildOn: f.buildOn } : {}),
    ...(f.authorizedKey ? { authorizedKeyFile: f.authorizedKey } : {}),
    skipMissingImages: !!f.skipMissingImages,
    hostOnly: !!f.hostOnly,
    dryRun: !!f.dryRun,
    healthTimeoutS: f.healthTimeout,
    lockTimeoutS: f.lockTimeout,
    ...(f.enableServices ? { enableServices: f.enableServices } : {}),
    json,
    say,
  });
  const { progress, plan } = r;
  if (r.cluster) {
    if (json) {
      const summary = { mode: 'ssh', cluster: r.cluster, targets: r.targets, ...progress.summary() };
      process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      return;
    }
    progress.finish();
    const agents = r.cluster.agents.length ? ` and agents ${r.cluster.agents.join(', ')}` : '';
    if (plan)
      process.stdout.write(
        `\nThe cluster runs on masters ${r.cluster.masters.join(', ')}${agents}; check it: npx paasbox verify\n`,
      );
    return;
  }
  const target = r.targets[0]!;
  if (json) {
    const summary = {
      mode: r.hosts.mode,
      why: r.hosts.why,
      target,
      ...progress.summary(),
      omitted: plan?.omitted ?? {},
      ip: plan?.settings.ip,
      hostname: plan?.settings.hostname,
    };
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    return;
  }
  progress.finish();
  if (plan) {
    process.stdout.write(
      `\nThe stack runs on ${target} (${plan.settings.ip}); every URL and a DNS check: npx paasbox info\n`,
    );
    for (const [s, why] of Object.entries(plan.omitted)) process.stdout.write(`  left out ${s}: ${why}\n`);
  }
}
