// Why this spec exists: issue 21's images reach every node through the
// stack's private registry. Its pure parts are checked here: the registry's
// configuration, the bcrypt htpasswd line (verified with bcryptjs, as the
// registry's Go bcrypt would), the docker login file, the files read back,
// the TLS set for the masters' addresses, `paasbox push`'s plan, the swarm
// service's registry login, and the trust step against a temp certs.d.
import bcrypt from 'bcryptjs';
import { expect } from 'chai';
import { RootedTarget } from '../helpers/rooted-target.js';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import {
  deployedRegistryPort,
  digestOf,
  planRegistryPush,
  pushFix,
  registryPushArgv,
} from '../../src/images/registry-push.js';
import { Progress } from '../../src/progress.js';
import { registryTrustStep, trustDiff, trustFiles } from '../../src/provision/registry-trust.js';
import { runSteps } from '../../src/provision/runner.js';
import {
  DOCKER_CERTS_DIR,
  dockerLoginConfig,
  dockerLoginPassword,
  generateRegistrySecrets,
  generateRegistryTls,
  htpasswdLine,
  htpasswdSalt,
  inStackRegistry,
  parseRegistrySecretFiles,
  parseRegistryTlsFiles,
  REGISTRY_LOGIN_DIR,
  REGISTRY_MOUNT,
  REGISTRY_SECRET_FILES,
  registryConfigYaml,
  registryLocalFiles,
  registryScopeOf,
  registrySecretFiles,
  resolveRegistryTls,
  validRegistryTls,
  type RegistryTls,
} from '../../src/secrets/registry.js';
import { SECRETS_DIR } from '../../src/secrets/secrets.js';
import { marathonToSwarmService } from '../../src/scheduler/swarm-service.js';
import { judgeRegistries } from '../../src/verify/cluster.js';
import { thrown } from '../helpers/failure.js';

const MASTERS = ['10.0.0.1', '10.0.0.2'];

