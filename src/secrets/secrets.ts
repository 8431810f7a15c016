// The stack's secrets: Consul's management token, its agent token and gossip
// key, the registrator's and consul-template's own Consul tokens, and the
// HAProxy stats login. Generated once per instance, they live only in files
// (mode 0600): on the target under SECRETS_DIR, in one directory per consumer
// that the model mounts read-only (stacks/paasbox.yaml), and on the build host
// as the same tree under .paasbox/secrets/<instance>/ (./store.ts). Never in
// the compose file, the environment of a service, a log or state.json.
// Pure: generation, the files' contents and reading them back.

import { randomBytes, randomUUID } from 'node:crypto';
import { STACK_DIR } from '../stack/deployment.js';

export const SECRETS_DIR = `${STACK_DIR}/secrets`;

/** HAProxy's stats user; its password is generated. */
export const STATS_USER = 'admin';

export interface StackSecrets {
  /** Consul's initial management token (acl.tokens.master in 1.8): logs in to the UI, sets up the ACLs. */
  managementToken: string;
  /** The Consul agent's own token (acl.tokens.agent): registers its node. */
  agentToken: string;
  /** Gossip encryption key: 32 random bytes, base64. */
  gossipKey: string;
  registratorToken: string;
  consulTemplateToken: string;
  /** HAProxy stats password, for STATS_USER. */
  statsPassword: string;
}

export type SecretName = keyof StackSecrets;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FORMATS: Record<SecretName, (v: string) => boolean> = {
  managementToken: (v) => UUID.test(v),
  agentToken: (v) => UUID.test(v),
  gossipKey: (v) => /^[A-Za-z0-9+/]{43}=$/.test(v) && Buffer.from(v, 'base64').length === 32,
  registratorToken: (v) => UUID.test(v),
  consulTemplateToken: (v) => UUID.test(v),
  // base64url: nothing HAProxy, curl or a shell would read specially
  statsPassword: (v) => /^[A-Za-z0-9_-]{24,}$/.test(v),
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
    statsPassword: randomBytes(18).toString('base64url'),
  };
}

/**
 * The files, relative to SECRETS_DIR (and to the build host's copy). Each
 * directory is mounted into the one service named; the management token sits
 * at the top, in no container: install reads it to set up the ACLs, the user
 * to log in to the UI.
 */
export const SECRET_FILES = {
  managementToken: 'consul-management-token',
  /** Consul's configuration (-config-dir /consul/secrets): ACLs, default deny, and gossip encryption. */
  consulConfig: 'consul/secrets.json',
  registratorToken: 'registrator/consul-token',
  consulTemplateToken: 'haproxy/consul-token',
  /** user:password, as HAProxy's `stats auth` and curl's --user take it. */
  statsAuth: 'haproxy/stats-auth',
} as const;

/** The directories under SECRETS_DIR, one per consumer. */
export const SECRET_DIRS = ['consul', 'registrator', 'haproxy'] as const;

/** Consul 1.8's configuration for ACLs with default deny and gossip encryption. */
export function consulSecretConfig(s: StackSecrets): string {
  const config = {
    acl: {
      enabled: true,
      default_policy: 'deny',
      enable_token_persistence: true,
      tokens: { master: s.managementToken, agent: s.agentToken },
    },
    encrypt: s.gossipKey,
  };
  return JSON.stringify(config, null, 2) + '\n';
}

/** Every file's content, by path relative to SECRETS_DIR. */
export function secretFiles(s: StackSecrets): Record<string, string> {
  return {
    [SECRET_FILES.managementToken]: `${s.managementToken}\n`,
    [SECRET_FILES.consulConfig]: consulSecretConfig(s),
    [SECRET_FILES.registratorToken]: `${s.registratorToken}\n`,
    [SECRET_FILES.consulTemplateToken]: `${s.consulTemplateToken}\n`,
    [SECRET_FILES.statsAuth]: `${STATS_USER}:${s.statsPassword}\n`,
  };
}

/** The secrets a set of files (as secretFiles writes them) holds; missing, unreadable or malformed ones are left out. */
export function parseSecretFiles(files: Record<string, string>): Partial<StackSecrets> {
  const found: Partial<Record<SecretName, string>> = {};
  const line = (rel: string) => files[rel]?.trim();
  found.managementToken = line(SECRET_FILES.managementToken);
  found.registratorToken = line(SECRET_FILES.registratorToken);
  found.consulTemplateToken = line(SECRET_FILES.consulTemplateToken);
  const auth = line(SECRET_FILES.statsAuth);
  if (auth?.startsWith(`${STATS_USER}:`)) found.statsPassword = auth.slice(STATS_USER.length + 1);
  const config = files[SECRET_FILES.consulConfig];
  if (config !== undefined) {
    try {
      const c = JSON.parse(config) as { acl?: { tokens?: { master?: unknown; agent?: unknown } }; encrypt?: unknown };
      const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
      // The management token file wins over the config's copy; both are written together.
      if (!validSecret('managementToken', found.managementToken)) found.managementToken = str(c.acl?.tokens?.master);
      found.agentToken = str(c.acl?.tokens?.agent);
      found.gossipKey = str(c.encrypt);
    } catch {
      /* malformed: its secrets are generated anew */
    }
  }
  return Object.fromEntries(SECRET_NAMES.filter((n) => validSecret(n, found[n])).map((n) => [n, found[n]!])) as Partial<StackSecrets>;
}

/**
 * One value per secret: the first layer that has it (the target's files come
 * first: the running stack uses those), else a fresh one. Pure but for `fresh`.
 */
export function mergeSecrets(layers: Partial<StackSecrets>[], fresh: () => StackSecrets = generateSecrets): { secrets: StackSecrets; generated: SecretName[] } {
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
