// stacks/templates/haproxy.cfg.ctmpl without Consul: the strict patterns it
// renders Consul data through (Go's RE2 and JavaScript agree on these: no
// flags, `$` is the end of the text, so a trailing newline never matches),
// and that every use of a service's name or tags goes through them. The
// render against a real Consul with hostile data is
// spec/integration/template-injection.spec.ts. The TCP port rules are
// checked by rendering the template with the image's consul-template (built
// by stacks/images/haproxy/prepare.sh) against a stand-in of Consul's catalog.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { repoPath } from '../../src/paths.js';

const template = readFileSync(repoPath('stacks', 'templates', 'haproxy.cfg.ctmpl'), 'utf8');
const readme = readFileSync(repoPath('stacks', 'templates', 'README.md'), 'utf8');

/** The pattern assigned to a template variable: {{- $name := "..." -}}. */
function pattern(name: string): RegExp {
  const m = new RegExp(`\\{\\{- \\$${name} := "([^"]+)" -\\}\\}`).exec(template);
  if (!m) throw new Error(`no $${name} pattern in haproxy.cfg.ctmpl`);
  return new RegExp(m[1]!);
}

const hostile = (prefix: string) => [
  `${prefix}\nuse_backend svc_evil if TRUE`,
  `${prefix}\n`,
  `${prefix} x`,
  `${prefix}\r`,
  `${prefix}}`,
  `${prefix}#`,
];

