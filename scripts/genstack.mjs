#!/usr/bin/env zx
// Generate the stack's compose file for this host (the seed's genfig.sh):
//   npx zx scripts/genstack.mjs [--source local|registry] [--hostname H] [--ip A]
//                               [--config FILE] [--out .paasbox/docker-compose.yml] [--stdout]
// Settings come from defaults < ./paasbox.yaml (or --config) < env (HOSTNAME, IP,
// PAASBOX_SOURCE, PAASBOX_DOMAIN) < these flags.
import { $, argv, fs, path } from 'zx';
import { formatError } from '../dist/src/errors.js';
import { loadStackModel } from '../dist/src/stack/load.js';
import { loadSettings, pickAdvertiseAddress, ADDRESS_COMMAND } from '../dist/src/settings/index.js';
import { generateCompose, renderCompose } from '../dist/src/stack/generate.js';
import { resolveImageRefs } from '../dist/src/stack/refs.js';

$.verbose = false;

try {
  const env = { ...process.env };
  if (argv.source) env.PAASBOX_SOURCE = String(argv.source);
  if (argv.hostname) env.HOSTNAME = String(argv.hostname);
  if (argv.ip) env.IP = String(argv.ip);
  const model = loadStackModel();
  const settings = await loadSettings({
    model,
    env,
    configPath: argv.config ? String(argv.config) : undefined,
    detectIp: async () => pickAdvertiseAddress((await $`bash -c ${ADDRESS_COMMAND}`.nothrow()).stdout),
  });
  const hasImage = async (ref) => (await $`docker image inspect ${ref}`.quiet().nothrow()).exitCode === 0;
  const refs = await resolveImageRefs(model, settings, hasImage);
  const text = renderCompose(generateCompose(model, settings, refs));
  if (argv.stdout) {
    process.stdout.write(text);
  } else {
    const out = path.resolve(String(argv.out ?? '.paasbox/docker-compose.yml'));
    await fs.mkdir(path.dirname(out), { recursive: true });
    await fs.writeFile(out, text);
    const omitted = Object.keys(refs.unavailable);
    console.error(`wrote ${out}: ${Object.keys(refs.images).length} services (source ${settings.imageSource}, ip ${settings.ip})` +
      (omitted.length ? `; left out (unavailable): ${omitted.join(', ')}` : ''));
  }
} catch (e) {
  console.error(formatError(e));
  process.exit(1);
}
