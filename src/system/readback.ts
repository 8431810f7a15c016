// Data read back from a target (the compose file's x-paasbox record and labels,
// container ids, names and labels from docker ps/inspect) is checked here
// against an allowlist before it reaches a shell line, a file path or a DNS
// setting: a target whose files were edited, or an app posing as the stack,
// must not steer what paasbox runs as root there or on this machine. The
// formats are the settings' own (defined here, used by src/settings/settings.ts) and the stack
// schema's (stacks/schema/stack.schema.json). Quoting (shq) stays as well:
// this is the first line, quoting the second.

import { isIPv4 } from 'node:net';
import { PaasboxError } from '../errors.js';

/** The settings' formats (src/settings/settings.ts checks its input with them). */
export const HOSTNAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
export const DOMAIN_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
export const PROJECT_RE = /^[a-z0-9][a-z0-9_-]*$/;

/** stack.schema.json: services' propertyNames, and a port's name. */
const SERVICE_RE = /^[a-z][a-z0-9-]*$/;
const PORT_NAME = '[a-z][a-z0-9]*';
/** generate.ts's paasbox.ports label: name=port/proto, comma-separated ('' when none). */
const PORTS_LABEL_RE = new RegExp(`^(${PORT_NAME}=\\d{1,5}/(tcp|udp))(,${PORT_NAME}=\\d{1,5}/(tcp|udp))*$`);
/** Docker's own container name rule (daemon/names: validContainerNamePattern). */
const CONTAINER_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** A container id as docker ps -q (12) or docker inspect (64) prints it. */
const CONTAINER_ID_RE = /^[0-9a-f]{12}(?:[0-9a-f]{52})?$/;
/** Free text shown to the user (a reason): no control characters. */
const TEXT_RE = /^[^\p{Cc}\u2028\u2029]*$/u;

export const READBACK_FORMATS = {
  'dns-name': { test: (v: string) => DOMAIN_RE.test(v), what: 'a DNS name' },
  hostname: { test: (v: string) => HOSTNAME_RE.test(v), what: 'a host name' },
  ipv4: { test: (v: string) => isIPv4(v), what: 'an IPv4 address' },
  project: { test: (v: string) => PROJECT_RE.test(v), what: 'a compose project name' },
  service: { test: (v: string) => SERVICE_RE.test(v), what: 'a service name' },
  'port-name': { test: (v: string) => new RegExp(`^${PORT_NAME}$`).test(v), what: 'a port name' },
  'port-number': {
    test: (v: string) => /^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535,
    what: 'a port number',
  },
  'ports-label': {
    test: (v: string) => v === '' || (PORTS_LABEL_RE.test(v) && portsInRange(v)),
    what: 'a ports label (name=port/tcp,...)',
  },
  'image-source': {
    test: (v: string) => v === 'local' || v === 'registry',
    what: 'an image source (local, registry)',
  },
  'container-name': { test: (v: string) => CONTAINER_NAME_RE.test(v), what: 'a container name' },
  'container-id': { test: (v: string) => CONTAINER_ID_RE.test(v), what: 'a container id' },
  text: { test: (v: string) => TEXT_RE.test(v), what: 'text without control characters' },
} as const;

export type ReadBackFormat = keyof typeof READBACK_FORMATS;

function portsInRange(label: string): boolean {
  return [...label.matchAll(/=(\d+)\//g)].every((m) => Number(m[1]) >= 1 && Number(m[1]) <= 65535);
}

/**
 * A value read back from a target failed its allowlist (callers that swallow read errors let this one
 * through).
 */
export class ReadBackError extends PaasboxError {}

export const isReadBackError = (e: unknown): e is ReadBackError => e instanceof ReadBackError;

/** Shown safely: JSON-quoted (a newline prints as \n), cut at 60 characters. */
export function showValue(v: unknown): string {
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}...` : s);
}

/** Whether value is a string in the format. */
export function isReadBack(value: unknown, format: ReadBackFormat): value is string {
  return typeof value === 'string' && READBACK_FORMATS[format].test(value);
}

/**
 * value when it is a string in the format; else a ReadBackError: "<where> has
 * <field> "<value>": not <format>" with the fix given.
 */
export function checkReadBack(
  where: string,
  field: string,
  value: unknown,
  format: ReadBackFormat,
  fix: string,
): string {
  if (isReadBack(value, format)) return value;
  const problem = `${where} has ${field} ${showValue(value)}: not ${READBACK_FORMATS[format].what}`;
  throw new ReadBackError(problem, fix, undefined, 'target');
}

/**
 * For a read that may come back empty (.catch(keepReadBackError)): undefined, but a refused value stays an
 * error.
 */
export function keepReadBackError(e: unknown): undefined {
  if (isReadBackError(e)) throw e;
  return undefined;
}
