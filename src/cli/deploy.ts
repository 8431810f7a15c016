// `paasbox deploy`: a Marathon app JSON through Marathon, or Docker swarm
// when the stack has no Marathon, on the recorded stage; the swarm advertises
// the recorded deployment's address (--advertise-addr only overrides it).
// The app policy (src/apps/policy.ts) judges the app by the stack it lands
// on; each category it refuses has its own --allow-… flag. The run holds the
// target's lock.

import { isIPv4 } from 'node:net';
import { Option, type Command } from 'commander';
import { PaasboxError } from '../errors.js';
import { Progress } from '../progress.js';
import { stackBounds } from '../apps/bounds.js';
import type { AppAllowances } from '../apps/policy.js';
import type { ConsulOnTarget } from '../consul/app-names.js';
import { MANAGEMENT_TOKEN_FILE } from '../consul/acl.js';
import { runDeploy } from '../scheduler/deploy.js';
import { composePort, type Deployment } from '../stackfile/deployment.js';
import { sshInfoFor } from '../drivers/ssh.js';
import { openTarget } from '../instance/open.js';
import { LocalTarget } from '../target/local.js';
import type { Target } from '../target/target.js';
import { intArg, jsonOption, lockTimeoutOption, stageOptions } from './program.js';
import { deployedStack, openStage, withStageLock, type StageFlags } from './stage.js';
import { closeHosts, stageHosts } from '../instance/hosts.js';

interface DeployFlags extends StageFlags {
  wait?: boolean;
  timeout: number;
  scale?: number;
  destroy?: boolean;
  scheduler: 'auto' | 'marathon' | 'swarm';
  worker?: string[];
  marathon?: string;
  advertiseAddr?: string;
  allowHostMounts?: boolean;
  allowHostNamespaces?: boolean;
  allowReservedLabels?: boolean;
  allowLogDrivers?: boolean;
  allowDockerParameters?: boolean;
  json?: boolean;
  lockTimeout: number;
}

