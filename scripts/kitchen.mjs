#!/usr/bin/env zx
// test-kitchen style lifecycle for paasbox stages:
//   npx zx scripts/kitchen.mjs create|converge|verify|destroy|test|list [NAME|all] [options]
// The command itself is src/cli/ (also `npx paasbox kitchen`).
import { runCli, scriptArgs } from '../dist/src/cli/program.js';
import { standalone } from '../dist/src/cli/commands.js';

await runCli(standalone('kitchen'), scriptArgs(import.meta.url));
