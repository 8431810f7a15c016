// `paasbox push IMAGE`: an image from this machine into the stack's private
// registry, on every master of the recorded stage (src/images/registry-push.ts),
// then the reference by digest an app's JSON names (tasks pull it from there).

import type { Command } from 'commander';
import { closeHosts, stageHosts } from '../instance/hosts.js';
import { deployedRegistryPort, pushToStackRegistry } from '../images/registry-push.js';
import { Progress } from '../progress.js';
import { LocalTarget } from '../target/local.js';
import { jsonOption, stageOptions } from './program.js';
import { deployedStack, openStage, type StageFlags } from './stage.js';

interface PushFlags extends StageFlags {
  json?: boolean;
}

export function definePush(cmd: Command): Command {
  return stageOptions(cmd)
    .argument('<image>', 'an image on this machine, NAME[:TAG] as `docker images` lists it')
    .addOption(jsonOption())
    .description(
      "put an image from this machine into the stack's registry (each master's), and print it by digest",
    )
    .action(async (image: string, f: PushFlags) => {
      const stage = await openStage(f);
      const hosts = stageHosts(stage).filter((h) => h.role === 'master');
      const here = new LocalTarget();
      try {
        const { deployment } = await deployedStack(stage);
        const recorded = stage.instance?.cluster?.masters.map((m) => m.ip);
        const ips = recorded ?? deployment.meta.cluster?.masters ?? [deployment.meta.ip];
        const masters = hosts.map((h, i) => ({ target: h.target, ip: ips[i] ?? h.target.address }));
        const progress = new Progress({ json: !!f.json });
        const r = await pushToStackRegistry(here, masters, image, deployedRegistryPort(deployment), progress);
        if (f.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        else {
          progress.finish();
          process.stdout.write(`${r.pinned}\n`);
        }
      } finally {
        await closeHosts(hosts);
        await here.close();
      }
    });
}
