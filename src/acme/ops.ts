// What `paasbox cert` and `paasbox status` do with the certificate store
// (./store.ts), below the command line: the operator's own certificate
// checked and stored (source operator: ACME never replaces it), a renewal
// asked for and awaited, a certificate removed, and the rows shown. The
// store is reached over SSH with the management token (certStoreOnTarget).

import { readFileSync } from 'node:fs';
import { MANAGEMENT_TOKEN_FILE } from '../consul/acl.js';
import type { ConsulOnTarget } from '../consul/app-names.js';
import { PaasboxError, targetError } from '../errors.js';
import { poll } from '../poll.js';
import { composePort, type Deployment } from '../stackfile/deployment.js';
import type { Target } from '../target/target.js';
import { checkBundle, combinedPem, type BundleFacts } from './bundle.js';
import {
  CERTS_PREFIX,
  certStoreOnTarget,
  oneLine,
  type CertRow,
  type CertStatus,
  type CertStore,
} from './store.js';

/** The stack's Consul on a host of the stage (the management token read there), or why there is none. */
export function consulOnStage(target: Target, d: Deployment): ConsulOnTarget {
  const port = composePort(d.ports['consul'], 'http');
  if (!d.services.includes('consul') || port === undefined)
    throw new PaasboxError(
      `the stack on ${target.name} runs no Consul, where the certificates are kept`,
      'install the stack with its consul service (name a master with --target)',
    );
  return { target, address: d.meta.ip, port, token: { name: 'X-Consul-Token', file: MANAGEMENT_TOKEN_FILE } };
}

/** The operator's files as one bundle for `domain`, checked here before anything is sent. */
export function operatorBundle(
  domain: string,
  certFile: string,
  keyFile: string,
  now = new Date(),
): { pem: string; facts: BundleFacts } {
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      throw new PaasboxError(
        `${flag} ${file} cannot be read`,
        `give the PEM file's path`,
        (e as Error).message,
      );
    }
  };
  const text = `${read('--cert', certFile).trimEnd()}\n${read('--key', keyFile).trimEnd()}\n`;
  const facts = checkBundle(text, domain, now, `--cert ${certFile} with --key ${keyFile}`);
  return { pem: combinedPem(text), facts };
}

/** Store the operator's certificate (any renewal asked for dropped); its status. */
export async function addOperatorCert(
  store: CertStore,
  domain: string,
  b: { pem: string; facts: BundleFacts },
  now = new Date(),
): Promise<CertStatus> {
  const status: CertStatus = {
    ok: true,
    at: now.toISOString(),
    source: 'operator',
    notAfter: b.facts.notAfter,
    issuer: b.facts.issuer,
  };
  await store.put(domain, b.pem, status);
  await store.clearRenewal(domain);
  return status;
}

/** Remove a domain's certificate; a one-line error when it has none. */
export async function removeCert(store: CertStore, domain: string): Promise<{ claimedBy?: string }> {
  const [stored, status, claimed] = await Promise.all([
    store.keys(CERTS_PREFIX),
    store.status(domain),
    store.claimed(),
  ]);
  if (!stored.includes(domain) && !status)
    throw new PaasboxError(
      `no certificate is stored for ${domain}`,
      'paasbox cert list shows the ones there are',
    );
  await store.remove(domain);
  const owner = claimed.get(domain);
  return owner ? { claimedBy: owner } : {};
}

/**
 * Ask the renewer for a new certificate now; refused (one line) when it
 * cannot: no directory, a domain no app claims, a wildcard, the operator's.
 * The time asked (ISO).
 */
export async function askRenewal(
  store: CertStore,
  domain: string,
  directory: string | undefined,
  now = new Date(),
): Promise<string> {
  if (!directory)
    throw new PaasboxError(
      'the stack has no ACME directory: nothing is ever requested',
      'configure one (acme: { directory: URL, email: ADDRESS } in paasbox.yaml, then install), or add your own: paasbox cert add DOMAIN --cert F --key F',
    );
  if (domain.startsWith('*.'))
    throw new PaasboxError(
      `${domain} is a wildcard: HTTP-01 cannot prove one`,
      'add the certificate yourself: paasbox cert add DOMAIN --cert F --key F',
    );
  const [claimed, status] = await Promise.all([store.claimed(), store.status(domain)]);
  if (!claimed.has(domain))
    throw new PaasboxError(
      `no app claims ${domain}: the renewer gets certificates for the apps' public names only`,
      'deploy the app with the label HAPROXY_0_VHOST (or the tag domain=NAME) first',
    );
  if (status?.source === 'operator')
    throw new PaasboxError(
      `${domain} has the operator's certificate (paasbox cert add), which ACME never replaces`,
      `remove it first (paasbox cert rm ${domain}), or add a new one`,
    );
  const at = now.toISOString();
  await store.requestRenewal(domain, at);
  return at;
}

