// The app policy's checks that need the hosts: an app's host directories are
// created and resolved on every host it may run on (a symlink anywhere on the
// path that leaves the app's data root is refused there, where it lives), and
// a service name belongs to the app id that first deployed it, recorded in
// Consul K/V under NAMES_PREFIX (the registrator reads the same keys and
// registers no other app under that name: the claims themselves are made by
// src/consul/app-names.ts); a public name (./domains.ts) likewise, under
// DOMAINS_PREFIX. Both run before any scheduler call.

import { PaasboxError, targetError } from '../errors.js';
import { portMappingsOf, type MarathonApp } from '../appspec/app.js';
import { canonicalHostPath } from '../appspec/fields.js';
import { fieldName } from '../appspec/validate.js';
import { shq } from '../target/shell.js';
import type { Target } from '../target/target.js';
import { APP_DATA_ROOT, appDataDir, serviceNameVars, tcpTagPorts, type AppAllowances } from './policy.js';
import { appRoutes, appDomains } from './domains.js';

/** Consul K/V prefix of name ownership: NAMES_PREFIX + NAME holds the owning app id. */
export const NAMES_PREFIX = 'paasbox/names/';
/** Consul K/V prefix of tcp=PORT routes: TCP_PREFIX + PORT holds the owning app id. */
export const TCP_PREFIX = 'paasbox/tcp-ports/';
/** Consul K/V prefix of public names: DOMAINS_PREFIX + DOMAIN holds the owning app id (the edge reads it). */
export const DOMAINS_PREFIX = 'paasbox/domains/';

/**
 * The host paths of `app` that deploy prepares: those under its data root (others were allowed as they are).
 */
export function appHostPaths(app: MarathonApp): string[] {
  const root = appDataDir(app.id);
  return (app.container?.volumes ?? [])
    .map((v) => canonicalHostPath(v.hostPath))
    .filter((p) => p === root || p.startsWith(root + '/'));
}

const OUTSIDE = '@@outside ';

/**
 * The script that makes each path under `root` (an app's directory under
 * `dataRoot`) and refuses one whose real path (every symlink resolved, as
 * docker's bind will) leaves `root`. Paths were validated (absolute, no
 * control characters) and are quoted here.
 */
export function hostPathsScript(root: string, paths: string[], dataRoot = APP_DATA_ROOT): string {
  const lines = [
    'set -e',
    `install -d -m 0755 ${shq(dataRoot)}`,
    `root=$(realpath -m -- ${shq(root)})`,
    `case "$root" in ${shq(dataRoot)}/*) ;; *) echo ${shq(OUTSIDE + root)} "$root"; exit 3;; esac`,
  ];
  for (const p of paths) {
    lines.push(
      `r=$(realpath -m -- ${shq(p)})`,
      `case "$r" in "$root"|"$root"/*) ;; *) echo ${shq(OUTSIDE + p)} "$r"; exit 3;; esac`,
      'install -d -m 0755 -- "$r"',
    );
  }
  return lines.join('\n');
}

/**
 * Create the app's host directories on every host, refusing a path whose
 * symlinks lead out of its data root (a link planted through a mount).
 * Nothing is run when the app binds nothing under its root.
 */
export async function prepareHostMounts(
  hosts: Target[],
  app: MarathonApp,
  allow: AppAllowances = {},
): Promise<string[]> {
  const paths = appHostPaths(app);
  if (!paths.length) return [];
  const root = appDataDir(app.id);
  await Promise.all(
    hosts.map(async (t) => {
      const r = await t.exec(hostPathsScript(root, paths), { sudo: true, timeoutMs: 30_000 });
      if (r.code === 0) return;
      const m = new RegExp(`^${OUTSIDE}(\\S+) (\\S*)`, 'm').exec(r.stdout);
      if (m && !allow.hostMounts) {
        throw new PaasboxError(
          `container.volumes: ${m[1]} resolves to ${m[2]} on ${t.name}, outside the app's data root ${root}`,
          `remove the symlink on the path, or deploy with --allow-host-mounts`,
        );
      }
      if (!m)
        throw targetError(
          `cannot create the app's directories on ${t.name}`,
          'check sudo and the disk on that host',
          r.stderr.trim(),
        );
    }),
  );
  return paths;
}

