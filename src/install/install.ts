// The one install path, for one host or many (a single host is a cluster of
// one master): reach the hosts (src/install/hosts.ts), resolve the settings
// once, build the images, provision (one host: provisionTarget; a cluster:
// provisionCluster, which orders its hosts), and record the instance once
// (src/install/record.ts). `paasbox install` and kitchen's converge both run
// it; the command line turns its flags into these options and prints the result.

import type { DriverName } from '../drivers/driver.js';
import { findAuthorizedKeys } from '../provision/access.js';
import {
  decideBuildHost,
  prepareImages,
  prepareImagesOnBuildHost,
  type BuildOn,
} from '../provision/build-host.js';
import { provisionCluster, removeClusterHost } from '../provision/cluster.js';
import type { StackPlan } from '../provision/plan.js';
import { planSettings } from '../provision/plan.js';
import { provisionTarget, type ProvisionOptions } from '../provision/provision.js';
import type { ImageSnapshot } from '../images/plan.js';
import { openTarget } from '../instance/open.js';
import { readInstance, writeInstance, type ClusterMember } from '../instance/state.js';
import { loadStackModel } from '../model/load.js';
import { Progress } from '../progress.js';
import { settingsEnv, type Settings, type SettingsValues } from '../settings/index.js';
import { COMPOSE_PATH } from '../stackfile/deployment.js';
import type { StageRef } from '../target/ssh-info.js';
import type { Target } from '../target/target.js';
import { planHosts, type HostsRequest, type InstallHosts } from './hosts.js';
import { instanceRecord, pinsToKeep, recordedPins, type InstalledHost } from './record.js';

export interface InstallOptions extends HostsRequest {
  /** Where the images are built: auto (here unless this machine cannot), here, or on the target. */
  buildOn?: BuildOn;
  /**
   * Who may log in to the stack's sshd: this public key file (default: the key's .pub, else
   * ~/.ssh/id_*.pub).
   */
  authorizedKeyFile?: string;
  skipMissingImages?: boolean;
  hostOnly?: boolean;
  dryRun?: boolean;
  healthTimeoutS: number;
  lockTimeoutS: number;
  /** Services to switch on for this instance and record (tunnel up: sshd); paasbox.yaml's entry wins. */
  enableServices?: string[];
  /**
   * A host already brought up (a kitchen instance): no driver is chosen, and its lifecycle records the
   * instance.
   */
  reached?: { driver: DriverName; ref: StageRef };
  /**
   * The environment layer of the settings (default: PAASBOX_* of this process, and the seed's
   * HOSTNAME/IP where they describe the host). Kitchen passes none: a test host is not the one
   * the operator's PAASBOX_IP names.
   */
  env?: Record<string, string | undefined>;
  /** Progress lines as JSON (a new Progress each; default a Progress of their own). */
  json?: boolean;
  progress?: Progress;
  /** A line for the user about the choices made. */
  say?: (line: string) => void;
}

export interface InstallResult {
  hosts: InstallHosts;
  /** Every host as reached, the first master first. */
  targets: string[];
  progress: Progress;
  /** The first master's plan (none with --host-only). */
  plan?: StackPlan;
  /** A cluster's masters' and agents' addresses. */
  cluster?: { masters: string[]; agents: string[] };
}

