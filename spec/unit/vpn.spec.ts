// The VPN's pure parts: client names, the server config, a client's .ovpn,
// the tls-crypt key file, easy-rsa's index, --remote; the install step that
// writes the server's files (root, 0600, nothing else) against a fake host,
// on a PKI laid out as easy-rsa lays it; the model's openvpn service.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PaasboxError } from '../../src/errors.js';
import {
  inspectServerFilesCommand,
  OPENVPN_DIR,
  openvpnSteps,
  parseServerFilesInspection,
  serverFilesDiff,
  serverFilesStep,
} from '../../src/provision/openvpn.js';
import type { StackPlan } from '../../src/provision/plan.js';
import { resolveSettings } from '../../src/settings/settings.js';
import { composePort, parseDeployment } from '../../src/stackfile/deployment.js';
import { generateCompose } from '../../src/stackfile/generate.js';
import { loadStackModel } from '../../src/model/load.js';
import { resolveImageRefs } from '../../src/stackfile/refs.js';
import { VpnPki } from '../../src/vpn/pki.js';
import {
  checkClientName,
  parseIndex,
  parseRemote,
  pemCertificate,
  renderClientProfile,
  renderServerConfig,
  renderStaticKey,
  vpnEndpoint,
} from '../../src/vpn/profile.js';
import { AnsweringTarget } from '../helpers/answering-target.js';
import { thrown } from '../helpers/failure.js';

const PEM = (what: string) => `-----BEGIN CERTIFICATE-----\nMII${what}\n-----END CERTIFICATE-----\n`;
const KEY = (what: string) => `-----BEGIN PRIVATE KEY-----\nMIG${what}\n-----END PRIVATE KEY-----\n`;

function fails(fn: () => unknown, problem: RegExp): PaasboxError {
  const e = thrown(fn);
  expect(e.problem).to.match(problem);
  return e;
}

