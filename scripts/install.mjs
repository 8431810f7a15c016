#!/usr/bin/env zx
// Provision the paasbox stack onto a stage and leave it running:
//   npx zx scripts/install.mjs [--mode standalone|ssh|vagrant|boot2docker] [--host user@addr[:port]] [--key FILE]
//        [--source local|registry] [--json] [--skip-missing-images] [--host-only] [--dry-run] [--health-timeout S]
//        [--known-hosts FILE] [--provider docker|virtualbox|libvirt] [--hostname H] [--ip A] [--config FILE]
// Without --mode the mode is detected (and printed with the reason). Steps are idempotent:
// a second run on a converged target reports every step ok. --dry-run only checks and
// reports what would change.
import { argv } from 'zx';
import { existsSync } from 'node:fs';
import { formatError, PaasboxError } from '../dist/src/errors.js';
import { Progress } from '../dist/src/progress.js';
import { LocalTarget } from '../dist/src/target/local.js';
import { SshTarget } from '../dist/src/target/ssh.js';
import { parseHostSpec } from '../dist/src/target/parse.js';
import { detectMode, parseMode } from '../dist/src/provision/modes.js';
import { boot2dockerEndpoint, hasCommand, targetFor, vagrantEndpoint } from '../dist/src/provision/vm.js';
import { paasboxEnv } from '../dist/src/provision/plan.js';
import { provisionTarget } from '../dist/src/provision/provision.js';
import { prepareImagesOnBuildHost } from '../dist/src/provision/build-host.js';
import { loadStackModel } from '../dist/src/stack/load.js';
import { detectAdvertiseAddress, loadSettings } from '../dist/src/settings/load.js';
import { writeState } from '../dist/src/state.js';
import { COMPOSE_PATH } from '../dist/src/provision/steps.js';

