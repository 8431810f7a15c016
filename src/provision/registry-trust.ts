// The install step that makes every node's docker trust the stack's image
// registry: the registry's CA certificate (src/secrets/registry.ts, made on
// the build host, its key kept there) as /etc/docker/certs.d/MASTER:PORT/ca.crt
// for each master's registry, on every host of the cluster (masters push to
// it, agents pull the apps' images from it). dockerd reads certs.d at each
// connection: nothing restarts. The CA certificate is public (0644).

import { createHash } from 'node:crypto';
import { DOCKER_CERTS_DIR, registryAddress, registryScopeOf, trustPath } from '../secrets/registry.js';
import type { Settings } from '../settings/index.js';
import { shq } from '../target/shell.js';
import type { ExecResult, Target } from '../target/target.js';
import type { InstallSecrets } from './secrets.js';
import { CommandFailure, sh, type ProvisionStep } from './runner.js';

/** Every file this host gets: the CA for each master's registry. Pure. */
export function trustFiles(caCert: string, ips: string[], port: number): Record<string, string> {
  return Object.fromEntries(ips.map((ip) => [trustPath(registryAddress(ip, port)), caCert]));
}

/** Prints one line per path: its sha256, or "missing". */
export function trustProbe(paths: string[]): string {
  return [
    ...paths.map(
      (p) => `if [ -f ${shq(p)} ]; then sha256sum < ${shq(p)} | cut -d' ' -f1; else echo missing; fi`,
    ),
    'true',
  ].join('\n');
}

/** Pure: the paths whose content is not `wanted`'s, from trustProbe's output (same order). */
export function trustDiff(wanted: Record<string, string>, probed: string): string[] {
  const lines = probed.split('\n').map((l) => l.trim());
  const sha = (c: string) => createHash('sha256').update(c).digest('hex');
  return Object.entries(wanted)
    .filter(([, content], i) => lines[i] !== sha(content))
    .map(([p]) => p);
}

export function registryTrustStep(
  secrets: Pick<InstallSecrets, 'registryTls'>,
  settings: Pick<Settings, 'masters'> & Partial<Pick<Settings, 'services'>>,
): ProvisionStep {
  const { ips, port } = registryScopeOf(settings);
  const paths = ips.map((ip) => trustPath(registryAddress(ip, port)));
  const probe = trustProbe(paths);
  const state = async (t: Target, probed?: ExecResult) => {
    const { tls } = await secrets.registryTls(t, ips);
    const wanted = trustFiles(tls.caCert, ips, port);
    const r = probed ?? (await t.exec(probe, { sudo: true, timeoutMs: 30_000 }));
    if (r.code !== 0) throw new CommandFailure(`inspect ${DOCKER_CERTS_DIR}`, r.code, r.stderr || r.stdout);
    return { wanted, stale: trustDiff(wanted, r.stdout) };
  };
  return {
    name: `image registry CA in docker's trust (${DOCKER_CERTS_DIR})`,
    fix: 'read the detail; check that the login can use sudo on the target',
    probe,
    async check(t, probed) {
      const { stale } = await state(t, probed);
      return stale.length
        ? { ok: false, detail: `to write: ${stale.join(', ')}` }
        : { ok: true, detail: `${paths.length} registr${paths.length === 1 ? 'y' : 'ies'} trusted` };
    },
    async apply(t) {
      const { wanted, stale } = await state(t);
      const dirs = stale.map((p) => shq(p.replace(/\/ca\.crt$/, ''))).join(' ');
      if (dirs) await sh(t, `mkdir -p ${dirs} && chmod 755 ${dirs}`);
      for (const p of stale) await t.writeFile(p, wanted[p]!, 0o644);
      return `wrote ${stale.join(', ')}`;
    },
  };
}
