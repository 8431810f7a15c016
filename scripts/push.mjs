#!/usr/bin/env zx
// Put an image from this machine into the stack's private registry (every
// master's) and print it by digest, for an app's JSON to name.
//   npx zx scripts/push.mjs IMAGE [--target T] [--json] (--help lists every flag)
// The command itself is src/cli/ (also `npx paasbox push`).
import { runCli, scriptArgs } from '../dist/src/cli/program.js';
import { standalone } from '../dist/src/cli/commands.js';

await runCli(standalone('push'), scriptArgs(import.meta.url));
