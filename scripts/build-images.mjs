#!/usr/bin/env zx
// Build every image the chosen source can provide (the seed's build-docker-images.sh):
//   npx zx scripts/build-images.mjs [--source local|registry] [--only a,b] [--force]
//                                   [--mirror URL] [--dry-run] [--json] [--config FILE]
// local: paasbox/debian:bookworm (debootstrap + docker import), then stacks/images/*
// on it; components with no offline source are listed with how to supply them.
// registry: pinned images are pulled, paasbox images are built on debian:bookworm-slim.
// Incremental: an image whose paasbox.hash label matches its inputs is not rebuilt.
import { argv } from 'zx';
import { formatError } from '../dist/src/errors.js';
import { Progress } from '../dist/src/progress.js';
import { loadStackModel } from '../dist/src/stack/load.js';
import { readSettingsFile } from '../dist/src/settings/load.js';
import { LocalTarget } from '../dist/src/target/local.js';
import { buildAll, formatBuildSummary } from '../dist/src/images/index.js';

const json = Boolean(argv.json);
try {
  const source = String(argv.source ?? process.env.PAASBOX_SOURCE ?? 'local');
  if (source !== 'local' && source !== 'registry') {
    const { PaasboxError } = await import('../dist/src/errors.js');
    throw new PaasboxError(`--source ${source} is not an image source`, 'use --source local or --source registry');
  }
  const file = readSettingsFile(process.cwd(), argv.config ? String(argv.config) : undefined).obj ?? {};
  const mirror = argv.mirror ? String(argv.mirror) : file.debianMirror;
  const only = argv.only ? String(argv.only).split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  const progress = new Progress({ json });
  const target = new LocalTarget();
  const result = await buildAll({
    target,
    model: loadStackModel(),
    source,
    progress,
    ...(mirror ? { mirror } : {}),
    ...(only ? { only } : {}),
    force: Boolean(argv.force),
    dryRun: Boolean(argv['dry-run']),
  });
  if (json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else process.stdout.write(formatBuildSummary(result) + '\n');
  process.exit(result.ok ? 0 : 1);
} catch (e) {
  console.error(formatError(e));
  process.exit(1);
}
