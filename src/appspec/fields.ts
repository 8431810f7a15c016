// The app format's field grammar: values that must never reach a command line
// as more than one value (an image reference, a mount path, a docker option,
// registrator's service name and tags), each problem named by its JSON path
// with what to do about it. Pure; the schema carries the same rules as
// patterns, for editors.
import type { MarathonApp } from './app.js';

export interface AppProblem {
  /** JSON pointer into the app definition, "/" for the document itself. */
  path: string;
  problem: string;
  fix: string;
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
/**
 * Source of the image reference regex; the schema carries the same pattern (a unit test keeps them equal).
 */
export const IMAGE_REFERENCE_PATTERN = `^(?:${domain}/)?${pathComponent}(?:/${pathComponent})*(?::${tag})?(?:@${digest})?$`;
const imageReference = new RegExp(IMAGE_REFERENCE_PATTERN);

/** True when `image` is a docker image reference (e.g. registry:5000/team/app:1.2@sha256:...). */
export function isImageReference(image: string): boolean {
  // Docker's own limit on the name part (before the tag and digest).
  return imageReference.test(image) && image.replace(/@.*$/, '').replace(/:[\w][\w.-]*$/, '').length <= 255;
}

// Characters that would split a `--mount type=bind,source=...` spec (comma, a
// CSV quote) or a line anywhere it is logged or rendered.
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const MOUNT_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029,"]/u;
const MOUNT_PATH = /^\/[A-Za-z0-9._/-]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function describeChar(s: string, re: RegExp): string {
  const c = re.exec(s)?.[0] ?? '';
  return c === ','
    ? 'a comma'
    : c === '"'
      ? 'a double quote'
      : `the control character U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
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
export function fieldProblem(path: string, value: unknown): AppProblem | undefined {
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
      return {
        path,
        problem: `${v} contains ${describeChar(value, MOUNT_UNSAFE)}, which would change the mount's options`,
        fix: 'use a path without commas, double quotes or control characters',
      };
    }
    if (!value.startsWith('/'))
      return { path, problem: `${v} is not an absolute path`, fix: 'give an absolute path starting with /' };
    // Swarm expands Go templates ({{...}}) in a mount's source on each node,
    // after every check here: only plain path characters pass.
    if (!MOUNT_PATH.test(value)) {
      return {
        path,
        problem: `${v} has characters other than letters, digits, ".", "_", "-" and "/"`,
        fix: 'use a plain path, e.g. /srv/paasbox/apps/APP/data',
      };
    }
    return undefined;
  }
  if (/^\/container\/docker\/parameters\/\d+\/key$/.test(path)) {
    return PARAMETER_KEY.test(value)
      ? undefined
      : {
          path,
          problem: `${v} is not a docker option name`,
          fix: 'give the long option without dashes, e.g. "label"',
        };
  }
  if (/^\/container\/docker\/parameters\/\d+\/value$/.test(path)) {
    return CONTROL.test(value)
      ? {
          path,
          problem: `contains ${describeChar(value, CONTROL)}`,
          fix: 'remove control characters (newlines, tabs) from the value',
        }
      : undefined;
  }
  if (/^\/env\/[^/]+$/.test(path) && !ENV_NAME.test(path.slice(5))) {
    return {
      path,
      problem: `${JSON.stringify(path.slice(5))} is not an environment variable name`,
      fix: 'use letters, digits and underscores, not starting with a digit',
    };
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
    return CONTROL.test(value)
      ? {
          path,
          problem: `contains ${describeChar(value, CONTROL)}`,
          fix: 'write the tags on one line, comma-separated, e.g. http,weight=3,path=/api',
        }
      : undefined;
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
  const obj = (x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x) ? (x as Record<string, unknown>) : undefined;
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
  for (const [k, value] of Object.entries(env ?? {}))
    check(`/env/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, value);
  return out;
}
