// `paasbox stack VERB` (and the top-level status, logs): control the deployed
// stack on its stage through compose. down keeps the data volumes unless
// --volumes, which first lists what it deletes. The verbs that change the
// stack hold the target's lock (src/instance/lock.ts); status and logs do not.

import type { Command } from 'commander';
import { certificateLines, certificatesOf } from '../acme/ops.js';
import { StackControl } from '../compose/index.js';
import type { ServiceStatus } from '../compose/status.js';
import { EXIT, isPaasboxError } from '../errors.js';
import { Progress } from '../progress.js';
import { ADDRESS_COMMAND } from '../settings/address.js';
import { hostAddresses } from '../verify/host.js';
import { swarmHealth, swarmLine } from '../verify/swarm-health.js';
import { intArg, jsonOption, lockTimeoutOption, stageOptions, subcommand } from './program.js';
import { deployedStack, openStage, withStageLock, type OpenedStage, type StageFlags } from './stage.js';
import { closeHosts, clusterNote, eachHost, stageHosts } from '../instance/hosts.js';

interface StackFlags extends StageFlags {
  json?: boolean;
  tail?: number;
  follow?: boolean;
  timeout?: number;
  wait?: boolean;
  volumes?: boolean;
  lockTimeout: number;
}

async function withStack<T>(
  f: StackFlags,
  fn: (ctl: StackControl, name: string, ports: Record<string, string>, ip: string) => Promise<T>,
  command = 'stack',
): Promise<T> {
  const stage = await openStage(f);
  const note = clusterNote(stage, command);
  if (note) process.stderr.write(note + '\n');
  try {
    const { path, project, deployment } = await deployedStack(stage);
    return await fn(
      new StackControl(stage.target, path, project),
      stage.target.name,
      deployment.ports,
      deployment.meta.ip,
    );
  } finally {
    await stage.target.close();
  }
}

