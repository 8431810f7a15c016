// The stack's secrets: Consul's management token, its agent token and gossip
// key, the Consul tokens of the registrator, consul-template, the apps API
// and the ACME renewer, the HAProxy stats login, Marathon's login (which the
// apps API takes too), the edge's certificate (./edge.ts), and on a cluster
// Consul's RPC TLS set (./tls.ts). Generated once per instance, they live
// only in files (mode 0600): on the target under SECRETS_DIR, in one
// directory per consumer that the model mounts read-only
// (stacks/paasbox.yaml), and on the build host as the same tree under
// .paasbox/secrets/<instance>/ (./store.ts). Never in the compose file, the
// environment of a service, a log or state.json. Each host gets what its
// role needs (secretFiles): a server (one host, or a cluster's master) the
// management token too; a cluster's agent only its agent token, the gossip
// key, the CA and the service tokens. Pure: generation, the files' contents
// and reading them back.

import { randomBytes, randomUUID } from 'node:crypto';
import { STACK_DIR } from '../stackfile/deployment.js';
import type { ConsulTls } from './tls.js';
import {
  EDGE_SECRET_DIRS,
  EDGE_SECRET_FILES,
  edgeLocalFiles,
  edgeSecretFiles,
  type EdgeTls,
} from './edge.js';
import {
  generateRegistrySecrets,
  parseRegistrySecretFiles,
  REGISTRY_SECRET_DIRS,
  REGISTRY_SECRET_FILES,
  REGISTRY_SECRET_FORMATS,
  registryLocalFiles,
  registrySecretFiles,
  type RegistryScope,
  type RegistrySecrets,
} from './registry.js';

export const SECRETS_DIR = `${STACK_DIR}/secrets`;

/** HAProxy's stats user; its password is generated. */
export const STATS_USER = 'admin';

/** Marathon's user and the Mesos master's principal (the registry source); their passwords are generated. */
export const REGISTRY_USER = 'paasbox';

/** The image registry's password, http secret and bcrypt salt are in RegistrySecrets (./registry.ts). */
export interface StackSecrets extends RegistrySecrets {
  /**
   * Consul's initial management token (acl.tokens.initial_management; `master` in 1.8): logs in to the UI,
   * sets up the ACLs.
   */
  managementToken: string;
  /** The Consul agent's own token (acl.tokens.agent): registers its node. */
  agentToken: string;
  /** Gossip encryption key: 32 random bytes, base64. */
  gossipKey: string;
  registratorToken: string;
  consulTemplateToken: string;
  /** The apps API's Consul token (policy paasbox-apps-api: its K/V, the service marathon). */
  appsApiToken: string;
  /** The ACME renewer's Consul token (policy paasbox-acme: the certificates and its own K/V). */
  acmeToken: string;
  /** HAProxy stats password, for STATS_USER. */
  statsPassword: string;
  /** Marathon's HTTP basic auth password (--http_credentials), for REGISTRY_USER. */
  marathonPassword: string;
  /** The Mesos master's HTTP authentication secret (--http_credentials), principal REGISTRY_USER. */
  mesosPassword: string;
}

export type SecretName = keyof StackSecrets;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FORMATS: Record<SecretName, (v: string) => boolean> = {
  managementToken: (v) => UUID.test(v),
  agentToken: (v) => UUID.test(v),
  gossipKey: (v) => /^[A-Za-z0-9+/]{43}=$/.test(v) && Buffer.from(v, 'base64').length === 32,
  registratorToken: (v) => UUID.test(v),
  consulTemplateToken: (v) => UUID.test(v),
  appsApiToken: (v) => UUID.test(v),
  acmeToken: (v) => UUID.test(v),
  // base64url: nothing HAProxy, curl or a shell would read specially
  statsPassword: (v) => /^[A-Za-z0-9_-]{24,}$/.test(v),
  marathonPassword: (v) => /^[A-Za-z0-9_-]{24,}$/.test(v),
  mesosPassword: (v) => /^[A-Za-z0-9_-]{24,}$/.test(v),
  ...REGISTRY_SECRET_FORMATS,
};

export const SECRET_NAMES = Object.keys(FORMATS) as SecretName[];

/** Whether a value has its secret's format (a value read back that does not is generated anew). */
export function validSecret(name: SecretName, value: string | undefined): value is string {
  return value !== undefined && FORMATS[name](value);
}

