// `paasbox deploy FILE|-`: a Marathon app JSON (or stdin) through Marathon's
// API (real Marathon, or the stack's apps API), or Docker swarm over SSH when
// the stack has neither, on the recorded stage; the swarm advertises the
// recorded deployment's address (--advertise-addr only overrides it). With
// --api or --token (or PAASBOX_API/PAASBOX_TOKEN) it goes to the apps API
// alone, with no SSH and no root: the server judges the app. The app policy
// (src/apps/policy.ts) judges the app by the stack it lands on; each category
// it refuses has its own --allow-… flag (over the API: allow=…, the
// operator's only). Over SSH the run holds the target's lock. Over the API
// it waits for the deployment by default (--no-wait: not).

import { isIPv4 } from 'node:net';
import { Option, type Command } from 'commander';
import { PaasboxError } from '../errors.js';
import { Progress } from '../progress.js';
import { stackBounds } from '../apps/bounds.js';
import type { AppAllowances } from '../apps/policy.js';
import type { ConsulOnTarget } from '../consul/app-names.js';
import { MANAGEMENT_TOKEN_FILE } from '../consul/acl.js';
import { runDeploy, type DeployReport } from '../scheduler/deploy.js';
import { schedulerKind } from '../scheduler/select.js';
import { registryRoute } from '../scheduler/ship-image.js';
import { describeLogin } from '../scheduler/api-endpoint.js';
import { composePort, type Deployment } from '../stackfile/deployment.js';
import { sshInfoFor } from '../drivers/ssh.js';
import { openTarget } from '../instance/open.js';
import { LocalTarget } from '../target/local.js';
import type { Target } from '../target/target.js';
import { intArg, jsonOption, lockTimeoutOption, stageOptions } from './program.js';
import { deployedStack, openStage, withStageLock, type StageFlags } from './stage.js';
import { closeHosts, stageHosts } from '../instance/hosts.js';
import { apiEndpoint } from './api.js';

interface DeployFlags extends StageFlags {
  /** --wait true, --no-wait false, neither undefined. */
  wait?: boolean;
  api?: string;
  token?: string;
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
  allowWildcardDomains?: boolean;
  json?: boolean;
  lockTimeout: number;
}

export function defineDeploy(cmd: Command): Command {
  return stageOptions(cmd)
    .argument('<file>', 'Marathon app JSON, or - to read it from stdin')
    .option('--wait', 'wait until every instance is ready (the default over the API)')
    .option('--no-wait', 'return once the scheduler took the app')
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
    .option(
      '--api <url>',
      'go to the apps API at URL alone, no SSH (also $PAASBOX_API; the default URL is http://ADVERTISED:8080)',
    )
    .option(
      '--token <token>',
      "over the apps API as a team: its token, or @FILE (also $PAASBOX_TOKEN); default: the operator's login",
    )
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
    .option(
      '--allow-wildcard-domains',
      'allow a wildcard public name (*.example.com in HAPROXY_0_VHOST or domain=): every name under it',
    )
    .addOption(jsonOption())
    .addOption(lockTimeoutOption())
    .description(
      "deploy Marathon app JSON (or - for stdin) through Marathon's API (Marathon or the apps API), else Docker swarm",
    )
    .action(async (file: string, f: DeployFlags) => {
      if (f.scale !== undefined && f.destroy)
        throw new PaasboxError('--scale and --destroy together', 'give one of them');
      const text = file === '-' ? await readStdin() : undefined;
      const source = text === undefined ? file : '(stdin)';
      const action = f.destroy ? 'destroy' : f.scale !== undefined ? 'scale' : 'deploy';
      if (f.api || f.token !== undefined || process.env['PAASBOX_API'] || process.env['PAASBOX_TOKEN']) {
        if (f.marathon || f.worker?.length || f.scheduler === 'swarm')
          throw new PaasboxError(
            '--api/--token (or PAASBOX_API/PAASBOX_TOKEN) with --marathon, --worker or --scheduler swarm',
            'over the apps API give only the app, --api and --token; unset PAASBOX_API/PAASBOX_TOKEN for SSH',
          );
        const ep = await apiEndpoint(f);
        const progress = new Progress({ json: !!f.json });
        progress.say(`apps API ${ep.url} (${ep.urlFrom}) as ${describeLogin(ep.login)}`);
        const report = await runDeploy(
          {
            file: source,
            ...(text !== undefined ? { text } : {}),
            action,
            ...(f.scale !== undefined ? { instances: f.scale } : {}),
            wait: f.wait ?? true,
            timeoutMs: f.timeout * 1000,
            scheduler: 'marathon',
            marathonUrl: ep.url,
            login: ep.login,
            appsApi: true,
            policy: { allow: allowances(f) },
          },
          progress,
        );
        printReport(report, progress, !!f.json);
        return;
      }
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
        // Over Marathon's API (real or the apps API) it waits by default; swarm over SSH does not.
        const overApi =
          schedulerKind({
            choice: f.scheduler,
            ...(f.marathon ? { marathonUrl: f.marathon } : {}),
            ...(deployment ? { stack: deployment } : {}),
          }) === 'marathon';
        const report = await withStageLock(target, 'deploy', f.lockTimeout, () =>
          runDeploy(
            {
              file: source,
              ...(text !== undefined ? { text } : {}),
              action,
              ...(f.scale !== undefined ? { instances: f.scale } : {}),
              wait: f.wait ?? overApi,
              ...(stage.instance ? { instance: stage.instance.name } : {}),
              timeoutMs: f.timeout * 1000,
              scheduler: f.scheduler,
              target,
              workers: targets.slice(1),
              ...(f.marathon ? { marathonUrl: f.marathon } : {}),
              ...(advertiseAddr ? { advertiseAddr } : {}),
              policy: { allow: allowances(f), bounds: stackBounds(deployment, nodes) },
              ...(deployment ? { stack: deployment, ...consulOf(target, deployment) } : {}),
              hosts: [target, ...hosts.map((h) => h.target), ...targets.slice(1)],
              ...registryRoute(
                stage.ref.kind,
                deployment,
                [target, ...hosts.map((h) => h.target)],
                cluster,
                new LocalTarget(),
                advertiseAddr,
              ),
            },
            progress,
          ),
        );
        printReport(report, progress, !!f.json);
      } finally {
        for (const t of targets) await t.close().catch(() => undefined);
        await closeHosts(hosts);
      }
    });
}

/** The closing summary, or one JSON document. */
function printReport(report: DeployReport, progress: Progress, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify({ ...report, summary: progress.summary() }, null, 2) + '\n');
    return;
  }
  progress.finish();
  for (const i of report.instances ?? [])
    process.stdout.write(`  instance ${i.id.slice(0, 12)} on ${i.host}:${i.ports.join(',')}\n`);
}

/** `deploy -`: the app JSON from stdin (refused from a terminal: nothing would come). */
async function readStdin(): Promise<string> {
  if (process.stdin.isTTY)
    throw new PaasboxError(
      'deploy - reads the app JSON from stdin, and stdin is a terminal',
      'pipe it in: paasbox deploy - < app.json',
    );
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The operator's --allow-… flags. */
function allowances(f: DeployFlags): AppAllowances {
  return {
    hostMounts: !!f.allowHostMounts,
    hostNamespaces: !!f.allowHostNamespaces,
    reservedLabels: !!f.allowReservedLabels,
    logDrivers: !!f.allowLogDrivers,
    dockerParameters: !!f.allowDockerParameters,
    wildcardDomains: !!f.allowWildcardDomains,
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
