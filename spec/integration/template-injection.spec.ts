// The HAProxy template against hostile Consul data, for real: a throwaway
// Consul dev agent (the stack's consul image) and the stack's haproxy image
// (its own consul-template, its own baked template, its own reload script),
// both on docker's default bridge with no published ports, so nothing touches
// the host's ports or the running stack. Hostile registrations: a path= tag
// with a newline and a use_backend line, a service named "my service", a name
// with a newline, an address that carries config lines, out-of-range weights
// and tcp ports. The render must contain none of it, pass `haproxy -c`, and
// keep routing the good service.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { promisify } from 'node:util';
import { isCI } from '../helpers/ci.js';
import { ensureStackImages } from '../helpers/images.js';
import { until as untilEvery } from '../helpers/until.js';

const run = promisify(execFile);
const docker = async (...args: string[]) =>
  (await run('docker', args, { timeout: 120_000, maxBuffer: 16 << 20 })).stdout;

const until = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000) =>
  untilEvery(what, fn, timeoutMs, 250);

/** Every string a hostile registration carries contains this: the render must never show it. */
const MARK = 'pbtiinjected';

/** One HTTP request to a container of this run; resolves with status and body. */
function http(
  method: string,
  host: string,
  port: number,
  path: string,
  opts: { hostHeader?: string; body?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, path, method, headers: opts.hostHeader ? { Host: opts.hostHeader } : {}, timeout: 5000 },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} http://${host}:${port}${path}: timeout`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('HAProxy template against hostile Consul data (integration)', function () {
  this.timeout(1_200_000);
  const suffix = `${process.pid}-${Date.now().toString(36)}`;
  const consulName = `pbti-consul-${suffix}`;
  const haproxyName = `pbti-haproxy-${suffix}`;
  const started: string[] = [];
  let images: Record<string, string>;
  let consulIp = '';
  let haproxyIp = '';

  const register = async (def: Record<string, unknown>) => {
    const r = await http('PUT', consulIp, 8500, '/v1/agent/service/register', { body: JSON.stringify(def) });
    if (r.status !== 200) throw new Error(`registering ${JSON.stringify(def)}: ${r.status} ${r.body}`);
  };
  const ip = async (name: string) =>
    (await docker('inspect', '-f', '{{.NetworkSettings.IPAddress}}', name)).trim();

  before(async function () {
    const ok = await run('docker', ['info']).then(
      () => true,
      () => false,
    );
    if (!ok) {
      // CI provides docker (.ci/run installs it): there, its absence is a failure.
      if (isCI()) throw new Error('no usable docker daemon, and CI=true: this spec must run in CI');
      console.log('    skipped: no usable docker daemon on this machine');
      this.skip();
    }
    // Built (incrementally) by the project's builder: the template baked into
    // the image is the committed one. A build failure fails the spec.
    images = await ensureStackImages(['consul', 'haproxy']);

    await docker(
      'run',
      '-d',
      '--name',
      consulName,
      images['consul']!,
      'agent',
      '-dev',
      '-client=0.0.0.0',
      '-log-level=warn',
    );
    started.push(consulName);
    consulIp = await ip(consulName);
    await until('consul leader', async () =>
      (await http('GET', consulIp, 8500, '/v1/status/leader')).body.includes(':8300') ? true : undefined,
    );

    // The good service: Consul's own HTTP API stands in for an app (it answers GET /v1/status/leader).
    await register({
      ID: 'good',
      Name: 'python1',
      Address: consulIp,
      Port: 8500,
      Tags: ['http', 'path=/v1/status'],
    });
    // The hostile ones, as anyone who can reach Consul could register them.
    await register({
      ID: 'evil-path',
      Name: 'evil',
      Address: '10.255.0.1',
      Port: 8081,
      Tags: ['http', `path=/x }\n    use_backend svc_evil if TRUE # ${MARK}`],
    });
    await register({
      ID: 'evil-return',
      Name: 'evil2',
      Address: '10.255.0.2',
      Port: 8082,
      Tags: [
        'http',
        `path=/y\n    http-request return status 200 content-type text/plain string ${MARK} if TRUE`,
      ],
    });
    await register({
      ID: 'spaced',
      Name: `my service ${MARK}`,
      Address: '10.255.0.3',
      Port: 8083,
      Tags: ['http'],
    });
    await register({
      ID: 'plain-space',
      Name: 'my service',
      Address: '10.255.0.3',
      Port: 8084,
      Tags: ['http'],
    });
    await register({
      ID: 'newline-name',
      Name: `x\nuse_backend svc_evil if TRUE # ${MARK}`,
      Address: '10.255.0.4',
      Port: 8085,
      Tags: ['http'],
    });
    await register({ ID: 'upper', Name: `Upper${MARK}`, Address: '10.255.0.5', Port: 8086, Tags: ['http'] });
    await register({
      ID: 'evil-addr',
      Name: 'addr',
      Address: `10.255.0.6:1 check\n    use_backend svc_addr if TRUE # ${MARK}`,
      Port: 8087,
      Tags: ['http'],
    });
    await register({
      ID: 'unresolvable',
      Name: 'addr',
      Address: `${MARK}.invalid`,
      Port: 8088,
      Tags: ['http'],
    });
    await register({
      ID: 'bad-weight',
      Name: 'weights',
      Address: '10.255.0.7',
      Port: 8089,
      Tags: ['http', 'weight=999'],
    });
    await register({
      ID: 'bad-tcp',
      Name: 'tcpsvc',
      Address: '10.255.0.8',
      Port: 8090,
      Tags: ['tcp=70000', 'tcp=80', 'tcp=81', 'tcp=0', 'tcp=9300', 'tcp=10300'],
    });
    await register({
      ID: 'tcp-thief',
      Name: 'tcpthief',
      Address: '10.255.0.9',
      Port: 8091,
      Tags: ['tcp=10300'],
    });
  });

  after(async function () {
    if (this.currentTest?.state === 'failed' && started.includes(haproxyName)) {
      console.log(await docker('logs', '--tail', '40', haproxyName).catch((e: Error) => e.message));
    }
    for (const c of started) await docker('rm', '-f', '-v', c).catch(() => undefined);
  });

  let rendered = '';

  it('renders once (consul-template -once -dry, the image\'s own binary and template) without exiting on "my service"', async () => {
    // -dry prints "> DESTINATION" and the rendered file on stdout.
    const r = await run(
      'docker',
      [
        'run',
        '--rm',
        '--name',
        `pbti-render-${suffix}`,
        '-e',
        `CONSUL_HTTP_ADDR=${consulIp}:8500`,
        '--entrypoint',
        'sh',
        images['haproxy']!,
        '-c',
        'consul-template -log-level=err -once -dry -template /etc/haproxy/haproxy.cfg.ctmpl:/tmp/r.cfg > /tmp/out && sed 1d /tmp/out > /tmp/r.cfg && cat /tmp/r.cfg && echo "### haproxy -c" && haproxy -c -f /tmp/r.cfg',
      ],
      { timeout: 120_000, maxBuffer: 16 << 20 },
    ).catch((e: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(`render or haproxy -c failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
    });
    const [cfg = '', check = ''] = r.stdout.split('### haproxy -c\n');
    rendered = cfg;
    expect(check).to.match(/Configuration file is valid/);
  });

  it('contains no line from the hostile data', () => {
    expect(rendered).to.include('backend svc_python1');
    expect(rendered).to.not.include(MARK);
    expect(rendered).to.not.match(/if TRUE/);
    expect(rendered)
      .to.not.include('my service')
      .and.not.include('svc_my')
      .and.not.match(/path_beg \/[xy]\b/);
    // Every routing line has one of the template's own shapes.
    for (const line of rendered
      .split('\n')
      .filter((l) => /^\s*(use_backend|acl|server|bind|http-request)\b/.test(l))) {
      const shapes = [
        /acl host_[a-z0-9-]+ var\(txn\.host\) -m str [a-z0-9. -]+/,
        /acl (dom|wild)_[a-z0-9-]+ (var\(txn\.host\) -m (str|end) [a-z0-9.-]+|always_false)/,
        /acl acme_challenge path_beg \/\.well-known\/acme-challenge\//,
        /use_backend svc_[a-z0-9-]+ if (host_[a-z0-9-]+( \|\| dom_[a-z0-9-]+)?|wild_[a-z0-9-]+|acme_challenge)/,
        /use_backend svc_[a-z0-9-]+ if \{ path_beg \/[A-Za-z0-9/._-]+ \}/,
        /server (\d+\.){3}\d+:\d+ (\d+\.){3}\d+:\d+ check weight \d+/,
        /bind "?:[^ ]+"?|bind :\d+/,
        /bind ":\$\{HAPROXY_HTTPS_PORT-443\}" ssl crt "\$\{HAPROXY_TLS_CRT\}" crt \/etc\/haproxy\/certs\/ alpn h2,http\/1\.1/,
        /http-request set-header X-Forwarded-Proto https? if !?\{ ssl_fc \}/,
        /http-request set-var\(txn\.public\) str\([a-z0-9-]+\) if dom_[a-z0-9-]+ \|\| wild_[a-z0-9-]+/,
        /http-request redirect scheme https code 301 if !\{ ssl_fc \} \{ var\(txn\.public\) -m str [a-z0-9-]+ \}/,
        /http-request (set-var\(txn\.host\) |set-path |return status 404 ).*/,
      ];
      expect(
        shapes.some((re) => new RegExp(`^ {4}(${re.source})$`).test(line)),
        `unexpected line ${JSON.stringify(line)}`,
      ).to.equal(true);
    }
  });

  it('keeps the good parts: python1 routed by Host and path, bad tags skipped, not the service', () => {
    expect(rendered).to.match(
      /^ {4}acl host_python1 var\(txn.host\) -m str python1.service.consul python1$/m,
    );
    expect(rendered).to.match(/^ {4}use_backend svc_python1 if host_python1$/m);
    expect(rendered).to.include('use_backend svc_python1 if { path_beg /v1/status }');
    expect(rendered).to.include(`server ${consulIp}:8500 ${consulIp}:8500 check weight 1`);
    // evil's hostile path tag is ignored; evil itself is still a (Host-routed) service.
    expect(rendered).to.match(/backend svc_evil\n\s+balance roundrobin\n\s+server 10.255.0.1:8081 /);
    // An out-of-range weight falls back to 1; an address that is not IPv4 is no server.
    expect(rendered).to.include('server 10.255.0.7:8089 10.255.0.7:8089 check weight 1');
    expect(rendered).to.match(/backend svc_addr\n\s+balance roundrobin\n\n/);
    // tcp ports: only the valid one inside the apps' range (10000-10999: not 80, 81, 9300), and only once
    // (first service by name); each one dropped is a comment naming the service.
    expect(rendered.match(/^\s+bind :\d+$/gm)?.map((l) => l.trim())).to.deep.equal(['bind :10300']);
    expect(rendered).to.include('listen tcp_tcpsvc_10300').and.not.include('tcp_tcpthief');
    expect(rendered).to.include(
      "# paasbox-dropped: tcpsvc tcp=9300: outside the apps' TCP port range 10000-10999",
    );
    expect(rendered).to.include('# paasbox-dropped: tcpthief tcp=10300: port already routed to tcpsvc');
  });

  it('the image as the stack runs it keeps routing python1 with the hostile services registered', async () => {
    await docker(
      'run',
      '-d',
      '--init',
      '--name',
      haproxyName,
      '-e',
      `CONSUL_HTTP_ADDR=${consulIp}:8500`,
      '-e',
      'PAASBOX_DOMAIN=consul',
      images['haproxy']!,
    );
    started.push(haproxyName);
    haproxyIp = await ip(haproxyName);
    const live = await until('the first render with python1, reloaded', async () => {
      const cfg = await docker('exec', haproxyName, 'cat', '/etc/haproxy/haproxy.cfg');
      return cfg.includes('backend svc_python1') ? cfg : undefined;
    });
    expect(live).to.not.include(MARK);
    const r = await until('python1 through HAProxy', async () => {
      const a = await http('GET', haproxyIp, 80, '/v1/status/leader', {
        hostHeader: 'python1.service.consul',
      });
      return a.status === 200 ? a : undefined;
    });
    expect(r.body).to.include(':8300');
    // No hijack: an unknown Host is still the 404 backend, not svc_evil.
    const other = await http('GET', haproxyIp, 80, '/', { hostHeader: 'nosuch.service.consul' });
    expect(other.status).to.equal(404);
    expect(other.body).to.include('paasbox: no service for this Host');
    // A service registered now, with a space in its name, does not stop consul-template.
    await register({
      ID: 'late-space',
      Name: 'another bad one',
      Address: '10.255.0.10',
      Port: 8092,
      Tags: ['http'],
    });
    await register({ ID: 'late-good', Name: 'python2', Address: consulIp, Port: 8500, Tags: ['http'] });
    await until('python2 rendered after the bad registration', async () =>
      (await docker('exec', haproxyName, 'cat', '/etc/haproxy/haproxy.cfg')).includes('backend svc_python2')
        ? true
        : undefined,
    );
    expect(
      (await http('GET', haproxyIp, 80, '/v1/status/leader', { hostHeader: 'python2' })).status,
    ).to.equal(200);
    expect(
      (await docker('inspect', '-f', '{{.State.Running}} {{.RestartCount}}', haproxyName)).trim(),
    ).to.equal('true 0');
    await docker('exec', haproxyName, 'haproxy', '-c', '-f', '/etc/haproxy/haproxy.cfg');
    // Nothing was rejected on the way.
    expect(
      await docker(
        'exec',
        haproxyName,
        'sh',
        '-c',
        'test -e /etc/haproxy/haproxy.cfg.rejected && echo rejected || echo none',
      ),
    ).to.equal('none\n');
  });
});