/** The status table: a header, one row a service, its ports. */
export function formatStatus(rows: ServiceStatus[], ports: Record<string, string>): string {
  const head = ['SERVICE', 'STATE', 'HEALTH', 'RESTARTS', 'PORTS'];
  const body = rows.map((s) => [
    s.service,
    s.state,
    s.health,
    String(s.restartCount),
    ports[s.service] ?? '',
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  return (
    [head, ...body]
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(width[i]!)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/**
 * The certificates' last results, read on the stage (its first master) after the services; a failure to
 * read them is said, and changes no exit code.
 */
async function certificateStatus(stage: OpenedStage) {
  try {
    return await certificatesOf(stage.target, (await deployedStack(stage)).deployment);
  } catch (e) {
    return { error: isPaasboxError(e) ? e.problem : (e as Error).message };
  }
}

/** One host's status: its services, and whether its advertised address is still its own. */
async function hostStatus(stage: OpenedStage, target: OpenedStage['target']) {
  const { path, project, deployment } = await deployedStack({ ...stage, target });
  const ctl = new StackControl(target, path, project);
  // The services the deployed file defines, parsed above: no compose process to list them again.
  const st = await ctl.statusOf(deployment.services);
  const ip = deployment.meta.ip;
  const have = hostAddresses((await target.exec(ADDRESS_COMMAND, { timeoutMs: 20_000 })).stdout);
  const swarm = await swarmHealth(target);
  return {
    host: target.name,
    project,
    advertised: ip,
    addressOnHost: have.includes(ip),
    have,
    swarm,
    services: st.map((s) => ({ ...s, ports: deployment.ports[s.service] ?? '' })),
  };
}

export function defineStatus(cmd: Command): Command {
  return stageOptions(cmd)
    .addOption(jsonOption())
    .description(
      'each service: state, health, restarts and ports, on every host of a cluster (exit 1 when one is not running or unhealthy)',
    )
    .action(async (f: StackFlags) => {
      const stage = await openStage(f);
      const hosts = stageHosts(stage);
      try {
        const { results: all, unreachable } = await eachHost(hosts, async (h) => ({
          ...(await hostStatus(stage, h.target)),
          role: h.role,
        }));
        const certificates = await certificateStatus(stage);
        const bad = (s: (typeof all)[number]) =>
          !s.addressOnHost ||
          s.swarm.state === 'failed' ||
          !s.services.every((x) => x.state === 'running' && x.health !== 'unhealthy');
        if (f.json) {
          const one = ({ have: _h, role: _r, ...s }: (typeof all)[number]) => s;
          process.stdout.write(
            JSON.stringify(
              hosts.length === 1
                ? { ...one(all[0]!), certificates }
                : {
                    cluster: stage.instance!.name,
                    hosts: all.map(({ have: _h, ...s }) => s),
                    unreachable,
                    certificates,
                  },
              null,
              2,
            ) + '\n',
          );
        } else {
          const blocks = all.map(
            (s) =>
              `${s.host}${hosts.length > 1 ? ` (${s.role})` : ''}, project ${s.project}, advertised address ${s.advertised}\n` +
              formatStatus(s.services, Object.fromEntries(s.services.map((x) => [x.service, x.ports]))) +
              swarmLine(s.swarm) +
              (s.addressOnHost
                ? ''
                : `\nThe advertised address ${s.advertised} is not on ${s.host} any more (it has ${s.have.join(', ') || 'none'}): run install again to move the stack; data is kept.\n`),
          );
          for (const u of unreachable) blocks.push(`${u.host} (${u.role}): not reached: ${u.error}\n`);
          blocks.push(
            'error' in certificates
              ? `certificates: not read: ${certificates.error}\n`
              : certificateLines(certificates),
          );
          process.stdout.write(blocks.join('\n'));
        }
        if (unreachable.length || all.some(bad)) process.exitCode = EXIT.checksFailed;
      } finally {
        await closeHosts(hosts);
      }
    });
}

export function defineLogs(cmd: Command): Command {
  return stageOptions(cmd)
    .argument('[service]', 'one service (default: all)')
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .option('--tail <n>', 'lines of history', intArg('--tail', 0, 1_000_000), 100)
    .description("the stack's logs")
    .action(async (service: string | undefined, f: StackFlags) => {
      await withStack(
        f,
        async (ctl) => {
          if (f.follow) await ctl.followLogs((c) => process.stdout.write(c), service, f.tail);
          else process.stdout.write(await ctl.logs(service, f.tail));
        },
        'logs',
      );
    });
}

function verb(
  parent: Command,
  name: string,
  description: string,
  run: (
    ctl: StackControl,
    f: StackFlags,
    service: string | undefined,
    p: Progress,
    host: string,
  ) => Promise<void>,
): Command {
  return stageOptions(subcommand(parent, `${name} [service]`, description))
    .addOption(jsonOption())
    .addOption(lockTimeoutOption())
    .action(async (service: string | undefined, f: StackFlags) => {
      const p = new Progress({ json: !!f.json });
      await withStack(f, (ctl, host) =>
        withStageLock(ctl.target, `stack ${name}`, f.lockTimeout, () => run(ctl, f, service, p, host)),
      );
      p.finish();
    });
}

export function defineStack(cmd: Command): Command {
  cmd.description('control the deployed stack: up, stop, start, restart, down, status, logs');
  verb(
    cmd,
    'up',
    'start the stack (or one service) and wait until healthy',
    async (ctl, f, service, p, host) => {
      await p.step(`compose up (${ctl.project})`, host, async () => {
        await ctl.up(service ? [service] : []);
        return { status: 'changed' };
      });
      if (f.wait !== false)
        await p.step('wait until healthy', host, async () => {
          await ctl.waitHealthy((f.timeout ?? 300) * 1000, p, service ? { services: [service] } : {});
        });
    },
  )
    .option('--timeout <seconds>', 'seconds to wait for health', intArg('--timeout', 1, 86_400), 300)
    .option('--no-wait', 'do not wait for health');
  for (const v of ['stop', 'start', 'restart'] as const)
    verb(cmd, v, `${v} the stack (or one service)`, async (ctl, _f, service, p, host) => {
      await p.step(`${v} ${service ?? ctl.project}`, host, async () => {
        await ctl[v](service);
        return { status: 'changed' };
      });
    });
  verb(
    cmd,
    'down',
    'remove the containers; data volumes are kept unless --volumes',
    async (ctl, f, _service, p, host) => {
      if (f.volumes)
        process.stderr.write(
          `paasbox: --volumes deletes the data volumes of ${ctl.project} (Consul K/V, ZooKeeper znodes)\n`,
        );
      await p.step(
        `compose down (${ctl.project}${f.volumes ? ', with volumes' : ', volumes kept'})`,
        host,
        async () => {
          await ctl.down({ volumes: !!f.volumes });
          return { status: 'changed' };
        },
      );
    },
  ).option('--volumes', 'also delete the data volumes');
  defineStatus(subcommand(cmd, 'status', 'state of each service'));
  defineLogs(subcommand(cmd, 'logs', "the stack's logs"));
  return cmd;
}
