#!/usr/bin/env zx
// Provision the paasbox stack onto a stage and leave it running.
//   npx zx scripts/install.mjs [--mode standalone|ssh|vagrant|boot2docker] [--host H] [--key K] ...
// Without --mode the mode is detected (and printed with the reason). --help lists every flag.
// The command itself is src/cli/ (also `npx paasbox install`).
import { runCli, scriptArgs } from '../dist/src/cli/program.js';
import { standalone } from '../dist/src/cli/commands.js';

await runCli(standalone('install'), scriptArgs(import.meta.url));
