// The apps API's routes: Marathon's REST API v2 (the subset the seed and
// Marathon's common clients use, in Marathon's JSON shapes and status codes)
// and paasbox's own few (logs, team tokens). Each request is authenticated
// first, checked against the caller's scope and the app policy, and only
// then reaches swarm. Anything outside the subset gets Marathon's error
// shape naming what is unsupported.
import { checkScale, policyProblems, type AppAllowances, type AppPolicy } from '../apps/policy.js';
import { appProblems, fieldName } from '../appspec/validate.js';
import { claimedKeys } from '../apps/target-checks.js';
import { normaliseId, type MarathonApp } from '../appspec/app.js';
import { AppNames } from '../consul/app-names.js';
import { PaasboxError } from '../errors.js';
import { defaultServiceName, swarmServiceName } from '../scheduler/swarm-service.js';
import { checkTeam, mayTouch, type Principal, type TokenStore } from './auth.js';
import { deploymentId, type AppService, type SwarmApps } from './swarm-apps.js';
import { nextVersion, type VersionStore } from './versions.js';

export interface ApiRequest {
  method: string;
  /** The path without the query, percent-decoded per segment by the router. */
  path: string;
  query: URLSearchParams;
  body: string;
  principal: Principal;
}

export interface ApiResponse {
  status: number;
  body: unknown;
}

/** A refusal in Marathon's error shape: `{"message": ..., "details": [...]}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details?: { path: string; errors: string[] }[],
  ) {
    super(message);
  }

  get body(): Record<string, unknown> {
    return { message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

export interface ApiDeps {
  /** The swarm is there to ask (on one host, started if it is not); throws when it cannot be. */
  ready: () => Promise<void>;
  apps: SwarmApps;
  versions: VersionStore;
  tokens: TokenStore;
  names: AppNames;
  /** The stack's bounds for apps, read from its compose record when asked. */
  bounds: () => Promise<AppPolicy['bounds']>;
  /** What /v2/info says about this server. */
  info: { name: string; version: string; leader: string };
}

/** The `allow` query's words → the policy's allowances (the operator's --allow-… flags). */
export const ALLOW_WORDS: Record<string, keyof AppAllowances> = {
  'host-mounts': 'hostMounts',
  'host-namespaces': 'hostNamespaces',
  'reserved-labels': 'reservedLabels',
  'log-drivers': 'logDrivers',
  'docker-parameters': 'dockerParameters',
  'wildcard-domains': 'wildcardDomains',
};

/** The Marathon endpoints served, for the README and the unsupported answer. */
export const SERVED = [
  'GET /ping',
  'GET /v2/info',
  'GET /v2/leader',
  'GET|POST /v2/apps',
  'GET|PUT|PATCH|DELETE /v2/apps/{id}',
  'POST /v2/apps/{id}/restart',
  'GET /v2/apps/{id}/tasks',
  'GET /v2/apps/{id}/versions[/{version}]',
  'GET /v2/tasks',
  'GET /v2/deployments',
  'DELETE /v2/deployments/{id}',
  'GET /v2/events',
] as const;

const VERSION_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;
const ID_RE = /^(\/[a-z0-9]([a-z0-9.-]*[a-z0-9])?)+$/;

export class AppsApi {
  constructor(private readonly d: ApiDeps) {}

  async handle(req: ApiRequest): Promise<ApiResponse> {
    try {
      return await this.route(req);
    } catch (e) {
      if (e instanceof ApiError) return { status: e.status, body: e.body };
      if (e instanceof PaasboxError) {
        const message = e.fix ? `${e.problem}: ${e.fix}` : e.problem;
        const status = e.kind === 'user' ? 422 : e.kind === 'transient' ? 503 : 500;
        return { status, body: { message } };
      }
      return { status: 500, body: { message: (e as Error).message } };
    }
  }

