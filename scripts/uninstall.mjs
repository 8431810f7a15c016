#!/usr/bin/env zx
// Take the stack down and remove paasbox's files; --purge also data volumes and images.
//   npx zx scripts/uninstall.mjs [--target T] [--purge --yes]
// The command itself is src/cli/ (also `npx paasbox uninstall`).
import { runCli, scriptArgs } from '../dist/src/cli/program.js';
import { standalone } from '../dist/src/cli/commands.js';

await runCli(standalone('uninstall'), scriptArgs(import.meta.url));
