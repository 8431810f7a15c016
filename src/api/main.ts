// The apps API as a process (bin/paasbox-api.mjs, in the stack's apps-api
// container on each master): its settings from the environment, its secrets
// from 0600 files (the operator's login, its Consul token), the stack's
// record for the app bounds, then the server, and itself in Consul as
// `marathon`, so HAProxy routes marathon.service.DOMAIN to every master's.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { stackBounds } from '../apps/bounds.js';
import type { AppBounds } from '../apps/policy.js';
import { AppNames } from '../consul/app-names.js';
import { ConsulClient } from '../consul/client.js';
import { PaasboxError } from '../errors.js';
import { marathonCredentialsFromFile } from '../marathon/client.js';
import { parseDeployment } from '../stackfile/deployment.js';
import { ensureSwarm } from '../swarm/membership.js';
import { AGENT_LABEL, swarmNodeFacts, swarmState } from '../swarm/nodes.js';
import { LocalTarget } from '../target/local.js';
import { TokenStore } from './auth.js';
import { AppsApi } from './routes.js';
import { createApiServer, listening } from './server.js';
import { SwarmApps } from './swarm-apps.js';
import { VersionStore } from './versions.js';

/** The version /v2/info reports: Marathon's API level served, and whose. */
export const API_VERSION = '1.7.50-paasbox';

export interface ApiConfig {
  host: string;
  port: number;
  consulUrl: string;
  /** user:password, 0600. */
  credentialsFile: string;
  /** The apps API's Consul token, 0600; absent: no token (a stack without ACLs). */
  consulTokenFile: string;
  /** The stack's generated compose file with its x-paasbox record. */
  stackFile: string;
}

export const SECRETS_IN_CONTAINER = '/run/secrets/paasbox';

/** The settings from the environment the stack file gives the container (no secrets there). */
export function apiConfigFromEnv(env: NodeJS.ProcessEnv): ApiConfig {
  const listen = env.PAASBOX_API_LISTEN ?? '127.0.0.1:8080';
  const m = /^(.+):(\d{1,5})$/.exec(listen);
  const host = m?.[1]?.replace(/^\[|\]$/g, '') ?? '';
  if (!m || !isIP(host) || Number(m[2]) < 1 || Number(m[2]) > 65535)
    throw new PaasboxError(
      `PAASBOX_API_LISTEN=${listen.slice(0, 60)} is not IP:PORT`,
      'regenerate the stack (install)',
    );
  return {
    host,
    port: Number(m[2]),
    consulUrl: env.CONSUL_HTTP_ADDR ?? 'http://127.0.0.1:8500',
    credentialsFile: `${env.PAASBOX_API_SECRETS ?? SECRETS_IN_CONTAINER}/http-credentials`,
    consulTokenFile: `${env.PAASBOX_API_SECRETS ?? SECRETS_IN_CONTAINER}/consul-token`,
    stackFile: env.PAASBOX_STACK_FILE ?? '/run/paasbox/stack.yml',
  };
}

function readToken(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Start serving; resolves once listening, with a stop function. */
export async function startApiServer(
  cfg: ApiConfig,
  log: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<{ stop: () => Promise<void>; address: string }> {
  const operator = marathonCredentialsFromFile(cfg.credentialsFile);
  if (!operator)
    throw new PaasboxError(
      `no operator login at ${cfg.credentialsFile}`,
      'run install again: it writes the apps API secrets',
    );
  const token = readToken(cfg.consulTokenFile);
  const consul = new ConsulClient({ baseUrl: cfg.consulUrl, timeoutMs: 10_000, ...(token ? { token } : {}) });
  const manager = new LocalTarget({ address: cfg.host });
  const versions = new VersionStore(consul);
  const tokens = new TokenStore(consul);
  const apps = new SwarmApps(manager, versions, consul);
  const leader = `${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${cfg.port}`;
  const ready = swarmReady(cfg.stackFile, manager, log);
  const api = new AppsApi({
    ready,
    apps,
    versions,
    tokens,
    names: new AppNames(consul),
    bounds: () => bounds(cfg.stackFile, manager),
    info: { name: 'marathon', version: API_VERSION, leader },
  });
  const server = createApiServer({ api, apps, tokens, operator, log });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => resolve());
  });
  const address = listening(server);
  log(`paasbox apps API (Marathon v2 on swarm) listening on ${address}`);
  await ready().catch((e: unknown) => log(`docker swarm: ${(e as Error).message}`));
  const serviceId = `marathon-${cfg.host}-${cfg.port}`;
  // In Consul as `marathon` on this master (HTTP check /ping): HAProxy routes
  // marathon.service.DOMAIN here.
  consul.registerInBackground(
    {
      id: serviceId,
      name: 'marathon',
      host: cfg.host,
      port: cfg.port,
      checkPath: '/ping',
      tag: 'paasbox-apps-api',
      fix: "check the apps API's Consul token (install writes it) and Consul's health",
    },
    log,
  );
  return {
    address,
    stop: async () => {
      await consul.agentServiceDeregister(serviceId).catch(() => undefined);
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * The swarm this API drives, ready: on one host it is the API's to start
 * (at start, and again if someone made the host leave it); install forms a
 * cluster's swarm itself, and a master that is not in it yet must never
 * start one of its own. An active manager is trusted for CHECK_MS.
 */
function swarmReady(stackFile: string, manager: LocalTarget, log: (l: string) => void): () => Promise<void> {
  const CHECK_MS = 10_000;
  let activeAt = 0;
  return async () => {
    if (Date.now() - activeAt < CHECK_MS) return;
    const s = await swarmState(manager);
    if (s.state !== 'active') {
      const d = parseDeployment(readFileSync(stackFile, 'utf8'), stackFile);
      if (!d || d.meta.cluster)
        throw new PaasboxError(
          'this master is not in the swarm yet',
          'wait for install to form the cluster, or ask another master',
          undefined,
          'transient',
        );
      const r = await ensureSwarm(manager, [], { advertiseAddr: d.meta.ip });
      if (r.initialised) log(`docker swarm initialised on ${d.meta.ip}`);
    } else if (!s.isManager)
      throw new PaasboxError('this host is a swarm worker, not a manager', 'ask the API on a master');
    activeAt = Date.now();
  };
}

/** The app bounds of the stack this API serves: its record, and how many hosts apps run on. */
async function bounds(stackFile: string, manager: LocalTarget): Promise<AppBounds> {
  const d = parseDeployment(readFileSync(stackFile, 'utf8'), stackFile);
  const nodes = [...(await swarmNodeFacts(manager)).values()];
  const agents = nodes.filter((n) => n.role === AGENT_LABEL.value).length;
  return stackBounds(d, agents || nodes.length || 1);
}
