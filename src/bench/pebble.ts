// Pebble, Let's Encrypt's test ACME server, and pebble-challtestsrv, its DNS
// stub, for one run of the HTTPS spec or benchmark (certificates issued for
// real, with no internet). Both run from the test image
// (stacks/test-images/pebble, built by ./images.ts) on the host's
// network, listening on loopback only, on ports free at start: the stack's
// services on the host network (the acme service) reach the directory at
// https://127.0.0.1:PORT/dir, and Pebble validates HTTP-01 on `httpPort` (80:
// the stack's HAProxy) of the address challtestsrv answers every A query with.
// Pebble's own HTTPS certificate comes from the project's one openssl path
// (generateCertSet), its CA is the `directoryCa` a client trusts; the root Pebble
// issues from is new at every start and read from its management endpoint. The
// containers carry this run's name and label, so stop() removes only its own.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PaasboxError } from '../errors.js';
import { poll } from '../poll.js';
import type { Progress } from '../progress.js';
import { generateCertSet } from '../secrets/tls.js';
import { httpHere } from '../system/http.js';
import { ensurePebbleImage } from './images.js';

const run = promisify(execFile);

/** The label every container of a Pebble run carries; its value is the run's tag. */
export const PEBBLE_RUN_LABEL = 'paasbox.pebble';

export interface PebbleOptions {
  /** The address challtestsrv answers every A query with (the stack's advertised address). */
  answer: string;
  /** The port Pebble validates HTTP-01 on (default 80, the stack's HAProxy). */
  httpPort?: number;
  /** The port Pebble validates TLS-ALPN-01 on (default 443). */
  tlsPort?: number;
  /** This run's name: its containers' prefix and label value (default pbpebble-<time>). */
  tag?: string;
}

export interface Pebble {
  tag: string;
  /** The ACME directory URL. */
  directory: string;
  /** A PEM file: the CA of the directory's own HTTPS certificate (settings acme.directoryCa). */
  directoryCa: string;
  /** A PEM file: the root Pebble issues from (its management endpoint's /roots/0). */
  root: string;
  /** The root, as PEM. */
  rootPem: string;
  /** Both containers' logs (the last `tail` lines of each). */
  logs(tail?: number): Promise<string>;
  /** Remove this run's containers and files. */
  stop(): Promise<void>;
}

const docker = async (args: string[]): Promise<string> =>
  (await run('docker', args, { maxBuffer: 16 << 20 })).stdout.trim();

