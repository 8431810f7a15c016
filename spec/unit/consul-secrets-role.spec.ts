// Why this spec exists: issue 19 gives each host only the secrets its role
// needs (agents never the management token), runs a cluster's Consul server
// RPC over TLS with a CA install makes (its key on the build host only), and
// takes away what a host no longer needs when it turns from master to agent.
// Pure parts (files by role, Consul 1.16's TLS block, the certificates) and
// the install step against a RootedTarget (the real shell, a temp SECRETS_DIR).
import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Progress } from '../../src/progress.js';
import { runSteps } from '../../src/provision/runner.js';
import { InstallSecrets, secretRole, secretsStep } from '../../src/provision/secrets.js';
import {
  consulTlsConfig,
  generateSecrets,
  localSecretFiles,
  SECRET_FILES,
  secretFiles,
} from '../../src/secrets/secrets.js';
import {
  consulServerName,
  generateConsulTls,
  resolveConsulTls,
  validConsulTls,
  type ConsulTls,
} from '../../src/secrets/tls.js';
import { RootedTarget } from '../helpers/rooted-target.js';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));
const MASTERS = ['10.0.0.1', '10.0.0.2', '10.0.0.3'];
const cluster = (ip: string) => ({ masters: MASTERS, agents: ['10.0.0.4'], ip, domain: 'consul' });