describe('haproxy.cfg.ctmpl: what Consul data may reach the config', () => {
  it('renders only service names that are DNS labels', () => {
    const label = pattern('label');
    for (const ok of ['a', 'python1', 'web-api', '0day', 'a'.repeat(63)])
      expect(label.test(ok), ok).to.equal(true);
    for (const bad of [
      '',
      'my service',
      'Python1',
      '-a',
      'a-',
      'a.b',
      'a_b',
      'a'.repeat(64),
      'web\nuse_backend svc_evil if TRUE',
      'web\n',
      'x{',
      'a"b',
    ]) {
      expect(label.test(bad), JSON.stringify(bad)).to.equal(false);
    }
  });

  it('renders only path=/[A-Za-z0-9/._-]+ prefixes', () => {
    const path = pattern('pathTag');
    for (const ok of ['path=/api', 'path=/v1.2/x_y-z', 'path=/A']) expect(path.test(ok), ok).to.equal(true);
    // "/" alone would route every request without a known Host to one service.
    for (const bad of [
      'path=/',
      ...hostile('path=/x'),
      'path=/x }',
      'path=x',
      'path=/a b',
      'path=/%2e',
      'path=/x if TRUE',
    ]) {
      expect(path.test(bad), JSON.stringify(bad)).to.equal(false);
    }
  });

  it('renders weights 0..256 and tcp ports 1..65535 only', () => {
    const weight = pattern('weightTag');
    for (const n of [0, 1, 9, 10, 99, 100, 199, 255, 256])
      expect(weight.test(`weight=${n}`), String(n)).to.equal(true);
    for (const bad of [
      'weight=257',
      'weight=999',
      'weight=-1',
      'weight=01',
      'weight=',
      ...hostile('weight=3'),
    ])
      expect(weight.test(bad), JSON.stringify(bad)).to.equal(false);
    const tcp = pattern('tcpTag');
    for (const n of [1, 80, 999, 1000, 9999, 10000, 59999, 64999, 65499, 65529, 65535])
      expect(tcp.test(`tcp=${n}`), String(n)).to.equal(true);
    for (const bad of ['tcp=0', 'tcp=65536', 'tcp=70000', 'tcp=099', 'tcp=', ...hostile('tcp=9000')])
      expect(tcp.test(bad), JSON.stringify(bad)).to.equal(false);
  });

  it('renders only host names (and *.NAME wildcards) as domain= tags', () => {
    const domain = pattern('domainTag');
    for (const ok of [
      'app.example.test',
      'a.b',
      'x-1.example.co.uk',
      '*.example.test',
      'www.xn--bcher-kva.example',
    ])
      expect(domain.test(`domain=${ok}`), ok).to.equal(true);
    for (const bad of [
      'domain=example',
      'domain=App.example.test',
      'domain=a..b',
      'domain=-a.b',
      'domain=a.b.',
      'domain=*.b',
      'domain=a.*.b',
      'domain=**.a.b',
      'domain=1.2.3.4',
      'domain=a_b.c',
      ...hostile('domain=app.example.test'),
    ])
      expect(domain.test(bad), JSON.stringify(bad)).to.equal(false);
  });

  it('renders only IPv4 server addresses', () => {
    const ipv4 = pattern('ipv4');
    for (const ok of ['10.0.0.5', '0.0.0.0', '255.255.255.255', '192.168.1.10'])
      expect(ipv4.test(ok), ok).to.equal(true);
    for (const bad of [
      '256.1.1.1',
      '10.0.0',
      '10.0.0.5.6',
      'host.example',
      '::1',
      '10.0.0.5 check',
      ...hostile('10.0.0.5'),
    ])
      expect(ipv4.test(bad), JSON.stringify(bad)).to.equal(false);
  });

  it('guards every range over services with the name pattern, every tag value with its pattern', () => {
    const ranges = template.match(/\{\{-? range services \}\}/g) ?? [];
    const guards = template.match(/\(regexMatch \$label \.Name\)/g) ?? [];
    expect(ranges.length).to.be.greaterThan(0);
    expect(guards.length).to.equal(ranges.length);
    // Tag values are printed only through trimPrefix, and only inside a strict match.
    const uses = [...template.matchAll(/trimPrefix "(\w+)="/g)];
    expect(uses.map((m) => m[1])).to.include.members(['path', 'weight', 'tcp', 'domain']);
    for (const m of uses) {
      // The closest regexMatch before it is the strict pattern of that tag.
      const before = template.slice(0, m.index);
      const guard = before.slice(before.lastIndexOf('regexMatch ')).split(' ')[1];
      expect(guard, `trimPrefix "${m[1]}=" at offset ${m.index}`).to.equal(`$${m[1]}Tag`);
    }
    expect(template).to.not.match(/regexMatch "\^(path|weight|tcp|domain)=/); // no loose inline pattern left
    // Servers only with an IPv4 address.
    expect(
      (
        template.match(
          /range service \(print \$name "\|passing"\) \}\}\n\{\{- if regexMatch \$ipv4 \.Address \}\}/g,
        ) ?? []
      ).length,
    ).to.equal((template.match(/range service \(/g) ?? []).length);
  });

  it('documents the same patterns in stacks/templates/README.md', () => {
    expect(readme).to.include('`path=/[A-Za-z0-9/._-]+`');
    expect(readme).to.include(`\`${pattern('label').source.replace(/^\^|\$$/g, '')}\``);
  });
});

/**
 * A stand-in of the Consul endpoints the templates read: the catalog, each
 * service's health, and K/V keys (one key, or a prefix with ?recurse).
 */
function fakeCatalog(services: Record<string, string[]>, kv: Record<string, string> = {}): Promise<Server> {
  const srv = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    res.setHeader('X-Consul-Index', '7');
    res.setHeader('Content-Type', 'application/json');
    if (u.pathname.startsWith('/v1/kv/')) {
      const key = decodeURIComponent(u.pathname.slice('/v1/kv/'.length));
      const rows = Object.entries(kv)
        .filter(([k]) => (u.searchParams.has('recurse') ? k.startsWith(key) : k === key))
        .map(([k, v]) => ({ Key: k, Value: Buffer.from(v).toString('base64'), ModifyIndex: 7 }));
      if (!rows.length) res.statusCode = 404;
      return void res.end(rows.length ? JSON.stringify(rows) : '');
    }
    if (u.pathname === '/v1/catalog/services')
      return void res.end(JSON.stringify({ consul: [], ...services }));
    const name = /^\/v1\/health\/service\/([^/]+)$/.exec(u.pathname)?.[1];
    if (name && services[name]) {
      const entry = {
        Node: { Node: 'n1', Address: '10.0.0.5', Datacenter: 'paasbox' },
        Service: { ID: `${name}-1`, Service: name, Tags: services[name], Address: '10.0.0.5', Port: 31000 },
        Checks: [{ Node: 'n1', CheckID: 'serfHealth', Status: 'passing' }],
      };
      return void res.end(JSON.stringify([entry]));
    }
    res.statusCode = 404;
    res.end('[]');
  });
  return new Promise((ok) => srv.listen(0, '127.0.0.1', () => ok(srv)));
}