  private async route(req: ApiRequest): Promise<ApiResponse> {
    const { method, path } = req;
    if (path === '/v2/info' && method === 'GET') return ok(this.infoBody());
    if (path === '/v2/leader' && method === 'GET') return ok({ leader: this.d.info.leader });
    if (!path.startsWith('/paasbox/v1/tokens')) await this.d.ready();
    if (path === '/v2/apps' || path === '/v2/apps/') {
      if (method === 'GET') return ok({ apps: await this.listApps(req) });
      if (method === 'POST') return this.create(req);
    }
    if (path === '/v2/tasks' && method === 'GET') return ok({ tasks: await this.allTasks(req) });
    if (path === '/v2/deployments' && method === 'GET')
      return ok(await this.d.apps.deployments((s) => mayTouch(req.principal, s.id)));
    const dep = /^\/v2\/deployments\/([0-9a-f-]{36})$/.exec(path);
    if (dep && method === 'DELETE') return this.cancelDeployment(req, dep[1]!);
    if (path.startsWith('/paasbox/v1/tokens')) return this.tokens(req);
    const logs = /^\/paasbox\/v1\/apps(\/.+)\/logs$/.exec(path);
    if (logs) throw new ApiError(405, 'logs are streamed by the server, not routed here');
    const app = /^\/v2\/apps(\/.+?)(\/restart|\/tasks|\/versions(?:\/([^/]+))?)?\/?$/.exec(path);
    if (app) return this.appRoute(req, checkId(app[1]!), app[2], app[3]);
    throw new ApiError(
      404,
      `${method} ${path} is not served by paasbox's apps API (Marathon on swarm); served: ${SERVED.join(', ')}`,
    );
  }

  private infoBody(): Record<string, unknown> {
    const { name, version, leader } = this.d.info;
    return {
      name,
      version,
      buildref: 'paasbox',
      elected: true,
      leader,
      frameworkId: null,
      // Marathon's own keys only: its clients build their models from them (an unknown key breaks
      // marathon-python's MarathonConfig).
      marathon_config: { master: 'swarm', hostname: leader.replace(/:\d+$/, '') },
      // No ZooKeeper: swarm's Raft and Consul hold the state.
      zookeeper_config: { zk: null },
      http_config: { http_port: Number(leader.split(':').pop()) || 8080, https_port: null },
    };
  }

  private async appRoute(
    req: ApiRequest,
    id: string,
    sub: string | undefined,
    version: string | undefined,
  ): Promise<ApiResponse> {
    this.scope(req.principal, id);
    const { method } = req;
    if (!sub) {
      if (method === 'GET') {
        const s = await this.found(id);
        return ok({ app: await this.d.apps.view(s) });
      }
      if (method === 'PUT' || method === 'PATCH') return this.update(req, id);
      if (method === 'DELETE') return this.destroy(id);
    }
    if (sub === '/restart' && method === 'POST') {
      const s = await this.found(id);
      await this.d.apps.restart(s);
      const after = (await this.d.apps.service(id)) ?? s;
      return ok({ deploymentId: deploymentId(after.serviceId, after.index), version: after.version ?? '' });
    }
    if (sub === '/tasks' && method === 'GET')
      return ok({ tasks: await this.d.apps.tasks(await this.found(id)) });
    if (sub?.startsWith('/versions') && method === 'GET') {
      if (version === undefined) {
        const versions = await this.d.versions.list(id);
        if (!versions.length && !(await this.d.apps.service(id)))
          throw new ApiError(404, `App '${id}' does not exist`);
        return ok({ versions });
      }
      const app = VERSION_RE.test(version) ? await this.d.versions.get(id, version) : undefined;
      if (!app) throw new ApiError(404, `App '${id}' does not exist in version ${version.slice(0, 40)}`);
      return ok({ ...app, version, versionInfo: { lastConfigChangeAt: version, lastScalingAt: version } });
    }
    throw new ApiError(405, `${method} is not allowed on ${req.path}; served: ${SERVED.join(', ')}`);
  }

  /** The app's service, or Marathon's 404. */
  private async found(id: string): Promise<AppService> {
    const s = await this.d.apps.service(id);
    if (!s) throw new ApiError(404, `App '${id}' does not exist`);
    return s;
  }

  private scope(p: Principal, id: string): void {
    if (!mayTouch(p, id))
      throw new ApiError(
        403,
        `team ${p.kind === 'team' ? p.team : ''} may not act on app ${id}: its token covers ${p.kind === 'team' ? p.apps.join(', ') : ''}`,
      );
  }

  private async listApps(req: ApiRequest): Promise<Record<string, unknown>[]> {
    const mine = (await this.d.apps.services()).filter((s) => mayTouch(req.principal, s.id));
    return Promise.all(mine.map((s) => this.d.apps.view(s)));
  }

  private async allTasks(req: ApiRequest): Promise<unknown[]> {
    const mine = (await this.d.apps.services()).filter((s) => mayTouch(req.principal, s.id));
    return (await Promise.all(mine.map((s) => this.d.apps.tasks(s)))).flat();
  }

