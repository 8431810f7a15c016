// Load stacks/paasbox.yaml, validate it against stacks/schema/stack.schema.json
// and the cross-references a schema cannot express, and return it typed.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { PaasboxError } from '../errors.js';
import type { Healthcheck, StackModel } from './model.js';
import { assertValid, projectValidator } from './validate.js';
import { repoPath } from '../paths.js';

export const DEFAULT_STACK_PATH = repoPath('stacks', 'paasbox.yaml');

/** Validate an already parsed stack definition (pure apart from reading the schema). */
export function validateStackModel(obj: unknown, where = 'stacks/paasbox.yaml'): StackModel {
  assertValid(
    projectValidator('stack'),
    obj,
    where,
    `correct the field named in ${where}, see stacks/schema/stack.schema.json`,
  );
  const model = obj as StackModel;
  for (const [name, svc] of Object.entries(model.services)) {
    for (const dep of svc.dependsOn ?? []) {
      if (!model.services[dep])
        throw new PaasboxError(
          `${where} is invalid: services.${name}.dependsOn: unknown service "${dep}"`,
          `use one of: ${Object.keys(model.services).join(', ')}`,
        );
      if (dep === name)
        throw new PaasboxError(
          `${where} is invalid: services.${name}.dependsOn: a service cannot depend on itself`,
          'remove it',
        );
    }
    const by = svc.replacedBy;
    if (by !== undefined && (!model.services[by] || by === name)) {
      const why = by === name ? 'a service cannot replace itself' : `unknown service "${by}"`;
      const others = Object.keys(model.services).filter((n) => n !== name);
      throw new PaasboxError(
        `${where} is invalid: services.${name}.replacedBy: ${why}`,
        `name another service: one of ${others.join(', ')}`,
      );
    }
    const checks: [string, Healthcheck | undefined][] = [
      ['healthcheck', svc.healthcheck],
      ...Object.entries(svc.sources).map(([k, v]): [string, Healthcheck | undefined] => [
        `sources.${k}.healthcheck`,
        v.healthcheck,
      ]),
    ];
    for (const [field, hc] of checks) {
      if (hc && hc.test[0] !== 'CMD' && hc.test[0] !== 'CMD-SHELL')
        throw new PaasboxError(
          `${where} is invalid: services.${name}.${field}.test[0]: must be CMD or CMD-SHELL`,
          'start the test with "CMD" (argv) or "CMD-SHELL" (one shell string)',
        );
    }
    const seen = new Set<string>();
    for (const [i, p] of svc.ports.entries()) {
      if (seen.has(p.name))
        throw new PaasboxError(
          `${where} is invalid: services.${name}.ports[${i}].name: duplicate port name "${p.name}"`,
          'give every port of a service its own name',
        );
      seen.add(p.name);
    }
  }
  checkAcyclic(model, where);
  return model;
}

function checkAcyclic(model: StackModel, where: string): void {
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (n: string, path: string[]): void => {
    if (state.get(n) === 'done') return;
    if (state.get(n) === 'visiting')
      throw new PaasboxError(
        `${where} is invalid: dependsOn cycle ${[...path, n].join(' -> ')}`,
        'remove one of the dependencies',
      );
    state.set(n, 'visiting');
    for (const d of model.services[n]?.dependsOn ?? []) visit(d, [...path, n]);
    state.set(n, 'done');
  };
  for (const n of Object.keys(model.services)) visit(n, []);
}

/** Read and validate a stack file (default: the repository's stacks/paasbox.yaml). */
export function loadStackModel(path: string = DEFAULT_STACK_PATH): StackModel {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PaasboxError(
      `stack definition ${path} cannot be read`,
      'run from a paasbox checkout or pass the stack file path',
      e instanceof Error ? e.message : String(e),
    );
  }
  let obj: unknown;
  try {
    obj = parse(text);
  } catch (e) {
    throw new PaasboxError(
      `stack definition ${path} is not valid YAML`,
      'fix the YAML syntax at the position shown',
      e instanceof Error ? e.message : String(e),
    );
  }
  return validateStackModel(obj, path);
}
