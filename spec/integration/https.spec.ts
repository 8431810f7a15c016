// HTTPS at the edge (issue 22), on this machine's standalone install
// (install.mjs, as a user runs it) with a real ACME server: Pebble, Let's
// Encrypt's test server (src/bench/pebble.ts), on loopback, its DNS stub
// answering every name with the stack's address, so Pebble validates HTTP-01
// on the stack's own HAProxy :80. The install is given `acme:` settings
// (directory, email, the directory's CA) through --config. Shown: python1 on
// :443 with the stack's own CA and HTTP/2; an app labelled
// HAPROXY_0_VHOST=app.example.test gets a certificate from Pebble and answers
// through HAProxy; a forced renewal serves a new certificate with no failed
// request in a concurrent loop; the redirect (301 on :80, 200 on :443); and
// hostile names refused at deploy or left out of routing while every other
// app keeps its routes. Traffic goes to this host's HAProxy and to the
// containers this run starts; its apps, certificates and containers are
// removed after.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import { MANAGEMENT_TOKEN_FILE } from '../../src/consul/acl.js';
import { repoPath } from '../../src/paths.js';
import { EDGE_SECRET_FILES } from '../../src/secrets/edge.js';
import { fetchOnce } from '../helpers/http.js';
import { ensureExampleImage, imagesProgress } from '../helpers/images.js';
import { startPebble, type Pebble } from '../../src/bench/pebble.js';
import { installStandalone, sh, stackContainer, paasboxCli } from '../helpers/standalone.js';
import { sleep, until } from '../helpers/until.js';

const exec = promisify(execFile);
const IMAGE = 'paasbox/simplewebapp-python:latest';
/** The stack CA's local copy, under the instance's secrets (the spec's own state dir). */
const STACK_CA = EDGE_SECRET_FILES.edgeCaCert;
const INSTANCE = 'default';
/** The public names this spec's apps claim. */
const APP_DOMAIN = 'app.example.test';
const REDIRECT_DOMAIN = 'redirect.example.test';

interface CurlResult {
  /** curl's exit code (28: timed out). */
  code: number;
  status: number;
  /** %{http_version}: 1.1, 2. */
  version: string;
  body: string;
  /** %{redirect_url}: the Location a redirect names ('' for none). */
  location: string;
  /** curl's own error, if any. */
  stderr: string;
}

const CURL_MARK = '\n@@paasbox-curl ';

/** One curl (argv, no shell) on a fresh connection: its status, HTTP version, body and Location. */
async function curl(args: string[], maxTimeS = 5): Promise<CurlResult> {
  // (Not -D /dev/stderr: node's child stdio are sockets, which curl cannot open by that name.)
  const format = `${CURL_MARK}%{http_code} %{http_version} %{redirect_url}`;
  const argv = ['-sS', '--max-time', String(maxTimeS), '-w', format, ...args];
  const r = await exec('curl', argv, { maxBuffer: 16 << 20 }).then(
    (x) => ({ code: 0, stdout: x.stdout, stderr: x.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof e.code === 'number' ? e.code : -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    }),
  );
  const at = r.stdout.lastIndexOf(CURL_MARK);
  const [status, version, location] = (at >= 0 ? r.stdout.slice(at + CURL_MARK.length) : '0 0')
    .trim()
    .split(' ');
  return {
    code: r.code,
    status: Number(status),
    version: version ?? '',
    body: at >= 0 ? r.stdout.slice(0, at) : r.stdout,
    location: location ?? '',
    stderr: r.stderr,
  };
}