  /** The app policy for this request: the stack's bounds, and the operator's `allow` words. */
  private async policy(req: ApiRequest): Promise<AppPolicy> {
    const words = (req.query.get('allow') ?? '').split(',').filter(Boolean);
    if (words.length && req.principal.kind !== 'operator')
      throw new ApiError(
        403,
        "allow: policy exceptions are the operator's; a team token may not ask for them",
      );
    const allow: AppAllowances = {};
    for (const w of words) {
      const key = ALLOW_WORDS[w];
      if (!key)
        throw new ApiError(
          400,
          `allow: "${w.slice(0, 40)}" is unknown; use ${Object.keys(ALLOW_WORDS).join(', ')}`,
        );
      allow[key] = true;
    }
    const bounds = await this.d.bounds();
    return { allow, ...(bounds ? { bounds } : {}) };
  }

  /**
   * The request body as an app: its form (Marathon's 422 with a detail per
   * field), then the app policy (403 for a team: it asked for what it may
   * not have; 422 for the operator, whose `allow` words can admit it).
   */
  private async checked(req: ApiRequest, json: unknown): Promise<{ app: MarathonApp; policy: AppPolicy }> {
    const policy = await this.policy(req);
    const form = appProblems(json);
    const refused = form.length ? [] : policyProblems(json as MarathonApp, policy);
    const problems = form.length ? form : refused;
    if (!problems.length) return { app: json as MarathonApp, policy };
    const details = problems.map((p) => ({ path: p.path || '/', errors: [`${p.problem} (fix: ${p.fix})`] }));
    const first = problems[0]!;
    const status = !form.length && req.principal.kind === 'team' ? 403 : 422;
    throw new ApiError(status, `Object is not valid: ${fieldName(first.path)}: ${first.problem}`, details);
  }

  private async create(req: ApiRequest): Promise<ApiResponse> {
    const json = parseBody(req.body);
    if (!json || typeof json !== 'object' || Array.isArray(json))
      throw new ApiError(400, 'the body must be one Marathon app definition (a JSON object)');
    const rawId = (json as { id?: unknown }).id;
    if (typeof rawId !== 'string') throw new ApiError(422, 'Object is not valid', [idRequired()]);
    const id = checkId(normaliseId(rawId));
    this.scope(req.principal, id);
    const { app, policy } = await this.checked(req, { ...json, id });
    if (await this.d.apps.service(id)) throw new ApiError(409, `An app with id [${id}] already exists.`);
    const version = await this.deploy(app, policy, req);
    const s = await this.found(id);
    return { status: 201, body: { ...(await this.d.apps.view(s)), version } };
  }

  /** Claim the app's names, deploy it to swarm under a new version, and store that version. */
  private async deploy(
    app: MarathonApp,
    policy: AppPolicy,
    req: ApiRequest,
    after?: string,
  ): Promise<string> {
    this.hostMountsAreOperators(app, req.principal);
    await this.d.names.claim(app.id, claimedKeys(app, defaultServiceName(app.id)), app);
    const version = nextVersion(after);
    // Stored first, so the service never carries a version nobody can read; dropped if swarm refuses it.
    await this.d.versions.put(app, version);
    try {
      await this.d.apps.scheduler(policy).deploy(app, { version });
    } catch (e) {
      await this.d.versions.forget(app.id, version).catch(() => undefined);
      throw e;
    }
    return version;
  }

  /** Host directories are made over the operator's SSH (deploy does it); a team may not ask for them. */
  private hostMountsAreOperators(app: MarathonApp, p: Principal): void {
    const hostPaths = (app.container?.volumes ?? []).filter((v) => v.hostPath !== undefined);
    if (hostPaths.length && p.kind !== 'operator')
      throw new ApiError(
        403,
        "container.volumes: host directories are the operator's; use a volume without hostPath, or ask the operator",
      );
  }

