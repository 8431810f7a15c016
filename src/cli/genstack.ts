// `paasbox genstack`: write the stack's compose file for this host (the
// seed's genfig.sh), through the one settings pipeline, validated against the
// Compose Specification. With --masters/--agents, the file of one cluster
// host (--ip).

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { localImageIds } from '../provision/image-ids.js';
import { detectAdvertiseAddress, loadSettings, settingsEnv } from '../settings/index.js';
import { generateCompose, renderCompose } from '../stackfile/generate.js';
import { loadStackModel } from '../model/load.js';
import type { ImageSourceName } from '../model/model.js';
import { resolveImageRefs } from '../stackfile/refs.js';
import { LocalTarget } from '../target/local.js';
import { addressList, sourceOption } from './program.js';

interface GenstackFlags {
  source?: ImageSourceName;
  hostname?: string;
  ip?: string;
  config?: string;
  masters?: string;
  agents?: string;
  out: string;
  stdout?: boolean;
}

export function defineGenstack(cmd: Command): Command {
  return cmd
    .addOption(sourceOption())
    .option('--hostname <name>', "the name the stack advertises (default: this host's)")
    .option('--ip <address>', 'the address the stack advertises (default: detected)')
    .option('--config <file>', 'settings file (default ./paasbox.yaml)')
    .option(
      '--masters <ips>',
      "a cluster's masters, comma separated (default: this host); --ip names the host whose file this is",
    )
    .option(
      '--agents <ips>',
      "a cluster's agents, comma separated (default: the masters, and --ip if it is none)",
    )
    .option('--out <file>', 'where to write it', '.paasbox/docker-compose.yml')
    .option('--stdout', 'print it instead of writing it')
    .description('write the compose file for this host, validated against the Compose Specification')
    .action(async (f: GenstackFlags) => {
      const model = loadStackModel();
      const local = new LocalTarget();
      const settings = await loadSettings({
        model,
        flags: {
          ...(f.source ? { imageSource: f.source } : {}),
          ...(f.hostname ? { hostname: f.hostname } : {}),
          ...(f.ip ? { ip: f.ip } : {}),
          ...(f.masters !== undefined ? { masters: addressList('--masters', f.masters) } : {}),
          ...(f.agents !== undefined ? { agents: addressList('--agents', f.agents) } : {}),
        },
        env: settingsEnv(process.env, { seedNames: true }),
        ...(f.config ? { configPath: f.config } : {}),
        detectIp: () => detectAdvertiseAddress(local),
      });
      const refs = await resolveImageRefs(
        model,
        settings,
        async (ref) => !!(await localImageIds([ref]))[ref],
      );
      const text = renderCompose(generateCompose(model, settings, refs));
      if (f.stdout) {
        process.stdout.write(text);
        return;
      }
      const out = resolve(f.out);
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, text);
      const omitted = Object.keys(refs.unavailable);
      process.stderr.write(
        `wrote ${out}: ${Object.keys(refs.images).length} services (source ${settings.imageSource}, ip ${settings.ip})` +
          (omitted.length ? `; left out (unavailable): ${omitted.join(', ')}` : '') +
          '\n',
      );
    });
}