describe("the stack's image registry", () => {
  let tls: RegistryTls;
  before(() => {
    tls = generateRegistryTls(MASTERS);
  });

  describe('configuration and login files', () => {
    it('renders Docker Distribution 0.1 config: filesystem storage, htpasswd, TLS, the http secret', () => {
      const c = parse(registryConfigYaml('s3cret-s3cret-s3cret-s3cret')) as {
        version: number;
        storage: { filesystem: { rootdirectory: string } };
        http: { secret: string; tls: { certificate: string; key: string } };
        auth: { htpasswd: { path: string } };
      };
      expect(c.version).to.equal(0.1);
      expect(c.storage.filesystem.rootdirectory).to.equal('/var/lib/docker-registry');
      expect(c.http.secret).to.equal('s3cret-s3cret-s3cret-s3cret');
      // The paths the container reads are the files install writes under SECRETS_DIR/registry.
      const inMount = (rel: string) => `${REGISTRY_MOUNT}/${rel.replace(/^registry\//, '')}`;
      expect(c.http.tls.certificate).to.equal(inMount(REGISTRY_SECRET_FILES.registryCert));
      expect(c.http.tls.key).to.equal(inMount(REGISTRY_SECRET_FILES.registryKey));
      expect(c.auth.htpasswd.path).to.equal(inMount(REGISTRY_SECRET_FILES.registryHtpasswd));
    });

    it('writes a bcrypt htpasswd line that the password verifies and another does not', () => {
      const s = generateRegistrySecrets();
      const line = htpasswdLine(s.registryPassword, s.registrySalt);
      const [user, hash] = line.trim().split(':');
      expect(user).to.equal('paasbox');
      expect(hash).to.match(/^\$2[aby]\$10\$/);
      expect(bcrypt.compareSync(s.registryPassword, hash!)).to.equal(true);
      expect(bcrypt.compareSync(`${s.registryPassword}x`, hash!)).to.equal(false);
      // The same salt gives the same file (a converged host stays converged); the salt reads back.
      expect(htpasswdLine(s.registryPassword, s.registrySalt)).to.equal(line);
      expect(htpasswdSalt(line)).to.equal(s.registrySalt);
      expect(line).not.to.include(s.registryPassword);
    });

    it('keeps the docker login for every master registry, password only base64 in a file', () => {
      const text = dockerLoginConfig(['10.0.0.2:5000', '10.0.0.1:5000'], 'pw-pw-pw-pw-pw-pw-pw-pw-pw');
      const auths = (JSON.parse(text) as { auths: Record<string, { auth: string }> }).auths;
      expect(Object.keys(auths)).to.deep.equal(['10.0.0.1:5000', '10.0.0.2:5000']);
      expect(Buffer.from(auths['10.0.0.1:5000']!.auth, 'base64').toString()).to.equal(
        'paasbox:pw-pw-pw-pw-pw-pw-pw-pw-pw',
      );
      expect(dockerLoginPassword(text)).to.equal('pw-pw-pw-pw-pw-pw-pw-pw-pw');
      expect(dockerLoginPassword('{not json')).to.equal(undefined);
    });

    it("reads its secrets back from a master's files, and refuses malformed ones", () => {
      const s = generateRegistrySecrets();
      const files = registrySecretFiles(s, { tls, ips: MASTERS, port: 5000 });
      expect(parseRegistrySecretFiles(files)).to.deep.equal(s);
      expect(Object.keys(files)).not.to.include(REGISTRY_SECRET_FILES.registryCaKey);
      expect(
        registryLocalFiles(s, { tls, ips: MASTERS, port: 5000 })[REGISTRY_SECRET_FILES.registryCaKey],
      ).to.equal(tls.caKey);
      const broken = { ...files, [REGISTRY_SECRET_FILES.registryHtpasswd]: 'paasbox:{SHA}abc\n' };
      expect(parseRegistrySecretFiles(broken)).not.to.have.property('registrySalt');
      expect(parseRegistryTlsFiles(files)).to.deep.equal({
        caCert: tls.caCert,
        cert: tls.cert,
        key: tls.key,
      });
    });

    it('names the login directory under SECRETS_DIR where its file is written', () => {
      expect(REGISTRY_LOGIN_DIR).to.equal(`${SECRETS_DIR}/${dirname(REGISTRY_SECRET_FILES.registryLogin)}`);
    });

    it('takes the masters and the port from settings (5000 unless moved)', () => {
      expect(registryScopeOf({ masters: MASTERS })).to.deep.equal({ ips: MASTERS, port: 5000 });
      expect(
        registryScopeOf({ masters: MASTERS, services: { registry: { ports: { https: 5443 } } } }).port,
      ).to.equal(5443);
    });
  });

  describe('TLS', () => {
    it("serves every master's address, signed by its own CA", () => {
      expect(validRegistryTls(tls, MASTERS)).to.equal(true);
      expect(validRegistryTls(tls, ['10.0.0.3'])).to.equal(false);
      const cert = new X509Certificate(tls.cert);
      expect(cert.subjectAltName).to.include('IP Address:10.0.0.2');
      expect(cert.verify(new X509Certificate(tls.caCert).publicKey)).to.equal(true);
      const other = generateRegistryTls(MASTERS);
      expect(validRegistryTls({ ...tls, caCert: other.caCert }, MASTERS)).to.equal(false);
    });

    it('keeps a valid set, and makes a new certificate from the same CA for a new master', () => {
      const kept = resolveRegistryTls(
        [{ caCert: tls.caCert, cert: tls.cert, key: tls.key }, { caKey: tls.caKey! }],
        MASTERS,
      );
      expect(kept.generated).to.equal(false);
      expect(kept.tls.caKey).to.equal(tls.caKey);
      const grown = resolveRegistryTls([tls], [...MASTERS, '10.0.0.3']);
      expect(grown.generated).to.equal(true);
      expect(grown.tls.caCert).to.equal(tls.caCert);
      expect(validRegistryTls(grown.tls, [...MASTERS, '10.0.0.3'])).to.equal(true);
    });
  });

  describe('paasbox push', () => {
    it("plans one reference per master's registry, the source's registry host left out", () => {
      const p = planRegistryPush('myteam/web:v2', MASTERS);
      expect(p.pushes).to.deep.equal([
        { address: '10.0.0.1:5000', ref: '10.0.0.1:5000/myteam/web:v2' },
        { address: '10.0.0.2:5000', ref: '10.0.0.2:5000/myteam/web:v2' },
      ]);
      expect(planRegistryPush('web', ['10.0.0.1']).pushes[0]!.ref).to.equal('10.0.0.1:5000/web:latest');
      expect(planRegistryPush('docker.io/library/web:1', ['10.0.0.1']).name).to.equal('library/web');
      expect(planRegistryPush('localhost:5000/a/b:c', ['10.0.0.1'], 5443).pushes[0]!.ref).to.equal(
        '10.0.0.1:5443/a/b:c',
      );
    });

    it('refuses what is no NAME[:TAG], naming the fix', () => {
      for (const bad of ['Web:1', 'web@sha256:' + 'a'.repeat(64), 'web:1 --all', '-q', '', 'a//b'])
        expect(thrown(() => planRegistryPush(bad, MASTERS)).fix, bad).to.include('NAME[:TAG]');
      expect(thrown(() => planRegistryPush('web', [])).problem).to.include('no master');
    });

    it('pushes with the login directory, never a password, and reads the digest of its own repository', () => {
      const argv = registryPushArgv('web:1', '10.0.0.1:5000/web:1');
      expect(argv.push).to.deep.equal([
        'docker',
        '--config',
        REGISTRY_LOGIN_DIR,
        'push',
        '10.0.0.1:5000/web:1',
      ]);
      const d = `sha256:${'b'.repeat(64)}`;
      const lines = [`web@sha256:${'c'.repeat(64)}`, `10.0.0.1:5000/web@${d}`];
      expect(digestOf('10.0.0.1:5000/web:1', lines)).to.equal(`10.0.0.1:5000/web@${d}`);
      expect(digestOf('10.0.0.2:5000/web:1', lines)).to.equal(undefined);
    });

    it("finds the registry's port in the deployed stack, and says when the stack has none", () => {
      expect(
        deployedRegistryPort({ services: ['registry'], ports: { registry: 'https=5443/tcp' } }),
      ).to.equal(5443);
      expect(deployedRegistryPort({ services: ['registry'], ports: { registry: '' } })).to.equal(5000);
      expect(thrown(() => deployedRegistryPort({ services: ['consul'], ports: {} })).problem).to.include(
        'no image registry',
      );
      expect(pushFix('x509: certificate signed by unknown authority')).to.include('certs.d');
      expect(pushFix('no basic auth credentials')).to.include(REGISTRY_LOGIN_DIR);
    });
  });

  describe('swarm tasks', () => {
    const app = (image: string) => ({
      id: '/web',
      instances: 1,
      container: { type: 'DOCKER' as const, docker: { image } },
    });

    it("pass the manager's registry login for an image in the stack's registry, and only then", () => {
      const svc = marathonToSwarmService(app('10.0.0.1:5000/web:1'), undefined, {
        pinnedImage: `10.0.0.1:5000/web@sha256:${'d'.repeat(64)}`,
      });
      expect(svc.create.slice(0, 5)).to.deep.equal([
        'docker',
        '--config',
        REGISTRY_LOGIN_DIR,
        'service',
        'create',
      ]);
      const end = svc.create.indexOf('--');
      expect(svc.create.indexOf('--with-registry-auth')).to.be.within(0, end);
      expect(svc.create[end + 1]).to.equal(`10.0.0.1:5000/web@sha256:${'d'.repeat(64)}`);
      expect(svc.update).to.include('--with-registry-auth');
      const plain = marathonToSwarmService(app('nginx:1'));
      expect(plain.create).not.to.include('--with-registry-auth');
      expect(plain.create.slice(0, 3)).to.deep.equal(['docker', 'service', 'create']);
      expect(inStackRegistry('nginx:5000')).to.equal(false);
      expect(inStackRegistry('reg.example:5000/x')).to.equal(true);
    });
  });

  describe('verify on a cluster', () => {
    it("passes when every master's registry refuses anonymous over TLS; names a master gone or untrusted", () => {
      const up = (master: string) => ({ master, status: 401 });
      expect(judgeRegistries(MASTERS.map(up)).ok).to.equal(true);
      const gone = judgeRegistries([
        up('10.0.0.1'),
        { master: '10.0.0.2', status: 0, error: 'Connection refused' },
      ]);
      expect(gone.ok).to.equal(false);
      expect(gone.got).to.include('10.0.0.2 no answer (Connection refused)');
      const open = judgeRegistries([up('10.0.0.1'), { master: '10.0.0.2', status: 200 }]);
      expect(open.ok).to.equal(false);
      expect(open.got).to.include('10.0.0.2 HTTP 200');
    });
  });

  describe("docker's trust on every node", () => {
    it('puts the CA at certs.d/MASTER:PORT/ca.crt, and sees a changed one', () => {
      const files = trustFiles(tls.caCert, MASTERS, 5000);
      expect(Object.keys(files)).to.deep.equal([
        `${DOCKER_CERTS_DIR}/10.0.0.1:5000/ca.crt`,
        `${DOCKER_CERTS_DIR}/10.0.0.2:5000/ca.crt`,
      ]);
      expect(trustDiff(files, 'missing\nmissing\n')).to.have.length(2);
    });

    it('writes it with the real shell, 0644, and is converged on a second run', async () => {
      const root = mkdtempSync(join(tmpdir(), 'pb-certsd-'));
      try {
        const t = new RootedTarget(root, DOCKER_CERTS_DIR);
        const secrets = { registryTls: async () => ({ tls, generated: false }) };
        const step = registryTrustStep(secrets, { masters: MASTERS });
        const quiet = () => new Progress({ write: () => undefined });
        const first = await runSteps(t, [step], quiet());
        expect(first.changed).to.equal(1);
        const f = join(root, '10.0.0.2:5000', 'ca.crt');
        expect(readFileSync(f, 'utf8')).to.equal(tls.caCert);
        expect(statSync(f).mode & 0o777).to.equal(0o644);
        const second = await runSteps(t, [step], quiet());
        expect(second.changed).to.equal(0);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
  });
});
