#!/usr/bin/env zx
// paasbox benchmarks: figures and ratios, never pass/fail, each beside its goal.
//   npm run bench -- [--only a,b] [--skip a,b] [--json]   (--help lists the sections)
// Sections: generate, images, up, verify, discovery, converge, orchestration, acl, cluster;
// "up" and "discovery" use the standalone install recorded on this machine.
// The command itself is src/cli/bench.ts.
import { paasboxCommand, runCli, scriptArgs } from '../dist/src/cli/program.js';
import { defineBench } from '../dist/src/cli/bench.js';

await runCli(
  defineBench(paasboxCommand('bench', 'benchmarks: figures and ratios, never pass/fail')),
  scriptArgs(import.meta.url),
);
