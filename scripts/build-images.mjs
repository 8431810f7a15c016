#!/usr/bin/env zx
// Build every image the chosen source can provide (the seed's build-docker-images.sh):
//   npx zx scripts/build-images.mjs [--source local|registry] [--only a,b] [--force] [--dry-run]
// The command itself is src/cli/ (also `npx paasbox build-images`).
import { runCli, scriptArgs } from '../dist/src/cli/program.js';
import { standalone } from '../dist/src/cli/commands.js';

await runCli(standalone('build-images'), scriptArgs(import.meta.url));
