// The base image paasbox/debian:bookworm, made from nothing on the target:
// debootstrap a minbase rootfs in a temp dir, `docker import` it with the
// recipe's hash as the paasbox.hash label (so an unchanged recipe is seen as
// up to date), and remove the temp dir whatever happens. The rootfs is made
// slim the way Debian's own docker images are (debuerreotype's minimizing
// config): no apt caches, docs, man pages or translations, in the base and in
// every image built on it, so each push carries ~half the bytes.
import type { Target } from '../target/target.js';
import { PaasboxError } from '../errors.js';
import { shq } from '../target/shell.js';
import { BASE_REF, HASH_LABEL, type BaseRecipe } from './plan.js';

/**
 * Files written into the rootfs. apt's binary caches (~40 MB after every
 * `apt-get update`) would otherwise stay in each image's layer even after
 * `rm -rf /var/lib/apt/lists/*`; dpkg's excludes keep later installs slim too.
 */
export const SLIM_FILES: Record<string, string> = {
  'etc/apt/apt.conf.d/docker-clean': [
    'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
    'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
    'Dir::Cache::pkgcache "";',
    'Dir::Cache::srcpkgcache "";',
    '',
  ].join('\n'),
  'etc/apt/apt.conf.d/docker-no-languages': 'Acquire::Languages "none";\n',
  'etc/dpkg/dpkg.cfg.d/docker': [
    'path-exclude /usr/share/doc/*',
    'path-include /usr/share/doc/*/copyright',
    'path-exclude /usr/share/man/*',
    'path-exclude /usr/share/groff/*',
    'path-exclude /usr/share/info/*',
    'path-exclude /usr/share/lintian/*',
    'path-exclude /usr/share/linda/*',
    'path-exclude /usr/share/locale/*',
    'path-include /usr/share/locale/locale.alias',
    '',
  ].join('\n'),
};

/** The shell script that builds the base (pure, so it can be read and tested). */
export function baseImageScript(recipe: BaseRecipe, hash: string, ref = BASE_REF): string {
  const changes = [
    `LABEL ${HASH_LABEL}=${hash}`,
    `LABEL paasbox.recipe=debootstrap-${recipe.variant}-${recipe.suite}`,
    'CMD ["bash"]',
  ]
    .map((c) => `-c ${shq(c)}`)
    .join(' ');
  return [
    'set -eu',
    'command -v debootstrap >/dev/null || exit 42',
    'tmp=$(mktemp -d /var/tmp/paasbox-base.XXXXXX)',
    // debootstrap mounts proc/sys in the chroot; never follow them when cleaning up.
    'cleanup() { for m in proc sys dev/pts; do umount "$tmp/rootfs/$m" 2>/dev/null || true; done; rm -rf --one-file-system "$tmp"; }',
    'trap cleanup EXIT',
    `debootstrap --variant=${shq(recipe.variant)} ${shq(recipe.suite)} "$tmp/rootfs" ${shq(recipe.mirror)} > "$tmp/log" 2>&1 || { tail -n 25 "$tmp/log" >&2; exit 43; }`,
    'rm -rf "$tmp/rootfs/var/lib/apt/lists/"* "$tmp/rootfs/var/cache/apt/"*.bin "$tmp/rootfs/var/cache/apt/archives/"*.deb "$tmp/rootfs/var/log/bootstrap.log"',
    ...Object.entries(SLIM_FILES).map(([path, text]) => `printf '%s' ${shq(text)} > "$tmp/rootfs/${path}"`),
    // What the excludes would have kept out, had they been there from the start.
    '(cd "$tmp/rootfs/usr/share" && rm -rf man/* groff/* info/* lintian/* linda/* && find locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + && find doc -mindepth 1 ! -type d ! -name copyright -delete && find doc -mindepth 1 -type d -empty -delete)',
    `tar --numeric-owner -C "$tmp/rootfs" -c . | docker import ${changes} - ${shq(ref)}`,
  ].join('\n');
}

/** Build the base on the target; throws PaasboxError with the fix. */
export async function buildBaseImage(target: Target, recipe: BaseRecipe, hash: string): Promise<void> {
  const res = await target.exec(baseImageScript(recipe, hash), { sudo: true, timeoutMs: 30 * 60_000 });
  if (res.code === 42) {
    throw new PaasboxError(
      `debootstrap is not installed on ${target.name}`,
      'apt-get install debootstrap (it creates the paasbox/debian:bookworm base image)',
    );
  }
  if (res.code === 43) {
    throw new PaasboxError(
      `debootstrap of ${recipe.suite} from ${recipe.mirror} failed on ${target.name}`,
      'check that the mirror answers (settings debianMirror or --mirror), then run again',
      res.stderr,
    );
  }
  if (res.code !== 0) {
    throw new PaasboxError(
      `importing the base image ${BASE_REF} failed on ${target.name}`,
      'check that dockerd runs and has disk space, then run again',
      res.stderr || res.stdout,
    );
  }
}
