#!/usr/bin/env node
// The apps API process (the stack's apps-api container): Marathon's REST API v2 on swarm.
// Everything is in src/api/main.ts; this only starts it and stops it on SIGTERM.
import { apiConfigFromEnv, startApiServer } from '../dist/src/api/main.js';

try {
  const server = await startApiServer(apiConfigFromEnv(process.env));
  for (const signal of ['SIGTERM', 'SIGINT'])
    process.once(signal, () => void server.stop().then(() => process.exit(0)));
} catch (e) {
  process.stderr.write(`paasbox-api: ${e.problem ?? e.message}${e.fix ? `: ${e.fix}` : ''}\n`);
  process.exit(1);
}
