// The VPN's PKI, made and kept on the machine that runs paasbox (the build
// host) with Debian's easy-rsa: one per instance in
// .paasbox/secrets/INSTANCE/pki (directories 0700, files 0600). The CA key
// never leaves it; the server gets its own key and certificate, the CA
// certificate, the tls-crypt key and the CRL (serverFiles), clients get their
// own (paasbox vpn client). easy-rsa runs without a shell (execFile), its
// arguments are validated names, and one paasbox process at a time changes a
// PKI (a lock file beside it).

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { PaasboxError } from '../errors.js';
import { poll } from '../poll.js';
import { localSecretsDir } from '../secrets/store.js';
import {
  checkClientName,
  parseIndex,
  pemCertificate,
  renderStaticKey,
  SERVER_ENTITY,
  type IndexEntry,
} from './profile.js';

const run = promisify(execFile);

/** Where Debian's easy-rsa package puts the script (it is not on PATH there). */
export const DEBIAN_EASYRSA = '/usr/share/easy-rsa/easyrsa';

/** An instance's PKI directory on this machine. */
export function pkiDir(instance: string, cwd?: string): string {
  return join(localSecretsDir(instance, cwd), 'pki');
}

/**
 * The easy-rsa script: $PAASBOX_EASYRSA, Debian's, else `easyrsa` on PATH (Homebrew); undefined when there is
 * none.
 */
export function findEasyrsa(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env['PAASBOX_EASYRSA']) return env['PAASBOX_EASYRSA'];
  if (existsSync(DEBIAN_EASYRSA)) return DEBIAN_EASYRSA;
  for (const d of (env['PATH'] ?? '').split(delimiter).filter(Boolean))
    if (existsSync(join(d, 'easyrsa'))) return join(d, 'easyrsa');
  return undefined;
}

/** The server's files as the target gets them: name in /opt/paasbox/openvpn → content. */
export interface ServerPkiFiles {
  'ca.crt': string;
  'server.crt': string;
  'server.key': string;
  'tc.key': string;
  'crl.pem': string;
}

const mode = (p: string) => statSync(p).mode & 0o777;

export class VpnPki {
  constructor(
    readonly dir: string,
    /** For the CA's name. */
    readonly instance = 'default',
  ) {}

  static forInstance(instance: string, cwd?: string): VpnPki {
    return new VpnPki(pkiDir(instance, cwd), instance);
  }

