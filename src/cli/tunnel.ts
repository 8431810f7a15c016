// `paasbox tunnel`: sshuttle into the stack through its sshd service (port
// 2222), routing the stack's advertised address (host networking: every
// service is there) and sending DNS to its dnsmasq, so NAME.service.consul
// works from this machine. More networks only when asked (--subnet): docker's
// own (172.17.0.0/16, 10.0.0.0/24) collide with many laptops' networks.

import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { PaasboxError } from '../errors.js';
import { hasCommand } from '../stage/discover.js';
import { sshuttleArgs } from '../tunnel/sshuttle.js';
import { intArg, listArg, stageOptions } from './program.js';
import { openStage, type StageFlags } from './stage.js';

interface TunnelFlags extends StageFlags {
  sshPort: number;
  subnet?: string[];
  print?: boolean;
}

export function defineTunnel(cmd: Command): Command {
  return stageOptions(cmd)
    .option('--ssh-port <port>', 'the stack\'s sshd port', intArg('--ssh-port', 1, 65535), 2222)
    .option('--subnet <cidr>', 'also route this network (repeatable, or comma-separated)', listArg)
    .option('--print', 'print the sshuttle command instead of running it')
    .description('sshuttle into the stack through its sshd, with .consul DNS')
    .action(async (f: TunnelFlags) => {
      const stage = await openStage(f);
      await stage.target.close();
      const host = stage.instance?.deployment?.ip ?? stage.target.address;
      const keyPath = f.key ?? (stage.ref.kind === 'ssh' ? stage.ref.ssh.keyPath : undefined);
      const args = sshuttleArgs({ host, port: f.sshPort, user: 'root', ...(keyPath ? { keyPath } : {}), subnets: [`${host}/32`, ...(f.subnet ?? [])], dnsServer: host });
      if (f.print) {
        process.stdout.write(['sshuttle', ...args.map((a) => (/\s/.test(a) ? `'${a}'` : a))].join(' ') + '\n');
        return;
      }
      if (!(await hasCommand('sshuttle')))
        throw new PaasboxError('sshuttle is not installed', 'apt-get install sshuttle (Debian/Ubuntu) or brew install sshuttle (macOS); enable the stack\'s sshd with services: { sshd: { enabled: true } }');
      process.stderr.write(`paasbox tunnel: sshuttle ${args.join(' ')} (Ctrl-C to stop)\n`);
      await new Promise<void>((resolve, reject) => {
        const p = spawn('sshuttle', args, { stdio: 'inherit' });
        p.on('error', reject);
        p.on('exit', (code) => (code === 0 ? resolve() : reject(new PaasboxError(`sshuttle exited ${code}`, 'read its output above; `npx paasbox tunnel --print` shows the command'))));
      });
    });
}
