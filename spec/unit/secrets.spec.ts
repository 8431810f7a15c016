// The stack's secrets: generated in their formats, written as files with mode
// 0600 in 0700 directories here and on the target, read back and reused by a
// second install, taken from the target when this machine has none, and
// never on a command line, in a report or in the compose file. The target is
// this machine with SECRETS_DIR moved into a temp dir (the real shell runs).
import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Progress } from '../../src/progress.js';
import { edgeScopeOf, InstallSecrets, secretsStep } from '../../src/provision/secrets.js';
import { runSteps } from '../../src/provision/runner.js';
import { resolveSettings } from '../../src/settings/settings.js';
import { generateCompose, renderCompose } from '../../src/stackfile/generate.js';
import { loadStackModel } from '../../src/model/load.js';
import { resolveImageRefs } from '../../src/stackfile/refs.js';
import { generateEdgeTls, parseEdgeTlsFiles, resolveEdgeTls, validEdgeTls } from '../../src/secrets/edge.js';
import {
  consulSecretConfig,
  generateSecrets,
  localSecretFiles,
  mergeSecrets,
  parseSecretFiles,
  secretFiles,
  SECRET_DIRS,
  SECRET_FILES,
  SECRET_NAMES,
  validSecret,
  type StackSecrets,
} from '../../src/secrets/secrets.js';
import {
  inspectSecretsCommand,
  localSecretsDiff,
  parseSecretsInspection,
  readLocalSecretFiles,
  targetSecretsDiff,
  writeLocalSecretFiles,
  writeTargetSecrets,
} from '../../src/secrets/store.js';
import { LocalTarget } from '../../src/target/local.js';
import { RootedTarget } from '../helpers/rooted-target.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const modeOf = (p: string) => (statSync(p).mode & 0o777).toString(8);
const values = (s: StackSecrets) => SECRET_NAMES.map((n) => s[n]);

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