describe("haproxy.cfg.ctmpl rendered: tcp=PORT only inside the apps' range (consul-template)", function () {
  this.timeout(180_000);
  const bin = repoPath('stacks', 'images', 'haproxy', '.bin', 'consul-template');
  const run = promisify(execFile);

  before(async () => {
    // The image's own binary, built the image's way when this checkout has none yet.
    if (!existsSync(bin))
      await run('sh', [repoPath('stacks', 'images', 'haproxy', 'prepare.sh')], { maxBuffer: 16 << 20 });
  });

  async function render(
    services: Record<string, string[]>,
    env: Record<string, string> = {},
    kv: Record<string, string> = {},
    file = 'haproxy.cfg.ctmpl',
  ): Promise<string> {
    const srv = await fakeCatalog(services, kv);
    const out = join(mkdtempSync(join(tmpdir(), 'pb-ctmpl-')), 'haproxy.cfg');
    try {
      const addr = `127.0.0.1:${(srv.address() as AddressInfo).port}`;
      const tmpl = repoPath('stacks', 'templates', file);
      await run(bin, ['-once', '-consul-addr', addr, '-template', `${tmpl}:${out}`], {
        env: { PATH: process.env['PATH'] ?? '', ...env },
        timeout: 30_000,
      });
      return readFileSync(out, 'utf8');
    } finally {
      srv.close();
    }
  }
  const listens = (cfg: string) =>
    [...cfg.matchAll(/^listen (\S+)\n\s+bind :(\d+)$/gm)].map((m) => `${m[1]} :${m[2]}`);
  const dropped = (cfg: string) => cfg.split('\n').filter((l) => l.startsWith('# paasbox-dropped: '));

  it('binds a tcp port inside the default range 10000-10999 only, never a stack port; each drop is a named line', async () => {
    const cfg = await render({
      web: ['http'],
      consulport: ['tcp=8500'],
      low: ['tcp=9999'],
      db: ['tcp=10000'],
      top: ['tcp=10999'],
      high: ['tcp=11000'],
      own: ['tcp=80'],
      dup: ['tcp=10000'],
      both: ['http', 'tcp=8080'],
    });
    expect(listens(cfg)).to.deep.equal(['tcp_db_10000 :10000', 'tcp_top_10999 :10999']);
    expect(dropped(cfg)).to.have.members([
      "# paasbox-dropped: consulport tcp=8500: outside the apps' TCP port range 10000-10999",
      "# paasbox-dropped: low tcp=9999: outside the apps' TCP port range 10000-10999",
      "# paasbox-dropped: high tcp=11000: outside the apps' TCP port range 10000-10999",
      "# paasbox-dropped: own tcp=80: outside the apps' TCP port range 10000-10999",
      "# paasbox-dropped: both tcp=8080: outside the apps' TCP port range 10000-10999",
      '# paasbox-dropped: dup tcp=10000: port already routed to db',
    ]);
    // HTTP routing is untouched: web, and both (http tag) still routed by name.
    expect(cfg)
      .to.match(/^backend svc_web$/m)
      .and.match(/^backend svc_both$/m);
    expect(cfg).to.not.match(/^backend svc_consulport$/m);
  });

  it("takes the range from PAASBOX_TCP_PORT_MIN/MAX (the haproxy service's environment)", async () => {
    const cfg = await render(
      { a: ['tcp=10001'], b: ['tcp=20000'], c: ['tcp=20010'], d: ['tcp=20011'] },
      { PAASBOX_TCP_PORT_MIN: '20000', PAASBOX_TCP_PORT_MAX: '20010' },
    );
    expect(listens(cfg)).to.deep.equal(['tcp_b_20000 :20000', 'tcp_c_20010 :20010']);
    expect(dropped(cfg)).to.have.members([
      "# paasbox-dropped: a tcp=10001: outside the apps' TCP port range 20000-20010",
      "# paasbox-dropped: d tcp=20011: outside the apps' TCP port range 20000-20010",
    ]);
  });

  it('routes a domain= tag only where the app owns both the domain and the service name', async () => {
    const cfg = await render(
      {
        shop: ['http', 'domain=shop.example.test', 'domain=*.shop.example.test', 'https-redirect', 'hsts'],
        thief: ['domain=bank.example.test', 'domain=shop.example.test'],
        orphan: ['domain=orphan.example.test'],
        plain: ['http'],
        acme: [],
      },
      {},
      {
        'paasbox/names/shop': '/shop',
        'paasbox/domains/shop.example.test': '/shop',
        'paasbox/domains/*.shop.example.test': '/shop',
        'paasbox/names/thief': '/thief',
        'paasbox/domains/bank.example.test': '/bank',
        'paasbox/domains/orphan.example.test': '/orphan',
      },
    );
    const lines = cfg.split('\n').map((l) => l.trim());
    expect(lines).to.include('acl dom_shop var(txn.host) -m str shop.example.test');
    expect(lines).to.include('acl wild_shop var(txn.host) -m end .shop.example.test');
    expect(lines).to.include('use_backend svc_shop if host_shop || dom_shop');
    expect(lines).to.include('use_backend svc_thief if host_thief');
    expect(lines).to.include('use_backend svc_plain if host_plain');
    expect(lines.filter((l) => !l.startsWith('#')).join('\n')).to.not.match(
      /dom_thief|dom_orphan|bank\.example|orphan\.example/,
    );
    expect(
      dropped(
        cfg
          .split('\n')
          .map((l) => l.trim())
          .join('\n'),
      ),
    ).to.have.members([
      "# paasbox-dropped: thief domain=bank.example.test: not this app's (paasbox/domains/bank.example.test)",
      "# paasbox-dropped: thief domain=shop.example.test: not this app's (paasbox/domains/shop.example.test)",
      "# paasbox-dropped: orphan domain=orphan.example.test: not this app's (paasbox/domains/orphan.example.test)",
    ]);
    // The redirect and HSTS act in the app's backend, on its own public names only (never
    // NAME.service.DOMAIN); the challenges never reach it (svc_acme comes first).
    expect(lines).to.include('http-request set-var(txn.public) str(shop) if dom_shop || wild_shop');
    expect(cfg).to.match(
      /^backend svc_shop\n\s+balance roundrobin\n\s+http-request redirect scheme https code 301 if !\{ ssl_fc \} \{ var\(txn\.public\) -m str shop \}\n\s+http-response set-header Strict-Transport-Security "max-age=31536000" if \{ ssl_fc \} \{ var\(txn\.public\) -m str shop \}$/m,
    );
    expect(cfg).to.not.match(/set-var\(txn\.public\) str\((thief|plain)\)/);
    // Order: the challenges first, every exact name before any wildcard.
    const at = (l: string) => lines.indexOf(l);
    expect(at('use_backend svc_acme if acme_challenge')).to.be.greaterThan(-1);
    expect(at('use_backend svc_acme if acme_challenge')).to.be.lessThan(
      at('use_backend svc_acme if host_acme'),
    );
    expect(at('use_backend svc_shop if wild_shop')).to.be.greaterThan(
      at('use_backend svc_thief if host_thief'),
    );
  });

  it('renders only host-name keys of paasbox/certs/ into the certificates bundle', async () => {
    const pem = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    const out = await render(
      {},
      {},
      {
        'paasbox/certs/app.example.test': pem,
        'paasbox/certs/*.example.test': pem,
        'paasbox/certs/bad name': pem,
        'paasbox/certs/UPPER.example.test': pem,
      },
      'certs.ctmpl',
    );
    const names = [...out.matchAll(/^-----paasbox-cert (\S+)-----$/gm)].map((m) => m[1]);
    expect(names).to.have.members(['app.example.test', '*.example.test']);
  });
});
