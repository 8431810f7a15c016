#!/usr/bin/env zx
// Generate the stack's compose file for this host (the seed's genfig.sh):
//   npx zx scripts/genstack.mjs [--source local|registry] [--hostname H] [--ip A] [--stdout]
// The command itself is src/cli/ (also `npx paasbox genstack`).
import { runCli, scriptArgs } from '../dist/src/cli/program.js';
import { standalone } from '../dist/src/cli/commands.js';

await runCli(standalone('genstack'), scriptArgs(import.meta.url));
