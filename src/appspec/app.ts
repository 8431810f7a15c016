// Marathon app definitions: the one input format for deploying apps, whether
// the scheduler is Marathon itself or Docker swarm. Validated at the edge with
// ajv against stacks/schema/marathon-app.schema.json; every problem is reported
// by its JSON path with what to do about it.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type { Ajv as AjvClass, ErrorObject, ValidateFunction } from 'ajv';
import { PaasboxError } from '../errors.js';

export interface MarathonPortMapping {
  containerPort: number;
  hostPort?: number;
  servicePort?: number;
  protocol?: 'tcp' | 'udp' | 'udp,tcp' | 'tcp,udp';
  name?: string;
  labels?: Record<string, string>;
}

export interface MarathonHealthCheck {
  protocol?: 'HTTP' | 'TCP' | 'MESOS_HTTP' | 'COMMAND';
  path?: string;
  portIndex?: number;
  port?: number;
  command?: { value: string };
  gracePeriodSeconds?: number;
  intervalSeconds?: number;
  timeoutSeconds?: number;
  maxConsecutiveFailures?: number;
  delaySeconds?: number;
  ignoreHttp1xx?: boolean;
}

export interface MarathonDocker {
  image: string;
  network?: 'BRIDGE' | 'HOST';
  portMappings?: MarathonPortMapping[];
  forcePullImage?: boolean;
  privileged?: false;
  parameters?: { key: string; value: string }[];
}

export interface MarathonContainer {
  type: 'DOCKER';
  docker: MarathonDocker;
  portMappings?: MarathonPortMapping[];
  volumes?: { containerPath: string; hostPath: string; mode?: 'RO' | 'RW' }[];
}

export type MarathonConstraint = [string, 'UNIQUE' | 'CLUSTER' | 'GROUP_BY' | 'LIKE' | 'UNLIKE' | 'MAX_PER' | 'IS', string?];

export interface MarathonApp {
  id: string;
  cmd?: string | null;
  args?: string[] | null;
  user?: string | null;
  cpus?: number;
  mem?: number;
  disk?: number;
  instances?: number;
  container?: MarathonContainer;
  env?: Record<string, string>;
  labels?: Record<string, string>;
  healthChecks?: MarathonHealthCheck[];
  upgradeStrategy?: { minimumHealthCapacity?: number; maximumOverCapacity?: number };
  constraints?: MarathonConstraint[];
  ports?: number[];
  requirePorts?: boolean;
  backoffSeconds?: number;
  backoffFactor?: number;
  maxLaunchDelaySeconds?: number;
}

/** Path of the JSON schema, found from both src/ (ts) and dist/src/ (js). */
export function marathonSchemaPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'stacks', 'schema', 'marathon-app.schema.json');
    try {
      readFileSync(p);
      return p;
    } catch {
      dir = dirname(dir);
    }
  }
  throw new PaasboxError('stacks/schema/marathon-app.schema.json not found next to the paasbox code', 'run from a complete paasbox checkout');
}

let compiled: ValidateFunction | undefined;
let schemaDoc: Record<string, unknown> | undefined;

function validator(): ValidateFunction {
  if (!compiled) {
    schemaDoc = JSON.parse(readFileSync(marathonSchemaPath(), 'utf8')) as Record<string, unknown>;
    // allErrors: report every problem at once; strictTuples off for the [field, op, value?] constraint tuple.
    // ajv loads here, at the first app validated, not at every command's start.
    const { Ajv } = createRequire(import.meta.url)('ajv') as { Ajv: typeof AjvClass };
    const ajv = new Ajv({ allErrors: true, strictTuples: false });
    compiled = ajv.compile(schemaDoc);
  }
  return compiled;
}

export interface AppProblem {
  /** JSON pointer into the app definition, "/" for the document itself. */
  path: string;
  problem: string;
  fix: string;
}

/**
 * Every problem of form in an app definition (empty when valid): the schema
 * and each field's grammar. What the app may ask of the hosts is the app
 * policy's (src/apps/policy.ts). Pure apart from the cached schema.
 */
