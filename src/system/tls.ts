// TLS facts of a port on a target: what its certificate chains to, whether it
// is for the name asked, when it expires, and which protocol ALPN chose. One
// `openssl s_client` handshake (openssl is on every Debian host with
// ca-certificates), its verdict and the served certificate's end date read
// from its own output; parsing is pure. verify checks HAProxy's :443 with it.

import { shq } from '../target/shell.js';

export interface TlsFacts {
  /** The chain verified against the CA file, for the name asked. */
  verified: boolean;
  /** openssl's reason when not verified. */
  verifyError?: string;
  /** What ALPN chose ('' when the server chose none). */
  alpn: string;
  /** The served certificate's notAfter. */
  notAfter?: Date;
  /** Why there are no facts at all (no connection, no openssl). */
  error?: string;
}

const MARK = '@@paasbox-notafter ';

/**
 * One handshake to address:port sending `name` as SNI and offering h2 and
 * http/1.1, the chain checked against `caFile` and the name; then the served
 * certificate's notAfter (the first certificate s_client printed).
 */
export function tlsProbeCommand(address: string, port: number, name: string, caFile: string): string {
  const client =
    `openssl s_client -connect ${shq(`${address}:${port}`)} -servername ${shq(name)} ` +
    `-verify_hostname ${shq(name)} -CAfile ${shq(caFile)} -alpn h2,http/1.1 </dev/null 2>&1`;
  const end = `sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' | openssl x509 -noout -enddate`;
  const script =
    `command -v openssl >/dev/null || { echo 'no openssl'; exit 9; }; ` +
    `out=$(timeout 10 ${client}); echo "$out"; ` +
    `printf '%s\\n' "$out" | ${end} | sed 's/^notAfter=/${MARK}/'`;
  return `bash -c ${shq(script)}`;
}

/** The facts in the probe's output. */
export function parseTlsProbe(stdout: string, code: number): TlsFacts {
  if (code === 9) return { verified: false, alpn: '', error: 'no openssl on the host' };
  const verify = /Verify return code: (\d+) \(([^)]*)\)/.exec(stdout);
  const alpn = /ALPN protocol: (\S+)/.exec(stdout)?.[1] ?? '';
  const end = new RegExp(`^${MARK}(.+)$`, 'm').exec(stdout)?.[1];
  const notAfter = end ? new Date(end) : undefined;
  if (!verify) {
    const why = stdout
      .split('\n')
      .find((l) => /error|refused|errno|unable/i.test(l))
      ?.trim();
    return { verified: false, alpn, error: why ?? 'no TLS handshake' };
  }
  return {
    verified: verify[1] === '0',
    ...(verify[1] === '0' ? {} : { verifyError: verify[2] }),
    alpn,
    ...(notAfter && !Number.isNaN(notAfter.getTime()) ? { notAfter } : {}),
  };
}