/** The status the renewer writes after `since` (a poll, every 2 s, until timeoutMs). */
export async function awaitRenewal(
  store: CertStore,
  domain: string,
  since: string,
  timeoutMs: number,
  onRetry?: (attempt: number) => void,
): Promise<CertStatus> {
  const status = await poll(
    {
      what: `the renewer's result for ${domain}`,
      timeoutMs,
      everyMs: 2000,
      fix: 'paasbox logs acme shows what the renewer does; paasbox cert list shows the last result',
      ...(onRetry ? { onRetry } : {}),
    },
    async (_, note) => {
      const s = await store.status(domain);
      if (s && s.at > since) return s;
      note(s ? `the last result is of ${s.at}` : 'no result yet');
      return undefined;
    },
  );
  if (!status.ok)
    throw targetError(
      `the renewal of ${domain} failed: ${oneLine(status.error ?? 'no reason given', 300)}`,
      'paasbox logs acme shows the whole exchange; check that the domain resolves to the stack and port 80 reaches it',
    );
  return status;
}

/** The one line a certificate's state says (status and list). */
export function rowResult(r: CertRow): string {
  const s = r.status;
  if (!s) return r.stored ? 'stored (no result recorded)' : r.renewRequested ? 'asked for' : 'none yet';
  const until = s.notAfter ? ` until ${s.notAfter.slice(0, 10)}` : '';
  return s.ok
    ? `ok${until}`
    : `failed at ${s.at}: ${s.error ?? '?'}${s.notAfter ? ` (serving one${until})` : ''}`;
}

/** What becomes of a certificate no app claims: ACME's are removed, the operator's stay. */
export function unclaimedNote(r: CertRow): string {
  if (r.owner || (!r.stored && !r.status)) return '';
  return r.status?.source === 'acme'
    ? 'no app claims it: the renewer removes it'
    : `no app claims it: kept until paasbox cert rm ${r.domain}`;
}

/** The certificate rows as a table (failed first). */
export function certTableRows(rows: CertRow[]): string[][] {
  return rows.map((r) => [
    r.domain,
    r.status?.source ?? '-',
    r.status ? (r.status.ok ? 'ok' : 'FAILED') : r.stored ? 'stored' : 'none',
    r.status?.notAfter ?? '-',
    r.status?.issuer ?? '-',
    r.owner ?? '-',
    r.status?.error
      ? oneLine(r.status.error, 80)
      : r.renewRequested
        ? `renewal asked for at ${r.renewRequested}`
        : unclaimedNote(r),
  ]);
}

export const CERT_TABLE_HEAD = ['DOMAIN', 'SOURCE', 'RESULT', 'NOT AFTER', 'ISSUER', 'APP', 'DETAIL'];

/** What `paasbox status` shows of the certificates: the directory and every row (failed first). */
export async function certificatesOf(
  target: Target,
  d: Deployment,
): Promise<{ directory: string | null; rows: CertRow[] }> {
  const store = await certStoreOnTarget(consulOnStage(target, d), d.meta.domain);
  return { directory: d.meta.acme?.directory ?? null, rows: await store.rows() };
}

/** The status section: a heading line and one line a domain, at most `max` (pure). */
export function certificateLines(c: { directory: string | null; rows: CertRow[] }, max = 20): string {
  const acme = c.directory ? `ACME directory ${c.directory}` : 'no ACME directory: acme: in paasbox.yaml';
  if (!c.rows.length) return `certificates: none (no public names yet); ${acme}\n`;
  const shown = c.rows.slice(0, max);
  const width = Math.max(...shown.map((r) => r.domain.length));
  const lines = shown.map((r) => {
    const who = r.status ? ` [${r.status.source}]` : '';
    return `  ${r.domain.padEnd(width)}  ${oneLine(rowResult(r), 160)}${who}`;
  });
  const more = c.rows.length > max ? [`  ... ${c.rows.length - max} more: paasbox cert list`] : [];
  return [`certificates (${acme}):`, ...lines, ...more].join('\n') + '\n';
}
