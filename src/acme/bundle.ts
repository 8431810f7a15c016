// A certificate bundle as the edge serves it (HAProxy's combined PEM): the
// certificate, its chain, then the private key, one value of Consul K/V
// paasbox/certs/<domain>. Whatever writes one checks it here first: the
// operator's files (`paasbox cert add`), lego's output (the renewer), and a
// value read back from K/V. node:crypto judges it: every certificate parses,
// each one is issued by the next, the key is the certificate's and of a kind
// HAProxy's OpenSSL 3 loads at its default security level (RSA of 2048 bits
// or more, EC on P-256/P-384/P-521), the certificate covers the domain, and
// it has not expired. Pure.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { PaasboxError } from '../errors.js';

/** What a good bundle says of itself. */
export interface BundleFacts {
  /** ISO time the certificate expires. */
  notAfter: string;
  /** ISO time it became valid (its lifetime: the renewer renews short-lived ones sooner). */
  notBefore: string;
  /** The issuer's common name (else its whole name, one line). */
  issuer: string;
  /** Its DNS names (subjectAltName). */
  names: string[];
}

/** At most this much PEM (a chain of a few certificates and a key is some kB). */
export const MAX_BUNDLE_BYTES = 64 * 1024;
const MAX_CERTS = 8;
const KEY_LABELS = new Set(['PRIVATE KEY', 'EC PRIVATE KEY', 'RSA PRIVATE KEY']);
/** RSA keys this short OpenSSL 3 refuses at its default security level (1: 80 bits). */
export const MIN_RSA_BITS = 2048;
/** The EC curves OpenSSL 3 and every TLS client take, by node's names. */
const EC_CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
const KEY_FIX =
  'give an RSA key of 2048 bits or more or an EC key on P-256/P-384/P-521, e.g. ' +
  'openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256, and a certificate for it';

/** Why HAProxy (OpenSSL 3, default security level) would refuse this key, else undefined. */
export function keyProblem(key: KeyObject): string | undefined {
  const type = key.asymmetricKeyType ?? 'unknown';
  const d = key.asymmetricKeyDetails ?? {};
  if (type === 'rsa')
    return (d.modulusLength ?? 0) >= MIN_RSA_BITS
      ? undefined
      : `an RSA key of ${d.modulusLength ?? '?'} bits (under ${MIN_RSA_BITS})`;
  if (type === 'ec')
    return d.namedCurve && EC_CURVES[d.namedCurve]
      ? undefined
      : `an EC key on ${d.namedCurve ?? 'an unnamed curve'}`;
  return `a key of type ${type}`;
}

interface Blocks {
  certs: string[];
  key: string;
}

const bad = (problem: string, fix: string, detail?: string) => new PaasboxError(problem, fix, detail);

/** The PEM blocks of `text`: certificates and one key, nothing else (no text between them either). */
export function pemBlocks(text: string, what = 'the PEM'): Blocks {
  if (Buffer.byteLength(text) > MAX_BUNDLE_BYTES)
    throw bad(
      `${what} is over ${MAX_BUNDLE_BYTES / 1024} KiB`,
      'give the certificate, its chain and the key only',
    );
  const re = /-----BEGIN ([A-Z0-9 ]{1,40})-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END \1-----/g;
  const certs: string[] = [];
  const keys: string[] = [];
  let rest = text;
  for (const m of text.matchAll(re)) {
    rest = rest.replace(m[0], '');
    const block = `-----BEGIN ${m[1]}-----\n${m[2]!.replace(/\r/g, '').trimEnd()}\n-----END ${m[1]}-----\n`;
    if (m[1] === 'CERTIFICATE') certs.push(block);
    else if (KEY_LABELS.has(m[1]!)) keys.push(block);
    else
      throw bad(
        `${what} holds a ${m[1]} block`,
        'give PEM certificates and one unencrypted private key only (openssl pkey -in KEY to decrypt one)',
      );
  }
  if (rest.trim())
    throw bad(
      `${what} holds text that is no PEM block`,
      'give the PEM files as they are: -----BEGIN ...----- blocks only',
    );
  if (keys.length > 1)
    throw bad(`${what} holds ${keys.length} private keys`, 'give the certificate’s key only');
  if (certs.length > MAX_CERTS)
    throw bad(
      `${what} holds ${certs.length} certificates`,
      `give the certificate and its chain (at most ${MAX_CERTS})`,
    );
  return { certs, key: keys[0] ?? '' };
}

