// Why this file exists: on a cluster, Consul's server RPC (port 8300) runs
// over TLS (verify_incoming/outgoing/server_hostname), with a private CA that
// install makes on the build host. This module makes the CA and the servers'
// certificate with the `openssl` CLI (keys only in files of a 0700 temp
// directory, never in argv) and checks a set read back with Node's
// X509Certificate. The CA key stays on the build host (.paasbox/secrets/,
// 0600): the masters get the CA, the server certificate and its key; the
// agents only the CA (their own certificates come from auto_encrypt).
// generateCertSet is the one openssl path: the image registry's CA and
// certificate (./registry.ts) and the edge's (./edge.ts) are made by it too,
// and resolveCertSet is the one rule for keeping or remaking such a set.

import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PaasboxError } from '../errors.js';

/** The datacenter the stack's Consul runs (stacks/paasbox.yaml: -datacenter=paasbox). */
export const CONSUL_DATACENTER = 'paasbox';

export interface ConsulTls {
  caCert: string;
  /** Only on the build host. */
  caKey?: string;
  /** For server.<datacenter>.<domain> (Consul's convention, checked by verify_server_hostname). */
  serverCert: string;
  serverKey: string;
}

/** The name every server's certificate carries. */
export function consulServerName(domain: string): string {
  return `server.${CONSUL_DATACENTER}.${domain}`;
}

/** A certificate must stay valid at least this long, or it is made anew. */
const MIN_LEFT_MS = 30 * 24 * 3600 * 1000;

/** Whether the CA key (PEM) is the CA certificate's. */
export function caKeyMatches(caCert: string, caKey: string): boolean {
  try {
    return new X509Certificate(caCert).checkPrivateKey(createPrivateKey(caKey));
  } catch {
    return false;
  }
}

/** Whether a set is usable for `domain`: the server certificate signed by the CA, for its name,
 * with its key, neither near expiry. */