export function appProblems(json: unknown): AppProblem[] {
  const validate = validator();
  const out: AppProblem[] = [];
  const add = (p: AppProblem) => {
    if (!out.some((o) => o.path === p.path && o.problem === p.problem)) out.push(p);
  };
  if (!validate(json)) {
    for (const e of validate.errors ?? []) add(describe(e, json));
    // The field grammar too (it tolerates a malformed document), so one
    // run shows everything that stands between the app and a deploy.
    fieldProblems(json as MarathonApp).forEach(add);
    return out;
  }
  const app = json as MarathonApp;
  // Marathon needs something to run: a command or a container.
  if (!app.container && !app.cmd && !(app.args && app.args.length)) {
    out.push({ path: '/', problem: 'the app has neither container nor cmd', fix: 'add container.docker.image (paasbox deploys docker images)' });
  }
  if (app.cmd && app.args && app.args.length) {
    out.push({ path: '/args', problem: 'cmd and args are both set', fix: 'use cmd (a shell command) or args (entrypoint arguments), not both' });
  }
  out.push(...fieldProblems(app));
  const mappings = portMappingsOf(app);
  if (app.container?.portMappings && app.container.docker.portMappings) {
    out.push({
      path: '/container/docker/portMappings',
      problem: 'port mappings are given both in container.portMappings and container.docker.portMappings',
      fix: 'keep only container.portMappings',
    });
  }
  const portCount = mappings.length || app.ports?.length || 0;
  (app.healthChecks ?? []).forEach((hc, i) => {
    const proto = hc.protocol ?? 'HTTP';
    if (proto === 'COMMAND' && !hc.command) {
      out.push({ path: `/healthChecks/${i}/command`, problem: 'a COMMAND health check has no command', fix: 'add "command": {"value": "..."}' });
    }
    if (proto !== 'COMMAND' && hc.port === undefined && (hc.portIndex ?? 0) >= portCount) {
      out.push({
        path: `/healthChecks/${i}/portIndex`,
        problem: `portIndex ${hc.portIndex ?? 0} does not address one of the app's ${portCount} port(s)`,
        fix: portCount ? `use a portIndex below ${portCount}` : 'add container.portMappings (or ports) for the port to check',
      });
    }
  });
  return out;
}

/**
 * Validate an app definition; returns it typed or throws one PaasboxError
 * whose problem is one line naming the first field (container.docker.image)
 * and whose detail lists every problem.
 */
export function validateApp(json: unknown, source = 'app definition', extra: AppProblem[] = []): MarathonApp {
  const problems = [...appProblems(json), ...extra];
  throwProblems(problems, source);
  return json as MarathonApp;
}

/** One PaasboxError for `problems` (none: nothing), the first named in its one line. */
export function throwProblems(problems: AppProblem[], source: string): void {
  if (problems.length) {
    const lines = problems.map((p) => `${fieldName(p.path)}: ${p.problem} (fix: ${p.fix})`);
    const first = problems[0]!;
    throw new PaasboxError(
      `${source} is not a valid Marathon app: ${fieldName(first.path)}: ${first.problem}${problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : ''}`,
      problems.map((p) => `${fieldName(p.path)}: ${p.fix}`).join('; '),
      lines.join('\n'),
    );
  }
}

/** Parse JSON text (a syntax error is a PaasboxError too); validated by `check`, by default its form. */
export function parseApp(text: string, source = 'app definition', check: (json: unknown, source: string) => MarathonApp = validateApp): MarathonApp {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new PaasboxError(`${source} is not JSON: ${(e as Error).message}`, 'fix the JSON syntax (a Marathon app is one JSON object)');
  }
  return check(json, source);
}

/** "/container/volumes/0/hostPath" → "container.volumes[0].hostPath"; "/" → "(the app)". */
export function fieldName(pointer: string): string {
  if (pointer === '/' || pointer === '') return '(the app)';
  return pointer
    .slice(1)
    .split('/')
    .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
}

// ---- field grammar: values that must never reach a command line as more than one value ----

// The docker reference grammar (github.com/distribution/reference, regexp.go):
// [domain[:port]/]path[:tag][@digest]. Nothing in it can start with "-", so an
// image can never be read as a flag by docker.
const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domain = `(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const tag = '[\\w][\\w.-]{0,127}';
const digest = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
/** Source of the image reference regex; the schema carries the same pattern (a unit test keeps them equal). */
export const IMAGE_REFERENCE_PATTERN = `^(?:${domain}/)?${pathComponent}(?:/${pathComponent})*(?::${tag})?(?:@${digest})?$`;
const imageReference = new RegExp(IMAGE_REFERENCE_PATTERN);

/** True when `image` is a docker image reference (e.g. registry:5000/team/app:1.2@sha256:...). */
export function isImageReference(image: string): boolean {
  // Docker's own limit on the name part (before the tag and digest).
  return imageReference.test(image) && image.replace(/@.*$/, '').replace(/:[\w][\w.-]*$/, '').length <= 255;
}

// Characters that would split a `--mount type=bind,source=...` spec (comma, a
// CSV quote) or a line anywhere it is logged or rendered.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
const MOUNT_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029,"]/u;
const MOUNT_PATH = /^\/[A-Za-z0-9._/-]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function describeChar(s: string, re: RegExp): string {
  const c = re.exec(s)?.[0] ?? '';
  return c === ',' ? 'a comma' : c === '"' ? 'a double quote' : `the control character U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** A path as docker resolves it (it cleans . and ..), /var/run folded into /run (its symlink). */
