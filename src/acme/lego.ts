// lego, the ACME client (stacks/images/apps-api/lego: lego's library), run
// by the renewer for one domain: an argv (never a shell), an environment of
// PATH and, when the directory's CA is installed, LEGO_CA_CERTIFICATES, and
// its output read back as one combined PEM (the bundle, then the key).
// Before a run the domain's old files go, so lego always makes a new order
// and a new key.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { oneLine } from './store.js';

export interface LegoOptions {
  /** The lego binary. */
  bin: string;
  directory: string;
  email?: string;
  /** lego's --path: the account and the certificates. */
  path: string;
  /** lego's --http.webroot: the challenge files, served at /.well-known/acme-challenge/. */
  webroot: string;
  /** A PEM file of the CA the directory's HTTPS chains to (absent: the system's roots). */
  directoryCa?: string;
  timeoutMs?: number;
}

/**
 * The options with the directory's CA file when it exists now, without it
 * otherwise: checked before each run, as install may add or remove the file.
 */
export function withDirectoryCa(o: LegoOptions, caFile: string): LegoOptions {
  const { directoryCa: _was, ...rest } = o;
  return existsSync(caFile) ? { ...rest, directoryCa: caFile } : rest;
}

/** lego's argv for one domain (pure). */
export function legoArgv(o: LegoOptions, domain: string): string[] {
  return [
    '--accept-tos',
    ...(o.email ? ['--email', o.email] : []),
    '--server',
    o.directory,
    '--path',
    o.path,
    '--http',
    '--http.webroot',
    o.webroot,
    '--domains',
    domain,
    'run',
  ];
}

/** lego's environment (pure): PATH, and LEGO_CA_CERTIFICATES for the directory's CA; nothing else. */
export function legoEnv(o: Pick<LegoOptions, 'directoryCa'>, path = process.env.PATH): NodeJS.ProcessEnv {
  return {
    PATH: path ?? '/usr/local/bin:/usr/bin:/bin',
    ...(o.directoryCa ? { LEGO_CA_CERTIFICATES: o.directoryCa } : {}),
  };
}

/** Where lego leaves a domain's certificate bundle and key. */
export function legoFiles(
  o: Pick<LegoOptions, 'path'>,
  domain: string,
): { crt: string; key: string; issuer: string } {
  const dir = join(o.path, 'certificates');
  return {
    crt: join(dir, `${domain}.crt`),
    key: join(dir, `${domain}.key`),
    issuer: join(dir, `${domain}.issuer.crt`),
  };
}

export type LegoResult = { ok: true; pem: string } | { ok: false; error: string };

/** lego's last words: the last line that says something, one line. */
export function legoError(stderr: string, stdout: string, fallback: string): string {
  const lines = `${stdout}\n${stderr}`
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return oneLine(lines[lines.length - 1] ?? fallback, 500);
}

/** Run lego for `domain`; its combined PEM, or why it failed (one line). */
export function runLego(o: LegoOptions, domain: string): Promise<LegoResult> {
  mkdirSync(o.path, { recursive: true, mode: 0o700 });
  mkdirSync(o.webroot, { recursive: true, mode: 0o755 });
  const files = legoFiles(o, domain);
  for (const f of Object.values(files)) rmSync(f, { force: true });
  return new Promise((resolve) => {
    execFile(
      o.bin,
      legoArgv(o, domain),
      {
        env: legoEnv(o),
        cwd: o.path,
        timeout: o.timeoutMs ?? 10 * 60_000,
        maxBuffer: 4 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err) {
          const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? `no ${o.bin}` : err.message;
          resolve({ ok: false, error: legoError(stderr, stdout, why) });
          return;
        }
        if (!existsSync(files.crt) || !existsSync(files.key)) {
          resolve({ ok: false, error: `lego left no ${files.crt} and ${files.key}` });
          return;
        }
        const crt = readFileSync(files.crt, 'utf8');
        const key = readFileSync(files.key, 'utf8');
        resolve({ ok: true, pem: `${crt.trimEnd()}\n${key.trimEnd()}\n` });
      },
    );
  });
}
