// The stack's private image registry (stacks/images/registry, Debian's
// docker-registry on each master): what install writes for it, all pure but
// for the certificates (openssl) and the bcrypt salt. Its configuration
// (filesystem storage, htpasswd auth, TLS, the upload-signing http secret),
// the htpasswd line (bcrypt: Docker Distribution accepts nothing else,
// hashed with bcryptjs from a salt kept with the secrets, so the same
// password gives the same file and a converged host stays converged), the
// docker client's login (a docker config.json, never `docker login` with the
// password in argv) and the TLS set: a CA of its own (its key stays on the
// build host) and one server certificate for every master's address.
// secrets.ts puts these into the secret files; src/provision/registry-trust.ts
// puts the CA into each node's docker trust.

import bcrypt from 'bcryptjs';
import { X509Certificate, randomBytes } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { parse, stringify } from 'yaml';
import { STACK_DIR } from '../stackfile/deployment.js';
import { generateCertSet, resolveCertSet, validCertSet, type CertSet } from './tls.js';

/** The registry's port (stacks/paasbox.yaml, service registry, port https). */
export const REGISTRY_PORT = 5000;

/** The one registry user; its password is generated. */
export const REGISTRY_LOGIN_USER = 'paasbox';

/**
 * The docker client configuration holding the registry login on each master
 * (SECRETS_DIR/registry-login, SECRET_FILES.registryLogin: a unit test keeps
 * the two the same): `docker --config` names it for push and for the swarm
 * manager's service commands (--with-registry-auth).
 */
export const REGISTRY_LOGIN_DIR = `${STACK_DIR}/secrets/registry-login`;

/** Where the container reads its files (the model mounts SECRETS_DIR/registry there). */
export const REGISTRY_MOUNT = '/run/secrets/paasbox';

/** bcrypt's cost: 2^10 rounds, Docker Distribution's htpasswd example's. */
const BCRYPT_COST = 10;

/** A bcrypt salt as bcryptjs makes it: $2b$10$ and 22 characters of bcrypt's base64. */
export const BCRYPT_SALT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{22}$/;

/** A fresh bcrypt salt (kept as a secret: the htpasswd line is then a function of the password). */
export function newBcryptSalt(): string {
  return bcrypt.genSaltSync(BCRYPT_COST);
}

/** The htpasswd file: one line, user:bcrypt(password). */
export function htpasswdLine(password: string, salt: string, user = REGISTRY_LOGIN_USER): string {
  return `${user}:${bcrypt.hashSync(password, salt)}\n`;
}

