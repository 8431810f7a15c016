#!/usr/bin/env zx
// Control the deployed stack on its stage:
//   npx zx scripts/stack.mjs up|stop|start|restart|down|status|logs [SERVICE] [options] (--help per verb)
// The command itself is src/cli/ (also `npx paasbox stack`).
import { runCli, scriptArgs } from '../dist/src/cli/program.js';
import { standalone } from '../dist/src/cli/commands.js';

await runCli(standalone('stack'), scriptArgs(import.meta.url));