describe('stack secrets', () => {
  it('generates every secret in its format, fresh each time', () => {
    const a = generateSecrets();
    const b = generateSecrets();
    for (const n of [
      'managementToken',
      'agentToken',
      'registratorToken',
      'consulTemplateToken',
      'appsApiToken',
      'acmeToken',
    ] as const)
      expect(a[n], n).to.match(UUID);
    expect(Buffer.from(a.gossipKey, 'base64')).to.have.length(32);
    expect(a.gossipKey).to.match(/^[A-Za-z0-9+/]{43}=$/);
    expect(a.statsPassword).to.match(/^[A-Za-z0-9_-]{24}$/);
    for (const n of SECRET_NAMES) {
      expect(validSecret(n, a[n]), n).to.equal(true);
      expect(a[n], `${n} differs between two generations`).to.not.equal(b[n]);
    }
    expect(new Set(values(a)).size, 'no two secrets alike').to.equal(SECRET_NAMES.length);
    expect(validSecret('managementToken', 'not-a-uuid')).to.equal(false);
    expect(validSecret('gossipKey', Buffer.alloc(16).toString('base64'))).to.equal(false);
  });

  it("Consul's file: ACLs on, default deny, token persistence, Consul 1.16's initial_management and agent tokens, gossip encryption", () => {
    const s = generateSecrets();
    expect(JSON.parse(consulSecretConfig(s))).to.deep.equal({
      acl: {
        enabled: true,
        default_policy: 'deny',
        enable_token_persistence: true,
        tokens: { initial_management: s.managementToken, agent: s.agentToken },
      },
      encrypt: s.gossipKey,
    });
    // A client agent's: no management token at all.
    expect(JSON.parse(consulSecretConfig(s, 'client'))).to.deep.equal({
      acl: {
        enabled: true,
        default_policy: 'deny',
        enable_token_persistence: true,
        tokens: { agent: s.agentToken },
      },
      encrypt: s.gossipKey,
    });
    expect(consulSecretConfig(s, 'client')).to.not.include(s.managementToken);
  });

  it("reads a Consul 1.8 install's file (acl.tokens.master) back: an upgrade keeps its management token", () => {
    const s = generateSecrets();
    const old = JSON.stringify({
      acl: {
        enabled: true,
        default_policy: 'deny',
        enable_token_persistence: true,
        tokens: { master: s.managementToken, agent: s.agentToken },
      },
      encrypt: s.gossipKey,
    });
    expect(parseSecretFiles({ [SECRET_FILES.consulConfig]: old })).to.deep.equal({
      managementToken: s.managementToken,
      agentToken: s.agentToken,
      gossipKey: s.gossipKey,
    });
  });

  it('reads its files back to the same secrets; a malformed or missing value is left out', () => {
    const s = generateSecrets();
    const files = secretFiles(s);
    const one = [
      SECRET_FILES.managementToken,
      SECRET_FILES.consulConfig,
      SECRET_FILES.registratorToken,
      SECRET_FILES.consulTemplateToken,
      SECRET_FILES.statsAuth,
      SECRET_FILES.marathonCredentials,
      SECRET_FILES.mesosCredentials,
      SECRET_FILES.appsApiCredentials,
      SECRET_FILES.appsApiToken,
      SECRET_FILES.acmeToken,
    ];
    expect(Object.keys(files).sort()).to.deep.equal(one.sort());
    expect(files[SECRET_FILES.statsAuth]).to.equal(`admin:${s.statsPassword}\n`);
    // The image registry's are in files only with its scope (spec/unit/registry.spec.ts reads those back).
    const notRegistry = Object.fromEntries(Object.entries(s).filter(([k]) => !k.startsWith('registry')));
    expect(parseSecretFiles(files)).to.deep.equal(notRegistry);
    const broken = {
      ...files,
      [SECRET_FILES.registratorToken]: 'garbage\n',
      [SECRET_FILES.consulConfig]: '{not json',
    };
    delete (broken as Record<string, string>)[SECRET_FILES.statsAuth];
    const back = parseSecretFiles(broken);
    expect(back).to.deep.equal({
      managementToken: s.managementToken,
      consulTemplateToken: s.consulTemplateToken,
      appsApiToken: s.appsApiToken,
      acmeToken: s.acmeToken,
      marathonPassword: s.marathonPassword,
      mesosPassword: s.mesosPassword,
    });
  });

  it("the edge's files: every host gets the certificate with its key and the CA, never the CA key", () => {
    const s = generateSecrets();
    const scope = { domain: 'consul', ips: ['10.0.0.5', '10.0.0.6'] };
    const edge = generateEdgeTls(scope);
    for (const role of ['server', 'client'] as const) {
      const files = secretFiles(s, { role, edge });
      expect(files[SECRET_FILES.edgePem]).to.equal(`${edge.cert}${edge.key}`);
      expect(files[SECRET_FILES.edgeCaCert]).to.equal(edge.caCert);
      expect(Object.values(files).join('')).to.not.include(edge.caKey!);
    }
    const local = localSecretFiles(s, undefined, undefined, edge);
    expect(local[SECRET_FILES.edgeCaKey]).to.equal(edge.caKey);
    // Read back: the same set, kept; a host added needs a new certificate from the same CA.
    const back = parseEdgeTlsFiles(local);
    expect(resolveEdgeTls([back], scope).generated).to.equal(false);
    const grown = resolveEdgeTls([back], { ...scope, ips: [...scope.ips, '10.0.0.7'] });
    expect(grown.generated).to.equal(true);
    expect(grown.tls.caCert).to.equal(edge.caCert);
    expect(new X509Certificate(grown.tls.cert).checkIP('10.0.0.7')).to.equal('10.0.0.7');
    expect(new X509Certificate(grown.tls.cert).checkHost('python1.service.consul')).to.equal(
      '*.service.consul',
    );
    // The masters' addresses only: an agent joining changes no other host's certificate.
    const cluster = { masters: ['10.0.0.5', '10.0.0.6'], domain: 'consul', ip: '10.0.0.9' };
    expect(edgeScopeOf(cluster, '10.0.0.9')).to.deep.equal(scope);
    expect(edgeScopeOf({ ip: '10.0.0.5' }, 'h1')).to.deep.equal({ domain: 'consul', ips: ['10.0.0.5'] });
    // Another domain: the name no longer matches, so a new certificate.
    expect(validEdgeTls(back, { ...scope, domain: 'paas.example' })).to.equal(false);
  });

  it("the apps API's files: on a server (master) only, Marathon's login and a Consul token of its own", () => {
    const s = generateSecrets();
    const server = secretFiles(s, { role: 'server' });
    // The operator logs in to the API as to Marathon: the same user:password, in the API's own directory.
    expect(server[SECRET_FILES.appsApiCredentials]).to.equal(`paasbox:${s.marathonPassword}\n`);
    expect(server[SECRET_FILES.appsApiCredentials]).to.equal(server[SECRET_FILES.marathonCredentials]);
    expect(server[SECRET_FILES.appsApiToken]).to.equal(`${s.appsApiToken}\n`);
    expect(s.appsApiToken).to.not.equal(s.registratorToken).and.not.equal(s.managementToken);
    expect(SECRET_FILES.appsApiCredentials.split('/')[0]).to.equal('apps-api');
    expect(SECRET_FILES.appsApiToken.split('/')[0]).to.equal('apps-api');
    expect(SECRET_DIRS).to.include('apps-api');
    // A cluster's agent runs no API (role master): neither file, and no copy of the login elsewhere.
    const client = secretFiles(s, { role: 'client' });
    expect(client).to.not.have.any.keys(SECRET_FILES.appsApiCredentials, SECRET_FILES.appsApiToken);
    expect(Object.values(client).join('\n'))
      .to.not.include(s.marathonPassword)
      .and.not.include(s.appsApiToken);
  });

  it('merges: the target first, then this machine, then a fresh value; says which are new', () => {
    const target = generateSecrets();
    const here = generateSecrets();
    const fresh = generateSecrets();
    const m = mergeSecrets(
      [
        { managementToken: target.managementToken },
        { managementToken: here.managementToken, agentToken: here.agentToken },
      ],
      () => fresh,
    );
    expect(m.secrets.managementToken).to.equal(target.managementToken);
    expect(m.secrets.agentToken).to.equal(here.agentToken);
    expect(m.secrets.gossipKey).to.equal(fresh.gossipKey);
    expect(m.generated).to.deep.equal([
      'gossipKey',
      'registratorToken',
      'consulTemplateToken',
      'appsApiToken',
      'acmeToken',
      'statsPassword',
      'marathonPassword',
      'mesosPassword',
      'registryPassword',
      'registryHttpSecret',
      'registrySalt',
    ]);
    expect(mergeSecrets([target], () => fresh).generated).to.deep.equal([]);
  });

  it("keeps this machine's copy with directories 0700 and files 0600, and repairs looser modes", () => {
    const dir = join(tmp('pb-sec-'), 'secrets', 'default');
    const files = secretFiles(generateSecrets());
    expect(localSecretsDiff(dir, files)).to.have.length(Object.keys(files).length);
    const umask = process.umask(0o000); // the most permissive umask: modes must not depend on it
    try {
      writeLocalSecretFiles(dir, files);
    } finally {
      process.umask(umask);
    }
    for (const d of ['.', ...SECRET_DIRS]) expect(modeOf(join(dir, d)), d).to.equal('700');
    for (const rel of Object.keys(files)) expect(modeOf(join(dir, rel)), rel).to.equal('600');
    expect(localSecretsDiff(dir, files)).to.deep.equal([]);
    chmodSync(join(dir, SECRET_FILES.managementToken), 0o644);
    chmodSync(join(dir, 'haproxy'), 0o755);
    expect(localSecretsDiff(dir, files)).to.deep.equal([
      'haproxy/ (mode 755)',
      'consul-management-token (mode 644)',
    ]);
    writeLocalSecretFiles(dir, files);
    expect(localSecretsDiff(dir, files)).to.deep.equal([]);
    expect(readdirSync(join(dir, 'consul')).sort()).to.deep.equal(['secrets.json', 'tls']); // no temp file left
  });

  it('reads the target tree (the real inspection command) and names what differs: missing, content, mode, owner', async () => {
    const root = tmp('pb-sect-');
    const files = secretFiles(generateSecrets());
    const t = new RootedTarget(root);
    const empty = parseSecretsInspection((await new LocalTarget().exec(inspectSecretsCommand(root))).stdout);
    expect(empty.files).to.deep.equal({});
    expect(targetSecretsDiff(empty, files))
      .to.include('consul/ (missing)')
      .and.include('haproxy/stats-auth (missing)');
    await writeTargetSecrets(t, files);
    const have = parseSecretsInspection((await new LocalTarget().exec(inspectSecretsCommand(root))).stdout);
    expect(have.files[SECRET_FILES.consulConfig]).to.deep.equal({
      mode: '600',
      owner: 'root',
      content: files[SECRET_FILES.consulConfig],
    });
    expect(have.dirs['registrator']).to.deep.equal({ mode: '700', owner: 'root' });
    expect(targetSecretsDiff(have, files)).to.deep.equal([]);
    const changed = { ...files, [SECRET_FILES.registratorToken]: 'other\n' };
    chmodSync(join(root, SECRET_FILES.statsAuth), 0o640);
    const now = parseSecretsInspection((await new LocalTarget().exec(inspectSecretsCommand(root))).stdout);
    expect(targetSecretsDiff(now, changed)).to.deep.equal([
      'registrator/consul-token (differs)',
      'haproxy/stats-auth (640 root)',
    ]);
  });

  describe('the install step', () => {
    // These runs keep their secrets under their own cwd: an integration spec's
    // PAASBOX_STATE_DIR (set for the whole mocha process) must not redirect them.
    let saved: string | undefined;
    before(() => {
      saved = process.env['PAASBOX_STATE_DIR'];
      delete process.env['PAASBOX_STATE_DIR'];
    });
    after(() => {
      if (saved !== undefined) process.env['PAASBOX_STATE_DIR'] = saved;
    });
    const model = loadStackModel();
    const quiet = (lines: string[]) => new Progress({ write: (l) => lines.push(l) });

    it('first run generates and writes both places (0600); a second run is all ok and reuses them; no value on a command line, in a report or the compose file', async () => {
      const cwd = tmp('pb-secw-');
      const t = new RootedTarget(tmp('pb-sect-'));
      const lines: string[] = [];
      const r1 = await runSteps(t, [secretsStep(new InstallSecrets('default', cwd))], quiet(lines));
      expect(r1.steps.map((s) => s.status)).to.deep.equal(['changed']);
      expect(r1.steps[0]?.detail).to.match(
        /^new: managementToken, agentToken, gossipKey, registratorToken, consulTemplateToken, appsApiToken, acmeToken, statsPassword, marathonPassword, mesosPassword, registryPassword, registryHttpSecret, registrySalt, registry TLS, edge TLS; on the target: .*\(missing\)/,
      );
      const here = join(cwd, '.paasbox', 'secrets', 'default');
      const written = Object.keys(secretFiles(generateSecrets()));
      // Every file the step wrote here (the image registry's too: the step writes them for this one host).
      const first = parseSecretFiles(readLocalSecretFiles(here)) as StackSecrets;
      expect(Object.keys(first)).to.have.length(SECRET_NAMES.length);
      for (const rel of written) {
        expect(modeOf(join(here, rel)), `here: ${rel}`).to.equal('600');
        expect(modeOf(join(t.root, rel)), `target: ${rel}`).to.equal('600');
        expect(readFileSync(join(t.root, rel), 'utf8')).to.equal(readFileSync(join(here, rel), 'utf8'));
      }
      expect(modeOf(here)).to.equal('700');
      expect(modeOf(t.root)).to.equal('700');
      expect(t.commands.filter((c) => c.startsWith('writeFile')).every((c) => c.endsWith(' 600'))).to.equal(
        true,
      );

      // A second install, a fresh run on this machine: all ok, the same values.
      const r2 = await runSteps(t, [secretsStep(new InstallSecrets('default', cwd))], quiet(lines));
      expect(r2.steps.map((s) => s.status)).to.deep.equal(['ok']);
      const again = await new InstallSecrets('default', cwd).resolve(t);
      expect(again).to.deep.equal({ secrets: first, generated: [] });

      // Never a value where it could be seen: command lines, the report, the compose file.
      const settings = resolveSettings({ defaults: { hostname: 'h1', ip: '10.0.0.5' } }, model);
      const compose = renderCompose(
        generateCompose(model, settings, await resolveImageRefs(model, settings, () => false)),
      );
      for (const v of values(first)) {
        expect(t.commands.join('\n'), 'a command line').to.not.include(v);
        expect(lines.join('\n'), 'the progress report').to.not.include(v);
        expect(JSON.stringify(r1.steps) + JSON.stringify(r2.steps)).to.not.include(v);
        expect(compose, 'the compose file').to.not.include(v);
      }
      expect(
        t.stdins.length + t.commands.filter((c) => c.startsWith('writeFile')).length,
        'the values went through stdin',
      ).to.be.above(0);
    });

    it("takes the target's secrets when this machine has none, and this machine's when the target lost them", async () => {
      const t = new RootedTarget(tmp('pb-sect-'));
      const a = tmp('pb-seca-');
      await runSteps(t, [secretsStep(new InstallSecrets('default', a))], quiet([]));
      const installed = (await new InstallSecrets('default', a).resolve(t)).secrets;

      // Another machine (no copy yet) adopts the target's.
      const b = tmp('pb-secb-');
      const rb = await runSteps(t, [secretsStep(new InstallSecrets('default', b))], quiet([]));
      expect(rb.steps[0]?.status).to.equal('changed');
      expect(rb.steps[0]?.detail).to.match(/^in .*pb-secb-.*: .*\(missing\)$/);
      expect((await new InstallSecrets('default', b).resolve(t)).secrets).to.deep.equal(installed);

      // The target wiped: this machine's copy goes back, nothing is generated.
      const wiped = new RootedTarget(tmp('pb-sect-'));
      const rw = await runSteps(wiped, [secretsStep(new InstallSecrets('default', b))], quiet([]));
      expect(rw.steps[0]?.detail).to.not.match(/new:/);
      expect(readFileSync(join(wiped.root, SECRET_FILES.managementToken), 'utf8').trim()).to.equal(
        installed.managementToken,
      );
      // A different instance keeps its own.
      expect(
        (await new InstallSecrets('other', b).resolve(new RootedTarget(tmp('pb-sect-')))).generated,
      ).to.have.length(SECRET_NAMES.length);
    });
  });
});
