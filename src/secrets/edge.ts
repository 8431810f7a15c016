// The edge's TLS: HAProxy on every host serves :443 with a certificate of the
// stack's own, for *.service.DOMAIN (and *.DOMAIN) and the masters' addresses,
// signed by a CA of the stack's own that a user trusts once on a laptop
// (`paasbox info` says how). Made by ./tls.ts's one openssl path and kept by
// its one rule (resolveCertSet): the CA key stays on the build host, each
// host gets the certificate and its key as one PEM (HAProxy's `crt` form)
// and the CA certificate; a set near expiry (30 days) is made anew by the
// next install, from the same CA. Pure but for openssl.

import { X509Certificate } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { generateCertSet, resolveCertSet, validCertSet, type CertSet } from './tls.js';

export type EdgeTls = CertSet;

/** What the edge certificate is for: the stack's DNS domain and the masters' addresses. */
export interface EdgeScope {
  domain: string;
  ips: string[];
}

/** Its files, relative to SECRETS_DIR (haproxy/ is mounted into HAProxy at /run/secrets/paasbox). */
export const EDGE_SECRET_FILES = {
  /** Every host: the certificate, then its key (HAProxy's combined PEM). */
  edgePem: 'haproxy/tls/edge.pem',
  /** Every host, and the build host's copy the user trusts: the stack's CA certificate. */
  edgeCaCert: 'haproxy/tls/ca.pem',
  /** The build host's copy only: never on a target. */
  edgeCaKey: 'edge-ca-key.pem',
} as const;

export const EDGE_SECRET_DIRS = ['haproxy/tls'] as const;

/** Where HAProxy reads the edge PEM (the model mounts SECRETS_DIR/haproxy at /run/secrets/paasbox). */
export const EDGE_PEM_IN_HAPROXY = `/run/secrets/paasbox/${EDGE_SECRET_FILES.edgePem.replace(/^haproxy\//, '')}`;

/** The names a probe of the edge may use for `domain`: any app's NAME.service.DOMAIN. */
export function edgeDnsNames(domain: string): string[] {
  return [`*.service.${domain}`, `*.${domain}`];
}

/** The subjectAltNames: the wildcards, localhost, and every IPv4 address with 127.0.0.1. */
export function edgeAltNames(scope: EdgeScope): string[] {
  const ips = [...new Set([...scope.ips, '127.0.0.1'])].filter((a) => isIPv4(a)).sort();
  return [...edgeDnsNames(scope.domain), 'localhost']
    .map((n) => `DNS:${n}`)
    .concat(ips.map((ip) => `IP:${ip}`));
}

const covers = (scope: EdgeScope) => (cert: X509Certificate) =>
  cert.checkHost(`paasbox-probe.service.${scope.domain}`) !== undefined &&
  scope.ips.filter((a) => isIPv4(a)).every((a) => cert.checkIP(a) !== undefined);

/** Whether a set serves the scope: signed by its CA, with its key, for its names, neither near expiry. */
export function validEdgeTls(t: Partial<EdgeTls>, scope: EdgeScope, now = new Date()): t is EdgeTls {
  return validCertSet(t, covers(scope), now);
}

/** The edge certificate signed by `ca` (given: kept), else by a new CA. */
export function generateEdgeTls(scope: EdgeScope, ca?: { caCert: string; caKey: string }): EdgeTls {
  return generateCertSet(
    {
      caName: `paasbox stack CA (${scope.domain})`,
      name: `*.service.${scope.domain}`,
      altNames: edgeAltNames(scope),
      usage: 'serverAuth',
    },
    ca,
  );
}

/** One set for the scope (resolveCertSet's rule). */
export function resolveEdgeTls(
  layers: Partial<EdgeTls>[],
  scope: EdgeScope,
  make: typeof generateEdgeTls = generateEdgeTls,
): { tls: EdgeTls; generated: boolean } {
  return resolveCertSet(layers, covers(scope), (ca) => make(scope, ca));
}

/** A host's edge files (never the CA key). */
export function edgeSecretFiles(tls: EdgeTls): Record<string, string> {
  const nl = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);
  return {
    [EDGE_SECRET_FILES.edgePem]: nl(tls.cert) + nl(tls.key),
    [EDGE_SECRET_FILES.edgeCaCert]: nl(tls.caCert),
  };
}

/** The build host's copy: a host's files and the CA key. */
export function edgeLocalFiles(tls: EdgeTls): Record<string, string> {
  return { ...edgeSecretFiles(tls), ...(tls.caKey ? { [EDGE_SECRET_FILES.edgeCaKey]: tls.caKey } : {}) };
}

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----\r?\n[\s\S]*?-----END \1-----\r?\n?/g;

/** The TLS parts a set of files holds (any may be missing). */
export function parseEdgeTlsFiles(files: Record<string, string>): Partial<EdgeTls> {
  const out: Partial<EdgeTls> = {};
  const blocks = [...(files[EDGE_SECRET_FILES.edgePem] ?? '').matchAll(PEM_BLOCK)];
  const cert = blocks.find((b) => b[1] === 'CERTIFICATE')?.[0];
  const key = blocks.find((b) => b[1]!.endsWith('PRIVATE KEY'))?.[0];
  if (cert) out.cert = cert;
  if (key) out.key = key;
  const pem = (rel: string) => (files[rel]?.includes('-----BEGIN') ? files[rel] : undefined);
  const caCert = pem(EDGE_SECRET_FILES.edgeCaCert);
  const caKey = pem(EDGE_SECRET_FILES.edgeCaKey);
  if (caCert) out.caCert = caCert;
  if (caKey) out.caKey = caKey;
  return out;
}
