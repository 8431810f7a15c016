#!/usr/bin/env zx
// sshuttle into the stack: routes the target's docker networks (and the
// target itself) through the stack's sshd service and sends DNS to its dnsmasq,
// so http://NAME.service.consul works from this machine.
//   npx zx scripts/tunnel.mjs [--target local|user@host[:port]|KITCHEN_NAME] [--key FILE]
//        [--ssh-port 2222] [--subnet CIDR ...] [--print]
import { argv, $ } from 'zx';
import { spawn } from 'node:child_process';
import { formatError, PaasboxError } from '../dist/src/errors.js';
import { readState } from '../dist/src/state.js';
import { resolveTarget } from '../dist/src/verify/targets.js';
import { sshuttleArgs, subnetsFromNetworkInspect } from '../dist/src/tunnel/sshuttle.js';

try {
  const state = readState();
  const keyPath = argv.key ? String(argv.key) : state?.target.kind === 'ssh' ? state.target.keyPath : undefined;
  const target = resolveTarget(argv.target ? String(argv.target) : undefined, keyPath ? { keyPath } : {});
  const host = state?.ip ?? target.address;
  let subnets = [argv.subnet ?? []].flat().map(String);
  if (subnets.length === 0) {
    const nets = await target.exec('docker network inspect $(docker network ls -q)', { sudo: true, timeoutMs: 30000 });
    if (nets.code !== 0) throw new PaasboxError(`cannot list docker networks on ${target.name}`, 'pass --subnet CIDR, or check that docker runs there', nets.stderr);
    subnets = subnetsFromNetworkInspect(nets.stdout);
  }
  await target.close();
  const args = sshuttleArgs({ host, port: Number(argv['ssh-port'] ?? 2222), user: 'root', ...(keyPath ? { keyPath } : {}), subnets: [...subnets, `${host}/32`], dnsServer: host });
  if (argv.print) {
    console.log(['sshuttle', ...args.map((a) => (/\s/.test(a) ? `'${a}'` : a))].join(' '));
    process.exit(0);
  }
  if ((await $`command -v sshuttle`.nothrow().quiet()).exitCode !== 0)
    throw new PaasboxError('sshuttle is not installed', 'apt-get install sshuttle (Debian/Ubuntu) or brew install sshuttle (macOS); enable the stack\'s sshd with services: { sshd: { enabled: true } }');
  console.error(`paasbox tunnel: sshuttle ${args.join(' ')} (Ctrl-C to stop)`);
  const p = spawn('sshuttle', args, { stdio: 'inherit' });
  p.on('exit', (code) => process.exit(code ?? 1));
} catch (e) {
  console.error(formatError(e));
  process.exit(1);
}
