// The install steps for the optional OpenVPN server (only when the plan runs
// it): easy-rsa on this machine (the build host), the instance's PKI made
// there (.paasbox/secrets/INSTANCE/pki: the CA key never leaves it), and the
// server's files on the target in /opt/paasbox/openvpn (root, 0700 directory,
// 0600 files; mounted read-only into the container): server.conf, ca.crt,
// server.crt, server.key, tc.key, crl.pem, and nothing else. A changed
// server file restarts a running server; a new CRL alone does not (crl-verify
// re-reads it at each handshake). `paasbox vpn revoke` pushes the CRL with
// writeCrl and ends the revoked client's session with killVpnClient.

import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { findStackContainer } from '../docker/compose.js';
import { PaasboxError } from '../errors.js';
import { composePort, STACK_DIR } from '../stackfile/deployment.js';
import { repoPath } from '../paths.js';
import { LocalTarget } from '../target/local.js';
import { shq } from '../target/shell.js';
import type { ExecResult, Target } from '../target/target.js';
import { findEasyrsa, VpnPki } from '../vpn/pki.js';
import { renderServerConfig } from '../vpn/profile.js';
import type { StackPlan } from './plan.js';
import { CommandFailure, sh, type ProvisionStep } from './runner.js';

/** The server's files on the target; the model mounts it read-only at /etc/openvpn/paasbox. */
export const OPENVPN_DIR = `${STACK_DIR}/openvpn`;
const CRL = 'crl.pem';

/** Every file the server gets, by name in OPENVPN_DIR. */
export function serverFiles(pki: VpnPki, stackIp: string, port: number): Record<string, string> {
  return { ...pki.serverFiles(), 'server.conf': renderServerConfig({ stackIp, port }) };
}

export function openvpnSteps(
  plan: Pick<StackPlan, 'compose' | 'settings' | 'project'>,
  instance: string,
  cwd?: string,
): ProvisionStep[] {
  const svc = plan.compose.services['openvpn'];
  if (!svc) return [];
  const port = composePort(svc.labels['paasbox.ports'], 'vpn');
  if (port === undefined)
    throw new PaasboxError(
      'the compose file has no openvpn vpn port',
      'this is a paasbox bug: stacks/paasbox.yaml names openvpn\'s port "vpn"',
    );
  const pki = VpnPki.forInstance(instance, cwd);
  return [easyRsaStep(), pkiStep(pki), serverFilesStep(plan.project, pki, plan.settings.ip, port)];
}

/** easy-rsa on this machine (not the target): found, else installed with apt-get. */
export function easyRsaStep(): ProvisionStep {
  const fix =
    'install easy-rsa on this machine (apt-get install easy-rsa, or brew install easy-rsa on macOS), or set PAASBOX_EASYRSA to its easyrsa script';
  return {
    name: 'easy-rsa (this machine, for the VPN PKI)',
    fix,
    async check() {
      const found = findEasyrsa();
      return found ? { ok: true, detail: found } : { ok: false, detail: 'easy-rsa is not installed here' };
    },
    async apply() {
      const local = new LocalTarget();
      try {
        const script = readFileSync(repoPath('provision', 'easy-rsa.sh'), 'utf8');
        const r = await local.exec('sh -s -- apply', { stdin: script, sudo: true, timeoutMs: 600_000 });
        if (r.code !== 0)
          throw new CommandFailure(
            'provision/easy-rsa.sh apply (this machine)',
            r.code,
            r.stderr || r.stdout,
            fix,
          );
      } finally {
        await local.close();
      }
    },
  };
}

/**
 * The instance's PKI on this machine: CA, the server's key and certificate, CRL, tls-crypt key; modes
 * 0700/0600.
 */
export function pkiStep(pki: VpnPki): ProvisionStep {
  return {
    name: `VPN PKI ${pki.dir} (this machine)`,
    fix: `read the detail; the PKI is ${pki.dir}`,
    async check() {
      const missing = pki.missing();
      return missing.length
        ? { ok: false, detail: `to make or fix: ${missing.join(', ')}` }
        : { ok: true, detail: 'CA (its key stays here), server certificate, CRL, tls-crypt key' };
    },
    async apply() {
      const made = await pki.ensure();
      return made.length ? `made: ${made.join(', ')}` : undefined;
    },
  };
}

