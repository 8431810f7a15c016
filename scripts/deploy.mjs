#!/usr/bin/env zx
// Deploy a Marathon app JSON through Marathon, or Docker swarm when the stack has no Marathon:
//   npx zx scripts/deploy.mjs FILE.json [--wait] [--scale N | --destroy] ... (--help lists every flag)
// The command itself is src/cli/ (also `npx paasbox deploy`).
import { runCli, scriptArgs } from '../dist/src/cli/program.js';
import { standalone } from '../dist/src/cli/commands.js';

await runCli(standalone('deploy'), scriptArgs(import.meta.url));
