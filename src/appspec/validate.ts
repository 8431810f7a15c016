// Validating an app definition at the edge: ajv against
// stacks/schema/marathon-app.schema.json, then the document's own rules
// (something to run, port indexes) and each field's grammar (fields.ts).
// Every problem is reported by its JSON path with what to do about it.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Ajv as AjvClass, ErrorObject, ValidateFunction } from 'ajv';
import { PaasboxError } from '../errors.js';
import { repoPath } from '../paths.js';
import { portMappingsOf, type MarathonApp } from './app.js';
import { fieldProblem, fieldProblems, type AppProblem } from './fields.js';

/** Path of the app format's JSON schema in the repository. */
export function marathonSchemaPath(): string {
  return repoPath('stacks', 'schema', 'marathon-app.schema.json');
}

function readSchema(): string {
  try {
    return readFileSync(marathonSchemaPath(), 'utf8');
  } catch {
    throw new PaasboxError(
      'stacks/schema/marathon-app.schema.json not found next to the paasbox code',
      'run from a complete paasbox checkout',
    );
  }
}

let compiled: ValidateFunction | undefined;
let schemaDoc: Record<string, unknown> | undefined;

function validator(): ValidateFunction {
  if (!compiled) {
    schemaDoc = JSON.parse(readSchema()) as Record<string, unknown>;
    // allErrors: report every problem at once; strictTuples off for the [field, op, value?] constraint tuple.
    // ajv loads here, at the first app validated, not at every command's start.
    const { Ajv } = createRequire(import.meta.url)('ajv') as { Ajv: typeof AjvClass };
    const ajv = new Ajv({ allErrors: true, strictTuples: false });
    compiled = ajv.compile(schemaDoc);
  }
  return compiled;
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
    out.push({
      path: '/',
      problem: 'the app has neither container nor cmd',
      fix: 'add container.docker.image (paasbox deploys docker images)',
    });
  }
  if (app.cmd && app.args && app.args.length) {
    out.push({
      path: '/args',
      problem: 'cmd and args are both set',
      fix: 'use cmd (a shell command) or args (entrypoint arguments), not both',
    });
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
      out.push({
        path: `/healthChecks/${i}/command`,
        problem: 'a COMMAND health check has no command',
        fix: 'add "command": {"value": "..."}',
      });
    }
    if (proto !== 'COMMAND' && hc.port === undefined && (hc.portIndex ?? 0) >= portCount) {
      out.push({
        path: `/healthChecks/${i}/portIndex`,
        problem: `portIndex ${hc.portIndex ?? 0} does not address one of the app's ${portCount} port(s)`,
        fix: portCount
          ? `use a portIndex below ${portCount}`
          : 'add container.portMappings (or ports) for the port to check',
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
export function parseApp(
  text: string,
  source = 'app definition',
  check: (json: unknown, source: string) => MarathonApp = validateApp,
): MarathonApp {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new PaasboxError(
      `${source} is not JSON: ${(e as Error).message}`,
      'fix the JSON syntax (a Marathon app is one JSON object)',
    );
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

function describe(e: ErrorObject, json: unknown): AppProblem {
  const path = e.instancePath || '/';
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return {
        path,
        problem: `missing required field "${String(params.missingProperty)}"`,
        fix: `add "${String(params.missingProperty)}"`,
      };
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
      return {
        path,
        problem: `value is not supported`,
        fix: `use one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'const':
      return {
        path,
        problem: `value is not supported`,
        fix: `use ${JSON.stringify(params.allowedValue)} or leave the field out`,
      };
    case 'type':
      return {
        path,
        problem: `must be ${String(params.type)}`,
        fix: `give a ${String(params.type).replace(',', ' or ')}`,
      };
    case 'pattern': {
      const known = fieldProblem(path, valueAt(json, path));
      if (known) return known;
      return {
        path,
        problem: `does not match ${String(params.pattern)}`,
        fix:
          path === '/id'
            ? 'use lowercase letters, digits, dots and dashes, segments separated by / (e.g. /python1)'
            : 'use lowercase letters, digits and dashes',
      };
    }
    case 'minimum':
    case 'maximum':
      return {
        path,
        problem: `must be ${String(params.comparison)} ${String(params.limit)}`,
        fix: `use a value ${String(params.comparison)} ${String(params.limit)}`,
      };
    case 'minLength':
      return { path, problem: 'must not be empty', fix: 'give a value' };
    case 'minItems':
    case 'maxItems':
      return {
        path,
        problem: e.message ?? e.keyword,
        fix: 'write a constraint as [field, operator] or [field, operator, value]',
      };
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
      cur[j] = Math.min(
        (prev[j] ?? 0) + 1,
        (cur[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
