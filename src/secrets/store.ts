// Where the secrets are kept, as files only: the build host's copy in
// .paasbox/secrets/<instance>/ (directories 0700, files 0600) and the target's
// SECRETS_DIR (root-owned, directories 0700, files 0600). Contents travel
// over a Target's stdin and stdout only, never on a command line, and nothing
// here prints them.

import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { PaasboxError } from '../errors.js';
import { checkInstanceName, stateDir } from '../paths.js';
import { shq } from '../target/shell.js';
import type { Target } from '../target/target.js';
import { SECRET_DIRS, SECRET_FILES, SECRETS_DIR } from './secrets.js';

const FILES = Object.values(SECRET_FILES);

/** The build host's copy of an instance's secrets. */
export function localSecretsDir(instance: string, cwd = process.cwd()): string {
  return join(stateDir(cwd), 'secrets', checkInstanceName(instance));
}

/** The secret files present in dir, by relative path. */
export function readLocalSecretFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of FILES) {
    const p = join(dir, rel);
    if (existsSync(p)) out[rel] = readFileSync(p, 'utf8');
  }
  return out;
}

const mode = (p: string) => statSync(p).mode & 0o777;

/**
 * What in dir differs from `files` (content, a file mode other than 0600, a directory mode other than 0700),
 * by relative path.
 */
export function localSecretsDiff(dir: string, files: Record<string, string>): string[] {
  const out: string[] = [];
  for (const d of ['.', ...SECRET_DIRS]) {
    const p = join(dir, d);
    if (existsSync(p) && mode(p) !== 0o700) out.push(`${d}/ (mode ${mode(p).toString(8)})`);
  }
  for (const [rel, content] of Object.entries(files)) {
    const p = join(dir, rel);
    if (!existsSync(p)) out.push(`${rel} (missing)`);
    else if (readFileSync(p, 'utf8') !== content) out.push(`${rel} (differs)`);
    else if (mode(p) !== 0o600) out.push(`${rel} (mode ${mode(p).toString(8)})`);
  }
  return out;
}

/**
 * Write `files` into dir: directories 0700, each file 0600 through a temp file created 0600 (never readable
 * by others, not even briefly).
 */
export function writeLocalSecretFiles(dir: string, files: Record<string, string>): void {
  for (const d of ['.', ...SECRET_DIRS]) {
    const p = join(dir, d);
    mkdirSync(p, { recursive: true, mode: 0o700 });
    chmodSync(p, 0o700);
  }
  for (const [rel, content] of Object.entries(files)) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
    if (existsSync(p) && readFileSync(p, 'utf8') === content) {
      chmodSync(p, 0o600);
      continue;
    }
    const tmp = `${p}.${process.pid}.tmp`;
    rmSync(tmp, { force: true });
    writeFileSync(tmp, content, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, p);
  }
}

// ---------------------------------------------------------------- the target

/** One entry of the target's secrets tree: a directory or a file (with its content). */
export interface TargetSecretEntry {
  mode: string;
  owner: string;
  content?: string;
}

export interface TargetSecrets {
  dirs: Record<string, TargetSecretEntry>;
  files: Record<string, TargetSecretEntry & { content: string }>;
}

/**
 * Prints `d REL MODE OWNER` per directory and `f REL MODE OWNER BASE64` per file of the tree at dir that
 * exists (run as root).
 */
export function inspectSecretsCommand(dir = SECRETS_DIR): string {
  const root = shq(dir);
  const dirs = ['.', ...SECRET_DIRS].map(shq).join(' ');
  const files = FILES.map(shq).join(' ');
  return [
    `for x in ${dirs}; do p=${root}/$x; [ -d "$p" ] && printf 'd %s %s\\n' "$x" "$(stat -c '%a %U' "$p")"; done`,
    `for x in ${files}; do p=${root}/$x; [ -f "$p" ] && printf 'f %s %s %s\\n' "$x" "$(stat -c '%a %U' "$p")" "$(base64 -w0 < "$p")"; done`,
    'true',
  ].join('\n');
}

/** Pure: inspectSecretsCommand's output. */
export function parseSecretsInspection(out: string): TargetSecrets {
  const res: TargetSecrets = { dirs: {}, files: {} };
  for (const line of out.split('\n')) {
    const [kind, rel, mode, owner, b64] = line.trim().split(' ');
    if (!rel || !mode || !owner) continue;
    if (kind === 'd') res.dirs[rel] = { mode, owner };
    if (kind === 'f')
      res.files[rel] = { mode, owner, content: Buffer.from(b64 ?? '', 'base64').toString('utf8') };
  }
  return res;
}

/**
 * Pure: what on the target differs from `files` (root-owned 0700 directories, 0600 files with this content),
 * by relative path only.
 */
export function targetSecretsDiff(have: TargetSecrets, files: Record<string, string>): string[] {
  const out: string[] = [];
  for (const d of ['.', ...SECRET_DIRS]) {
    const e = have.dirs[d];
    if (!e) out.push(`${d}/ (missing)`);
    else if (e.mode !== '700' || e.owner !== 'root') out.push(`${d}/ (${e.mode} ${e.owner})`);
  }
  for (const [rel, content] of Object.entries(files)) {
    const e = have.files[rel];
    if (!e) out.push(`${rel} (missing)`);
    else if (e.content !== content) out.push(`${rel} (differs)`);
    else if (e.mode !== '600' || e.owner !== 'root') out.push(`${rel} (${e.mode} ${e.owner})`);
  }
  // A file this host's role does not get (a master turned agent, the CA key) is removed.
  for (const rel of Object.keys(have.files)) if (!(rel in files)) out.push(`${rel} (not for this host)`);
  return out;
}

export async function inspectTargetSecrets(target: Target): Promise<TargetSecrets> {
  const r = await target.exec(inspectSecretsCommand(), { sudo: true, timeoutMs: 30_000 });
  if (r.code !== 0)
    throw new PaasboxError(
      `reading ${SECRETS_DIR} on ${target.name} failed`,
      'check that the login can use sudo on the target',
      r.stderr,
    );
  return parseSecretsInspection(r.stdout);
}

/**
 * Write the secrets tree on the target: root-owned directories 0700, every
 * known secret file this host does not get removed (a role change), then
 * each file 0600 (Target.writeFile, through stdin).
 */
export async function writeTargetSecrets(target: Target, files: Record<string, string>): Promise<void> {
  const dirs = ['.', ...SECRET_DIRS]
    .map((d) => shq(d === '.' ? SECRETS_DIR : `${SECRETS_DIR}/${d}`))
    .join(' ');
  const stale = FILES.filter((rel) => !(rel in files)).map((rel) => shq(`${SECRETS_DIR}/${rel}`));
  const rm = stale.length ? ` && rm -f ${stale.join(' ')}` : '';
  const r = await target.exec(
    `umask 077 && mkdir -p ${dirs} && chown root:root ${dirs} && chmod 700 ${dirs}${rm}`,
    { sudo: true, timeoutMs: 30_000 },
  );
  if (r.code !== 0)
    throw new PaasboxError(
      `creating ${SECRETS_DIR} on ${target.name} failed`,
      'check free disk space and that the login can use sudo on the target',
      r.stderr,
    );
  for (const [rel, content] of Object.entries(files))
    await target.writeFile(`${SECRETS_DIR}/${rel}`, content, 0o600);
}
