#!/usr/bin/env zx
// Prove a stack works, from inside its target: every web UI, four-letter word,
// container state and DNS answer, derived from stacks/paasbox.yaml.
//   npm run verify -- [--target T] [--reporter spec|junit|json] [--json] ... (--help lists every flag)
// The command itself is src/cli/ (also `npx paasbox verify`).
import { runCli, scriptArgs } from '../dist/src/cli/program.js';
import { standalone } from '../dist/src/cli/commands.js';

await runCli(standalone('verify'), scriptArgs(import.meta.url));