export function defineDeploy(cmd: Command): Command {
  return stageOptions(cmd)
    .argument('<file>', 'Marathon app JSON')
    .option('--wait', 'wait until every instance is ready')
    .option('--timeout <seconds>', 'seconds to wait', intArg('--timeout', 1, 86_400), 300)
    .option('--scale <n>', 'set the instance count of an app already deployed', intArg('--scale', 0, 10_000))
    .option('--destroy', 'remove the app')
    .addOption(
      new Option('--scheduler <name>', 'Marathon, Docker swarm, or whichever the stack has')
        .choices(['auto', 'marathon', 'swarm'])
        .default('auto'),
    )
    .option(
      '--worker <host>',
      'swarm worker to join (user@host[:port] or an ~/.ssh/config alias; repeatable)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--marathon <url>', 'Marathon URL (default http://ADVERTISED_ADDRESS:8080)')
    .option('--advertise-addr <ip>', 'override the recorded advertised address (swarm advertise address)')
    .option(
      '--allow-host-mounts',
      `allow hostPath volumes outside the app's data root (/srv/paasbox/apps/APP): the app may get the host`,
    )
    .option('--allow-host-namespaces', 'allow network HOST and the net/pid/ipc/uts/userns parameters')
    .option('--allow-reserved-labels', "allow labels under com.docker.* and paasbox.* (the platform's own)")
    .option('--allow-log-drivers', 'allow a log driver or log options that may ship logs off the host')
    .option(
      '--allow-docker-parameters',
      'allow docker parameters beyond the safe list (privileged, cap-add, device, ...)',
    )
    .addOption(jsonOption())
    .addOption(lockTimeoutOption())
    .description('deploy Marathon app JSON (Marathon, or Docker swarm where Marathon is absent)')
    .action(async (file: string, f: DeployFlags) => {
      if (f.scale !== undefined && f.destroy)
        throw new PaasboxError('--scale and --destroy together', 'give one of them');
      if (f.advertiseAddr && !isIPv4(f.advertiseAddr))
        throw new PaasboxError(
          `--advertise-addr ${f.advertiseAddr} is not an IPv4 address`,
          "give the host's routable address, e.g. --advertise-addr 10.0.0.5",
        );
      const targets: Target[] = [];
      let hosts: { target: Target }[] = [];
      try {
        const stage = await openStage(f);
        targets.push(stage.target);
        hosts = stageHosts(stage).slice(1);
        // The stack as its compose file on the target records it: the scheduler, the app bounds.
        // A bare swarm (no paasbox stack file) gets the default bounds and records no names.
        const deployment = await deployedStack(stage).then(
          (d) => d.deployment,
          () => undefined,
        );
        const cluster = stage.instance?.cluster;
        const nodes = cluster ? cluster.agents.length || cluster.masters.length : 1;
        const recordedIp = stage.instance?.deployment?.ip;
        // A local stage's Target answers at its advertised address, so the swarm can advertise it.
        const advertiseAddr = f.advertiseAddr ?? recordedIp;
        const target =
          stage.ref.kind === 'local' && advertiseAddr
            ? new LocalTarget({ address: advertiseAddr })
            : stage.target;
        const policy = f.acceptNewHostKey ? ('accept-new' as const) : ('strict' as const);
        for (const w of f.worker ?? []) {
          const t = openTarget({
            kind: 'ssh',
            ssh: await sshInfoFor(w, {
              ...(f.key ? { keyPath: f.key } : {}),
              ...(f.knownHosts ? { knownHostsPath: f.knownHosts } : {}),
              hostKeyPolicy: policy,
            }),
          });
          targets.push(t);
        }
        const progress = new Progress({ json: !!f.json });
        const report = await withStageLock(target, 'deploy', f.lockTimeout, () =>
          runDeploy(
            {
              file,
              action: f.destroy ? 'destroy' : f.scale !== undefined ? 'scale' : 'deploy',
              ...(f.scale !== undefined ? { instances: f.scale } : {}),
              wait: !!f.wait,
              timeoutMs: f.timeout * 1000,
              scheduler: f.scheduler,
              target,
              workers: targets.slice(1),
              ...(f.marathon ? { marathonUrl: f.marathon } : {}),
              ...(advertiseAddr ? { advertiseAddr } : {}),
              policy: { allow: allowances(f), bounds: stackBounds(deployment, nodes) },
              ...(deployment ? { stack: deployment, ...consulOf(target, deployment) } : {}),
              hosts: [target, ...hosts.map((h) => h.target), ...targets.slice(1)],
            },
            progress,
          ),
        );
        if (f.json)
          process.stdout.write(JSON.stringify({ ...report, summary: progress.summary() }, null, 2) + '\n');
        else {
          progress.finish();
          for (const i of report.instances ?? [])
            process.stdout.write(`  instance ${i.id.slice(0, 12)} on ${i.host}:${i.ports.join(',')}\n`);
        }
      } finally {
        for (const t of targets) await t.close().catch(() => undefined);
        await closeHosts(hosts);
      }
    });
}

/** The operator's --allow-… flags. */
function allowances(f: DeployFlags): AppAllowances {
  return {
    hostMounts: !!f.allowHostMounts,
    hostNamespaces: !!f.allowHostNamespaces,
    reservedLabels: !!f.allowReservedLabels,
    logDrivers: !!f.allowLogDrivers,
    dockerParameters: !!f.allowDockerParameters,
  };
}

/** The stack's Consul on the stage (names are claimed there), when it runs one. */
function consulOf(target: Target, d: Deployment): { consul?: ConsulOnTarget } {
  const port = composePort(d.ports['consul'], 'http');
  if (!d.services.includes('consul') || port === undefined) return {};
  return {
    consul: {
      target,
      address: d.meta.ip,
      port,
      token: { name: 'X-Consul-Token', file: MANAGEMENT_TOKEN_FILE },
    },
  };
}