/**
 * The names `app` registers under: its SERVICE_*NAME values, else
 * `defaultName` (what the scheduler derives); with more than one published
 * port, the registrator's NAME-PORT for each port without a name of its own.
 */
export function claimedNames(app: MarathonApp, defaultName: string): string[] {
  const given = serviceNameVars(app.env);
  const base = given['SERVICE_NAME'] ?? defaultName;
  const names = new Set(Object.values(given));
  names.add(base);
  const ports = portMappingsOf(app).map((m) => m.containerPort);
  if (ports.length > 1) {
    for (const p of ports)
      if (!Object.keys(given).some((k) => k.toUpperCase() === `SERVICE_${p}_NAME`)) names.add(`${base}-${p}`);
  }
  return [...names].sort();
}

/** The keys (under the claims' prefixes) `app` owns: its names, its tcp=PORT routes, its public names. */
export function claimedKeys(app: MarathonApp, defaultName: string): string[] {
  const tcp = tcpTagPorts(app.env)
    .filter((t) => Number.isInteger(t.port))
    .map((t) => `${TCP_PREFIX}${t.port}`);
  return [
    ...claimedNames(app, defaultName).map((n) => `${NAMES_PREFIX}${n}`),
    ...new Set(tcp),
    ...appDomains(app).map((d) => `${DOMAINS_PREFIX}${d}`),
  ];
}

/**
 * Another app's public name that `key` (a DOMAINS_PREFIX key) overlaps
 * through a wildcard: an exact name under another app's `*.S`, or a `*.S`
 * over another app's names (HAProxy routes `*.S` as any name ending in .S).
 */
export function overlappingDomain(
  key: string,
  owners: Map<string, string>,
  owner: string,
): string | undefined {
  if (!key.startsWith(DOMAINS_PREFIX)) return undefined;
  const under = (name: string, suffix: string) => name.endsWith(`.${suffix}`);
  const mine = key.slice(DOMAINS_PREFIX.length);
  for (const [k, o] of owners) {
    if (o === owner || k === key || !k.startsWith(DOMAINS_PREFIX)) continue;
    const theirs = k.slice(DOMAINS_PREFIX.length);
    const [a, b] = [mine.replace(/^\*\./, ''), theirs.replace(/^\*\./, '')];
    const covered =
      (theirs.startsWith('*.') && (under(mine, b) || (mine.startsWith('*.') && a === b))) ||
      (mine.startsWith('*.') && under(theirs, a));
    if (covered) return k;
  }
  return undefined;
}

/**
 * The refusal of a claim another app holds, naming the field the app set
 * (`app`: the app that asked, whose field gave a public name; `via`: the
 * other app's key a public name overlaps through a wildcard).
 */
export function takenError(key: string, owner: string, app?: MarathonApp, via?: string): PaasboxError {
  if (key.startsWith(DOMAINS_PREFIX)) {
    const domain = key.slice(DOMAINS_PREFIX.length);
    const path =
      (app && appRoutes(app).domains.find((d) => d.name === domain)?.path) ?? '/labels/HAPROXY_0_VHOST';
    const over = via?.slice(DOMAINS_PREFIX.length);
    return new PaasboxError(
      over
        ? `${fieldName(path)}: "${domain}" overlaps "${over}", which belongs to app ${owner}`
        : `${fieldName(path)}: "${domain}" belongs to app ${owner}`,
      'give a public name of its own (a public name belongs to the app id that first deployed it)',
    );
  }
  if (key.startsWith(TCP_PREFIX)) {
    const port = key.slice(TCP_PREFIX.length);
    return new PaasboxError(
      `env.SERVICE_TAGS: tcp=${port} belongs to app ${owner}`,
      'pick another port of the range (a tcp= port belongs to the app id that first deployed it)',
    );
  }
  return new PaasboxError(
    `env.SERVICE_NAME: "${key.slice(NAMES_PREFIX.length)}" belongs to app ${owner}`,
    `give the app a name of its own (a service name belongs to the app id that first deployed it)`,
  );
}