describe("Consul's secrets by role, and its RPC TLS", () => {
  let tls: ConsulTls;
  before(() => {
    tls = generateConsulTls('consul');
  });

  it('the role: one host and a master are servers, any other host of a cluster a client', () => {
    expect(secretRole({ masters: ['10.0.0.1'], agents: [], ip: '10.0.0.1' })).to.equal('server');
    expect(secretRole(cluster('10.0.0.2'))).to.equal('server');
    expect(secretRole(cluster('10.0.0.4'))).to.equal('client');
  });

  it('a server gets the management token, the server certificate and key; a client the CA and its agent token only', () => {
    const s = generateSecrets();
    const server = secretFiles(s, { role: 'server', tls });
    const client = secretFiles(s, { role: 'client', tls });
    expect(server).to.include.keys(
      SECRET_FILES.managementToken,
      SECRET_FILES.consulServerCert,
      SECRET_FILES.consulServerKey,
      SECRET_FILES.consulCaCert,
    );
    expect(client).to.not.have.any.keys(
      SECRET_FILES.managementToken,
      SECRET_FILES.consulServerCert,
      SECRET_FILES.consulServerKey,
      SECRET_FILES.consulCaKey,
    );
    expect(client[SECRET_FILES.agentToken]).to.equal(`${s.agentToken}\n`);
    expect(client[SECRET_FILES.consulCaCert]).to.equal(tls.caCert);
    const everything = Object.values(client).join('\n');
    expect(everything, 'no management token in any client file').to.not.include(s.managementToken);
    expect(everything, 'no key in any client file').to.not.include('PRIVATE KEY');
    expect(Object.values(server).join('\n'), 'the CA key never goes to a target').to.not.include(tls.caKey!);
    // The build host's copy: a server's files and the CA key.
    expect(localSecretFiles(s, tls)[SECRET_FILES.consulCaKey]).to.equal(tls.caKey);
    // One host (no TLS): no TLS files at all.
    expect(Object.keys(secretFiles(s)).filter((k) => k.includes('tls'))).to.deep.equal([]);
  });

  it("Consul 1.16's tls block: servers verify incoming, outgoing and the server name, clients use auto_encrypt", () => {
    expect(JSON.parse(consulTlsConfig('server'))).to.deep.equal({
      tls: {
        internal_rpc: {
          ca_file: '/consul/secrets/tls/ca.pem',
          cert_file: '/consul/secrets/tls/server.pem',
          key_file: '/consul/secrets/tls/server-key.pem',
          verify_incoming: true,
          verify_outgoing: true,
          verify_server_hostname: true,
        },
      },
      auto_encrypt: { allow_tls: true },
    });
    expect(JSON.parse(consulTlsConfig('client'))).to.deep.equal({
      tls: {
        internal_rpc: {
          ca_file: '/consul/secrets/tls/ca.pem',
          verify_outgoing: true,
          verify_server_hostname: true,
        },
      },
      auto_encrypt: { tls: true },
    });
  });

  it('makes a CA and a server certificate for server.paasbox.DOMAIN (openssl), checked with X509Certificate', () => {
    const ca = new X509Certificate(tls.caCert);
    const cert = new X509Certificate(tls.serverCert);
    expect(ca.ca).to.equal(true);
    expect(cert.ca).to.equal(false);
    expect(cert.verify(ca.publicKey)).to.equal(true);
    expect(cert.checkHost('server.paasbox.consul')).to.equal('server.paasbox.consul');
    // serverAuth and clientAuth: servers dial each other with verify_incoming on.
    expect(cert.keyUsage).to.include.members(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(consulServerName('consul')).to.equal('server.paasbox.consul');
    expect(validConsulTls(tls, 'consul')).to.equal(true);
    expect(validConsulTls(tls, 'example.org'), 'another domain').to.equal(false);
    expect(
      validConsulTls({ ...tls, serverKey: generateConsulTls('consul').serverKey }, 'consul'),
      'a key of another cert',
    ).to.equal(false);
    expect(
      validConsulTls(tls, 'consul', new Date(Date.now() + 3 * 365 * 24 * 3600 * 1000)),
      'near expiry',
    ).to.equal(false);
  });

  it('resolves: keeps a valid set (joining the CA key from this machine), re-signs with a known CA key, else makes a new CA', () => {
    const none = () => expect.fail('nothing should be made');
    const fromTarget = { caCert: tls.caCert, serverCert: tls.serverCert, serverKey: tls.serverKey };
    const kept = resolveConsulTls([fromTarget, { caCert: tls.caCert, caKey: tls.caKey! }], 'consul', none);
    expect(kept).to.deep.equal({ tls, generated: false });
    // Another domain: a new server certificate from the same CA.
    const resigned = resolveConsulTls([fromTarget, { caCert: tls.caCert, caKey: tls.caKey! }], 'example.org');
    expect(resigned.generated).to.equal(true);
    expect(resigned.tls.caCert).to.equal(tls.caCert);
    expect(validConsulTls(resigned.tls, 'example.org')).to.equal(true);
    // Nothing known: a new CA.
    const fresh = resolveConsulTls([{}, {}], 'consul');
    expect(fresh.tls.caCert).to.not.equal(tls.caCert);
    expect(validConsulTls(fresh.tls, 'consul')).to.equal(true);
  });

  describe('the install step on a cluster (RootedTarget)', () => {
    let saved: string | undefined;
    before(() => {
      saved = process.env['PAASBOX_STATE_DIR'];
      delete process.env['PAASBOX_STATE_DIR'];
    });
    after(() => {
      if (saved !== undefined) process.env['PAASBOX_STATE_DIR'] = saved;
    });
    const quiet = () => new Progress({ write: () => undefined });

    it('a master gets the TLS set and the management token, the CA key stays here; turned agent, it loses both', async () => {
      const cwd = tmp('pb-role-');
      const t = new RootedTarget(tmp('pb-rolet-'));
      const s = new InstallSecrets('default', cwd);
      const r1 = await runSteps(t, [secretsStep(s, cluster('10.0.0.1'))], quiet());
      expect(r1.steps[0]?.status).to.equal('changed');
      expect(r1.steps[0]?.detail).to.include('consul TLS');
      for (const rel of [
        SECRET_FILES.managementToken,
        SECRET_FILES.consulServerKey,
        SECRET_FILES.consulServerCert,
        SECRET_FILES.consulCaCert,
        SECRET_FILES.consulTlsConfig,
      ])
        expect(existsSync(join(t.root, rel)), rel).to.equal(true);
      expect(existsSync(join(t.root, SECRET_FILES.consulCaKey)), 'no CA key on a target').to.equal(false);
      const here = join(cwd, '.paasbox', 'secrets', 'default');
      const caKey = readFileSync(join(here, SECRET_FILES.consulCaKey), 'utf8');
      expect(caKey).to.include('PRIVATE KEY');
      const serverKey = readFileSync(join(t.root, SECRET_FILES.consulServerKey), 'utf8');
      for (const c of t.commands) {
        expect(c, 'a key on a command line').to.not.include(caKey.split('\n')[1]!);
        expect(c).to.not.include(serverKey.split('\n')[1]!);
      }
      // A second run (a fresh install): all ok, the same certificate.
      const r2 = await runSteps(
        t,
        [secretsStep(new InstallSecrets('default', cwd), cluster('10.0.0.1'))],
        quiet(),
      );
      expect(r2.steps[0]?.status, r2.steps[0]?.detail).to.equal('ok');

      // The same host now an agent: what it no longer needs is removed.
      const asAgent = {
        ...cluster('10.0.0.1'),
        masters: ['10.0.0.2', '10.0.0.3', '10.0.0.5'],
        agents: ['10.0.0.1'],
      };
      const r3 = await runSteps(t, [secretsStep(new InstallSecrets('default', cwd), asAgent)], quiet());
      expect(r3.steps[0]?.status).to.equal('changed');
      expect(r3.steps[0]?.detail).to.include('consul-management-token (not for this host)');
      expect(existsSync(join(t.root, SECRET_FILES.managementToken)), 'management token removed').to.equal(
        false,
      );
      expect(existsSync(join(t.root, SECRET_FILES.consulServerKey)), 'server key removed').to.equal(false);
      expect(existsSync(join(t.root, SECRET_FILES.agentToken))).to.equal(true);
      const management = readFileSync(join(here, SECRET_FILES.managementToken), 'utf8').trim();
      expect(readFileSync(join(t.root, SECRET_FILES.consulConfig), 'utf8')).to.not.include(management);
      const r4 = await runSteps(t, [secretsStep(new InstallSecrets('default', cwd), asAgent)], quiet());
      expect(r4.steps[0]?.status, r4.steps[0]?.detail).to.equal('ok');
    });
  });
});
