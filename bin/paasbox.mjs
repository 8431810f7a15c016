#!/usr/bin/env node
// The paasbox command: `npx paasbox install --mode vagrant`, `npx paasbox verify`, ...
// Every subcommand is defined once in src/cli/ (scripts/*.mjs run the same ones).
import { runCli } from '../dist/src/cli/program.js';
import { paasboxProgram } from '../dist/src/cli/commands.js';

await runCli(paasboxProgram(), process.argv.slice(2));