  private p(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** What `ensure` would make or fix: empty when the PKI is complete with modes 0700/0600. */
  missing(): string[] {
    const out: string[] = [];
    if (!existsSync(this.p('ca.crt')) || !existsSync(this.p('private', 'ca.key'))) out.push('CA');
    if (
      !existsSync(this.p('issued', `${SERVER_ENTITY}.crt`)) ||
      !existsSync(this.p('private', `${SERVER_ENTITY}.key`))
    )
      out.push('server key and certificate');
    if (!existsSync(this.p('crl.pem'))) out.push('CRL');
    if (!existsSync(this.p('tc.key'))) out.push('tls-crypt key');
    out.push(...this.modeProblems());
    return out;
  }

  /**
   * Entries under the PKI (and the PKI and instance directories themselves) whose mode is not 0700
   * (directories) / 0600 (files).
   */
  modeProblems(): string[] {
    const out: string[] = [];
    const parent = dirname(this.dir);
    if (existsSync(parent) && mode(parent) !== 0o700) out.push(`${parent}/ mode ${mode(parent).toString(8)}`);
    if (!existsSync(this.dir)) return out;
    const walk = (d: string) => {
      if (mode(d) !== 0o700) out.push(`${d}/ mode ${mode(d).toString(8)}`);
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile() && mode(p) !== 0o600) out.push(`${p} mode ${mode(p).toString(8)}`);
      }
    };
    walk(this.dir);
    return out;
  }

  private fixModes(): void {
    const walk = (d: string) => {
      chmodSync(d, 0o700);
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) chmodSync(p, 0o600);
      }
    };
    if (existsSync(this.dir)) walk(this.dir);
  }

  /**
   * Make what is missing (CA, server certificate, CRL, tls-crypt key) and fix modes; never touches what
   * exists. Returns what it made.
   */
  async ensure(): Promise<string[]> {
    return this.locked(async () => {
      const made: string[] = [];
      const parent = dirname(this.dir);
      mkdirSync(parent, { recursive: true, mode: 0o700 });
      chmodSync(parent, 0o700);
      const hasCrt = existsSync(this.p('ca.crt'));
      const hasKey = existsSync(this.p('private', 'ca.key'));
      if (!hasCrt && !hasKey) {
        // A new PKI only where there is none at all: easy-rsa's init-pki deletes what is there.
        if (existsSync(this.p('issued')) && readdirSync(this.p('issued')).length)
          throw this.damaged('certificates but no CA');
        rmSync(this.dir, { recursive: true, force: true });
        await this.easyrsa(['init-pki']);
        await this.easyrsa(['build-ca', 'nopass'], { EASYRSA_REQ_CN: `paasbox ${this.instance} VPN CA` });
        made.push('CA');
      } else if (!hasCrt || !hasKey) {
        throw this.damaged(
          hasCrt
            ? 'a CA certificate but no CA key (private/ca.key)'
            : 'a CA key but no CA certificate (ca.crt)',
        );
      }
      if (!existsSync(this.p('issued', `${SERVER_ENTITY}.crt`))) {
        if (
          existsSync(this.p('private', `${SERVER_ENTITY}.key`)) ||
          existsSync(this.p('reqs', `${SERVER_ENTITY}.req`))
        )
          throw this.damaged('a server key or request but no server certificate');
        await this.easyrsa(['build-server-full', SERVER_ENTITY, 'nopass']);
        made.push('server key and certificate');
      }
      if (!existsSync(this.p('crl.pem'))) {
        await this.easyrsa(['gen-crl']);
        made.push('CRL');
      }
      if (!existsSync(this.p('tc.key'))) {
        writeFileSync(this.p('tc.key'), renderStaticKey(randomBytes(256)), { mode: 0o600, flag: 'wx' });
        made.push('tls-crypt key');
      }
      if (this.modeProblems().length) {
        this.fixModes();
        made.push('modes 0700/0600');
      }
      return made;
    });
  }

  private damaged(what: string): PaasboxError {
    return new PaasboxError(
      `the VPN PKI in ${this.dir} has ${what}`,
      `restore ${this.dir} from a backup; or move it away and install again to make a new one (every client profile must then be made again: npx paasbox vpn client NAME)`,
    );
  }

  /** The PKI must exist (install made it); throws otherwise. */
  requireReady(): void {
    const missing = this.missing().filter((m) => !m.includes(' mode '));
    if (missing.length)
      throw new PaasboxError(
        `no complete VPN PKI in ${this.dir} (missing: ${missing.join(', ')})`,
        'enable OpenVPN (services: { openvpn: { enabled: true } } in paasbox.yaml) and run npx paasbox install: it makes the PKI on this machine',
      );
  }

  serverFiles(): ServerPkiFiles {
    this.requireReady();
    const read = (...p: string[]) => readFileSync(this.p(...p), 'utf8');
    return {
      'ca.crt': pemCertificate(read('ca.crt')),
      'server.crt': pemCertificate(read('issued', `${SERVER_ENTITY}.crt`)),
      'server.key': read('private', `${SERVER_ENTITY}.key`),
      'tc.key': read('tc.key'),
      'crl.pem': read('crl.pem'),
    };
  }

  /** Every certificate easy-rsa issued (the server's too), from its index. */
  index(): IndexEntry[] {
    const p = this.p('index.txt');
    return existsSync(p) ? parseIndex(readFileSync(p, 'utf8')) : [];
  }

  /** A client's certificate (PEM) and key, when issued and not revoked. */
  clientFiles(name: string): { cert: string; key: string } | undefined {
    checkClientName(name);
    const crt = this.p('issued', `${name}.crt`);
    const key = this.p('private', `${name}.key`);
    if (!existsSync(crt) || !existsSync(key)) return undefined;
    return { cert: pemCertificate(readFileSync(crt, 'utf8')), key: readFileSync(key, 'utf8') };
  }

  /**
   * Issue NAME's certificate (easy-rsa build-client-full NAME nopass) unless it has a valid one; true when it
   * made one.
   */
  async issueClient(name: string): Promise<boolean> {
    checkClientName(name);
    this.requireReady();
    return this.locked(async () => {
      if (this.clientFiles(name)) return false;
      // A request or key left without a certificate (an interrupted run) would make easy-rsa refuse.
      for (const p of [this.p('reqs', `${name}.req`), this.p('private', `${name}.key`)])
        if (existsSync(p) && !existsSync(this.p('issued', `${name}.crt`))) rmSync(p);
      await this.easyrsa(['build-client-full', name, 'nopass']);
      this.fixModes();
      return true;
    });
  }

  /**
   * Revoke NAME's certificate and regenerate the CRL. A name already revoked
   * (and not issued again) is no error: its CRL is returned as it is, so a
   * revoke that could not reach the server can simply be run again.
   */
  async revokeClient(name: string): Promise<{ crl: string; already: boolean }> {
    checkClientName(name);
    this.requireReady();
    return this.locked(async () => {
      let already = false;
      if (!existsSync(this.p('issued', `${name}.crt`))) {
        const known = this.index().filter((e) => e.name === name);
        if (!known.some((e) => e.status === 'revoked'))
          throw new PaasboxError(
            `no VPN client "${name}" in ${this.dir}`,
            'npx paasbox vpn list shows the clients there are',
          );
        already = true;
      } else {
        await this.easyrsa(['revoke', name]);
        await this.easyrsa(['gen-crl']);
        this.fixModes();
      }
      return { crl: readFileSync(this.p('crl.pem'), 'utf8'), already };
    });
  }

  /** Run easy-rsa on this PKI, in batch mode, with paasbox's algorithm choices. */
  private async easyrsa(args: string[], extra: Record<string, string> = {}): Promise<string> {
    const cmd = findEasyrsa();
    if (!cmd)
      throw new PaasboxError(
        'easy-rsa is not installed on this machine',
        'apt-get install easy-rsa (Debian/Ubuntu) or brew install easy-rsa (macOS); install does it for you where apt-get works',
      );
    // The caller's EASYRSA_* settings must not change this PKI.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EASYRSA')));
    Object.assign(env, {
      EASYRSA_BATCH: '1',
      EASYRSA_PKI: this.dir,
      EASYRSA_ALGO: 'ec',
      EASYRSA_CURVE: 'prime256v1',
      EASYRSA_DIGEST: 'sha256',
      EASYRSA_CA_EXPIRE: '3650',
      EASYRSA_CERT_EXPIRE: '825',
      EASYRSA_CRL_DAYS: '3650',
      ...extra,
    });
    try {
      const r = await run(cmd, args, {
        env,
        cwd: dirname(this.dir),
        timeout: 120_000,
        maxBuffer: 16 * 1024 * 1024,
      });
      return String(r.stdout);
    } catch (e) {
      const x = e as { stderr?: string; stdout?: string; message: string };
      throw new PaasboxError(
        `easy-rsa ${args.join(' ')} failed in ${this.dir}`,
        `read the detail; the PKI is ${this.dir}`,
        String(x.stderr || x.stdout || x.message),
      );
    }
  }

  /**
   * One paasbox process at a time changes this PKI: an exclusive lock file beside it (a dead holder's is
   * taken over).
   */
  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    const parent = dirname(this.dir);
    mkdirSync(parent, { recursive: true, mode: 0o700 });
    const lock = `${this.dir}.lock`;
    await poll(
      {
        what: `the VPN PKI ${this.dir} (another paasbox process holds its lock)`,
        timeoutMs: 60_000,
        everyMs: 200,
        fix: 'wait for it to finish and run again',
        kind: 'transient',
        fatal: () => true,
      },
      (_, note) => {
        try {
          writeFileSync(lock, String(process.pid), { flag: 'wx', mode: 0o600 });
          return true;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
        const pid = Number(readFileSync(lock, 'utf8').trim());
        // A dead holder's lock is taken over at the next try.
        if (!alive(pid)) rmSync(lock, { force: true });
        else note(`in use by paasbox process ${pid}`);
        return undefined;
      },
    );
    try {
      return await fn();
    } finally {
      rmSync(lock, { force: true });
    }
  }
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