export function canonicalHostPath(p: string): string {
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  const clean = '/' + out.join('/');
  return clean === '/var/run' || clean.startsWith('/var/run/') ? clean.slice(4) : clean;
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const PARAMETER_KEY = /^[a-z][a-z0-9-]*$/;

/**
 * The value rules of single fields, whatever the options: the schema carries
 * the same rules as patterns (for editors), and a schema pattern error is
 * reported with the message here rather than the bare regex.
 */
function fieldProblem(path: string, value: unknown): AppProblem | undefined {
  if (typeof value !== 'string') return undefined;
  const v = JSON.stringify(value);
  if (path === '/container/docker/image') {
    if (isImageReference(value)) return undefined;
    return {
      path,
      problem: `${v} is not a docker image reference`,
      fix: 'give an image as [registry[:port]/]name[:tag][@digest], e.g. paasbox/simplewebapp-python:latest (lowercase name, no spaces, never starting with "-")',
    };
  }
  if (/^\/container\/volumes\/\d+\/(hostPath|containerPath)$/.test(path)) {
    if (MOUNT_UNSAFE.test(value)) {
      return { path, problem: `${v} contains ${describeChar(value, MOUNT_UNSAFE)}, which would change the mount's options`, fix: 'use a path without commas, double quotes or control characters' };
    }
    if (!value.startsWith('/')) return { path, problem: `${v} is not an absolute path`, fix: 'give an absolute path starting with /' };
    // Swarm expands Go templates ({{...}}) in a mount's source on each node,
    // after every check here: only plain path characters pass.
    if (!MOUNT_PATH.test(value)) {
      return { path, problem: `${v} has characters other than letters, digits, ".", "_", "-" and "/"`, fix: 'use a plain path, e.g. /srv/paasbox/apps/APP/data' };
    }
    return undefined;
  }
  if (/^\/container\/docker\/parameters\/\d+\/key$/.test(path)) {
    return PARAMETER_KEY.test(value) ? undefined : { path, problem: `${v} is not a docker option name`, fix: 'give the long option without dashes, e.g. "label"' };
  }
  if (/^\/container\/docker\/parameters\/\d+\/value$/.test(path)) {
    return CONTROL.test(value) ? { path, problem: `contains ${describeChar(value, CONTROL)}`, fix: 'remove control characters (newlines, tabs) from the value' } : undefined;
  }
  if (/^\/env\/[^/]+$/.test(path) && !ENV_NAME.test(path.slice(5))) {
    return { path, problem: `${JSON.stringify(path.slice(5))} is not an environment variable name`, fix: 'use letters, digits and underscores, not starting with a digit' };
  }
  if (/^\/env\/SERVICE_(\d+_)?NAME$/i.test(path)) {
    // The registrator refuses such a name, so the app would never be routed: say so now.
    if (DNS_LABEL.test(value)) return undefined;
    return {
      path,
      problem: `${v} is not a DNS label, so the registrator would not register the app`,
      fix: 'use lowercase letters, digits and dashes (at most 63, not starting or ending with a dash), e.g. python1',
    };
  }
  if (/^\/env\/SERVICE_(\d+_)?TAGS$/i.test(path)) {
    return CONTROL.test(value) ? { path, problem: `contains ${describeChar(value, CONTROL)}`, fix: 'write the tags on one line, comma-separated, e.g. http,weight=3,path=/api' } : undefined;
  }
  return undefined;
}

/** Each field's grammar (pure): image, paths, docker parameters, registrator's names and tags. */
export function fieldProblems(app: MarathonApp): AppProblem[] {
  const out: AppProblem[] = [];
  const check = (path: string, value: unknown) => {
    const p = fieldProblem(path, value);
    if (p) out.push(p);
  };
  // Defensive reads: this also runs on documents the schema refused.
  const obj = (x: unknown) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? (x as Record<string, unknown>) : undefined);
  const list = (x: unknown) => (Array.isArray(x) ? (x as unknown[]).map(obj) : []);
  const container = obj(obj(app)?.['container']);
  const docker = obj(container?.['docker']);
  if (docker) check('/container/docker/image', docker['image']);
  list(container?.['volumes']).forEach((v, i) => {
    check(`/container/volumes/${i}/containerPath`, v?.['containerPath']);
    check(`/container/volumes/${i}/hostPath`, v?.['hostPath']);
  });
  list(docker?.['parameters']).forEach((p, i) => {
    check(`/container/docker/parameters/${i}/value`, p?.['value']);
    check(`/container/docker/parameters/${i}/key`, p?.['key']);
  });
  const env = obj(obj(app)?.['env']);
  // Every variable's name, and each of registrator's name and tag variables (any case: it reads them so).
  for (const [k, value] of Object.entries(env ?? {})) check(`/env/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, value);
  return out;
}

/** The port mappings wherever the document puts them (Marathon >= 1.5 or the older docker location). */
export function portMappingsOf(app: MarathonApp): MarathonPortMapping[] {
  return app.container?.portMappings ?? app.container?.docker.portMappings ?? [];
}

/** Normalised app id: always starting with a slash, no trailing slash. */
export function normaliseId(id: string): string {
  return '/' + id.replace(/^\/+|\/+$/g, '');
}

function describe(e: ErrorObject, json: unknown): AppProblem {
  const path = e.instancePath || '/';
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { path, problem: `missing required field "${String(params.missingProperty)}"`, fix: `add "${String(params.missingProperty)}"` };
    case 'additionalProperties': {
      const name = String(params.additionalProperty);
      const allowed = allowedAt(e.schemaPath);
      const near = allowed.filter((a) => editDistance(a.toLowerCase(), name.toLowerCase()) <= 2);
      return {
        path: `${e.instancePath}/${name}`,
        problem: `unknown field "${name}"`,
        fix: near.length
          ? `did you mean ${near.map((n) => `"${n}"`).join(' or ')}?`
          : `remove it or correct the name${allowed.length ? ` (known here: ${allowed.join(', ')})` : ''}`,
      };
    }
    case 'enum':
      return { path, problem: `value is not supported`, fix: `use one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'const':
      return { path, problem: `value is not supported`, fix: `use ${JSON.stringify(params.allowedValue)} or leave the field out` };
    case 'type':
      return { path, problem: `must be ${String(params.type)}`, fix: `give a ${String(params.type).replace(',', ' or ')}` };
    case 'pattern': {
      const known = fieldProblem(path, valueAt(json, path));
      if (known) return known;
      return {
        path,
        problem: `does not match ${String(params.pattern)}`,
        fix: path === '/id' ? 'use lowercase letters, digits, dots and dashes, segments separated by / (e.g. /python1)' : 'use lowercase letters, digits and dashes',
      };
    }
    case 'minimum':
    case 'maximum':
      return { path, problem: `must be ${String(params.comparison)} ${String(params.limit)}`, fix: `use a value ${String(params.comparison)} ${String(params.limit)}` };
    case 'minLength':
      return { path, problem: 'must not be empty', fix: 'give a value' };
    case 'minItems':
    case 'maxItems':
      return { path, problem: e.message ?? e.keyword, fix: 'write a constraint as [field, operator] or [field, operator, value]' };
    default:
      return { path, problem: e.message ?? e.keyword, fix: 'see stacks/schema/marathon-app.schema.json' };
  }
}

/** The value at a JSON pointer ("/" is the document). */
function valueAt(json: unknown, pointer: string): unknown {
  let node = json;
  for (const seg of pointer.split('/').slice(1)) {
    if (seg === '') continue;
    node = (node as Record<string, unknown> | undefined)?.[seg.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node;
}

/** The property names the schema allows at an additionalProperties error's location. */
function allowedAt(schemaPath: string): string[] {
  // schemaPath like "#/properties/container/properties/docker/additionalProperties"
  const parts = schemaPath.replace(/^#\//, '').split('/').slice(0, -1);
  let node: unknown = schemaDoc;
  for (const p of parts) node = (node as Record<string, unknown> | undefined)?.[decodeURIComponent(p)];
  const props = (node as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props ? Object.keys(props) : [];
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
