// Which compose CLI a target has: `docker compose` (v2 plugin) preferred, else
// the standalone `docker-compose` (v1, 1.27+ reads version-less compose-spec files).
import { PaasboxError } from '../errors.js';
import type { Target } from '../target/target.js';

export interface ComposeTool {
  kind: 'v2' | 'v1';
  /** The argv prefix: ['docker', 'compose'] or ['docker-compose']. */
  argv: string[];
  version: string;
}

/** Parse `docker compose version` / `docker-compose version` output. */
export function parseComposeVersion(out: string): string | undefined {
  return /version:?\s+v?(\d+\.\d+\.\d+)/i.exec(out)?.[1];
}

export async function detectComposeTool(target: Target, opts: { sudo?: boolean } = {}): Promise<ComposeTool> {
  const sudo = opts.sudo ?? true;
  const v2 = await target.exec('docker compose version', { sudo, timeoutMs: 30_000 });
  const v2Version = v2.code === 0 ? parseComposeVersion(v2.stdout) : undefined;
  if (v2Version) return { kind: 'v2', argv: ['docker', 'compose'], version: v2Version };
  const v1 = await target.exec('docker-compose version', { sudo, timeoutMs: 30_000 });
  const v1Version = v1.code === 0 ? parseComposeVersion(v1.stdout) : undefined;
  if (v1Version) {
    const [maj = 0, min = 0] = v1Version.split('.').map(Number);
    if (maj === 1 && min < 27)
      throw new PaasboxError(
        `docker-compose ${v1Version} on ${target.name} is too old: version-less compose files need 1.27 or newer`,
        'install the compose plugin (Debian/Ubuntu: apt-get install docker-compose-plugin) or docker-compose 1.29',
      );
    return { kind: 'v1', argv: ['docker-compose'], version: v1Version };
  }
  throw new PaasboxError(
    `no compose tool on ${target.name}: neither "docker compose" nor "docker-compose" works`,
    'install one: apt-get install docker-compose (v1) or the docker compose plugin (docker-compose-plugin); `paasbox install` does this',
    [v2.stderr, v1.stderr].filter(Boolean).join('\n'),
  );
}
