// The public host names of an app (issue 22): marathon-lb's HAPROXY_0_VHOST
// label (comma-separated) or `domain=NAME` registrator tags, the redirect to
// HTTPS and HSTS (labels or tags). App JSON is untrusted: every name is
// checked against an allowlist here (deny by default), and the scheduler
// gives the registrator only the normalised route tags routeTags() makes, so
// the edge never reads a name this module did not pass. Who owns a name is
// Consul K/V's (src/apps/target-checks.ts). Pure.

import { isIP } from 'node:net';
import { portMappingsOf, type MarathonApp } from '../appspec/app.js';
import type { AppProblem } from '../appspec/fields.js';

/** marathon-lb's labels read here (port index 0 only). */
export const VHOST_LABEL = 'HAPROXY_0_VHOST';
export const REDIRECT_LABEL = 'HAPROXY_0_REDIRECT_TO_HTTPS';
export const HSTS_LABEL = 'HAPROXY_0_USE_HSTS';
const READ_LABELS = [VHOST_LABEL, REDIRECT_LABEL, HSTS_LABEL];
/** The route tags the edge reads (registrator's SERVICE_TAGS). */
export const DOMAIN_TAG = 'domain=';
export const REDIRECT_TAG = 'https-redirect';
export const HSTS_TAG = 'hsts';
/** Most public names of one app. */
export const MAX_DOMAINS = 20;
/** The stack's domain when the stack records none (settings' default). */
export const DEFAULT_STACK_DOMAIN = 'consul';

/** What the domain rules depend on: the stack, and the operator's allowance. */
export interface DomainRules {
  /** The stack's DNS domain (NAME.service.DOMAIN): no app may claim it or a name under it. */
  stackDomain?: string;
  /** allow.wildcardDomains: a `*.example.test` name may be claimed. */
  wildcards?: boolean;
}

/** One public name as the app wrote it, where, and normalised. */
export interface AppDomain {
  /** Spaces around it trimmed, lowercased. */
  name: string;
  /** As written. */
  raw: string;
  /** JSON pointer of the field that names it (/labels/HAPROXY_0_VHOST, /env/SERVICE_TAGS). */
  path: string;
}