/** The DNS names of a certificate's subjectAltName. */
export function dnsNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((e) => e.startsWith('DNS:'))
    .map((e) => e.slice(4).toLowerCase());
}

/** Whether names cover domain: the name itself, or for a plain name a wildcard of its parent. */
export function covers(names: string[], domain: string): boolean {
  if (names.includes(domain)) return true;
  const labels = domain.split('.');
  return labels[0] !== '*' && labels.length > 2 && names.includes(`*.${labels.slice(1).join('.')}`);
}

function issuerOf(cert: X509Certificate): string {
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.issuer)?.[1];
  return (cn ?? cert.issuer.replace(/\n/g, ', ')).replace(/[\p{Cc}]/gu, '').slice(0, 200);
}

/**
 * Check a bundle for `domain` at `now`: its facts, or a PaasboxError naming
 * what is wrong (`what`: how the message names the input).
 */
export function checkBundle(
  pem: string,
  domain: string,
  now = new Date(),
  what = 'the certificate',
): BundleFacts {
  const { certs, key } = pemBlocks(pem, what);
  if (!certs.length) throw bad(`${what} holds no certificate`, 'give the PEM certificate (and its chain)');
  if (!key)
    throw bad(`${what} comes without its private key`, 'give the PEM private key of the certificate too');
  let chain: X509Certificate[];
  try {
    chain = certs.map((c) => new X509Certificate(c));
  } catch (e) {
    throw bad(
      `${what} does not parse as X.509`,
      'give a PEM certificate (openssl x509 -in FILE -noout -text reads it)',
      (e as Error).message,
    );
  }
  const leaf = chain[0]!;
  for (let i = 0; i + 1 < chain.length; i++)
    if (!chain[i]!.checkIssued(chain[i + 1]!))
      throw bad(
        `${what}: certificate ${i + 2} of the chain did not issue certificate ${i + 1}`,
        'give the certificate first, then each issuer in order (the root may be left out)',
      );
  let matches: boolean;
  try {
    matches = leaf.checkPrivateKey(createPrivateKey(key));
  } catch (e) {
    throw bad(
      `${what}'s private key cannot be read`,
      'give the PEM private key unencrypted (openssl pkey -in KEY)',
      (e as Error).message,
    );
  }
  if (!matches)
    throw bad(`${what}'s private key is not the certificate's`, 'give the key the certificate was made for');
  const weak = keyProblem(createPrivateKey(key));
  if (weak) throw bad(`${what}'s private key is ${weak}, which HAProxy (OpenSSL 3) refuses`, KEY_FIX);
  const names = dnsNames(leaf);
  if (!covers(names, domain))
    throw bad(
      `${what} does not cover ${domain} (its names: ${names.join(', ') || 'none'})`,
      `give a certificate whose subjectAltName names ${domain}`,
    );
  const notAfter = new Date(leaf.validTo);
  if (!(notAfter.getTime() > now.getTime()))
    throw bad(`${what} for ${domain} expired on ${notAfter.toISOString()}`, 'give a current certificate');
  const notBefore = new Date(leaf.validFrom).toISOString();
  return { notAfter: notAfter.toISOString(), notBefore, issuer: issuerOf(leaf), names };
}

/** The combined PEM the edge serves: the certificates in order, then the key. */
export function combinedPem(pem: string): string {
  const { certs, key } = pemBlocks(pem);
  return [...certs, key].join('');
}
