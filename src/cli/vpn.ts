// `paasbox vpn client|revoke|list`: the clients of the stack's OpenVPN server
// (services: { openvpn: { enabled: true } }). The PKI is this machine's
// (.paasbox/secrets/INSTANCE/pki, made by install with easy-rsa; the CA key
// never leaves it). `client NAME` issues NAME's certificate (once; later
// runs export the same) and writes a .ovpn with everything inline, mode 0600:
// the remote is the recorded advertised address and the VPN port (--remote
// for an address clients reach it at instead), the tunnel carries the
// stack's address only, and .DOMAIN names go to the stack's DNS. `revoke
// NAME` revokes it, regenerates the CRL, sends it to the server (which checks
// it at every handshake) and ends NAME's open session; run again for a name
// already revoked, it sends the CRL again.

import { chmodSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { PaasboxError } from '../errors.js';
import { killVpnClient, OPENVPN_DIR, serverCaCertificate, writeCrl } from '../provision/openvpn.js';
import { DEFAULT_INSTANCE } from '../instance/state.js';
import { VpnPki } from '../vpn/pki.js';
import {
  checkClientName,
  parseRemote,
  pemCertificate,
  renderClientProfile,
  vpnEndpoint,
} from '../vpn/profile.js';
import { jsonOption, lockTimeoutOption, stageOptions, subcommand } from './program.js';
import { deployedStack, openStage, withStageLock, type OpenedStage, type StageFlags } from './stage.js';

interface ClientFlags extends StageFlags {
  out?: string;
  remote?: string;
}

interface RevokeFlags extends StageFlags {
  lockTimeout: number;
}

const pkiOf = (stage: OpenedStage) => VpnPki.forInstance(stage.instance?.name ?? DEFAULT_INSTANCE);

/** Write text to path with mode 0600 from the first byte (a temp file beside it, then rename). */
export function writePrivateFile(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function defineVpn(cmd: Command): Command {
  cmd.description(
    "the OpenVPN server's clients: export a profile, revoke it, list them (needs services: { openvpn: { enabled: true } })",
  );

  stageOptions(
    subcommand(
      cmd,
      'client <name>',
      'issue NAME a certificate (once) and write its .ovpn profile (inline keys, .consul DNS), mode 0600',
    ),
  )
    .option('--out <file>', 'where to write the profile (default: ./NAME.ovpn)')
    .option(
      '--remote <host[:port]>',
      'the address clients reach the VPN server at (default: the recorded advertised address and the VPN port)',
    )
    .action(async (name: string, f: ClientFlags) => {
      checkClientName(name);
      const out = resolve(f.out ?? `${name}.ovpn`);
      if (existsSync(out) && !readFileSync(out, 'utf8').startsWith('# paasbox VPN profile'))
        throw new PaasboxError(
          `${out} exists and is not a paasbox VPN profile`,
          'name another file with --out, or move that one away',
        );
      const stage = await openStage(f);
      try {
        const { deployment } = await deployedStack(stage);
        const ep = vpnEndpoint(deployment, stage.target.name);
        const remote = f.remote ? parseRemote(f.remote, ep.port) : { host: ep.ip, port: ep.port };
        const pki = pkiOf(stage);
        pki.requireReady();
        const ca = pemCertificate(readFileSync(`${pki.dir}/ca.crt`, 'utf8'));
        const theirs = await serverCaCertificate(stage.target);
        if (!theirs)
          throw new PaasboxError(
            `the OpenVPN server on ${stage.target.name} has no ${OPENVPN_DIR}/ca.crt`,
            "run npx paasbox install: it writes the server's files",
          );
        if (pemCertificate(theirs) !== ca)
          throw new PaasboxError(
            `the OpenVPN server on ${stage.target.name} trusts another CA than ${pki.dir}`,
            "install from this machine again (it sends the server this PKI's files), or run vpn on the machine whose PKI the server has",
          );
        const issued = await pki.issueClient(name);
        const files = pki.clientFiles(name)!;
        const { 'tc.key': tlsCrypt } = pki.serverFiles();
        const text = renderClientProfile({
          name,
          remote,
          stackIp: ep.ip,
          ...(ep.dns ? { dns: ep.dns } : {}),
          ca,
          cert: files.cert,
          key: files.key,
          tlsCrypt,
          origin: `stack ${ep.ip} on ${stage.target.name}, instance ${stage.instance?.name ?? DEFAULT_INSTANCE}`,
        });
        writePrivateFile(out, text);
        const lines = [
          `${issued ? 'issued a certificate for' : 'exported the existing certificate of'} ${name}; wrote ${out} (mode 0600: it holds ${name}'s private key)`,
          `  server ${remote.host} ${remote.port}/udp; the tunnel carries ${ep.ip} only${ep.dns ? `; .${ep.dns.domain} names through ${ep.dns.ip}` : ''}`,
          ...(ep.note ? [`  note: ${ep.note}`] : []),
          `  import it into your OpenVPN client (or: sudo openvpn --config ${out}); revoke: npx paasbox vpn revoke ${name}`,
        ];
        process.stdout.write(lines.join('\n') + '\n');
      } finally {
        await stage.target.close();
      }
    });

  stageOptions(
    subcommand(
      cmd,
      'revoke <name>',
      "revoke NAME's certificate: a new CRL on the server, NAME's open session ended",
    ),
  )
    .addOption(lockTimeoutOption())
    .action(async (name: string, f: RevokeFlags) => {
      checkClientName(name);
      const stage = await openStage(f);
      try {
        const pki = pkiOf(stage);
        pki.requireReady();
        const { crl, already } = await pki.revokeClient(name);
        process.stdout.write(
          already
            ? `${name} was already revoked in ${pki.dir}; sending its CRL again\n`
            : `revoked ${name} in ${pki.dir}; new CRL\n`,
        );
        const { project, deployment } = await deployedStack(stage);
        if (!deployment.services.includes('openvpn')) {
          process.stdout.write(
            `the stack on ${stage.target.name} does not run OpenVPN: the CRL goes to the server at its next install\n`,
          );
          return;
        }
        await withStageLock(stage.target, 'vpn revoke', f.lockTimeout, async () => {
          await writeCrl(stage.target, crl);
          const said = await killVpnClient(stage.target, project, name);
          process.stdout.write(
            `sent the CRL to ${stage.target.name} (${OPENVPN_DIR}/crl.pem): ${name} is refused from the next handshake on; open session: ${said}\n`,
          );
        });
      } finally {
        await stage.target.close();
      }
    });

  stageOptions(subcommand(cmd, 'list', 'the clients of the PKI on this machine: valid, revoked or expired'))
    .addOption(jsonOption())
    .action(async (f: StageFlags & { json?: boolean }) => {
      const stage = await openStage(f);
      await stage.target.close();
      const pki = pkiOf(stage);
      pki.requireReady();
      const clients = pki.index().filter((e) => e.name !== 'server');
      if (f.json) {
        process.stdout.write(JSON.stringify({ pki: pki.dir, clients }, null, 2) + '\n');
        return;
      }
      if (!clients.length) {
        process.stdout.write(`no clients yet in ${pki.dir}: npx paasbox vpn client NAME\n`);
        return;
      }
      const w = Math.max(4, ...clients.map((c) => c.name.length));
      process.stdout.write(
        [
          `${'NAME'.padEnd(w)}  STATUS   EXPIRES               REVOKED`,
          ...clients.map((c) =>
            `${c.name.padEnd(w)}  ${c.status.padEnd(7)}  ${c.expires.padEnd(20)}  ${c.revoked ?? ''}`.trimEnd(),
          ),
        ].join('\n') + '\n',
      );
    });
  return cmd;
}
