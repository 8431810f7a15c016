// `paasbox uninstall`: take the stack down and remove paasbox's files (the
// stack directory on the target, the instance record here). Data volumes and
// images stay unless --purge, which lists what it deletes and asks for --yes.
// It holds the target's lock while it changes anything.

import type { Command } from 'commander';
import { StackControl } from '../compose/index.js';
import { PaasboxError } from '../errors.js';
import { Progress } from '../progress.js';
import { COMPOSE_PATH, readDeployment, STACK_DIR } from '../stackfile/deployment.js';
import { removeInstance } from '../instance/state.js';
import { shq } from '../target/shell.js';
import { jsonOption, lockTimeoutOption, stageOptions } from './program.js';
import { openStage, withStageLock, type StageFlags } from './stage.js';
import { closeHosts, stageHosts } from '../instance/hosts.js';
import type { Target } from '../target/target.js';
import { parse } from 'yaml';

interface UninstallFlags extends StageFlags {
  purge?: boolean;
  yes?: boolean;
  json?: boolean;
  lockTimeout: number;
}

/** Named volumes and images a compose file uses (pure). */
export function purgeList(composeText: string): { volumes: string[]; images: string[] } {
  const obj = (parse(composeText) ?? {}) as {
    services?: Record<string, { image?: string }>;
    volumes?: Record<string, { name?: string }>;
  };
  return {
    volumes: Object.entries(obj.volumes ?? {})
      .map(([k, v]) => v?.name ?? k)
      .sort(),
    images: [
      ...new Set(
        Object.values(obj.services ?? {})
          .map((s) => s.image)
          .filter((i): i is string => !!i),
      ),
    ].sort(),
  };
}

export function defineUninstall(cmd: Command): Command {
  return stageOptions(cmd)
    .option('--purge', "also delete the data volumes (Consul K/V, ZooKeeper) and the stack's images")
    .option('--yes', 'with --purge: really delete what it lists')
    .addOption(jsonOption())
    .addOption(lockTimeoutOption())
    .description(
      "stack down and paasbox's files removed (data volumes and images kept unless --purge); a cluster instance on every host",
    )
    .action(async (f: UninstallFlags) => {
      const stage = await openStage(f);
      const p = new Progress({ json: !!f.json });
      // A cluster instance is uninstalled on every host: the agents first, the masters last.
      const hosts = stageHosts(stage);
      const cluster = hosts.length > 1;
      if (cluster)
        process.stderr.write(
          `paasbox uninstall: ${stage.instance!.name} is a cluster; uninstalling all ${hosts.length} hosts, agents first (one host only: --target user@address)\n`,
        );
      try {
        const path = stage.instance?.deployment?.composePath ?? COMPOSE_PATH;
        for (const h of [...hosts].reverse()) await uninstallOne(h.target, path, f, p, cluster);
        // Forget the recorded instance this was (a host named ad hoc has none to forget).
        if (stage.instance) removeInstance(stage.instance.name);
        p.finish();
      } finally {
        await closeHosts(hosts);
      }
    });
}

/**
 * One host: compose down, images with --purge, paasbox's files; a cluster's host also leaves docker swarm.
 */
async function uninstallOne(
  target: Target,
  path: string,
  f: UninstallFlags,
  p: Progress,
  cluster: boolean,
): Promise<void> {
  const host = target.name;
  await withStageLock(target, 'uninstall', f.lockTimeout, async () => {
    const dep = await readDeployment(target, path);
    const text = dep ? (await target.exec(`cat ${shq(dep.path)}`, { sudo: true })).stdout : '';
    const purge = dep ? purgeList(text) : { volumes: [], images: [] };
    if (f.purge) {
      process.stderr.write(
        `paasbox uninstall --purge deletes on ${host}:\n  volumes: ${purge.volumes.join(' ') || '(none)'}\n  images: ${purge.images.join(' ') || '(none)'}\n`,
      );
      if (!f.yes)
        throw new PaasboxError(
          '--purge deletes data and images',
          'read the list above and run again with --purge --yes',
        );
    }
    if (dep) {
      const ctl = new StackControl(target, dep.path, dep.meta.project);
      await p.step(
        `compose down (${dep.meta.project}${f.purge ? ', with volumes' : ', volumes kept'})`,
        host,
        async () => {
          await ctl.down({ volumes: !!f.purge });
          return { status: 'changed' };
        },
      );
    } else p.say(`[${host}] no stack file: nothing to take down`);
    if (cluster)
      await p.step('leave docker swarm', host, async () => {
        const r = await target.exec('docker swarm leave --force 2>&1 && echo left', {
          sudo: true,
          timeoutMs: 60_000,
        });
        return { status: r.stdout.includes('left') ? 'changed' : 'ok' };
      });
    if (f.purge && purge.images.length)
      await p.step('remove images', host, async () => {
        await target.exec(`docker image rm ${purge.images.map(shq).join(' ')}`, {
          sudo: true,
          timeoutMs: 300_000,
        });
        return { status: 'changed', detail: `${purge.images.length} images` };
      });
    await p.step(`remove ${STACK_DIR}`, host, async () => {
      const r = await target.exec(`test -e ${shq(STACK_DIR)} && rm -rf ${shq(STACK_DIR)} && echo removed`, {
        sudo: true,
      });
      return { status: r.stdout.includes('removed') ? 'changed' : 'ok' };
    });
  });
}
