// Marathon app definitions: the one input format for deploying apps, whether
// the scheduler is Marathon itself or Docker swarm. Validated at the edge with
// ajv against stacks/schema/marathon-app.schema.json; every problem is reported
// by its JSON path with what to do about it.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
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

/** Every problem in an app definition (empty when valid). Pure apart from the cached schema. */
export function appProblems(json: unknown): AppProblem[] {
  const validate = validator();
  const out: AppProblem[] = [];
  if (!validate(json)) {
    for (const e of validate.errors ?? []) {
      const p = describe(e);
      if (!out.some((o) => o.path === p.path && o.problem === p.problem)) out.push(p);
    }
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

/** Validate an app definition; returns it typed or throws one PaasboxError listing every problem. */
export function validateApp(json: unknown, source = 'app definition'): MarathonApp {
  const problems = appProblems(json);
  if (problems.length) {
    const lines = problems.map((p) => `${p.path}: ${p.problem} (fix: ${p.fix})`);
    throw new PaasboxError(
      `${source} is not a valid Marathon app: ${problems.length} problem(s): ${lines[0]}${problems.length > 1 ? ' ...' : ''}`,
      problems.map((p) => `${p.path}: ${p.fix}`).join('; '),
      lines.join('\n'),
    );
  }
  return json as MarathonApp;
}

/** Parse JSON text and validate; a syntax error is a PaasboxError too. */
export function parseApp(text: string, source = 'app definition'): MarathonApp {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new PaasboxError(`${source} is not JSON: ${(e as Error).message}`, 'fix the JSON syntax (a Marathon app is one JSON object)');
  }
  return validateApp(json, source);
}

/** The port mappings wherever the document puts them (Marathon >= 1.5 or the older docker location). */
export function portMappingsOf(app: MarathonApp): MarathonPortMapping[] {
  return app.container?.portMappings ?? app.container?.docker.portMappings ?? [];
}

/** Normalised app id: always starting with a slash, no trailing slash. */
export function normaliseId(id: string): string {
  return '/' + id.replace(/^\/+|\/+$/g, '');
}

function describe(e: ErrorObject): AppProblem {
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
    case 'pattern':
      return {
        path,
        problem: `does not match ${String(params.pattern)}`,
        fix: path === '/id' ? 'use lowercase letters, digits, dots and dashes, segments separated by / (e.g. /python1)' : 'use lowercase letters, digits and dashes',
      };
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
