#!/usr/bin/env zx
// Every UI URL, the DNS server and ready-to-paste curl/dig lines for the recorded stage.
//   npx zx scripts/info.mjs [--target T] [--json]
// The command itself is src/cli/ (also `npx paasbox info`).
import { runCli, scriptArgs } from '../dist/src/cli/program.js';
import { standalone } from '../dist/src/cli/commands.js';

await runCli(standalone('info'), scriptArgs(import.meta.url));
