// Which hosts an install reaches, and through which driver: a cluster named
// by --masters/--agents (or paasbox.yaml's cluster: when no host is named),
// its hosts reached over SSH, with the recorded agents --remove takes out;
// else one host, a cluster of one master, through the driver --mode names
// or detection picks. Each host comes back as a StageRef, with what its kind
// implies for the settings.

import { driverFor, detectMode, machineFacts, parseMode, type ModeChoice } from '../drivers/index.js';
import type { CreateOptions, DriverName } from '../drivers/driver.js';
import { PaasboxError } from '../errors.js';
import { planMembership, recordedMembers } from '../instance/membership.js';
import { readInstance, type ClusterMember } from '../instance/state.js';
import { clusterInFile } from '../settings/cluster.js';
import { readSettingsFile, type SettingsValues } from '../settings/index.js';
import type { SshInfo, StageRef } from '../target/ssh-info.js';

/** What install was told about its hosts (flags, as options). */
export interface HostsRequest {
  instance: string;
  mode?: string;
  host?: string;
  masters?: string[];
  agents?: string[];
  remove?: string[];
  keyPath?: string;
  knownHostsPath?: string;
  acceptNewHostKey?: boolean;
  provider?: string;
  configPath?: string;
  /** --hostname/--ip: one host's, refused for a cluster. */
  flags: SettingsValues;
}

export interface PlannedHost {
  ref: StageRef;
  role: 'master' | 'agent';
}

export interface InstallHosts {
  driver: DriverName;
  /** install's --mode word, and why that driver. */
  mode: string;
  why: string;
  /**
   * Named as a cluster: every host is recorded, and they converge as src/provision/cluster.ts orders them.
   */
  cluster: boolean;
  /** The masters first. */
  hosts: PlannedHost[];
  /** The seed's HOSTNAME/IP describe the host (settingsEnv). */
  seedNames: boolean;
  /** Defaults the kind of host knows (a Vagrant VM's private address). */
  defaults?: SettingsValues;
  /** Recorded agents to take out first (drained). */
  leaving: (ClusterMember & { role: 'master' | 'agent' })[];
}

/** The ssh driver's options from install's. */
function sshCreate(r: HostsRequest, knownHostsPath?: string): Omit<CreateOptions, 'host'> {
  return {
    instance: r.instance,
    ...(r.keyPath ? { keyPath: r.keyPath } : {}),
    ...(knownHostsPath ? { knownHostsPath } : {}),
    hostKeyPolicy: r.acceptNewHostKey ? 'accept-new' : 'strict',
  };
}

export async function planHosts(r: HostsRequest, say: (l: string) => void): Promise<InstallHosts> {
  if (r.masters?.length || r.agents?.length) return clusterHosts(r, say);
  if (r.remove?.length)
    throw new PaasboxError(
      '--remove takes agents out of a cluster',
      'name the cluster that stays: --masters ... --agents ... --remove user@address',
    );
  // No host named on the command line: paasbox.yaml's cluster: describes the hosts (flags win when given).
  if (!r.host && (!r.mode || r.mode === 'ssh')) {
    const file = readSettingsFile(process.cwd(), r.configPath);
    const cluster = clusterInFile(file.obj);
    if (cluster) {
      say(`paasbox install: the cluster of ${file.path}`);
      return clusterHosts({ ...r, masters: cluster.masters, agents: cluster.agents }, say);
    }
  }
  const choice: ModeChoice = r.mode
    ? { mode: r.mode, driver: parseMode(r.mode), why: 'given with --mode' }
    : detectMode(await machineFacts(!!r.host));
  say(`paasbox install: mode ${choice.mode} (${choice.why})`);
  if (choice.driver === 'ssh' && !r.host)
    throw new PaasboxError(
      '--mode ssh needs --host',
      'add --host user@address[:port] (and --key FILE unless ssh-agent has the key)',
    );
  // A re-run pins host keys where the last install of this instance did, unless told otherwise.
  const before = readInstance(r.instance);
  const recordedKnownHosts = before?.stage.kind === 'ssh' ? before.stage.ssh.knownHostsPath : undefined;
  const made = await driverFor(choice.driver).create({
    ...sshCreate(r, r.knownHostsPath ?? recordedKnownHosts),
    ...(r.host ? { host: r.host } : {}),
    ...(r.provider ? { provider: r.provider } : {}),
    log: say,
  });
  return {
    driver: choice.driver,
    mode: choice.mode,
    why: choice.why,
    cluster: false,
    hosts: [{ ref: made.ref, role: 'master' }],
    seedNames: made.seedNames,
    ...(made.defaults ? { defaults: made.defaults } : {}),
    leaving: [],
  };
}

/** install --masters A,B,C [--agents D,...] [--remove E]: a cluster over SSH. */
async function clusterHosts(r: HostsRequest, say: (l: string) => void): Promise<InstallHosts> {
  if (r.mode && r.mode !== 'ssh')
    throw new PaasboxError(
      `--masters/--agents need --mode ssh, not --mode ${r.mode}`,
      'use --mode ssh (or leave --mode out)',
    );
  if (r.host)
    throw new PaasboxError(
      '--host and --masters/--agents name the hosts twice',
      'use --masters (and --agents) alone for a cluster, --host alone for one host',
    );
  if (r.flags.ip || r.flags.hostname)
    throw new PaasboxError(
      "--ip/--hostname name one host; a cluster's hosts advertise their own",
      "leave out --ip and --hostname (each host's address is detected, its hostname is its own)",
    );
  if (!r.masters?.length)
    throw new PaasboxError('--agents needs --masters', 'add --masters user@a,user@b,user@c');
  say(`paasbox install: a cluster over ssh, ${r.masters.length} masters and ${r.agents?.length ?? 0} agents`);
  const ssh = driverFor('ssh');
  const reach = async (host: string): Promise<SshInfo> => {
    const made = await ssh.create({ ...sshCreate(r, r.knownHostsPath), host });
    if (made.ref.kind !== 'ssh')
      throw new PaasboxError(`${host} is not reached over SSH`, 'name each host as user@address');
    return made.ref.ssh;
  };
  const named = [
    ...r.masters.map((h) => ({ h, role: 'master' as const })),
    ...(r.agents ?? []).map((h) => ({ h, role: 'agent' as const })),
  ];
  const hosts: PlannedHost[] = [];
  for (const n of named) hosts.push({ ref: { kind: 'ssh', ssh: await reach(n.h) }, role: n.role });
  const removing: SshInfo[] = [];
  for (const h of r.remove ?? []) removing.push(await reach(h));
  const sshOf = (h: PlannedHost) => (h.ref.kind === 'ssh' ? h.ref.ssh : { host: h.ref.address, port: 22 });
  const leaving = planMembership(
    recordedMembers(readInstance(r.instance)),
    hosts.map(sshOf),
    removing,
    r.instance,
  );
  return {
    driver: 'ssh',
    mode: 'ssh',
    why: 'a cluster over ssh',
    cluster: true,
    hosts,
    seedNames: false,
    leaving,
  };
}