/** The salt of `user`'s line in an htpasswd file, if it is a bcrypt one. */
export function htpasswdSalt(text: string, user = REGISTRY_LOGIN_USER): string | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${user}:`));
  const salt = line?.slice(user.length + 1, user.length + 1 + 29);
  return salt && BCRYPT_SALT.test(salt) ? salt : undefined;
}

/**
 * The registry's configuration (Docker Distribution 2.8, `version: 0.1`):
 * blobs on the filesystem (the named volume), the htpasswd login, TLS with
 * the certificate install made, and the secret that signs upload state. The
 * listen address comes from the compose file (REGISTRY_HTTP_ADDR).
 */
export function registryConfigYaml(httpSecret: string): string {
  const config = {
    version: 0.1,
    log: { level: 'info', formatter: 'text', fields: { service: 'registry' } },
    storage: {
      filesystem: { rootdirectory: '/var/lib/docker-registry' },
      delete: { enabled: false },
    },
    http: {
      addr: `:${REGISTRY_PORT}`,
      secret: httpSecret,
      tls: {
        certificate: `${REGISTRY_MOUNT}/tls/server.crt`,
        key: `${REGISTRY_MOUNT}/tls/server.key`,
      },
      headers: { 'X-Content-Type-Options': ['nosniff'] },
    },
    auth: { htpasswd: { realm: 'paasbox-registry', path: `${REGISTRY_MOUNT}/htpasswd` } },
    health: { storagedriver: { enabled: true, interval: '10s', threshold: 3 } },
  };
  return stringify(config);
}

/** The http secret of a configuration registryConfigYaml wrote, if any. */
export function registryHttpSecret(text: string): string | undefined {
  try {
    const c = parse(text) as { http?: { secret?: unknown } } | null;
    return typeof c?.http?.secret === 'string' ? c.http.secret : undefined;
  } catch {
    return undefined;
  }
}

/** Where dockerd looks for a registry's CA (one directory per host:port). */
export const DOCKER_CERTS_DIR = '/etc/docker/certs.d';

/** The CA file dockerd reads for one registry address (host:port): install puts it on every node. */
export function trustPath(address: string): string {
  return `${DOCKER_CERTS_DIR}/${address}/ca.crt`;
}

/** host:port of the registry on a master. */
export function registryAddress(ip: string, port = REGISTRY_PORT): string {
  return `${ip}:${port}`;
}

/**
 * A docker client configuration (config.json) holding the login for every
 * master's registry: what `docker login --password-stdin` would write, made
 * here so the password is never in argv. `docker --config DIR` reads it.
 */
export function dockerLoginConfig(addresses: string[], password: string, user = REGISTRY_LOGIN_USER): string {
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  const auths = Object.fromEntries([...addresses].sort().map((a) => [a, { auth }]));
  return JSON.stringify({ auths }, null, 2) + '\n';
}

/** The password of `user` in a config dockerLoginConfig wrote (the first registry's), if any. */
export function dockerLoginPassword(text: string, user = REGISTRY_LOGIN_USER): string | undefined {
  try {
    const c = JSON.parse(text) as { auths?: Record<string, { auth?: unknown }> } | null;
    for (const a of Object.values(c?.auths ?? {})) {
      const plain = typeof a?.auth === 'string' ? Buffer.from(a.auth, 'base64').toString('utf8') : '';
      if (plain.startsWith(`${user}:`)) return plain.slice(user.length + 1);
    }
  } catch {
    /* malformed: generated anew */
  }
  return undefined;
}

/**
 * Whether `image` names a registry on the registry's port (HOST:5000/...):
 * the stack's, whose login the swarm manager passes to the agents.
 */
export function inStackRegistry(image: string, port = REGISTRY_PORT): boolean {
  const first = image.split('/')[0] ?? '';
  return image.includes('/') && first.endsWith(`:${port}`);
}

// ---------------------------------------------------------------- the secret files

/** The registry's secrets (StackSecrets has them too; secrets.ts merges and keeps them). */
export interface RegistrySecrets {
  /** REGISTRY_LOGIN_USER's password: its htpasswd line, the docker login. */
  registryPassword: string;
  /** Signs the registry's upload state (http.secret). */
  registryHttpSecret: string;
  /** The bcrypt salt of the htpasswd line. */
  registrySalt: string;
}

const TOKEN = (v: string) => /^[A-Za-z0-9_-]{24,}$/.test(v);

/** Each secret's format (a value read back that does not match is generated anew). */
export const REGISTRY_SECRET_FORMATS: Record<keyof RegistrySecrets, (v: string) => boolean> = {
  registryPassword: TOKEN,
  registryHttpSecret: TOKEN,
  registrySalt: (v) => BCRYPT_SALT.test(v),
};

export function generateRegistrySecrets(): RegistrySecrets {
  return {
    registryPassword: randomBytes(18).toString('base64url'),
    registryHttpSecret: randomBytes(24).toString('base64url'),
    registrySalt: newBcryptSalt(),
  };
}

/**
 * Its files, relative to SECRETS_DIR (secrets.ts's SECRET_FILES has them):
 * registry/ is mounted into the registry container (REGISTRY_MOUNT),
 * registry-login/ is REGISTRY_LOGIN_DIR; the CA key is the build host's only.
 */
export const REGISTRY_SECRET_FILES = {
  /** Masters: the registry's configuration (with the http secret). */
  registryConfig: 'registry/config.yml',
  /** Masters: REGISTRY_LOGIN_USER:bcrypt. */
  registryHtpasswd: 'registry/htpasswd',
  /** Masters: the CA certificate (verify checks the registry against it). */
  registryCaCert: 'registry/tls/ca.crt',
  /** Masters: the registry's certificate and key. */
  registryCert: 'registry/tls/server.crt',
  registryKey: 'registry/tls/server.key',
  /** Masters: the docker client's login for every master's registry (docker --config). */
  registryLogin: 'registry-login/config.json',
  /** The build host's copy only: never on a target. */
  registryCaKey: 'registry-ca-key.pem',
} as const;

/** The directories the files above need under SECRETS_DIR. */
export const REGISTRY_SECRET_DIRS = ['registry', 'registry/tls', 'registry-login'] as const;

/** What a master's registry files are made for: the set, every master's address, the port. */
export interface RegistryScope {
  tls: RegistryTls;
  ips: string[];
  port: number;
}

/** A master's registry files (the CA key never: see registryLocalFiles), by path relative to SECRETS_DIR. */
export function registrySecretFiles(s: RegistrySecrets, scope: RegistryScope): Record<string, string> {
  const f = REGISTRY_SECRET_FILES;
  return {
    [f.registryConfig]: registryConfigYaml(s.registryHttpSecret),
    [f.registryHtpasswd]: htpasswdLine(s.registryPassword, s.registrySalt),
    [f.registryCaCert]: scope.tls.caCert,
    [f.registryCert]: scope.tls.cert,
    [f.registryKey]: scope.tls.key,
    [f.registryLogin]: dockerLoginConfig(
      scope.ips.map((ip) => registryAddress(ip, scope.port)),
      s.registryPassword,
    ),
  };
}

/** The build host's copy: a master's files and the CA key. */
export function registryLocalFiles(s: RegistrySecrets, scope: RegistryScope): Record<string, string> {
  const key = scope.tls.caKey;
  return {
    ...registrySecretFiles(s, scope),
    ...(key ? { [REGISTRY_SECRET_FILES.registryCaKey]: key } : {}),
  };
}

/** The registry secrets a set of files holds (the salt only with a line the password verifies). */
export function parseRegistrySecretFiles(files: Record<string, string>): Partial<RegistrySecrets> {
  const f = REGISTRY_SECRET_FILES;
  const found: Partial<RegistrySecrets> = {};
  const password = dockerLoginPassword(files[f.registryLogin] ?? '');
  if (password !== undefined) found.registryPassword = password;
  const secret = registryHttpSecret(files[f.registryConfig] ?? '');
  if (secret !== undefined) found.registryHttpSecret = secret;
  const salt = htpasswdSalt(files[f.registryHtpasswd] ?? '');
  if (salt !== undefined) found.registrySalt = salt;
  return Object.fromEntries(
    Object.entries(found).filter(([k, v]) => REGISTRY_SECRET_FORMATS[k as keyof RegistrySecrets](v)),
  ) as Partial<RegistrySecrets>;
}

/** The TLS parts a set of files holds (any may be missing). */
export function parseRegistryTlsFiles(files: Record<string, string>): Partial<RegistryTls> {
  const f = REGISTRY_SECRET_FILES;
  const pem = (rel: string) => (files[rel]?.includes('-----BEGIN') ? files[rel] : undefined);
  const parts = {
    caCert: pem(f.registryCaCert),
    caKey: pem(f.registryCaKey),
    cert: pem(f.registryCert),
    key: pem(f.registryKey),
  };
  return Object.fromEntries(Object.entries(parts).filter(([, v]) => v !== undefined));
}

/** The masters whose registries a host's settings name, and the port (settings may move it). */
export function registryScopeOf(s: {
  masters: string[];
  services?: Record<string, { ports?: Record<string, number> } | undefined>;
}): { ips: string[]; port: number } {
  return { ips: [...s.masters], port: s.services?.['registry']?.ports?.['https'] ?? REGISTRY_PORT };
}

// ---------------------------------------------------------------- TLS

/** For every master's address (IP SANs), 127.0.0.1 and localhost; the CA key only on the build host. */
export type RegistryTls = CertSet;

/** The subjectAltNames the registry's certificate carries for these master addresses. */
export function registryAltNames(addresses: string[]): string[] {
  const ips = [...new Set([...addresses, '127.0.0.1'])].filter((a) => isIPv4(a)).sort();
  return ['DNS:localhost', ...ips.map((ip) => `IP:${ip}`)];
}

const coversAll = (addresses: string[]) => (cert: X509Certificate) =>
  addresses.every((a) => cert.checkIP(a) !== undefined);

/** Whether a set serves every address: signed by its CA, with its key, for each address, none near expiry. */
export function validRegistryTls(
  t: Partial<RegistryTls>,
  addresses: string[],
  now = new Date(),
): t is RegistryTls {
  return validCertSet(t, coversAll(addresses), now);
}

/** A server certificate for these addresses signed by `ca` (given: kept), else by a new CA. */
export function generateRegistryTls(
  addresses: string[],
  ca?: { caCert: string; caKey: string },
): RegistryTls {
  return generateCertSet(
    {
      caName: 'paasbox image registry CA',
      name: 'paasbox registry',
      altNames: registryAltNames(addresses),
      usage: 'serverAuth',
    },
    ca,
  );
}

/** One set for the addresses (resolveCertSet's rule). */
export function resolveRegistryTls(
  layers: Partial<RegistryTls>[],
  addresses: string[],
  make: typeof generateRegistryTls = generateRegistryTls,
): { tls: RegistryTls; generated: boolean } {
  return resolveCertSet(layers, coversAll(addresses), (ca) => make(addresses, ca));
}