const json = !!argv.json;
const say = (l) => { if (!json) console.error(l); };
let target;
let choice;
try {
  const str = (k) => (argv[k] === undefined || argv[k] === true ? undefined : String(argv[k]));
  const source = str('source');
  if (source && !['local', 'registry'].includes(source))
    throw new PaasboxError(`--source "${source}" is not an image source`, 'use --source local (build here, works offline) or --source registry (pull on the target)');
  const key = str('key');
  if (key && !existsSync(key)) throw new PaasboxError(`--key ${key} does not exist`, 'pass the path of your private key file');
  const hostArg = str('host');
  if (argv.host === true) throw new PaasboxError('--host needs a value', 'write --host user@address[:port]');
  const spec = hostArg ? parseHostSpec(hostArg) : undefined;

  if (str('mode')) choice = { mode: parseMode(str('mode')), why: 'given with --mode' };
  else {
    const commands = [];
    for (const c of ['vagrant', 'docker', 'docker-machine', 'colima', 'limactl', 'boot2docker']) if (await hasCommand(c)) commands.push(c);
    const dockerRuns = commands.includes('docker') && (await new LocalTarget().exec('docker info', { timeoutMs: 20000 })).code === 0;
    choice = detectMode({ platform: process.platform, commands, dockerRuns, hasHost: !!spec });
  }
  say(`paasbox install: mode ${choice.mode} (${choice.why})`);

  // Settings env: this shell's HOSTNAME/IP describe the stage only when the stack runs here or
  // in the boot2docker VM (the seed's `HOSTNAME=boot2docker IP=192.168.59.103`).
  let env = paasboxEnv();
  const knownHostsPath = str('known-hosts');
  if (choice.mode === 'standalone') {
    target = new LocalTarget();
    env = { ...env, HOSTNAME: process.env.HOSTNAME, IP: process.env.IP };
  } else if (choice.mode === 'ssh') {
    if (!spec) throw new PaasboxError('--mode ssh needs --host', 'add --host user@address[:port] (and --key FILE unless ssh-agent has the key)');
    target = new SshTarget({ host: spec.host, port: spec.port, user: spec.user, ...(key ? { keyPath: key } : {}), ...(knownHostsPath ? { knownHostsPath } : {}) });
  } else if (choice.mode === 'vagrant') {
    const ep = await vagrantEndpoint({ provider: str('provider') ?? process.env.VAGRANT_DEFAULT_PROVIDER, log: say });
    say(`vagrant machine ${ep.name}: ${ep.user}@${ep.host}:${ep.port}`);
    target = targetFor(ep, { ...(key ? { keyPath: key } : {}), ...(knownHostsPath ? { knownHostsPath } : {}) });
  } else {
    const { tool, endpoint } = spec
      ? { tool: '--host', endpoint: { name: 'vm', host: spec.host, port: spec.port, user: spec.user, ignoreHostKey: false } }
      : await boot2dockerEndpoint();
    say(`docker VM via ${tool}: ${endpoint.user}@${endpoint.host}:${endpoint.port}`);
    target = targetFor(endpoint, { ...(key ? { keyPath: key } : {}), ...(knownHostsPath ? { knownHostsPath } : {}) });
    env = { ...env, HOSTNAME: process.env.HOSTNAME, IP: process.env.IP };
  }

  const progress = new Progress({ json });
  const model = loadStackModel();
  if (!argv['host-only']) {
    // Images are built on this machine (unchanged ones are skipped), then sent to the target.
    const settings = await loadSettings({ model, env, ...(str('config') ? { configPath: str('config') } : {}), detectIp: () => detectAdvertiseAddress(target) });
    await prepareImagesOnBuildHost({ model, source: source ?? settings.imageSource, progress, dryRun: !!argv['dry-run'], ...(settings.debianMirror ? { mirror: settings.debianMirror } : {}) });
  }
  const out = await provisionTarget(target, {
    model,
    progress,
    env,
    ...(source ? { source } : {}),
    ...(str('config') ? { configPath: str('config') } : {}),
    ...(str('hostname') ? { hostname: str('hostname') } : {}),
    ...(str('ip') ? { ip: str('ip') } : {}),
    skipMissingImages: !!argv['skip-missing-images'],
    hostOnly: !!argv['host-only'],
    dryRun: !!argv['dry-run'],
    healthTimeoutS: Number(argv['health-timeout'] ?? 300),
  });
  if (out.plan && !argv['dry-run']) {
    // Later commands (verify, stack, deploy, tunnel) act on this target by default.
    writeState({
      mode: choice.mode,
      target: target instanceof LocalTarget
        ? { kind: 'local', address: out.plan.settings.ip }
        : { kind: 'ssh', host: target.address, port: target.port, user: target.user, ...(target.keyPath ? { keyPath: target.keyPath } : {}) },
      imageSource: out.plan.settings.imageSource,
      ip: out.plan.settings.ip,
      composePath: COMPOSE_PATH,
      project: out.plan.project,
      updatedAt: new Date().toISOString(),
    });
  }
  if (json) {
    const s = progress.summary();
    console.log(JSON.stringify({ mode: choice.mode, why: choice.why, target: target.name, ...s, omitted: out.plan?.omitted ?? {}, ip: out.plan?.settings.ip, hostname: out.plan?.settings.hostname }, null, 2));
  } else {
    progress.finish();
    if (out.plan) {
      const ip = out.plan.settings.ip;
      console.log(`\nThe stack runs on ${target.name} (${ip}); consul UI http://${ip}:8500/ui/, HAProxy stats http://${ip}:81/`);
      for (const [s, why] of Object.entries(out.plan.omitted)) console.log(`  left out ${s}: ${why}`);
    }
  }
  await target.close();
} catch (e) {
  console.error(formatError(e));
  if (json) console.log(JSON.stringify({ mode: choice?.mode, error: e?.problem ?? String(e), fix: e?.fix }, null, 2));
  await target?.close().catch(() => {});
  process.exit(1);
}