interface TargetFile {
  mode: string;
  sha: string;
}

/**
 * The named volume where earlier paasbox versions let the server make its own PKI (its CA key unencrypted, on
 * the server).
 */
export const legacyVolume = (project: string) => `${project}_openvpn-data`;

/**
 * Prints `d MODE UID` for the directory, `f MODE UID SHA256 NAME` per entry,
 * `tun` when /dev/net/tun is there and `legacy` when the old self-made PKI's
 * volume exists. Run as root.
 */
export function inspectServerFilesCommand(dir = OPENVPN_DIR, project = 'paasbox'): string {
  const d = shq(dir);
  return [
    `if [ -d ${d} ]; then echo "d $(stat -c '%a %u' ${d})";`,
    `for f in ${d}/* ${d}/.[!.]*; do [ -e "$f" ] || continue; printf 'f %s %s %s\\n' "$(stat -c '%a %u' "$f")" "$(sha256sum < "$f" 2>/dev/null | cut -d' ' -f1)" "$(basename "$f")"; done; fi`,
    '[ -c /dev/net/tun ] && echo tun',
    `docker volume inspect ${shq(legacyVolume(project))} >/dev/null 2>&1 && echo legacy`,
    'true',
  ].join('\n');
}

/** Pure: inspectServerFilesCommand's output. */
export function parseServerFilesInspection(out: string): {
  dir?: string;
  files: Record<string, TargetFile>;
  tun: boolean;
  legacy?: boolean;
} {
  const res: { dir?: string; files: Record<string, TargetFile>; tun: boolean; legacy?: boolean } = {
    files: {},
    tun: false,
  };
  for (const line of out.split('\n')) {
    const l = line.trim();
    if (l === 'tun') res.tun = true;
    if (l === 'legacy') res.legacy = true;
    const d = /^d (\d+ \d+)$/.exec(l);
    if (d) res.dir = d[1];
    const f = /^f (\d+ \d+) ([0-9a-f]*) (.+)$/.exec(l);
    if (f) res.files[f[3]!] = { mode: f[1]!, sha: f[2]! };
  }
  return res;
}

/**
 * Pure: what on the target differs from `wanted`: each entry names a file or the directory, never content.
 */
export function serverFilesDiff(
  have: ReturnType<typeof parseServerFilesInspection>,
  wanted: Record<string, string>,
): { changed: string[]; extra: string[]; problems: string[] } {
  const changed: string[] = [];
  const problems: string[] = [];
  if (!have.dir) problems.push(`${OPENVPN_DIR}/ (missing)`);
  else if (have.dir !== '700 0')
    problems.push(`${OPENVPN_DIR}/ (mode and owner uid "${have.dir}", want "700 0")`);
  for (const [name, content] of Object.entries(wanted)) {
    const f = have.files[name];
    const sha = createHash('sha256').update(content).digest('hex');
    const problem = !f
      ? `${name} (missing)`
      : f.sha !== sha
        ? `${name} (differs)`
        : f.mode !== '600 0'
          ? `${name} (mode and owner uid "${f.mode}", want "600 0")`
          : undefined;
    if (problem) {
      problems.push(problem);
      changed.push(name);
    }
  }
  const extra = Object.keys(have.files).filter((n) => !(n in wanted));
  for (const n of extra) problems.push(`${n} (not the server's: removed)`);
  if (!have.tun) problems.push('/dev/net/tun (missing)');
  if (have.legacy) problems.push(LEGACY_PROBLEM);
  return { changed, extra, problems };
}

const LEGACY_PROBLEM =
  'the old server-made PKI volume (its CA key on the server: removed with its container)';

/**
 * The project's running openvpn container (never a swarm task or app carrying its labels; two are refused).
 */
async function openvpnContainer(t: Target, project: string): Promise<string | undefined> {
  return (await findStackContainer(t, project, 'openvpn'))?.id;
}