export function validConsulTls(t: Partial<ConsulTls>, domain: string, now = new Date()): t is ConsulTls {
  const name = consulServerName(domain);
  const set = { caCert: t.caCert, cert: t.serverCert, key: t.serverKey };
  return validCertSet(set, (c) => c.checkHost(name, { wildcards: false }) !== undefined, now);
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new PaasboxError(
      `openssl ${args[0]} failed while making TLS certificates (Consul's or the image registry's)`,
      'install openssl on the build host (apt-get install openssl)',
      err.stderr?.toString() || err.message,
    );
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** What a certificate set is made for (the Consul servers', the image registry's). */
export interface CertRequest {
  /** The CA's common name (a new CA only). */
  caName: string;
  /** The certificate's common name. */
  name: string;
  /** subjectAltName entries: DNS:name, IP:address. */
  altNames: string[];
  /** extendedKeyUsage (serverAuth, clientAuth). */
  usage: string;
}

/**
 * A certificate for `req` signed by `ca` (given: kept, a new certificate
 * only; else a new CA, valid 10 years), made with `openssl` in a 0700 temp
 * directory. EC P-256 keys, as `consul tls` makes them.
 */
export function generateCertSet(
  req: CertRequest,
  ca?: { caCert: string; caKey: string },
): { caCert: string; caKey: string; cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'paasbox-tls-'));
  const file = (n: string) => join(dir, n);
  try {
    if (ca) {
      writeFileSync(file('ca.pem'), ca.caCert, { mode: 0o600 });
      writeFileSync(file('ca-key.pem'), ca.caKey, { mode: 0o600 });
    } else {
      openssl(
        [
          'req',
          '-x509',
          '-new',
          ...EC,
          '-keyout',
          'ca-key.pem',
          '-out',
          'ca.pem',
          '-days',
          '3650',
          '-subj',
          `/CN=${req.caName}`,
          '-addext',
          'basicConstraints=critical,CA:TRUE',
          '-addext',
          'keyUsage=critical,keyCertSign,cRLSign',
        ],
        dir,
      );
    }
    openssl(
      ['req', '-new', ...EC, '-keyout', 'server-key.pem', '-out', 'server.csr', '-subj', `/CN=${req.name}`],
      dir,
    );
    writeFileSync(
      file('ext.cnf'),
      [
        `subjectAltName=${req.altNames.join(',')}`,
        `extendedKeyUsage=${req.usage}`,
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'basicConstraints=critical,CA:FALSE',
      ].join('\n') + '\n',
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        'server.csr',
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca-key.pem',
        '-CAcreateserial',
        '-days',
        '825',
        '-sha256',
        '-extfile',
        'ext.cnf',
        '-out',
        'server.pem',
      ],
      dir,
    );
    const read = (n: string) => readFileSync(file(n), 'utf8');
    return {
      caCert: read('ca.pem'),
      caKey: read('ca-key.pem'),
      cert: read('server.pem'),
      key: read('server-key.pem'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A server certificate for `domain` signed by `ca` (given: kept, a new
 * certificate only; else a new CA); the certificate serves and authenticates
 * (serverAuth, clientAuth: servers dial each other with verify_incoming on).
 */
export function generateConsulTls(domain: string, ca?: { caCert: string; caKey: string }): ConsulTls {
  const name = consulServerName(domain);
  const made = generateCertSet(
    {
      caName: `paasbox Consul CA ${CONSUL_DATACENTER}`,
      name,
      altNames: [`DNS:${name}`, 'DNS:localhost', 'IP:127.0.0.1'],
      usage: 'serverAuth,clientAuth',
    },
    ca,
  );
  return { caCert: made.caCert, caKey: made.caKey, serverCert: made.cert, serverKey: made.key };
}

/**
 * One TLS set: the first layer whose set is valid for `domain` (the CA key
 * joined from any layer that holds the matching one); else a new server
 * certificate from a CA whose key some layer holds; else a new CA. Returns
 * whether anything was made.
 */
export function resolveConsulTls(
  layers: Partial<ConsulTls>[],
  domain: string,
  make: typeof generateConsulTls = generateConsulTls,
): { tls: ConsulTls; generated: boolean } {
  const keyFor = (caCert: string) => layers.find((l) => l.caKey && caKeyMatches(caCert, l.caKey))?.caKey;
  const have = layers.find((l) => validConsulTls(l, domain));
  if (have && validConsulTls(have, domain)) {
    const caKey = keyFor(have.caCert);
    const { caCert, serverCert, serverKey } = have;
    return { tls: { caCert, serverCert, serverKey, ...(caKey ? { caKey } : {}) }, generated: false };
  }
  const fresh = (pem: string) =>
    new Date(new X509Certificate(pem).validTo).getTime() - Date.now() > MIN_LEFT_MS;
  const ca = layers.find((l) => l.caCert && l.caKey && caKeyMatches(l.caCert, l.caKey) && fresh(l.caCert));
  return {
    tls: make(domain, ca?.caCert && ca.caKey ? { caCert: ca.caCert, caKey: ca.caKey } : undefined),
    generated: true,
  };
}

/** A CA, and one server certificate it signed with its key (the CA key only on the build host). */
export interface CertSet {
  caCert: string;
  /** Only on the build host. */
  caKey?: string;
  cert: string;
  key: string;
}

/**
 * Whether a set is usable: the certificate signed by the CA, with its key,
 * covering what `covers` asks of it, neither near expiry.
 */
export function validCertSet(
  t: Partial<CertSet>,
  covers: (cert: X509Certificate) => boolean,
  now = new Date(),
): t is CertSet {
  if (!t.caCert || !t.cert || !t.key) return false;
  try {
    const ca = new X509Certificate(t.caCert);
    const cert = new X509Certificate(t.cert);
    const left = (c: X509Certificate) => new Date(c.validTo).getTime() - now.getTime();
    return (
      ca.ca &&
      cert.verify(ca.publicKey) &&
      covers(cert) &&
      cert.checkPrivateKey(createPrivateKey(t.key)) &&
      left(ca) > MIN_LEFT_MS &&
      left(cert) > MIN_LEFT_MS
    );
  } catch {
    return false;
  }
}

/**
 * One set: the first layer valid by `covers` (the CA key joined from a layer
 * that holds it); else a new certificate from a CA whose key some layer holds
 * (what trusts the CA keeps trusting it); else a new CA. Returns whether
 * anything was made.
 */
export function resolveCertSet(
  layers: Partial<CertSet>[],
  covers: (cert: X509Certificate) => boolean,
  make: (ca?: { caCert: string; caKey: string }) => CertSet,
): { tls: CertSet; generated: boolean } {
  const have = layers.find((l) => validCertSet(l, covers));
  if (have && validCertSet(have, covers)) {
    const caKey = layers.find((l) => l.caKey && caKeyMatches(have.caCert, l.caKey))?.caKey;
    const { caCert, cert, key } = have;
    return { tls: { caCert, cert, key, ...(caKey ? { caKey } : {}) }, generated: false };
  }
  const fresh = (pem: string) =>
    new Date(new X509Certificate(pem).validTo).getTime() - Date.now() > MIN_LEFT_MS;
  const ca = layers.find((l) => l.caCert && l.caKey && caKeyMatches(l.caCert, l.caKey) && fresh(l.caCert));
  return {
    tls: make(ca?.caCert && ca.caKey ? { caCert: ca.caCert, caKey: ca.caKey } : undefined),
    generated: true,
  };
}