  private async update(req: ApiRequest, id: string): Promise<ApiResponse> {
    const json = parseBody(req.body);
    if (!json || typeof json !== 'object' || Array.isArray(json))
      throw new ApiError(400, 'the body must be a JSON object');
    const body = json as Record<string, unknown>;
    const existing = await this.d.apps.service(id);
    // {"version": V}: back to a stored version (Marathon's rollback).
    if (typeof body.version === 'string' && Object.keys(body).length === 1) {
      const old = VERSION_RE.test(body.version) ? await this.d.versions.get(id, body.version) : undefined;
      if (!old) throw new ApiError(404, `App '${id}' does not exist in version ${body.version.slice(0, 40)}`);
      const { app, policy } = await this.checked(req, old);
      const version = await this.deploy(app, policy, req, existing?.version);
      return this.changed(id, version);
    }
    // {"instances": N} alone: a scale, with a new version recording the count.
    const keys = Object.keys(body).filter((k) => k !== 'id');
    if (existing && keys.length === 1 && keys[0] === 'instances') {
      const n = body.instances;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0)
        throw new ApiError(422, 'Object is not valid', [{ path: '/instances', errors: ['must be >= 0'] }]);
      const policy = await this.policy(req);
      checkScale(id, n, policy.bounds);
      const current = await this.d.apps.definition(existing);
      const version = nextVersion(existing.version);
      await this.d.versions.put({ ...current, instances: n }, version);
      await this.d.apps.scale(existing, n, version);
      return this.changed(id, version);
    }
    // PATCH changes the fields given; PUT replaces the definition (both keep the id of the path).
    const base = req.method === 'PATCH' && existing ? await this.d.apps.definition(existing) : {};
    const { app, policy } = await this.checked(req, { ...base, ...body, id });
    const version = await this.deploy(app, policy, req, existing?.version);
    return existing ? this.changed(id, version) : { status: 201, body: await this.view(id) };
  }

  private async view(id: string): Promise<Record<string, unknown>> {
    return this.d.apps.view(await this.found(id));
  }

  private async changed(id: string, version: string): Promise<ApiResponse> {
    const s = await this.found(id);
    return ok({ deploymentId: deploymentId(s.serviceId, s.index), version });
  }

  private async destroy(id: string): Promise<ApiResponse> {
    const s = await this.found(id);
    await this.d.apps.scheduler().destroy(id);
    await this.d.names.release(id);
    await this.d.versions.drop(id);
    return ok({ deploymentId: deploymentId(s.serviceId, s.index + 1), version: nextVersion(s.version) });
  }

  private async cancelDeployment(req: ApiRequest, id: string): Promise<ApiResponse> {
    const running = await this.d.apps.services();
    const s = running.find((x) => deploymentId(x.serviceId, x.index) === id);
    if (!s) throw new ApiError(404, `DeploymentPlan ${id} does not exist`);
    this.scope(req.principal, s.id);
    const how = await this.d.apps.rollback(s);
    if (how === 'removed') {
      await this.d.names.release(s.id);
      await this.d.versions.drop(s.id);
    }
    const after = await this.d.apps.service(s.id);
    return ok({
      deploymentId: after ? deploymentId(after.serviceId, after.index) : id,
      version: after?.version ?? nextVersion(s.version),
    });
  }

  private async tokens(req: ApiRequest): Promise<ApiResponse> {
    if (req.principal.kind !== 'operator')
      throw new ApiError(403, "tokens are the operator's: sign in with the operator's login");
    if (req.path === '/paasbox/v1/tokens' && req.method === 'GET') {
      const tokens = (await this.d.tokens.list()).map(({ sha256: _s, ...r }) => r);
      return ok({ tokens });
    }
    if (req.path === '/paasbox/v1/tokens' && req.method === 'POST') {
      const body = parseBody(req.body) as { team?: unknown; apps?: unknown } | undefined;
      try {
        checkTeam(body?.team, body?.apps);
      } catch (e) {
        throw new ApiError(422, (e as PaasboxError).problem, [
          { path: '/', errors: [(e as PaasboxError).fix ?? ''] },
        ]);
      }
      const { record, token } = await this.d.tokens.create(body!.team as string, body!.apps as string[]);
      const { sha256: _s, ...shown } = record;
      return { status: 201, body: { ...shown, token } };
    }
    const team = /^\/paasbox\/v1\/tokens\/([a-z0-9-]+)$/.exec(req.path);
    if (team && req.method === 'DELETE') return ok({ revoked: await this.d.tokens.revoke(team[1]!) });
    throw new ApiError(404, `${req.method} ${req.path} is not served`);
  }
}

function ok(body: unknown): ApiResponse {
  return { status: 200, body };
}

function idRequired(): { path: string; errors: string[] } {
  return { path: '/id', errors: ['error.path.missing'] };
}

/** An app id from a path or body, or Marathon's 422 naming /id. */
export function checkId(id: string): string {
  const n = normaliseId(id);
  if (!ID_RE.test(n) || n.length > 200 || swarmServiceName(n).length > 63)
    throw new ApiError(422, 'Object is not valid', [
      {
        path: '/id',
        errors: [
          'must be a path of lowercase letters, digits, dots and dashes (e.g. /team/app), at most 63 characters',
        ],
      },
    ]);
  return n;
}

function parseBody(text: string): unknown {
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `the body is not JSON: ${(e as Error).message}`);
  }
}
