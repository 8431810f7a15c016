// The `acme:` settings: where the ACME renewer (the stack's acme service,
// src/acme/) asks for the certificates of the apps' public names, and when.
// Without a directory nothing is ever requested. paasbox.yaml writes
// `acme: { directory, email, directoryCa, renewDays }`; generation records
// them in the compose file's x-paasbox.acme (read back as the recorded layer)
// and hands directory, email and renewDays to the acme service as
// ${ACME_DIRECTORY}, ${ACME_EMAIL} and ${ACME_RENEW_DAYS}. directoryCa is a
// file on the build host: install copies its PEM into the secrets. Pure.
import { PaasboxError } from '../errors.js';

export interface AcmeSettings {
  /** The ACME directory URL (https); absent: nothing is requested. */
  directory?: string;
  /** The ACME account's contact address. */
  email?: string;
  /** A PEM file on the build host: the CA the directory's HTTPS chains to (Pebble, step-ca). */
  directoryCa?: string;
  /** Renew a certificate this many days before it expires. */
  renewDays: number;
}

/** paasbox.yaml's acme: block as written ("" switches a recorded value off). */
export interface AcmeFile {
  directory?: string;
  email?: string;
  directoryCa?: string;
  renewDays?: number;
}

export const DEFAULT_ACME: AcmeSettings = { renewDays: 30 };

/** renewDays' bounds: ACME certificates live 90 days (Let's Encrypt), some 6 or 47. */
export const RENEW_DAYS_MIN = 1;
export const RENEW_DAYS_MAX = 60;

/** An https URL of plain characters (no quotes, spaces, "$" or "`": it goes into the compose file). */
const URL_RE = /^https:\/\/[A-Za-z0-9._~:/?&=%+,;@[\]-]+$/;
/** An address as an ACME account's contact: local@domain, plain characters. */
const EMAIL_RE = /^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$/;
/** A file path: no control characters. */
const PATH_RE = /^[^\p{Cc}\u2028\u2029]{1,1024}$/u;

const EXAMPLE = 'acme: { directory: https://acme-v02.api.letsencrypt.org/directory, email: ops@example.com }';

/** A file value over a recorded one; "" in the file is "none" (a recorded value switched off). */
function layered(file: string | undefined, recorded: string | undefined): string | undefined {
  if (file !== undefined) return file === '' ? undefined : file;
  return recorded;
}

/** The acme: settings of the layers, field by field: paasbox.yaml, the recorded deployment, the defaults. */
export function resolveAcme(
  file: AcmeFile | undefined,
  recorded: Partial<AcmeSettings> | undefined,
): AcmeSettings {
  const directory = layered(file?.directory, recorded?.directory);
  const email = layered(file?.email, recorded?.email);
  const directoryCa = layered(file?.directoryCa, recorded?.directoryCa);
  return {
    ...(directory !== undefined ? { directory } : {}),
    ...(email !== undefined ? { email } : {}),
    ...(directoryCa !== undefined ? { directoryCa } : {}),
    renewDays: file?.renewDays ?? recorded?.renewDays ?? DEFAULT_ACME.renewDays,
  };
}

/**
 * The fields' formats: directory an https URL, email an address, directoryCa a
 * path, renewDays a whole number 1..60. Values read back from a target pass here too.
 */
export function checkAcme(a: AcmeSettings): void {
  const shown = (v: unknown) =>
    JSON.stringify(typeof v === 'string' && v.length > 80 ? `${v.slice(0, 80)}...` : v);
  if (a.directory !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(a.directory);
    } catch {
      url = undefined;
    }
    if (
      typeof a.directory !== 'string' ||
      !URL_RE.test(a.directory) ||
      a.directory.length > 500 ||
      !url?.hostname
    )
      throw new PaasboxError(
        `acme.directory ${shown(a.directory)} is not an https URL`,
        `give the ACME directory's URL, e.g. ${EXAMPLE} (or leave acme.directory out: nothing is requested)`,
      );
    if (url.username || url.password)
      throw new PaasboxError(
        `acme.directory ${shown(url.host)} carries a login in the URL`,
        `give the URL without user:password@ (ACME authenticates with its account key), e.g. ${EXAMPLE}`,
      );
  }
  if (
    a.email !== undefined &&
    (typeof a.email !== 'string' || !EMAIL_RE.test(a.email) || a.email.length > 254)
  )
    throw new PaasboxError(`acme.email ${shown(a.email)} is not an e-mail address`, `e.g. ${EXAMPLE}`);
  if (a.directoryCa !== undefined && (typeof a.directoryCa !== 'string' || !PATH_RE.test(a.directoryCa)))
    throw new PaasboxError(
      `acme.directoryCa ${shown(a.directoryCa)} is not a file path`,
      'name the PEM file of the CA the directory is served with, e.g. acme: { directoryCa: ./pebble.minica.pem }',
    );
  const n = a.renewDays;
  if (!Number.isInteger(n) || n < RENEW_DAYS_MIN || n > RENEW_DAYS_MAX)
    throw new PaasboxError(
      `acme.renewDays ${shown(n)} is not a whole number of days from ${RENEW_DAYS_MIN} to ${RENEW_DAYS_MAX}`,
      'e.g. acme: { renewDays: 30 } (the default): renew a certificate 30 days before it expires',
    );
}

/** The generation variables the acme service's environment takes (stacks/paasbox.yaml). */
export function acmeVariables(a: AcmeSettings): Record<string, string> {
  return {
    ACME_DIRECTORY: a.directory ?? '',
    ACME_EMAIL: a.email ?? '',
    ACME_RENEW_DAYS: String(a.renewDays),
  };
}

/** What generation records in x-paasbox.acme (the fields set, renewDays always). */
export function recordAcme(a: AcmeSettings): AcmeSettings {
  return {
    ...(a.directory !== undefined ? { directory: a.directory } : {}),
    ...(a.email !== undefined ? { email: a.email } : {}),
    ...(a.directoryCa !== undefined ? { directoryCa: a.directoryCa } : {}),
    renewDays: a.renewDays,
  };
}