/** The app's routes at the edge, read defensively (the document may have failed its schema). */
export interface AppRoutes {
  domains: AppDomain[];
  redirect: boolean;
  hsts: boolean;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const TAG_VARIABLE = /^SERVICE_(?:(\d+)_)?TAGS$/i;
const ROUTED_LABEL = /^HAPROXY_(\d+)_(VHOST|REDIRECT_TO_HTTPS|USE_HSTS)$/;

const obj = (x: unknown) =>
  x !== null && typeof x === 'object' && !Array.isArray(x) ? (x as Record<string, unknown>) : undefined;
const strings = (x: unknown): [string, string][] =>
  Object.entries(obj(x) ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string');
/** Spaces only: a newline or a tab at either end stays, and is refused (as the registrator does). */
const trimSpaces = (v: string) => v.replace(/^ +| +$/g, '');
const split = (v: string) => v.split(',').map(trimSpaces).filter(Boolean);

/** Registrator's tag variables (SERVICE_TAGS, SERVICE_<port>_TAGS; it matches SERVICE_ exactly). */
function tagVariables(env: unknown): { key: string; port?: number; value: string }[] {
  return strings(env)
    .filter(([k]) => k.startsWith('SERVICE_') && TAG_VARIABLE.test(k))
    .map(([key, value]) => {
      const port = TAG_VARIABLE.exec(key)![1];
      return { key, value, ...(port !== undefined ? { port: Number(port) } : {}) };
    });
}

/** Whether `tag` is one of the edge's route tags (any case: they are normalised, never passed as written). */
function isRouteTag(tag: string): boolean {
  const t = tag.toLowerCase();
  return t.startsWith(DOMAIN_TAG) || t === REDIRECT_TAG || t === HSTS_TAG;
}

/** The container port whose service the edge routes domains to (the first port mapping's). */
function routedPort(app: unknown): number | undefined {
  try {
    return portMappingsOf(app as MarathonApp)[0]?.containerPort;
  } catch {
    return undefined;
  }
}

/** A value for a one-line message: quoted, escapes for anything but printable ASCII, cut at 80. */
function shown(raw: string): string {
  const s = JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
  return s.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The app's public names, redirect and HSTS, from its labels and its tag variables. */
export function appRoutes(app: unknown): AppRoutes {
  const doc = obj(app);
  const labels = Object.fromEntries(strings(doc?.['labels']));
  const domains: AppDomain[] = [];
  const add = (raw: string, path: string) => domains.push({ raw, name: trimSpaces(raw).toLowerCase(), path });
  if (labels[VHOST_LABEL] !== undefined)
    for (const raw of split(labels[VHOST_LABEL])) add(raw, `/labels/${VHOST_LABEL}`);
  const yes = (v: string | undefined) => v !== undefined && trimSpaces(v).toLowerCase() === 'true';
  let redirect = yes(labels[REDIRECT_LABEL]);
  let hsts = yes(labels[HSTS_LABEL]);
  for (const { key, value } of tagVariables(doc?.['env'])) {
    for (const tag of split(value)) {
      const t = tag.toLowerCase();
      if (t.startsWith(DOMAIN_TAG)) add(tag.slice(DOMAIN_TAG.length), `/env/${key}`);
      else if (t === REDIRECT_TAG) redirect = true;
      else if (t === HSTS_TAG) hsts = true;
    }
  }
  return { domains, redirect, hsts };
}

/** The app's distinct public names (normalised), in the order first given. */
export function appDomains(app: unknown): string[] {
  return [...new Set(appRoutes(app).domains.map((d) => d.name))];
}

/**
 * Why `raw` (spaces trimmed, lowercased) may not be a public name of an app,
 * with the fix; undefined when it may.
 */
export function domainProblem(
  raw: string,
  rules: DomainRules = {},
): { problem: string; fix: string } | undefined {
  const name = trimSpaces(raw).toLowerCase();
  const stack = (rules.stackDomain ?? DEFAULT_STACK_DOMAIN).toLowerCase();
  const v = shown(raw);
  const plain = 'lowercase letters, digits, dashes and dots, e.g. app.example.com';
  if (!name) return { problem: 'a public name is empty', fix: 'give a host name, e.g. app.example.com' };
  if (/[^\x21-\x7e]/.test(name))
    return {
      problem: `${v} contains a space, a control character or a non-ASCII letter`,
      fix: `use ${plain} (an IDN in its xn-- form)`,
    };
  if (name.endsWith('.')) return { problem: `${v} ends with a dot`, fix: 'drop the trailing dot' };
  if (name.length > 253)
    return { problem: `${v} is ${name.length} characters long`, fix: 'use at most 253 characters' };
  if (isIP(name) || isIP(name.replace(/^\[|\]$/g, '')))
    return { problem: `${v} is an IP address`, fix: `give a host name (${plain})` };
  const labels = name.split('.');
  const wildcard = labels[0] === '*';
  const rest = wildcard ? labels.slice(1) : labels;
  if (name.includes('*') && (!wildcard || rest.some((l) => l.includes('*'))))
    return {
      problem: `${v} has "*" other than as its whole first label`,
      fix: 'a wildcard is "*.example.com", nothing else',
    };
  const bad = rest.find((l) => !LABEL.test(l));
  if (bad !== undefined)
    return {
      problem: `${v} has the label ${shown(bad)}, which is not a DNS label (RFC 1123)`,
      fix: `use ${plain}; each label at most 63, not starting or ending with a dash`,
    };
  if (rest.length < 2)
    return {
      problem: `${v} is not under a domain (it needs two labels at least${wildcard ? ' after "*."' : ''})`,
      fix: 'give a name with a domain, e.g. app.example.com',
    };
  if (/^\d+$/.test(rest[rest.length - 1]!))
    return {
      problem: `${v} ends in a numeric label, like an IP address`,
      fix: `give a host name (${plain})`,
    };
  // Top-level domains begin with a letter; HAProxy's template routes nothing else.
  if (!/^[a-z]/.test(rest[rest.length - 1]!))
    return {
      problem: `${v} has a last label that does not begin with a letter (no top-level domain does)`,
      fix: `give a host name under a real top-level domain (${plain})`,
    };
  if (rest[rest.length - 1] === 'localhost')
    return { problem: `${v} is localhost's`, fix: 'give a public host name, e.g. app.example.com' };
  const under = rest.join('.');
  if (under === stack || under.endsWith(`.${stack}`))
    return {
      problem: `${v} is the stack's own domain ${stack} or under it`,
      fix: `the stack serves NAME.service.${stack} already; give a public name outside ${stack}`,
    };
  if (wildcard && !rules.wildcards)
    return {
      problem: `${v} is a wildcard: it covers every name under ${under}, other apps' too`,
      fix: 'name each host, or deploy with --allow-wildcard-domains (the operator only)',
    };
  return undefined;
}

/**
 * Every refusal of the app's public names and route settings: each bad name
 * (with the field that gave it), more than MAX_DOMAINS, HAPROXY_<n>_ settings
 * of another port index, a redirect or HSTS label that is not true/false, and
 * route tags on a port the edge does not route.
 */
export function domainProblems(app: unknown, rules: DomainRules = {}): AppProblem[] {
  const out: AppProblem[] = [];
  const doc = obj(app);
  const routes = appRoutes(app);
  const seen = new Set<string>();
  for (const d of routes.domains) {
    const p = domainProblem(d.raw, rules);
    if (p) out.push({ path: d.path, ...p });
    seen.add(d.name);
  }
  if (seen.size > MAX_DOMAINS)
    out.push({
      path: routes.domains[0]!.path,
      problem: `${seen.size} public names is more than ${MAX_DOMAINS} for one app`,
      fix: `give at most ${MAX_DOMAINS} (a wildcard covers many, with --allow-wildcard-domains)`,
    });
  for (const [key, value] of strings(doc?.['labels'])) {
    const m = ROUTED_LABEL.exec(key);
    if (m && m[1] !== '0')
      out.push({
        path: `/labels/${key}`,
        problem: `${key} is for port index ${m[1]}; only port index 0 is routed by name`,
        fix: `use HAPROXY_0_${m[2]} (the first port), or give the other port an app of its own`,
      });
    if ((key === REDIRECT_LABEL || key === HSTS_LABEL) && !/^(true|false)$/i.test(trimSpaces(value)))
      out.push({
        path: `/labels/${key}`,
        problem: `${shown(value)} is not true or false`,
        fix: `set ${key} to "true" or "false"`,
      });
  }
  const port = routedPort(app);
  const first = port !== undefined ? ` (${port})` : '';
  for (const { key, port: p, value } of tagVariables(doc?.['env'])) {
    const tag = split(value).find(isRouteTag);
    if (p === undefined || p === port || tag === undefined) continue;
    out.push({
      path: `/env/${key}`,
      problem: `tag ${shown(tag)} is on port ${p}; only the first port${first} is routed by name`,
      fix: 'put the route tags (domain=, https-redirect, hsts) in env.SERVICE_TAGS',
    });
  }
  return out;
}

/**
 * The route tags the scheduler gives the registrator: `domain=D` for each
 * distinct public name (normalised), then `https-redirect` and `hsts` when
 * set. For an app the policy passed.
 */
export function routeTags(app: MarathonApp): string[] {
  const r = appRoutes(app);
  return [
    ...appDomains(app).map((d) => `${DOMAIN_TAG}${d}`),
    ...(r.redirect ? [REDIRECT_TAG] : []),
    ...(r.hsts ? [HSTS_TAG] : []),
  ];
}

/**
 * The container env with the route tags in place: the app's own route tags
 * (as written) taken out of every tag variable, routeTags() appended to
 * SERVICE_TAGS after the app's other tags (no tag twice). With more than one
 * port, or a SERVICE_<port>_TAGS of the first port (it replaces SERVICE_TAGS
 * for that port), they go to the first port's variable instead, so the edge
 * routes the names to one service. `env` unchanged when there is nothing to place.
 */
export function withRouteTags(app: MarathonApp, env: Record<string, string>): Record<string, string> {
  const tags = routeTags(app);
  const vars = tagVariables(env);
  if (!tags.length && !vars.some((x) => split(x.value).some(isRouteTag))) return env;
  const out = { ...env };
  const own = (v: string) => split(v).filter((t) => !isRouteTag(t));
  for (const x of vars) out[x.key] = own(x.value).join(',');
  const port = routedPort(app);
  const portVar = port !== undefined ? vars.find((x) => x.port === port)?.key : undefined;
  const many = portMappingsOf(app).length > 1;
  const key = portVar ?? (many && port !== undefined ? `SERVICE_${port}_TAGS` : 'SERVICE_TAGS');
  const base = own(env[key] ?? (key === 'SERVICE_TAGS' ? '' : (env['SERVICE_TAGS'] ?? '')));
  out[key] = [...new Set([...base, ...tags])].join(',');
  return out;
}

/** Warnings for marathon-lb labels the edge does not read (they are kept, and ignored). */
export function domainWarnings(app: MarathonApp): string[] {
  // HAPROXY_<n>_VHOST and its kin are read (n = 0) or refused (domainProblems).
  return Object.keys(obj(app)?.['labels'] ?? {})
    .filter((k) => /^HAPROXY_/i.test(k) && !ROUTED_LABEL.test(k))
    .map((k) => `labels.${shown(k).slice(1, -1)}: ignored; the edge reads only ${READ_LABELS.join(', ')}`);
}
