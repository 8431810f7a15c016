// Where the app commands (paasbox apps, app, scale, restart, rollback,
// destroy, token, and deploy over the API) find the apps API and whose login
// they send. The URL: --api, else PAASBOX_API, else http://ADVERTISED:8080 of
// the recorded instance (as deploy finds Marathon). The login: a team's token
// (--token, else PAASBOX_TOKEN; `@FILE` reads it from a file, so it need not
// be on a command line), else the operator's login install keeps on this
// machine (.paasbox/secrets/INSTANCE/marathon/http-credentials), else none
// (the API then answers 401). The token is never printed or logged.
import { readFileSync } from 'node:fs';
import { PaasboxError } from '../errors.js';
import { MarathonClient, marathonCredentialsFromFile } from '../marathon/client.js';
import { PaasboxApi } from '../marathon/paasbox.js';
import { SECRET_FILES } from '../secrets/secrets.js';
import { localSecretsDir } from '../secrets/store.js';
import { DEFAULTS } from '../settings/settings.js';
import { defaultMarathonUrl } from './select.js';

export interface ApiFlags {
  /** --api URL */
  api?: string;
  /** --token TOKEN or @FILE */
  token?: string;
}

export interface ApiContext {
  /** PAASBOX_API, PAASBOX_TOKEN, PAASBOX_DOMAIN. */
  env: Record<string, string | undefined>;
  /** The recorded stack's advertised address (or the stage's address), when there is a record. */
  advertised?: string;
  /** The instance whose operator login is used (default "default"). */
  instance: string;
  /** The recorded domain (the install's pinned one), when there is one. */
  domain?: string;
  cwd?: string;
}

/** Who the commands act as: a team (token), the operator (basic login) or nobody. */
export type ApiLogin =
  | { kind: 'token'; token: string; from: string }
  | { kind: 'operator'; credentials: { user: string; password: string }; from: string }
  | { kind: 'none' };

export interface ApiEndpoint {
  url: string;
  /** Where the URL came from (--api, PAASBOX_API, the instance record). */
  urlFrom: string;
  login: ApiLogin;
  /** The stack's DNS domain: apps are http://NAME.service.DOMAIN. */
  domain: string;
}

const set = (v: string | undefined) => (v !== undefined && v.trim() !== '' ? v.trim() : undefined);

/** An http(s) URL without a login or a path beyond /, or a one-line error naming the flag. Pure. */
export function checkApiUrl(url: string, flag: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new PaasboxError(`${flag} ${url} is not a URL`, 'give e.g. --api http://10.0.0.5:8080');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new PaasboxError(`${flag} ${url} is not http or https`, 'give e.g. --api http://10.0.0.5:8080');
  if (u.username || u.password)
    throw new PaasboxError(
      `${flag} carries a login in the URL`,
      'leave it out of the URL: use --token/PAASBOX_TOKEN, or the operator login install keeps here',
    );
  if (u.search || u.hash || (u.pathname !== '/' && u.pathname !== ''))
    throw new PaasboxError(`${flag} ${url} has a path or query`, 'give the server only: http://HOST:PORT');
  return `${u.protocol}//${u.host}`;
}

/** A token as given (`@FILE`: the file's first line). */
export function readTokenArg(value: string, from: string): string {
  let token = value;
  if (value.startsWith('@')) {
    try {
      token = readFileSync(value.slice(1), 'utf8').split('\n')[0] ?? '';
    } catch (e) {
      throw new PaasboxError(
        `cannot read the token file ${value.slice(1)} (${from}): ${(e as Error).message}`,
        'name the file `paasbox token create` output went to, e.g. --token @team.token',
      );
    }
  }
  token = token.trim();
  if (!token) throw new PaasboxError(`${from} is empty`, 'give the token `paasbox token create` printed');
  return token;
}

/** The API's URL, login and domain from the flags, the environment and the record (see the top). */
export function resolveApiEndpoint(flags: ApiFlags, ctx: ApiContext): ApiEndpoint {
  const env = (k: string) => set(ctx.env[k]);
  let url: string;
  let urlFrom: string;
  if (set(flags.api)) [url, urlFrom] = [checkApiUrl(flags.api!.trim(), '--api'), '--api'];
  else if (env('PAASBOX_API'))
    [url, urlFrom] = [checkApiUrl(env('PAASBOX_API')!, 'PAASBOX_API'), 'PAASBOX_API'];
  else {
    const d = defaultMarathonUrl(undefined, ctx.advertised);
    if (!d)
      throw new PaasboxError(
        'no apps API to talk to: no --api, no PAASBOX_API and no recorded install',
        'pass --api http://ADVERTISED:8080 (or set PAASBOX_API), or run where install ran',
      );
    [url, urlFrom] = [d, `instance ${ctx.instance}`];
  }
  let login: ApiLogin;
  if (flags.token !== undefined)
    login = { kind: 'token', token: readTokenArg(flags.token, '--token'), from: '--token' };
  else if (env('PAASBOX_TOKEN'))
    login = {
      kind: 'token',
      token: readTokenArg(env('PAASBOX_TOKEN')!, 'PAASBOX_TOKEN'),
      from: 'PAASBOX_TOKEN',
    };
  else {
    const file = `${localSecretsDir(ctx.instance, ctx.cwd)}/${SECRET_FILES.marathonCredentials}`;
    const credentials = marathonCredentialsFromFile(file);
    login = credentials ? { kind: 'operator', credentials, from: file } : { kind: 'none' };
  }
  return { url, urlFrom, login, domain: env('PAASBOX_DOMAIN') ?? ctx.domain ?? DEFAULTS.domain };
}

/** Who a login is, for progress lines and --json (never the token or password). */
export function describeLogin(login: ApiLogin): string {
  if (login.kind === 'token') return `a team token (${login.from})`;
  if (login.kind === 'operator') return `the operator ${login.credentials.user} (${login.from})`;
  return 'no login';
}

/** The Marathon client (and the paasbox extensions on it) for an endpoint. */
export function apiClients(
  ep: ApiEndpoint,
  timeoutMs?: number,
): { marathon: MarathonClient; paasbox: PaasboxApi } {
  const marathon = new MarathonClient({
    baseUrl: ep.url,
    name: 'the apps API',
    urlFlag: '--api',
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(ep.login.kind === 'token' ? { token: ep.login.token } : {}),
    ...(ep.login.kind === 'operator' ? { credentials: ep.login.credentials } : {}),
  });
  return { marathon, paasbox: new PaasboxApi(marathon) };
}