export function generateSecrets(): StackSecrets {
  return {
    managementToken: randomUUID(),
    agentToken: randomUUID(),
    gossipKey: randomBytes(32).toString('base64'),
    registratorToken: randomUUID(),
    consulTemplateToken: randomUUID(),
    appsApiToken: randomUUID(),
    acmeToken: randomUUID(),
    statsPassword: randomBytes(18).toString('base64url'),
    marathonPassword: randomBytes(18).toString('base64url'),
    mesosPassword: randomBytes(18).toString('base64url'),
    ...generateRegistrySecrets(),
  };
}

/**
 * The files, relative to SECRETS_DIR (and to the build host's copy). Each
 * directory is mounted into the one service named; the management token sits
 * at the top, in no container: install reads it to set up the ACLs, the user
 * to log in to the UI. The CA key is the build host's only.
 */
export const SECRET_FILES = {
  /** Servers only. */
  managementToken: 'consul-management-token',
  /** Agents only: the leaving host's own API calls (consul maintenance) at removal. */
  agentToken: 'consul-agent-token',
  /** Consul's configuration (-config-dir /consul/secrets): ACLs, default deny, and gossip encryption. */
  consulConfig: 'consul/secrets.json',
  /** Cluster only: Consul's RPC TLS (tls.internal_rpc, auto_encrypt). */
  consulTlsConfig: 'consul/tls.json',
  consulCaCert: 'consul/tls/ca.pem',
  /** Cluster servers only. */
  consulServerCert: 'consul/tls/server.pem',
  consulServerKey: 'consul/tls/server-key.pem',
  /** The build host's copy only: never on a target. */
  consulCaKey: 'consul-ca-key.pem',
  registratorToken: 'registrator/consul-token',
  consulTemplateToken: 'haproxy/consul-token',
  /** user:password, as HAProxy's `stats auth` and curl's --user take it. */
  statsAuth: 'haproxy/stats-auth',
  /** Servers only: REGISTRY_USER:password, Marathon's --http_credentials (and deploy's login). */
  marathonCredentials: 'marathon/http-credentials',
  /**
   * Servers only: the Mesos master's --http_credentials file (JSON: {"credentials": [{principal, secret}]}).
   */
  mesosCredentials: 'mesos/http-credentials.json',
  /** Servers only: the apps API's operator login, the same REGISTRY_USER:password as marathonCredentials. */
  appsApiCredentials: 'apps-api/http-credentials',
  /** Servers only: the apps API's Consul token. */
  appsApiToken: 'apps-api/consul-token',
  /** Servers only: the ACME renewer's Consul token. */
  acmeToken: 'acme/consul-token',
  /** Servers only, when settings name one (acme.directoryCa): the CA the ACME directory's HTTPS chains to. */
  acmeDirectoryCa: 'acme/directory-ca.pem',
  /** Every host: the edge's certificate and key, the stack's CA (./edge.ts). */
  ...EDGE_SECRET_FILES,
  /** The image registry's (./registry.ts): its configuration, htpasswd, TLS, the docker login. */
  ...REGISTRY_SECRET_FILES,
} as const;

/**
 * The directories under SECRETS_DIR, one per consumer (consul/tls: Consul's, not a config file, so in a
 * subdirectory).
 */
export const SECRET_DIRS = [
  'consul',
  'consul/tls',
  'registrator',
  'haproxy',
  'marathon',
  'mesos',
  'apps-api',
  'acme',
  ...EDGE_SECRET_DIRS,
  ...REGISTRY_SECRET_DIRS,
] as const;

/** Where Consul sees SECRET_FILES.consul* (stacks/paasbox.yaml mounts SECRETS_DIR/consul there). */
const CONSUL_MOUNT = '/consul/secrets';
const inConsul = (rel: string) => `${CONSUL_MOUNT}/${rel.replace(/^consul\//, '')}`;

/** A host's part in the stack: a Consul server (one host, a cluster's master) or a client agent. */
export type SecretRole = 'server' | 'client';

export interface SecretScope {
  role: SecretRole;
  /** On a cluster: Consul's RPC TLS set (the CA key is never written to a target). */
  tls?: ConsulTls;
  /** A server's image registry files: its TLS set, every master's address and the port. */
  registry?: RegistryScope;
  /** The edge's certificate set (every host's HAProxy serves :443 with it). */
  edge?: EdgeTls;
  /** A server's copy of the ACME directory's CA (settings acme.directoryCa), when one is named. */
  acmeDirectoryCa?: string;
}

/**
 * Consul 1.16's configuration for ACLs with default deny and gossip encryption; the management token only on
 * a server.
 */
export function consulSecretConfig(s: StackSecrets, role: SecretRole = 'server'): string {
  const tokens =
    role === 'server'
      ? { initial_management: s.managementToken, agent: s.agentToken }
      : { agent: s.agentToken };
  const config = {
    acl: { enabled: true, default_policy: 'deny', enable_token_persistence: true, tokens },
    encrypt: s.gossipKey,
  };
  return JSON.stringify(config, null, 2) + '\n';
}

