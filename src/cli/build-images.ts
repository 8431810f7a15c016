// `paasbox build-images`: build every image the chosen source can provide on
// this machine (the seed's build-docker-images.sh). Incremental: an image
// whose inputs did not change is not rebuilt. The source comes from the one
// settings pipeline (flag, PAASBOX_SOURCE, paasbox.yaml, default local).

import type { Command } from 'commander';
import { EXIT } from '../errors.js';
import { buildAll, formatBuildSummary } from '../images/index.js';
import { Progress } from '../progress.js';
import { resolveSettings, settingsEnv } from '../settings/settings.js';
import { readSettingsFile } from '../settings/load.js';
import { loadStackModel } from '../model/load.js';
import type { ImageSourceName } from '../model/model.js';
import { LocalTarget } from '../target/local.js';
import { jsonOption, listArg, sourceOption } from './program.js';

interface BuildFlags {
  source?: ImageSourceName;
  only?: string[];
  force?: boolean;
  mirror?: string;
  dryRun?: boolean;
  json?: boolean;
  config?: string;
}

export function defineBuildImages(cmd: Command): Command {
  return cmd
    .addOption(sourceOption())
    .option('--only <images>', 'only these build contexts or services, comma-separated', listArg)
    .option('--force', 'rebuild even when nothing changed')
    .option(
      '--mirror <url>',
      "Debian mirror for the base image and apt (default: paasbox.yaml debianMirror, else the host's)",
    )
    .option('--dry-run', 'only say what would be built')
    .option('--config <file>', 'settings file (default ./paasbox.yaml)')
    .addOption(jsonOption())
    .description(
      'build the images on this machine (offline, from Debian packages); unchanged images are not rebuilt',
    )
    .action(async (f: BuildFlags) => {
      const model = loadStackModel();
      const { obj } = readSettingsFile(process.cwd(), f.config);
      // Only the source and mirror matter here: hostname and ip are placeholders the pipeline needs.
      const settings = resolveSettings(
        {
          ...(f.source ? { flags: { imageSource: f.source } } : {}),
          env: settingsEnv(process.env, { seedNames: false }),
          file: obj,
          defaults: { hostname: 'build', ip: '10.0.0.1' },
        },
        model,
      );
      const mirror = f.mirror ?? settings.debianMirror;
      const result = await buildAll({
        target: new LocalTarget(),
        model,
        source: settings.imageSource,
        progress: new Progress({ json: !!f.json }),
        ...(mirror ? { mirror } : {}),
        ...(f.only ? { only: f.only } : {}),
        force: !!f.force,
        dryRun: !!f.dryRun,
      });
      process.stdout.write(
        f.json ? JSON.stringify(result, null, 2) + '\n' : formatBuildSummary(result) + '\n',
      );
      if (!result.ok) process.exitCode = EXIT.target;
    });
}