export async function install(o: InstallOptions): Promise<InstallResult> {
  const say = o.say ?? (() => undefined);
  const hosts: InstallHosts = o.reached
    ? {
        driver: o.reached.driver,
        mode: o.reached.driver,
        why: 'a kitchen instance',
        cluster: false,
        hosts: [{ ref: o.reached.ref, role: 'master' }],
        seedNames: false,
        leaving: [],
      }
    : await planHosts(o, say);
  const previous = readInstance(o.instance);
  const targets: Target[] = hosts.hosts.map((h) => openTarget(h.ref));
  try {
    if (hosts.leaving.length) await removeLeaving(o, hosts, targets, previous?.cluster?.masters ?? [], say);
    const env = o.env ?? settingsEnv(process.env, { seedNames: hosts.seedNames });
    // A cluster's hosts advertise their own name and address: of the flags, only --source is for all.
    const { imageSource } = o.flags;
    const flags: SettingsValues = hosts.cluster ? { ...(imageSource ? { imageSource } : {}) } : o.flags;
    const recorded = recordedPins(previous, hosts.cluster, o.enableServices);
    const progress = o.progress ?? new Progress({ json: !!o.json });
    const model = loadStackModel();
    const first = hosts.hosts[0]!;
    const keyPath = o.keyPath ?? (first.ref.kind === 'ssh' ? first.ref.ssh.keyPath : undefined);
    const authorizedKeys = findAuthorizedKeys({
      ...(o.authorizedKeyFile ? { file: o.authorizedKeyFile } : {}),
      ...(keyPath ? { keyPath } : {}),
    });
    const provision: ProvisionOptions = {
      model,
      progress,
      flags,
      env,
      recorded,
      authorizedKeys,
      configPath: o.configPath,
      skipMissingImages: !!o.skipMissingImages,
      hostOnly: !!o.hostOnly,
      dryRun: !!o.dryRun,
      healthTimeoutS: o.healthTimeoutS,
      instance: o.instance,
      lockTimeoutS: o.lockTimeoutS,
    };
    // The settings are resolved once, here, on the first master, and the images built for them.
    let settings: Settings | undefined;
    let localImages: ImageSnapshot | undefined;
    let imagesBuiltOnTarget = false;
    if (!o.hostOnly) {
      const defaults = hosts.defaults ? { defaults: hosts.defaults } : {};
      settings = await planSettings(targets[0]!, {
        model,
        flags,
        env,
        recorded,
        ...defaults,
        ...(o.configPath ? { configPath: o.configPath } : {}),
      });
      const images = {
        model,
        source: settings.imageSource,
        progress,
        dryRun: !!o.dryRun,
        ...(settings.debianMirror ? { mirror: settings.debianMirror } : {}),
      };
      if (hosts.cluster) await prepareImagesOnBuildHost(images);
      else {
        // Built here (unchanged ones are skipped) and sent, or on the target itself
        // (src/provision/build-host.ts).
        const choice = await decideBuildHost(targets[0]!, o.buildOn ?? 'auto', settings.imageSource);
        imagesBuiltOnTarget = choice.where === 'target';
        const built = await prepareImages(targets[0]!, choice, images);
        if (choice.where === 'here' && built.snapshot) localImages = built.snapshot;
      }
    }
    let installed: (InstalledHost & { plan?: StackPlan })[];
    let cluster: InstallResult['cluster'];
    if (hosts.cluster) {
      const out = await provisionCluster(
        hosts.hosts.map((h, i) => ({ target: targets[i]!, role: h.role })),
        provision,
      );
      cluster = { masters: out.masters, agents: out.agents };
      installed = out.hosts.map((d) => ({
        ref: hosts.hosts[targets.indexOf(d.target)]!.ref,
        role: d.role,
        ip: d.ip,
        ...(d.outcome.plan ? { hostname: d.outcome.plan.settings.hostname, plan: d.outcome.plan } : {}),
      }));
    } else {
      const out = await provisionTarget(targets[0]!, {
        ...provision,
        ...(settings ? { settings } : {}),
        ...(localImages ? { localImages } : {}),
        defaults: hosts.defaults,
        imagesBuiltOnTarget,
      });
      const s = out.plan?.settings;
      installed = [
        {
          ref: first.ref,
          role: 'master',
          ip: s?.ip ?? '',
          ...(s ? { hostname: s.hostname } : {}),
          ...(out.plan ? { plan: out.plan } : {}),
        },
      ];
    }
    const plan = installed[0]?.plan;
    if (plan && !o.dryRun && !o.reached) {
      const pinned = pinsToKeep(recorded, env, flags, hosts.cluster);
      const base = {
        name: o.instance,
        driver: hosts.driver,
        mode: hosts.mode,
        cluster: hosts.cluster,
        composePath: COMPOSE_PATH,
      };
      writeInstance(
        instanceRecord({ ...base, hosts: installed, settings: plan.settings, project: plan.project, pinned }),
      );
    }
    return {
      hosts,
      targets: targets.map((t) => t.name),
      progress,
      ...(plan ? { plan } : {}),
      ...(cluster ? { cluster } : {}),
    };
  } finally {
    await Promise.all(targets.map((t) => t.close()));
  }
}

/**
 * The recorded agents --remove takes out, first, so their tasks move to the agents that stay (which
 * converge after: ok).
 */
async function removeLeaving(
  o: InstallOptions,
  hosts: InstallHosts,
  targets: Target[],
  recorded: ClusterMember[],
  say: (l: string) => void,
): Promise<void> {
  const names = hosts.leaving.map((m) => m.ip).join(', ');
  if (o.dryRun) return say(`paasbox install: dry run: would drain and remove ${names} first`);
  const progress = new Progress({ json: !!o.json });
  // Each master by the address it advertises, as recorded (else as reached).
  const managers = hosts.hosts.flatMap((h, i) => {
    if (h.role !== 'master' || h.ref.kind !== 'ssh') return [];
    const ssh = h.ref.ssh;
    return [{ target: targets[i]!, ip: recorded.find((m) => m.ssh.host === ssh.host)?.ip ?? ssh.host }];
  });
  for (const m of hosts.leaving) {
    const t = openTarget({ kind: 'ssh', ssh: { ...m.ssh, hostKeyPolicy: 'strict' } });
    try {
      say(`paasbox install: removing agent ${m.ip} from cluster ${o.instance} (drained first)`);
      await removeClusterHost({ target: t, ip: m.ip, node: m.hostname ?? m.ip }, managers, progress);
    } finally {
      await t.close();
    }
  }
  if (!o.json) progress.finish();
}