/** `n` distinct TCP ports free on 127.0.0.1 right now (the kernel's picks, all held until all are known). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Server>((ok, fail) => {
          const s = createServer();
          s.once('error', fail);
          s.listen({ port: 0, host: '127.0.0.1' }, () => ok(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))));
  return ports;
}

/** Start Pebble and challtestsrv (building the image when missing); ready when the root is served. */
export async function startPebble(opts: PebbleOptions, progress: Progress): Promise<Pebble> {
  const image = await ensurePebbleImage(progress);
  const tag = opts.tag ?? `pbpebble-${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), `${tag}-`));
  const [acmePort, mgmtPort, dnsPort, dnsMgmtPort] = (await freePorts(4)) as [number, number, number, number];
  const set = generateCertSet({
    caName: `paasbox test Pebble directory CA ${tag}`,
    name: '127.0.0.1',
    altNames: ['IP:127.0.0.1', 'DNS:localhost'],
    usage: 'serverAuth',
  });
  const directoryCa = join(dir, 'directory-ca.pem');
  writeFileSync(directoryCa, set.caCert);
  writeFileSync(join(dir, 'cert.pem'), set.cert);
  writeFileSync(join(dir, 'key.pem'), set.key, { mode: 0o600 });
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: '/pebble/cert.pem',
        privateKey: '/pebble/key.pem',
        httpPort: opts.httpPort ?? 80,
        tlsPort: opts.tlsPort ?? 443,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        retryAfter: { authz: 1, order: 1 },
        keyAlgorithm: 'ecdsa',
        profiles: { default: { description: 'paasbox tests', validityPeriod: 7776000 } },
      },
    }),
  );
  const containers = { dns: `${tag}-dns`, acme: `${tag}-acme` };
  const common = ['run', '-d', '--network', 'host', '--label', `${PEBBLE_RUN_LABEL}=${tag}`];
  const stop = async () => {
    const ids = await docker(['ps', '-aq', '--filter', `label=${PEBBLE_RUN_LABEL}=${tag}`]).catch(() => '');
    if (ids) await docker(['rm', '-f', ...ids.split('\n')]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  const logs = async (tail = 60) => {
    const out: string[] = [];
    for (const c of Object.values(containers)) {
      const r = await run('docker', ['logs', '--tail', String(tail), c]).catch((e: Error) => ({
        stdout: e.message,
        stderr: '',
      }));
      out.push(`--- ${c}\n${r.stdout}${r.stderr}`);
    }
    return out.join('\n');
  };
  try {
    // Every A query answered with the stack's address, no AAAA (Pebble would dial ::1 first), and
    // none of its own challenge servers.
    await docker([
      ...common,
      '--name',
      containers.dns,
      image,
      'pebble-challtestsrv',
      '-defaultIPv4',
      opts.answer,
      '-defaultIPv6',
      '',
      '-dnsserver',
      `127.0.0.1:${dnsPort}`,
      '-management',
      `127.0.0.1:${dnsMgmtPort}`,
      '-http01',
      '',
      '-https01',
      '',
      '-tlsalpn01',
      '',
      '-doh',
      '',
    ]);
    // No sleep before validating, and no bad-nonce rejections: the specs time issuance, not retries.
    await docker([
      ...common,
      '--name',
      containers.acme,
      '-e',
      'PEBBLE_VA_NOSLEEP=1',
      '-e',
      'PEBBLE_WFE_NONCEREJECT=0',
      '-v',
      `${dir}:/pebble:ro`,
      image,
      'pebble',
      '-config',
      '/pebble/config.json',
      '-dnsserver',
      `127.0.0.1:${dnsPort}`,
    ]);
    const rootPem = await poll(
      {
        what: `Pebble (${containers.acme}) serving its root on 127.0.0.1:${mgmtPort}`,
        timeoutMs: 30_000,
        everyMs: 100,
        fix: `read the logs: docker logs ${containers.acme}`,
      },
      async () => {
        const r = await httpHere('127.0.0.1', mgmtPort, '/roots/0', { ca: { file: directoryCa } });
        if (r.status !== 200) throw new Error(r.error ?? `status ${r.status}`);
        return r.body.includes('BEGIN CERTIFICATE') ? r.body : undefined;
      },
    );
    // ACME requires a User-Agent (RFC 8555 6.1).
    const dirAnswer = await httpHere('127.0.0.1', acmePort, '/dir', {
      ca: { file: directoryCa },
      headers: { 'User-Agent': 'paasbox-spec' },
    });
    if (dirAnswer.status !== 200 || !dirAnswer.body.includes('newOrder'))
      throw new PaasboxError(
        `Pebble's directory answered ${dirAnswer.status} ${dirAnswer.error ?? dirAnswer.body.slice(0, 200)}`,
        `read the logs: docker logs ${containers.acme}`,
      );
    const root = join(dir, 'root.pem');
    writeFileSync(root, rootPem);
    return {
      tag,
      directory: `https://127.0.0.1:${acmePort}/dir`,
      directoryCa,
      root,
      rootPem,
      logs,
      stop,
    };
  } catch (e) {
    const l = await logs(20);
    await stop();
    throw new PaasboxError(
      `Pebble did not start: ${(e as Error).message.split('\n')[0]}`,
      "read the containers' logs below (the image: stacks/test-images/pebble)",
      l,
    );
  }
}