/** The certificate address:443 serves for `name` (SNI), checked against `ca`: its serial and issuer. */
function servedCertificate(
  address: string,
  name: string,
  ca: string,
): Promise<{ serial: string; issuer: string; subjectAltName: string }> {
  return new Promise((ok, fail) => {
    const s = connect({ host: address, port: 443, servername: name, ca, ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(
      () => s.destroy(new Error(`no TLS handshake with ${address}:443 within 3 s`)),
      3000,
    );
    s.once('secureConnect', () => {
      const c = s.getPeerCertificate();
      clearTimeout(timer);
      s.end();
      const cn = c.issuer?.CN;
      ok({
        serial: c.serialNumber,
        issuer: Array.isArray(cn) ? cn.join(', ') : (cn ?? ''),
        subjectAltName: c.subjectaltname ?? '',
      });
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
  });
}

describe('https: the edge on :443, public domains, certificates from Pebble (integration)', function () {
  this.timeout(30 * 60_000);
  const state = mkdtempSync(join(tmpdir(), 'pb-https-state-'));
  const files = mkdtempSync(join(tmpdir(), 'pb-https-'));
  const env = { ...process.env, PAASBOX_STATE_DIR: state };
  const tag = `pbhttps${Date.now().toString(36)}`;
  const deployed: string[] = [];
  const started: string[] = [];
  let pebble: Pebble | undefined;
  let ip = '';
  let haproxy = '';
  let token = '';

  /** The stack CA's copy install left in this spec's state dir (as localSecretsDir lays it out). */
  const stackCa = () => join(state, 'secrets', INSTANCE, STACK_CA);
  const cli = paasboxCli(env);
  const file = (name: string, body: object): string => {
    const f = join(files, `${name}.json`);
    writeFileSync(f, JSON.stringify(body));
    return f;
  };
  /** An app of the example image (one instance, health-checked), named and labelled as given. */
  const app = (name: string, labels: Record<string, string> = {}) => ({
    id: `/${name}`,
    instances: 1,
    cpus: 0.1,
    mem: 64,
    container: {
      type: 'DOCKER',
      docker: { image: IMAGE, network: 'BRIDGE' },
      portMappings: [{ containerPort: 8080, hostPort: 0, protocol: 'tcp', name: 'http' }],
    },
    env: { SERVICE_NAME: name, SERVICE_TAGS: 'http' },
    labels,
    healthChecks: [
      {
        protocol: 'HTTP',
        path: '/health',
        portIndex: 0,
        gracePeriodSeconds: 10,
        intervalSeconds: 5,
        timeoutSeconds: 3,
        maxConsecutiveFailures: 3,
      },
    ],
  });
  const deploy = async (name: string, body: object) => {
    const f = file(name, body);
    const r = await cli(['deploy', f, '--wait', '--json']);
    if (r.code === 0) deployed.push(f);
    return r;
  };
  const swarmServices = async () =>
    (await exec('docker', ['service', 'ls', '--format', '{{.Name}}'])).stdout
      .split('\n')
      .filter(Boolean)
      .sort();
  const kv = async (key: string) => {
    const r = await fetchOnce(`http://${ip}:8500/v1/kv/${key}?raw`, { headers: { 'X-Consul-Token': token } });
    return r.status === 200 ? await r.text() : undefined;
  };
  const passing = async (service: string) =>
    (
      (await (
        await fetchOnce(`http://${ip}:8500/v1/health/service/${service}?passing=1`, {
          headers: { 'X-Consul-Token': token },
        })
      ).json()) as unknown[]
    ).length;
  /** HTTPS to a public name at the stack's address, trusting only Pebble's root. */
  const httpsPublic = (name: string, maxTimeS = 5, path = '/') =>
    curl(['--cacert', pebble!.root, '--resolve', `${name}:443:${ip}`, `https://${name}${path}`], maxTimeS);
  /** Plain HTTP to a name at the stack's address (no redirect followed). */
  const httpPlain = (name: string, path = '/') =>
    curl(['--resolve', `${name}:80:${ip}`, `http://${name}${path}`]);
  /** HTTPS to NAME.service.consul, trusting only the stack's own CA, HTTP/2 offered. */
  const httpsStack = (name: string) =>
    curl([
      '--http2',
      '--cacert',
      stackCa(),
      '--resolve',
      `${name}.service.consul:443:${ip}`,
      `https://${name}.service.consul/`,
    ]);
  const answersAs = (r: CurlResult, service: string) =>
    r.code === 0 && r.status === 200 && r.body.includes(`Hello from ${service} `);
  const describeCurl = (r: CurlResult) =>
    `curl exit ${r.code}, status ${r.status}, HTTP ${r.version}: ${(r.body + r.stderr).slice(0, 400)}`;

  /**
   * A settings file of just `acme:` for install's --config; "" switches a recorded value off, so
   * the install after this spec does not keep a directory that is gone.
   */
  const acmeConfig = (name: string, a: { directory: string; email: string; directoryCa: string }) => {
    const f = join(files, name);
    writeFileSync(
      f,
      `acme:\n${Object.entries(a)
        .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)
        .join('\n')}\n`,
    );
    return f;
  };
  const acmeOff = () => acmeConfig('acme-off.yaml', { directory: '', email: '', directoryCa: '' });

  before(async () => {
    await ensureExampleImage();
    // The stack's address first (the install with no ACME directory), then Pebble answering every
    // name with it, then the install again with acme: pointing at Pebble.
    ip = await installStandalone(env, ['--config', acmeOff()]);
    pebble = await startPebble({ answer: ip, tag: `${tag}-pebble` }, imagesProgress());
    const config = acmeConfig('paasbox.yaml', {
      directory: pebble.directory,
      email: 'tests@example.test',
      directoryCa: pebble.directoryCa,
    });
    expect(await installStandalone(env, ['--config', config]), 'the same address').to.equal(ip);
    haproxy = await stackContainer('haproxy');
    token = readFileSync(MANAGEMENT_TOKEN_FILE, 'utf8').trim();
    const p = await cli([
      'deploy',
      repoPath('examples', 'SimpleWebappPython', 'deploy1_marathon.json'),
      '--wait',
      '--json',
    ]);
    expect(p.code, p.stderr).to.equal(0);
    deployed.push(repoPath('examples', 'SimpleWebappPython', 'deploy1_marathon.json'));
  });

  after(async function () {
    if (this.currentTest?.state === 'failed') {
      console.log(await sh(`docker logs --tail 40 ${haproxy} 2>&1`).catch(() => ''));
      const acme = await sh('docker ps -q --filter label=com.docker.compose.service=acme').catch(() => '');
      if (acme) console.log(await sh(`docker logs --tail 40 ${acme.split('\n')[0]} 2>&1`).catch(() => ''));
      if (pebble) console.log(await pebble.logs(40));
    }
    if (started.length) await exec('docker', ['rm', '-f', ...started]).catch(() => undefined);
    for (const f of deployed.reverse()) await cli(['deploy', f, '--destroy']).catch(() => undefined);
    for (const d of [APP_DOMAIN, REDIRECT_DOMAIN]) await cli(['cert', 'rm', d]).catch(() => undefined);
    await pebble?.stop();
    // The shared stack without the directory that is now gone.
    await installStandalone(env, ['--config', acmeOff()]).catch((e: Error) =>
      console.log(`      re-install without acme: failed: ${e.message}`),
    );
    // The spec's own copies of the stack's secrets (0600) and its app files.
    for (const d of [files, state]) rmSync(d, { recursive: true, force: true });
  });

  it("serves python1.service.consul on :443 with the stack's own CA, HTTP/2 offered", async () => {
    const r = await until(
      'python1 over HTTPS by name',
      async () => {
        const x = await httpsStack('python1');
        if (!answersAs(x, 'python1')) throw new Error(describeCurl(x));
        return x;
      },
      120_000,
      500,
    );
    expect(r.version, 'HTTP/2 through ALPN').to.equal('2');
    // The CA is the stack's own: Pebble's root does not vouch for it.
    const other = await curl([
      '--cacert',
      pebble!.root,
      '--resolve',
      `python1.service.consul:443:${ip}`,
      'https://python1.service.consul/',
    ]);
    expect(other.code, "refused under a CA that is not the stack's").to.equal(60);
    // And :80 by name keeps working exactly as before.
    const plain = await httpPlain('python1.service.consul');
    expect(answersAs(plain, 'python1'), describeCurl(plain)).to.equal(true);
  });

  it(`gets ${APP_DOMAIN} a certificate from Pebble by HTTP-01 on HAProxy, answering the app`, async () => {
    const name = `${tag}app`;
    const t0 = Date.now();
    const r = await deploy(name, app(name, { HAPROXY_0_VHOST: APP_DOMAIN }));
    expect(r.code, r.stderr).to.equal(0);
    const first = await until(
      `${APP_DOMAIN} over HTTPS under Pebble's root`,
      async () => {
        const x = await httpsPublic(APP_DOMAIN);
        if (!answersAs(x, name)) throw new Error(describeCurl(x));
        return x;
      },
      5 * 60_000,
      500,
    );
    console.log(`      label to the first good HTTPS answer: ${Date.now() - t0} ms (HTTP ${first.version})`);
    const served = await servedCertificate(ip, APP_DOMAIN, pebble!.rootPem);
    expect(served.issuer, 'issued by Pebble').to.match(/Pebble/);
    expect(served.subjectAltName).to.include(`DNS:${APP_DOMAIN}`);
    // The result is in Consul: the combined PEM, and the status (source acme).
    expect(await kv(`paasbox/certs/${APP_DOMAIN}`), 'paasbox/certs/<domain>').to.match(/PRIVATE KEY/);
    const status = JSON.parse((await kv(`paasbox/acme/status/${APP_DOMAIN}`)) ?? '{}') as Record<
      string,
      unknown
    >;
    expect(status, JSON.stringify(status)).to.include({ ok: true, source: 'acme' });
    // The operator sees it: `cert list` and `status` name the certificate.
    const list = await cli(['cert', 'list', '--json']);
    expect(list.code, list.stderr).to.equal(0);
    expect(JSON.stringify(JSON.parse(list.stdout)), 'cert list --json').to.include(APP_DOMAIN);
    const st = await cli(['status']);
    expect(st.stdout + st.stderr, 'paasbox status').to.include(APP_DOMAIN);
    // Rendered for HAProxy, never world-readable.
    const modes = await sh(`docker exec ${haproxy} find /etc/haproxy/certs -type f -printf '%m %p\\n'`);
    expect(
      modes.split('\n').filter(Boolean).length,
      'certificate files in /etc/haproxy/certs',
    ).to.be.greaterThan(0);
    for (const l of modes.split('\n').filter(Boolean)) expect(l, 'mode 0600').to.match(/^600 /);
    // The public name on :80 reaches the app too.
    const plain = await httpPlain(APP_DOMAIN);
    expect(answersAs(plain, name), describeCurl(plain)).to.equal(true);
  });

  it('serves the renewed certificate after a forced renewal, with no failed request in a loop', async () => {
    const name = `${tag}app`;
    const before = await servedCertificate(ip, APP_DOMAIN, pebble!.rootPem);
    let stop = false;
    const tally = { ok: 0, failed: 0, timeouts: 0, errors: [] as string[] };
    const worker = async () => {
      while (!stop) {
        const x = await httpsPublic(APP_DOMAIN, 2);
        if (x.code === 28) tally.timeouts++;
        else if (answersAs(x, name)) tally.ok++;
        else {
          tally.failed++;
          if (tally.errors.length < 5) tally.errors.push(describeCurl(x));
        }
      }
    };
    const loop = Promise.all([worker(), worker(), worker(), worker()]);
    try {
      await sleep(1000);
      const t0 = Date.now();
      const r = await cli(['cert', 'renew', APP_DOMAIN]);
      expect(r.code, `cert renew: ${r.stderr}${r.stdout}`).to.equal(0);
      const after = await until(
        'a certificate with a new serial served',
        async () => {
          const c = await servedCertificate(ip, APP_DOMAIN, pebble!.rootPem);
          return c.serial !== before.serial ? c : undefined;
        },
        120_000,
        200,
      );
      console.log(
        `      renewal to the new certificate served: ${Date.now() - t0} ms ` +
          `(serial ${before.serial} -> ${after.serial})`,
      );
      expect(after.issuer).to.match(/Pebble/);
      // Some more requests on the new certificate.
      await sleep(2000);
    } finally {
      stop = true;
      await loop;
    }
    console.log(`      request loop (4 concurrent, 2 s timeout): ${JSON.stringify(tally)}`);
    expect(tally.ok, 'requests answered by the app').to.be.greaterThan(20);
    expect({ failed: tally.failed, timeouts: tally.timeouts }, tally.errors.join('\n')).to.deep.equal({
      failed: 0,
      timeouts: 0,
    });
  });

  it('redirects plain HTTP with HAPROXY_0_REDIRECT_TO_HTTPS: 301 on :80, 200 on :443', async () => {
    const name = `${tag}redir`;
    const r = await deploy(
      name,
      app(name, { HAPROXY_0_VHOST: REDIRECT_DOMAIN, HAPROXY_0_REDIRECT_TO_HTTPS: 'true' }),
    );
    expect(r.code, r.stderr).to.equal(0);
    // Its certificate comes through HTTP-01 on :80 too: the challenge path is never redirected.
    await until(
      `${REDIRECT_DOMAIN} over HTTPS under Pebble's root`,
      async () => {
        const x = await httpsPublic(REDIRECT_DOMAIN);
        if (!answersAs(x, name)) throw new Error(describeCurl(x));
        return true;
      },
      5 * 60_000,
      500,
    );
    const plain = await httpPlain(REDIRECT_DOMAIN, '/some/path');
    expect(plain.status, describeCurl(plain)).to.equal(301);
    expect(plain.location).to.equal(`https://${REDIRECT_DOMAIN}/some/path`);
    // Apps without the label are not redirected.
    const other = await httpPlain(APP_DOMAIN);
    expect(answersAs(other, `${tag}app`), describeCurl(other)).to.equal(true);
  });

  it("refuses or leaves out hostile names, and every other app's routing is unaffected", async () => {
    const owner = `${tag}app`;
    const refused = async (name: string, labels: Record<string, string>, says: RegExp) => {
      const before = await swarmServices();
      const r = await deploy(name, app(name, labels));
      expect(r.code, `${name}: ${r.stderr}${r.stdout}`).to.not.equal(0);
      const line = r.stderr.split('\n').find((l) => l.startsWith('paasbox: ')) ?? r.stderr;
      expect(line, r.stderr).to.include('HAPROXY_0_VHOST');
      expect(r.stderr, r.stderr).to.match(says);
      expect(await swarmServices(), `${name} left a service`).to.deep.equal(before);
    };
    await refused(
      `${tag}nl`,
      { HAPROXY_0_VHOST: 'evil.example.test\nbackend be_evil' },
      /control|newline|space/i,
    );
    await refused(`${tag}wild`, { HAPROXY_0_VHOST: '*.example.test' }, /--allow-wildcard-domains/);
    await refused(`${tag}thief`, { HAPROXY_0_VHOST: APP_DOMAIN }, new RegExp(`/${owner}\\b`));
    await refused(`${tag}stack`, { HAPROXY_0_VHOST: 'python1.service.consul' }, /consul/);
    expect(await kv(`paasbox/domains/${APP_DOMAIN}`), 'the owner keeps the name').to.equal(`/${owner}`);

    // Around deploy: a container with the tags but no claim (its name is its own, its domains are not).
    const rogue = `${tag}rogue`;
    started.push(rogue);
    await exec('docker', [
      'run',
      '-d',
      '--name',
      rogue,
      '-p',
      '8080',
      '--label',
      `paasbox.marathon.id=/${rogue}`,
      '-e',
      `SERVICE_NAME=${rogue}`,
      '-e',
      `SERVICE_TAGS=http,domain=${APP_DOMAIN},domain=rogue.example.test`,
      '-e',
      'SERVICE_CHECK_HTTP=/health',
      IMAGE,
    ]);
    await until(
      `${rogue} passing in Consul`,
      async () => ((await passing(rogue)) ? true : undefined),
      60_000,
      200,
    );
    await sleep(2000); // a template render and reload, had it been routed
    const seen: Record<string, number> = {};
    for (let i = 0; i < 20; i++) {
      const x = await httpsPublic(APP_DOMAIN);
      const who = answersAs(x, owner) ? owner : answersAs(x, rogue) ? rogue : describeCurl(x);
      seen[who] = (seen[who] ?? 0) + 1;
    }
    expect(seen, `${APP_DOMAIN} over HTTPS, 20 requests`).to.deep.equal({ [owner]: 20 });
    const plainOwner = await httpPlain(APP_DOMAIN);
    expect(answersAs(plainOwner, owner), describeCurl(plainOwner)).to.equal(true);
    const unclaimed = await httpPlain('rogue.example.test');
    expect(unclaimed.body, 'an unclaimed domain tag is not routed').to.not.include(`Hello from ${rogue}`);
    expect(unclaimed.status).to.not.equal(200);

    // Every other app: by name on :80 and :443, and by its public names.
    const p80 = await httpPlain('python1.service.consul');
    expect(answersAs(p80, 'python1'), describeCurl(p80)).to.equal(true);
    const p443 = await httpsStack('python1');
    expect(answersAs(p443, 'python1'), describeCurl(p443)).to.equal(true);
    const redir = await httpsPublic(REDIRECT_DOMAIN);
    expect(answersAs(redir, `${tag}redir`), describeCurl(redir)).to.equal(true);
    const haproxyLog = await sh(`docker logs --since 5m ${haproxy} 2>&1`);
    expect(haproxyLog, 'every reload took').to.not.include('still serving the previous config');
  });

  it('leaves out a certificate HAProxy cannot load (RSA 1024 written straight to K/V); routes keep updating', async () => {
    // What `cert add` and the renewer refuse, put past them with the management token.
    const dir = mkdtempSync(join(tmpdir(), 'pb-weak-'));
    const key = 'paasbox/certs/weak.example.test';
    const kvCall = (method: string, body?: string) =>
      fetchOnce(`http://${ip}:8500/v1/kv/${key}`, {
        method,
        headers: { 'X-Consul-Token': token },
        ...(body !== undefined ? { body } : {}),
      });
    try {
      await exec('openssl', [
        'req',
        '-x509',
        '-newkey',
        'rsa:1024',
        '-nodes',
        '-days',
        '30',
        '-subj',
        '/CN=weak.example.test',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
      ]);
      const pem = readFileSync(join(dir, 'c.pem'), 'utf8') + readFileSync(join(dir, 'k.pem'), 'utf8');
      expect((await kvCall('PUT', pem)).status).to.equal(200);
      await until(
        'haproxy-certs leaving out weak.example.test',
        async () =>
          (await sh(`docker logs --since 2m ${haproxy} 2>&1`)).includes(
            'certificate for weak.example.test left out',
          )
            ? true
            : undefined,
        60_000,
        500,
      );
      // A new service is still routed by name: the reloads go on.
      const fresh = `${tag}fresh`;
      started.push(fresh);
      await exec('docker', [
        'run',
        '-d',
        '--name',
        fresh,
        '-p',
        '8080',
        '--label',
        `paasbox.marathon.id=/${fresh}`,
        '-e',
        `SERVICE_NAME=${fresh}`,
        '-e',
        'SERVICE_CHECK_HTTP=/health',
        IMAGE,
      ]);
      const r = await until(
        `${fresh} routed by name after the bad certificate`,
        async () => {
          const x = await httpPlain(`${fresh}.service.consul`);
          return answersAs(x, fresh) ? x : undefined;
        },
        60_000,
        200,
      );
      expect(r.status).to.equal(200);
      const p443 = await httpsStack('python1');
      expect(answersAs(p443, 'python1'), describeCurl(p443)).to.equal(true);
    } finally {
      await kvCall('DELETE');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