export function serverFilesStep(project: string, pki: VpnPki, stackIp: string, port: number): ProvisionStep {
  const probe = inspectServerFilesCommand(OPENVPN_DIR, project);
  const state = async (t: Target, probed?: ExecResult) => {
    const wanted = serverFiles(pki, stackIp, port);
    const r = probed ?? (await t.exec(probe, { sudo: true, timeoutMs: 60_000 }));
    if (r.code !== 0) throw new CommandFailure(`inspect ${OPENVPN_DIR}`, r.code, r.stderr || r.stdout);
    return { wanted, diff: serverFilesDiff(parseServerFilesInspection(r.stdout), wanted) };
  };
  return {
    name: `VPN server files ${OPENVPN_DIR}`,
    fix: 'read the detail; check that the login can use sudo on the target',
    probe,
    async check(t, probed) {
      const notMade = pki.missing().filter((m) => !m.includes(' mode '));
      if (notMade.length)
        return { ok: false, detail: `the PKI here is not made yet (${notMade.join(', ')})` };
      const { diff } = await state(t, probed);
      return diff.problems.length
        ? { ok: false, detail: diff.problems.join(', ') }
        : {
            ok: true,
            detail: 'server.conf, CA certificate, server key and certificate, tls-crypt key, CRL: root, 0600',
          };
    },
    async apply(t) {
      const { wanted, diff } = await state(t);
      await sh(
        t,
        `mkdir -p ${shq(OPENVPN_DIR)} && chown 0:0 ${shq(OPENVPN_DIR)} && chmod 700 ${shq(OPENVPN_DIR)}`,
      );
      for (const name of diff.changed) await t.writeFile(`${OPENVPN_DIR}/${name}`, wanted[name]!, 0o600);
      if (diff.extra.length)
        await sh(t, `rm -rf ${diff.extra.map((n) => shq(`${OPENVPN_DIR}/${n}`)).join(' ')}`);
      const notes: string[] = [];
      if (diff.problems.includes('/dev/net/tun (missing)')) {
        await sh(
          t,
          '[ -c /dev/net/tun ] || { modprobe tun 2>/dev/null; [ -c /dev/net/tun ] || { mkdir -p /dev/net && mknod -m 600 /dev/net/tun c 10 200; }; }',
          {
            fix: 'the kernel needs the tun module: modprobe tun on the target',
          },
        );
        notes.push('/dev/net/tun made');
      }
      if (diff.problems.includes(LEGACY_PROBLEM)) {
        // Its container still mounts it: removed too (compose up starts the new server).
        const v = shq(legacyVolume(project));
        await sh(
          t,
          `ids=$(docker ps -aq --filter volume=${v}); [ -z "$ids" ] || docker rm -f $ids >/dev/null; docker volume rm ${v} >/dev/null`,
          {
            fix: `remove it by hand: docker volume rm ${legacyVolume(project)} (after stopping the container that uses it)`,
          },
        );
        notes.push(`removed the old server-made PKI (volume ${legacyVolume(project)})`);
      }
      if (diff.changed.length) notes.push(`wrote ${diff.changed.join(', ')}`);
      // A running server read its key and config when it started; a new CRL it re-reads by itself.
      if (diff.changed.some((n) => n !== CRL)) {
        const id = await openvpnContainer(t, project);
        if (id) {
          await sh(t, `docker restart ${shq(id)}`, {
            fix: 'restart the openvpn service: npx paasbox stack restart openvpn',
          });
          notes.push('openvpn restarted');
        }
      }
      return notes.join('; ');
    },
  };
}

/** Replace the server's CRL (root, 0600): the server checks it at the next handshake. */
export async function writeCrl(t: Target, crl: string): Promise<void> {
  await t.writeFile(`${OPENVPN_DIR}/${CRL}`, crl, 0o600);
}

/** The CA certificate the server has, or undefined. */
export async function serverCaCertificate(t: Target): Promise<string | undefined> {
  const r = await t.exec(`cat ${shq(`${OPENVPN_DIR}/ca.crt`)}`, { sudo: true, timeoutMs: 30_000 });
  return r.code === 0 && r.stdout.trim() ? r.stdout : undefined;
}

/**
 * End NAME's sessions on the running server (its management socket); what the server said, or why nothing was
 * done.
 */
export async function killVpnClient(t: Target, project: string, name: string): Promise<string> {
  const id = await openvpnContainer(t, project);
  if (!id) return 'the openvpn service is not running';
  const r = await t.exec(`docker exec ${shq(id)} paasbox-openvpn-kill ${shq(name)}`, {
    sudo: true,
    timeoutMs: 30_000,
  });
  return (r.stdout.trim() || r.stderr.trim() || `exit ${r.code}`).split('\n')[0]!;
}
