// Every paasbox command, defined once: the `paasbox` bin registers them all as
// subcommands, and each scripts/*.mjs runs one of them on its own.

import type { Command } from 'commander';
import { defineApp, defineApps, defineDestroy, defineRestart, defineRollback, defineScale } from './apps.js';
import { defineBench } from './bench.js';
import { defineBuildImages } from './build-images.js';
import { defineCert } from './cert.js';
import { defineDeploy } from './deploy.js';
import { defineGenstack } from './genstack.js';
import { defineInfo } from './info.js';
import { defineInstall } from './install.js';
import { defineKitchen } from './kitchen.js';
import { paasboxCommand, subcommand } from './program.js';
import { definePush } from './push.js';
import { defineLogs, defineStack, defineStatus } from './stack.js';
import { defineToken } from './token.js';
import { defineTunnel } from './tunnel.js';
import { defineUninstall } from './uninstall.js';
import { defineVerify } from './verify.js';
import { defineVpn } from './vpn.js';

type Define = (cmd: Command) => Command;

/** Each definition sets its own description; the order is the order of `paasbox --help`. */
export const COMMANDS: Record<string, Define> = {
  install: defineInstall,
  verify: defineVerify,
  info: defineInfo,
  status: defineStatus,
  logs: defineLogs,
  stack: defineStack,
  deploy: defineDeploy,
  apps: defineApps,
  app: defineApp,
  scale: defineScale,
  restart: defineRestart,
  rollback: defineRollback,
  destroy: defineDestroy,
  token: defineToken,
  cert: defineCert,
  push: definePush,
  uninstall: defineUninstall,
  genstack: defineGenstack,
  'build-images': defineBuildImages,
  kitchen: defineKitchen,
  tunnel: defineTunnel,
  vpn: defineVpn,
  bench: defineBench,
};

/** One command standalone (a script), by name. */
export function standalone(name: string): Command {
  const define = COMMANDS[name];
  if (!define) throw new Error(`no paasbox command ${name}`);
  return define(paasboxCommand(name, ''));
}

/** The `paasbox` program with every command. */
export function paasboxProgram(): Command {
  const program = paasboxCommand(
    'paasbox',
    'Platform as a Service in a box: one command spawns the stack on a stage, one more proves it works',
  );
  for (const [name, define] of Object.entries(COMMANDS)) define(subcommand(program, name, ''));
  return program;
}
