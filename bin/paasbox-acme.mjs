#!/usr/bin/env node
// The ACME renewer process (the stack's acme container on each master): one
// leader per cluster gets certificates for the apps' public names with lego.
// Everything is in src/acme/main.ts; this only starts it and stops it on SIGTERM.
import { acmeConfigFromEnv, startRenewer } from '../dist/src/acme/main.js';

try {
  const renewer = await startRenewer(acmeConfigFromEnv(process.env));
  for (const signal of ['SIGTERM', 'SIGINT'])
    process.once(signal, () => void renewer.stop().then(() => process.exit(0)));
} catch (e) {
  process.stderr.write(`paasbox-acme: ${e.problem ?? e.message}${e.fix ? `: ${e.fix}` : ''}\n`);
  process.exit(1);
}