/**
 * Consul's RPC TLS (Consul 1.12+ `tls` block). Servers: their certificate for
 * server.<dc>.<domain>, verify_incoming (a client certificate signed by the CA
 * or the mesh CA), verify_outgoing, verify_server_hostname, and auto_encrypt
 * allow_tls (which turns on the built-in mesh CA that signs the clients'
 * certificates). Clients: the CA and verify_server_hostname, their own
 * certificate by auto_encrypt (Consul's recommended way to give clients
 * certificates: no client key leaves a server and no CA key reaches a client).
 */
export function consulTlsConfig(role: SecretRole): string {
  const rpc =
    role === 'server'
      ? {
          ca_file: inConsul(SECRET_FILES.consulCaCert),
          cert_file: inConsul(SECRET_FILES.consulServerCert),
          key_file: inConsul(SECRET_FILES.consulServerKey),
          verify_incoming: true,
          verify_outgoing: true,
          verify_server_hostname: true,
        }
      : { ca_file: inConsul(SECRET_FILES.consulCaCert), verify_outgoing: true, verify_server_hostname: true };
  // A server's allow_tls turns the mesh CA (connect) on; a client asks it for its certificate.
  const config =
    role === 'server'
      ? { tls: { internal_rpc: rpc }, auto_encrypt: { allow_tls: true } }
      : { tls: { internal_rpc: rpc }, auto_encrypt: { tls: true } };
  return JSON.stringify(config, null, 2) + '\n';
}

/**
 * Every file a host of `scope` gets, by path relative to SECRETS_DIR (default: a server without TLS, one
 * host).
 */
export function secretFiles(
  s: StackSecrets,
  scope: SecretScope = { role: 'server' },
): Record<string, string> {
  const server = scope.role === 'server';
  const out: Record<string, string> = {
    ...(server
      ? { [SECRET_FILES.managementToken]: `${s.managementToken}\n` }
      : { [SECRET_FILES.agentToken]: `${s.agentToken}\n` }),
    [SECRET_FILES.consulConfig]: consulSecretConfig(s, scope.role),
    [SECRET_FILES.registratorToken]: `${s.registratorToken}\n`,
    [SECRET_FILES.consulTemplateToken]: `${s.consulTemplateToken}\n`,
    [SECRET_FILES.statsAuth]: `${STATS_USER}:${s.statsPassword}\n`,
  };
  if (server) {
    out[SECRET_FILES.marathonCredentials] = `${REGISTRY_USER}:${s.marathonPassword}\n`;
    out[SECRET_FILES.mesosCredentials] = mesosCredentialsJson(s);
    // The apps API runs on the masters only (role master), in Marathon's place: the same login.
    out[SECRET_FILES.appsApiCredentials] = `${REGISTRY_USER}:${s.marathonPassword}\n`;
    out[SECRET_FILES.appsApiToken] = `${s.appsApiToken}\n`;
    // The ACME renewer runs on the masters (role master).
    out[SECRET_FILES.acmeToken] = `${s.acmeToken}\n`;
    if (scope.acmeDirectoryCa) out[SECRET_FILES.acmeDirectoryCa] = scope.acmeDirectoryCa;
    // The image registry runs on the masters (role master).
    if (scope.registry) Object.assign(out, registrySecretFiles(s, scope.registry));
  }
  if (scope.edge) Object.assign(out, edgeSecretFiles(scope.edge));
  if (scope.tls) {
    out[SECRET_FILES.consulTlsConfig] = consulTlsConfig(scope.role);
    out[SECRET_FILES.consulCaCert] = scope.tls.caCert;
    if (server) {
      out[SECRET_FILES.consulServerCert] = scope.tls.serverCert;
      out[SECRET_FILES.consulServerKey] = scope.tls.serverKey;
    }
  }
  return out;
}

/** Mesos' credentials file format (--http_credentials): one principal, REGISTRY_USER. */
export function mesosCredentialsJson(s: Pick<StackSecrets, 'mesosPassword'>): string {
  return (
    JSON.stringify({ credentials: [{ principal: REGISTRY_USER, secret: s.mesosPassword }] }, null, 2) + '\n'
  );
}

