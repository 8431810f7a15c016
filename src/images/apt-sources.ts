// Which Debian mirror this host uses, read from its apt configuration, so no
// mirror host is ever hard-coded: deb822 *.sources files (`URIs:`) and the
// one-line sources.list format (`deb URI SUITE COMPONENTS`).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface AptSource {
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
  enabled: boolean;
}

/** Parse deb822 stanzas (/etc/apt/sources.list.d/*.sources). */
export function parseDeb822Sources(text: string): AptSource[] {
  const out: AptSource[] = [];
  // Stanzas are separated by blank lines; comment lines are dropped first.
  const lines = text.split(/\r?\n/).filter((l) => !l.trimStart().startsWith('#'));
  const stanzas = lines.join('\n').split(/\n\s*\n/);
  for (const stanza of stanzas) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of stanza.split('\n')) {
      if (/^\s/.test(line) && last) {
        // Continuation line of a multi-line field.
        fields.set(last, `${fields.get(last) ?? ''} ${line.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (!m) continue;
      last = m[1]!.toLowerCase();
      fields.set(last, m[2]!.trim());
    }
    const words = (k: string) => (fields.get(k) ?? '').split(/\s+/).filter(Boolean);
    if (!fields.has('uris')) continue;
    out.push({
      types: words('types'),
      uris: words('uris'),
      suites: words('suites'),
      components: words('components'),
      enabled: (fields.get('enabled') ?? 'yes').toLowerCase() !== 'no',
    });
  }
  return out;
}

/** Parse one-line style sources (/etc/apt/sources.list, *.list). */
export function parseSourcesList(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    // deb [opt=val ...] URI SUITE [COMPONENT...]
    const m = /^(deb|deb-src)\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({
      types: [m[1]!],
      uris: [m[2]!],
      suites: [m[3]!],
      components: m[4]!.split(/\s+/).filter(Boolean),
      enabled: true,
    });
  }
  return out;
}

/**
 * The mirror serving the main Debian archive: the first enabled binary ("deb")
 * source with a release suite (not -security/-updates/-backports) whose URI is
 * not the security archive; one listing `suite` wins over the others.
 * Returned without a trailing slash.
 */
export function pickDebianMirror(sources: AptSource[], suite?: string): string | undefined {
  const isRelease = (s: string) =>
    !/-(security|updates|backports|proposed-updates)$/.test(s) && !s.includes('/');
  const candidates = sources.filter(
    (src) => src.enabled && src.types.includes('deb') && src.suites.some(isRelease),
  );
  const preferred = suite ? candidates.filter((src) => src.suites.includes(suite)) : [];
  for (const src of [...preferred, ...candidates]) {
    const uri = src.uris.find((u) => /^(https?|file):/.test(u) && !/security/.test(u));
    if (uri) return uri.replace(/\/+$/, '');
  }
  return undefined;
}

/** Read every apt source file of this host (I/O; the parsing above is pure). */
export async function readHostAptSources(root = '/etc/apt'): Promise<AptSource[]> {
  const out: AptSource[] = [];
  const tryRead = async (p: string) => readFile(p, 'utf8').catch(() => undefined);
  const list = await tryRead(join(root, 'sources.list'));
  if (list) out.push(...parseSourcesList(list));
  const dir = join(root, 'sources.list.d');
  const names = (await readdir(dir).catch(() => [] as string[])).sort();
  for (const name of names) {
    const text = await tryRead(join(dir, name));
    if (text === undefined) continue;
    if (name.endsWith('.sources')) out.push(...parseDeb822Sources(text));
    else if (name.endsWith('.list')) out.push(...parseSourcesList(text));
  }
  return out;
}

/** The host's Debian mirror, or undefined when apt names none. */
export async function hostDebianMirror(suite?: string, root?: string): Promise<string | undefined> {
  return pickDebianMirror(await readHostAptSources(root), suite);
}
