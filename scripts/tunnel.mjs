#!/usr/bin/env zx
// sshuttle into the stack through its sshd, with .consul DNS:
//   npx zx scripts/tunnel.mjs up|down|status [--target T] [--subnet CIDR] [--resolver R] [--print]
// The command itself is src/cli/ (also `npx paasbox tunnel`).
import { runCli, scriptArgs } from '../dist/src/cli/program.js';
import { standalone } from '../dist/src/cli/commands.js';

await runCli(standalone('tunnel'), scriptArgs(import.meta.url));