/** The build host's copy: a server's files, and with TLS the CA key too. */
export function localSecretFiles(
  s: StackSecrets,
  tls?: ConsulTls,
  registry?: RegistryScope,
  edge?: EdgeTls,
  acmeDirectoryCa?: string,
): Record<string, string> {
  const files = secretFiles(s, {
    role: 'server',
    ...(tls ? { tls } : {}),
    ...(acmeDirectoryCa ? { acmeDirectoryCa } : {}),
  });
  return {
    ...files,
    ...(tls?.caKey ? { [SECRET_FILES.consulCaKey]: tls.caKey } : {}),
    ...(registry ? registryLocalFiles(s, registry) : {}),
    ...(edge ? edgeLocalFiles(edge) : {}),
  };
}

/** The TLS parts a set of files holds (any may be missing). */
export function parseTlsFiles(files: Record<string, string>): Partial<ConsulTls> {
  const pick = (rel: string) => (files[rel]?.includes('-----BEGIN') ? files[rel] : undefined);
  const out: Partial<ConsulTls> = {};
  const set = (k: keyof ConsulTls, rel: string) => {
    const v = pick(rel);
    if (v !== undefined) out[k] = v;
  };
  set('caCert', SECRET_FILES.consulCaCert);
  set('caKey', SECRET_FILES.consulCaKey);
  set('serverCert', SECRET_FILES.consulServerCert);
  set('serverKey', SECRET_FILES.consulServerKey);
  return out;
}

/**
 * The secrets a set of files (as secretFiles writes them) holds; missing, unreadable or malformed ones are
 * left out.
 */
export function parseSecretFiles(files: Record<string, string>): Partial<StackSecrets> {
  const found: Partial<Record<SecretName, string>> = {};
  const line = (rel: string) => files[rel]?.trim();
  found.managementToken = line(SECRET_FILES.managementToken);
  found.agentToken = line(SECRET_FILES.agentToken);
  found.registratorToken = line(SECRET_FILES.registratorToken);
  found.consulTemplateToken = line(SECRET_FILES.consulTemplateToken);
  found.appsApiToken = line(SECRET_FILES.appsApiToken);
  found.acmeToken = line(SECRET_FILES.acmeToken);
  const marathon = line(SECRET_FILES.marathonCredentials);
  if (marathon?.startsWith(`${REGISTRY_USER}:`))
    found.marathonPassword = marathon.slice(REGISTRY_USER.length + 1);
  try {
    type MesosCredentials = { credentials?: { principal?: unknown; secret?: unknown }[] } | null;
    const m = JSON.parse(files[SECRET_FILES.mesosCredentials] ?? 'null') as MesosCredentials;
    const c = m?.credentials?.find((x) => x.principal === REGISTRY_USER);
    if (typeof c?.secret === 'string') found.mesosPassword = c.secret;
  } catch {
    /* malformed: generated anew */
  }
  Object.assign(found, parseRegistrySecretFiles(files));
  const auth = line(SECRET_FILES.statsAuth);
  if (auth?.startsWith(`${STATS_USER}:`)) found.statsPassword = auth.slice(STATS_USER.length + 1);
  const config = files[SECRET_FILES.consulConfig];
  if (config !== undefined) {
    try {
      type Tokens = { initial_management?: unknown; master?: unknown; agent?: unknown };
      const c = JSON.parse(config) as { acl?: { tokens?: Tokens }; encrypt?: unknown };
      const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
      // The management token file wins over the config's copy; both are written together.
      // initial_management: Consul 1.16's name; master: 1.8's (an install from before the upgrade).
      const management = c.acl?.tokens?.initial_management ?? c.acl?.tokens?.master;
      if (!validSecret('managementToken', found.managementToken)) found.managementToken = str(management);
      if (!validSecret('agentToken', found.agentToken)) found.agentToken = str(c.acl?.tokens?.agent);
      found.gossipKey = str(c.encrypt);
    } catch {
      /* malformed: its secrets are generated anew */
    }
  }
  return Object.fromEntries(
    SECRET_NAMES.filter((n) => validSecret(n, found[n])).map((n) => [n, found[n]!]),
  ) as Partial<StackSecrets>;
}

/**
 * One value per secret: the first layer that has it (the target's files come
 * first: the running stack uses those), else a fresh one. Pure but for `fresh`.
 */
export function mergeSecrets(
  layers: Partial<StackSecrets>[],
  fresh: () => StackSecrets = generateSecrets,
): { secrets: StackSecrets; generated: SecretName[] } {
  let made: StackSecrets | undefined;
  const generated: SecretName[] = [];
  const out = {} as StackSecrets;
  for (const name of SECRET_NAMES) {
    const have = layers.find((l) => validSecret(name, l[name]))?.[name];
    if (have !== undefined) out[name] = have;
    else {
      made ??= fresh();
      out[name] = made[name];
      generated.push(name);
    }
  }
  return { secrets: out, generated };
}
