#!/usr/bin/env zx
// The stack's OpenVPN clients (services: { openvpn: { enabled: true } }):
//   npx zx scripts/vpn.mjs client NAME [--out FILE] [--remote HOST[:PORT]]
//   npx zx scripts/vpn.mjs revoke NAME
//   npx zx scripts/vpn.mjs list [--json]
// The command itself is src/cli/ (also `npx paasbox vpn`).
import { runCli, scriptArgs } from '../dist/src/cli/program.js';
import { standalone } from '../dist/src/cli/commands.js';

await runCli(standalone('vpn'), scriptArgs(import.meta.url));