describe('VPN (OpenVPN with an easy-rsa PKI)', () => {
  describe('client names', () => {
    it('takes letters, digits, - and _ starting with a letter or digit', () => {
      for (const n of ['laptop', 'alice-phone', 'ci_1', 'X', 'a'.repeat(64)])
        expect(checkClientName(n)).to.equal(n);
    });
    it("refuses everything else, and the PKI's own names, with the fix", () => {
      for (const n of ['', '-rf', '_x', 'a b', 'a/b', '../ca', 'a;rm', "it's", 'é', 'a'.repeat(65), 'x\ny'])
        expect(fails(() => checkClientName(n), /is not usable/).fix).to.include('letters, digits, - and _');
      fails(() => checkClientName('server'), /reserved/);
      fails(() => checkClientName('CA'), /reserved/);
    });
  });

  describe('the server config', () => {
    const conf = renderServerConfig({ stackIp: '10.0.0.5', port: 1194 });
    const lines = conf.split('\n');
    it("pushes a route to the stack's address only: no default route, no DNS, no other network", () => {
      expect(lines.filter((l) => l.startsWith('push '))).to.deep.equal([
        'push "route 10.0.0.5 255.255.255.255"',
      ]);
      expect(conf).to.not.match(/redirect-gateway|def1/);
    });
    it("reads only the server's files from the read-only mount, checks the CRL, and has no CA key", () => {
      for (const l of [
        'ca /etc/openvpn/paasbox/ca.crt',
        'cert /etc/openvpn/paasbox/server.crt',
        'key /etc/openvpn/paasbox/server.key',
        'tls-crypt /etc/openvpn/paasbox/tc.key',
        'crl-verify /etc/openvpn/paasbox/crl.pem',
        'remote-cert-tls client',
        'management /run/openvpn/management.sock unix',
        'multihome',
        'port 1194',
        'proto udp',
        'dh none',
      ])
        expect(lines, l).to.include(l);
      expect(conf).to.not.include('ca.key');
    });
    it('takes the port it is given and refuses what is not an address or a port', () => {
      expect(renderServerConfig({ stackIp: '192.168.59.103', port: 11940 })).to.include('\nport 11940\n');
      fails(
        () => renderServerConfig({ stackIp: '10.0.0.5"\npush "redirect-gateway', port: 1194 }),
        /not an IPv4 address/,
      );
      fails(() => renderServerConfig({ stackIp: '10.0.0.5', port: 70000 }), /not a port/);
    });
  });

  describe('a client profile', () => {
    const base = {
      name: 'laptop',
      remote: { host: '203.0.113.7', port: 1194 },
      stackIp: '10.0.0.5',
      dns: { ip: '10.0.0.5', domain: 'consul' },
      ca: PEM('ca'),
      cert: PEM('laptop'),
      key: KEY('laptop'),
      tlsCrypt: renderStaticKey(Buffer.alloc(256, 7)),
    };
    it('connects to the remote over UDP, checks the server, and carries every key inline', () => {
      const p = renderClientProfile(base);
      const lines = p.split('\n');
      for (const l of [
        'client',
        'dev tun',
        'proto udp',
        'remote 203.0.113.7 1194',
        'nobind',
        'remote-cert-tls server',
        'verify-x509-name server name',
      ])
        expect(lines, l).to.include(l);
      const inline = (tag: string) => new RegExp(`<${tag}>\\n([\\s\\S]*?)\\n</${tag}>`).exec(p)?.[1];
      expect(inline('ca')).to.equal(PEM('ca').trim());
      expect(inline('cert')).to.equal(PEM('laptop').trim());
      expect(inline('key')).to.equal(KEY('laptop').trim());
      expect(inline('tls-crypt')).to.include('-----BEGIN OpenVPN Static key V1-----');
      expect(p.startsWith('# paasbox VPN profile for "laptop"')).to.equal(true);
    });
    it("sends .consul names to the stack's DNS, and routes nothing itself", () => {
      const lines = renderClientProfile(base).split('\n');
      expect(lines).to.include.members(['dhcp-option DNS 10.0.0.5', 'dhcp-option DOMAIN consul']);
      expect(lines.filter((l) => /^(route|redirect-gateway|pull-filter)/.test(l))).to.deep.equal([]);
      expect(renderClientProfile({ ...base, dns: { ip: '10.0.0.5', domain: 'paas' } })).to.include(
        'dhcp-option DOMAIN paas\n',
      );
      expect(
        renderClientProfile({
          name: base.name,
          remote: base.remote,
          stackIp: base.stackIp,
          ca: base.ca,
          cert: base.cert,
          key: base.key,
          tlsCrypt: base.tlsCrypt,
        }),
      ).to.not.include('dhcp-option');
    });
    it("drops the pushed route when the server is the stack's own address (it would loop the tunnel's own packets)", () => {
      const p = renderClientProfile({ ...base, remote: { host: '10.0.0.5', port: 1194 } });
      expect(p.split('\n')).to.include('pull-filter ignore "route 10.0.0.5 255.255.255.255"');
    });
    it('refuses a bad name before writing anything', () => {
      fails(() => renderClientProfile({ ...base, name: 'a b' }), /is not usable/);
    });
  });

  describe('texts from easy-rsa and openvpn', () => {
    it("a tls-crypt key is openvpn's static key file: 16 lines of 32 hex digits between the markers", () => {
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const k = renderStaticKey(bytes).split('\n');
      const body = k.slice(
        k.indexOf('-----BEGIN OpenVPN Static key V1-----') + 1,
        k.indexOf('-----END OpenVPN Static key V1-----'),
      );
      expect(body).to.have.length(16);
      expect(body.every((l) => /^[0-9a-f]{32}$/.test(l))).to.equal(true);
      expect(body.join('')).to.equal(bytes.toString('hex'));
      expect(() => renderStaticKey(Buffer.alloc(16))).to.throw();
    });
    it("the PEM block of an issued certificate (easy-rsa puts openssl's text dump first)", () => {
      expect(pemCertificate(`Certificate:\n    Data: ...\n${PEM('x')}`)).to.equal(PEM('x'));
      fails(() => pemCertificate('nothing'), /no PEM certificate/);
    });
    it("easy-rsa's index: valid, revoked (with its date), expired", () => {
      const idx = [
        'V\t290304005808Z\t\tB0759E\tunknown\t/CN=server',
        'R\t290304005809Z\t261130010203Z\t30ABDA\tunknown\t/CN=laptop',
        'V\t290304005809Z\t\t41AA\tunknown\t/CN=laptop',
        'V\t200101000000Z\t\t77\tunknown\t/CN=old',
        'garbage',
      ].join('\n');
      expect(parseIndex(idx, new Date('2026-12-01T00:00:00Z'))).to.deep.equal([
        { name: 'server', status: 'valid', serial: 'B0759E', expires: '2029-03-04T00:58:08Z' },
        {
          name: 'laptop',
          status: 'revoked',
          serial: '30ABDA',
          expires: '2029-03-04T00:58:09Z',
          revoked: '2026-11-30T01:02:03Z',
        },
        { name: 'laptop', status: 'valid', serial: '41AA', expires: '2029-03-04T00:58:09Z' },
        { name: 'old', status: 'expired', serial: '77', expires: '2020-01-01T00:00:00Z' },
      ]);
    });
    it('--remote HOST[:PORT]', () => {
      expect(parseRemote('vpn.example.com', 1194)).to.deep.equal({ host: 'vpn.example.com', port: 1194 });
      expect(parseRemote('203.0.113.7:443', 1194)).to.deep.equal({ host: '203.0.113.7', port: 443 });
      for (const bad of ['a b', 'x:0', 'x:99999', 'h;rm -rf /', ''])
        fails(() => parseRemote(bad, 1194), /is not HOST or HOST:PORT/);
    });
  });

  describe('the stack file', () => {
    const model = loadStackModel();
    const compose = async (file: object) => {
      const s = resolveSettings({ file, env: { HOSTNAME: 'h', IP: '10.11.12.13' } }, model);
      return {
        settings: s,
        compose: generateCompose(model, s, await resolveImageRefs(model, s, () => false)),
      };
    };
    it('runs openvpn only when enabled, with the server files mounted read-only and no volume of keys', async () => {
      expect((await compose({})).compose.services['openvpn']).to.equal(undefined);
      const { compose: c } = await compose({ services: { openvpn: { enabled: true } } });
      const svc = c.services['openvpn']!;
      expect(svc.volumes).to.deep.equal([`${OPENVPN_DIR}:/etc/openvpn/paasbox:ro`]);
      expect(Object.keys(c.volumes ?? {})).to.not.include('openvpn-data');
      expect(composePort(svc.labels['paasbox.ports'], 'vpn')).to.equal(1194);
    });
    it('install has the openvpn steps only when the plan runs it', async () => {
      const off = await compose({});
      expect(openvpnSteps({ ...off, project: 'paasbox' }, 'default')).to.deep.equal([]);
      const on = await compose({ services: { openvpn: { enabled: true } } });
      const names = openvpnSteps(
        { ...on, project: 'paasbox' } as Pick<StackPlan, 'compose' | 'settings' | 'project'>,
        'default',
      ).map((s) => s.name);
      expect(names[0]).to.match(/^easy-rsa \(this machine/);
      expect(names[1]).to.match(/^VPN PKI .*secrets\/default\/pki \(this machine\)$/);
      expect(names[2]).to.equal(`VPN server files ${OPENVPN_DIR}`);
    });
    it('vpn client takes the remote port and the DNS from the deployed stack file', () => {
      const d = (services: Record<string, string>) =>
        parseDeployment(
          `services:\n${Object.entries(services)
            .map(([n, p]) => `  ${n}:\n    labels:\n      paasbox.ports: "${p}"\n`)
            .join('')}x-paasbox:\n  ip: 10.0.0.5\n  domain: consul\n  project: paasbox\n`,
        )!;
      expect(vpnEndpoint(d({ openvpn: 'vpn=1194/udp', dns: 'dns=53/udp' }), 't')).to.deep.equal({
        ip: '10.0.0.5',
        port: 1194,
        dns: { ip: '10.0.0.5', domain: 'consul' },
      });
      const moved = vpnEndpoint(d({ openvpn: 'vpn=11940/udp', dns: 'dns=5353/udp' }), 't');
      expect([moved.port, moved.dns, moved.note]).to.deep.equal([
        11940,
        undefined,
        "the stack's DNS is on port 5353, not 53: the profile sets no DNS server (dhcp-option cannot name a port)",
      ]);
      fails(() => vpnEndpoint(d({ consul: 'http=8500/tcp' }), 't'), /^the stack on t does not run OpenVPN$/);
    });
  });

  describe('the server files step', () => {
    let dir: string;
    let pki: VpnPki;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'pb-vpn-'));
      const p = join(dir, 'secrets', 'pki');
      const files: Record<string, string> = {
        'ca.crt': PEM('ca'),
        'issued/server.crt': `Certificate:\n  text\n${PEM('server')}`,
        'private/ca.key': KEY('ca'),
        'private/server.key': KEY('server'),
        'crl.pem': '-----BEGIN X509 CRL-----\nMIIcrl\n-----END X509 CRL-----\n',
        'tc.key': renderStaticKey(Buffer.alloc(256, 1)),
      };
      for (const [rel, content] of Object.entries(files)) {
        mkdirSync(join(p, rel, '..'), { recursive: true, mode: 0o700 });
        writeFileSync(join(p, rel), content, { mode: 0o600 });
      }
      for (const d of [join(dir, 'secrets'), p, join(p, 'issued'), join(p, 'private')]) chmodSync(d, 0o700);
      pki = new VpnPki(p);
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const sha = (s: string) => createHash('sha256').update(s).digest('hex');

    it('the PKI is complete as laid out; a file readable by others is a problem to fix', () => {
      expect(pki.missing()).to.deep.equal([]);
      chmodSync(join(pki.dir, 'private', 'ca.key'), 0o644);
      expect(pki.missing()).to.deep.equal([`${join(pki.dir, 'private', 'ca.key')} mode 644`]);
    });

    it('gives the server its own key and certificate, the CA certificate, the tls-crypt key and the CRL: never the CA key', () => {
      const f = pki.serverFiles();
      expect(Object.keys(f).sort()).to.deep.equal([
        'ca.crt',
        'crl.pem',
        'server.crt',
        'server.key',
        'tc.key',
      ]);
      expect(f['server.crt']).to.equal(PEM('server'));
      expect(JSON.stringify(f)).to.not.include('MIGca');
    });

    it('check: a fresh host lacks all; a converged one (root, 0600, 0700 directory, /dev/net/tun) is ok', async () => {
      const step = serverFilesStep('paasbox', pki, '10.0.0.5', 1194);
      const fresh = new AnsweringTarget('h', '10.0.0.5', () => ({ stdout: '' }));
      const c = await step.check(fresh);
      expect(c.ok).to.equal(false);
      expect(c.detail)
        .to.include(`${OPENVPN_DIR}/ (missing)`)
        .and.include('server.key (missing)')
        .and.include('/dev/net/tun (missing)');
      expect(fresh.ran[0]).to.equal(inspectServerFilesCommand());
      const wanted = {
        ...pki.serverFiles(),
        'server.conf': renderServerConfig({ stackIp: '10.0.0.5', port: 1194 }),
      };
      const listing = [
        'd 700 0',
        ...Object.entries(wanted).map(([n, t]) => `f 600 0 ${sha(t)} ${n}`),
        'tun',
      ].join('\n');
      expect(
        await step.check(new AnsweringTarget('h', '10.0.0.5', () => ({ stdout: listing }))),
      ).to.deep.equal({
        ok: true,
        detail: 'server.conf, CA certificate, server key and certificate, tls-crypt key, CRL: root, 0600',
      });
    });

    it("apply writes what differs 0600, removes what is not the server's (a CA key), and restarts a running server unless only the CRL changed", async () => {
      const wanted = {
        ...pki.serverFiles(),
        'server.conf': renderServerConfig({ stackIp: '10.0.0.5', port: 1194 }),
      };
      const listing = (over: Record<string, string>, extra = '') =>
        [
          'd 700 0',
          ...Object.entries(wanted).map(([n, t]) => `f 600 0 ${over[n] ?? sha(t)} ${n}`),
          extra,
          'tun',
        ].join('\n');
      const labels = { 'com.docker.compose.project': 'paasbox', 'com.docker.compose.service': 'openvpn' };
      // The server, and a swarm task carrying its compose labels: only the server is restarted.
      const ps = JSON.stringify([
        {
          Id: 'c0ffee'.repeat(2),
          Name: '/paasbox-openvpn-1',
          State: { Running: true },
          Config: { Labels: labels },
        },
        {
          Id: 'bad0'.repeat(3),
          Name: '/web.1.x',
          State: { Running: true },
          Config: { Labels: { ...labels, 'com.docker.swarm.task.id': 'x' } },
        },
      ]);
      const host = (stdout: string) =>
        new AnsweringTarget('h', '10.0.0.5', (c) =>
          c.startsWith('if [ -d') ? { stdout } : c.startsWith('ids=$(docker ps') ? { stdout: ps } : {},
        );
      const step = serverFilesStep('paasbox', pki, '10.0.0.5', 1194);

      const keyAndCaKey = host(listing({ 'server.key': '0'.repeat(64) }, `f 600 0 ${'1'.repeat(64)} ca.key`));
      expect(await step.apply(keyAndCaKey)).to.equal('wrote server.key; openvpn restarted');
      expect(keyAndCaKey.writes).to.deep.equal([
        { path: `${OPENVPN_DIR}/server.key`, content: KEY('server'), mode: 0o600 },
      ]);
      expect(keyAndCaKey.ran).to.include(`rm -rf ${OPENVPN_DIR}/ca.key`);
      expect(keyAndCaKey.ran.filter((c) => c.startsWith('docker restart'))).to.deep.equal([
        'docker restart c0ffeec0ffee',
      ]);

      const crlOnly = host(listing({ 'crl.pem': '0'.repeat(64) }));
      expect(await step.apply(crlOnly)).to.equal('wrote crl.pem');
      expect(crlOnly.ran.filter((c) => c.startsWith('docker') || c.startsWith('ids='))).to.deep.equal([]);
    });

    it('removes the volume where older versions let the server make its own PKI (CA key included), with the container using it', async () => {
      const wanted = {
        ...pki.serverFiles(),
        'server.conf': renderServerConfig({ stackIp: '10.0.0.5', port: 1194 }),
      };
      const listing = [
        'd 700 0',
        ...Object.entries(wanted).map(([n, t]) => `f 600 0 ${sha(t)} ${n}`),
        'tun',
        'legacy',
      ].join('\n');
      const h = new AnsweringTarget('h', '10.0.0.5', (c) =>
        c.startsWith('if [ -d') ? { stdout: listing } : {},
      );
      const step = serverFilesStep('paasbox', pki, '10.0.0.5', 1194);
      expect((await step.check(h)).detail).to.equal(
        'the old server-made PKI volume (its CA key on the server: removed with its container)',
      );
      expect(h.ran[0]).to.include('docker volume inspect paasbox_openvpn-data');
      expect(await step.apply(h)).to.equal('removed the old server-made PKI (volume paasbox_openvpn-data)');
      expect(h.ran).to.include(
        'ids=$(docker ps -aq --filter volume=paasbox_openvpn-data); [ -z "$ids" ] || docker rm -f $ids >/dev/null; docker volume rm paasbox_openvpn-data >/dev/null',
      );
    });

    it('parses the inspection, names with spaces included', () => {
      expect(parseServerFilesInspection(`d 700 0\nf 644 1000 ${'a'.repeat(64)} a b\ntun\n`)).to.deep.equal({
        dir: '700 0',
        files: { 'a b': { mode: '644 1000', sha: 'a'.repeat(64) } },
        tun: true,
      });
      expect(serverFilesDiff({ files: {}, tun: true }, { x: 'y' }).changed).to.deep.equal(['x']);
    });
  });
});
