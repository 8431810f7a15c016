// `paasbox cert` as a user meets it (src/cli/cert.ts): --help touches
// nothing, unknown flags and missing ones are refused, and a bad DOMAIN or a
// certificate that fails its checks is one line with exit 2 before any host
// is reached (docker, ssh and sudo are stubs on PATH that record any call).
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoPath } from '../../../src/paths.js';
import { generateCertSet } from '../../../src/secrets/tls.js';

describe('paasbox cert: arguments', function () {
  this.timeout(120_000);
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const log = () => join(dir, 'calls.log');
  const calls = () => (existsSync(log()) ? readFileSync(log(), 'utf8') : '');
  const cert = (...args: string[]) =>
    spawnSync(process.execPath, [repoPath('bin', 'paasbox.mjs'), 'cert', ...args], {
      cwd: dir,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pb-cert-cli-'));
    for (const s of ['docker', 'ssh', 'sudo', 'curl']) {
      writeFileSync(join(dir, s), `#!/bin/sh\necho "${s} $*" >> '${log()}'\nexit 1\n`);
      chmodSync(join(dir, s), 0o755);
    }
    env = {
      ...process.env,
      PATH: `${dir}:${dirname(process.execPath)}:/usr/bin:/bin`,
      PAASBOX_STATE_DIR: join(dir, 'state'),
    };
    delete env['SSH_AUTH_SOCK'];
    const app = generateCertSet({
      caName: 'spec CA',
      name: 'app.example.test',
      altNames: ['DNS:app.example.test'],
      usage: 'serverAuth',
    });
    writeFileSync(join(dir, 'app.pem'), app.cert + app.caCert);
    writeFileSync(join(dir, 'app-key.pem'), app.key, { mode: 0o600 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const sub of ['', 'add', 'list', 'rm', 'renew']) {
    it(`paasbox cert ${sub} --help: usage, exit 0, nothing called`, () => {
      const r = cert(...(sub ? [sub] : []), '--help');
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.match(new RegExp(`^Usage: paasbox cert${sub ? ` ${sub}` : ''}`));
      expect(calls()).to.equal('');
    });
  }

  it('paasbox cert (and token) without a subcommand: the help on stderr, exit 2, nothing called', () => {
    const token = spawnSync(process.execPath, [repoPath('bin', 'paasbox.mjs'), 'token'], {
      cwd: dir,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    for (const [r, name, subs] of [
      [cert(), 'cert', ['add', 'list', 'rm', 'renew']],
      [token, 'token', ['create', 'list', 'revoke']],
    ] as const) {
      expect(r.status, `paasbox ${name}: ${r.stderr}`).to.equal(2);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.match(new RegExp(`^Usage: paasbox ${name}`));
      for (const s of subs) expect(r.stderr).to.match(new RegExp(`\\n  ${s}\\b`));
    }
    expect(calls()).to.equal('');
  });

  it('add: --key is the certificate key, the SSH key is --ssh-key; renew offers --no-wait', () => {
    const add = cert('add', '--help').stdout;
    expect(add).to.match(/--key <file>\s+its PEM private key/);
    expect(add).to.match(/--ssh-key <file>\s+SSH private key/);
    expect(cert('renew', '--help').stdout).to.match(/--no-wait/);
  });

  const refused = (r: ReturnType<typeof cert>, re: RegExp) => {
    expect(r.status, r.stderr).to.equal(2);
    // The problem on one line (a fix, and the detail, may follow on their own).
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).to.match(re);
    expect(
      lines.slice(1).every((l) => /^ {2}(fix|detail): /.test(l)),
      r.stderr,
    ).to.equal(true);
    expect(calls()).to.equal('');
  };

  it('an unknown flag, a missing one, a bad number: one line, exit 2', () => {
    refused(cert('list', '--bogus'), /unknown option '--bogus'/);
    refused(
      cert('add', 'app.example.test', '--cert', 'app.pem'),
      /required option '--key <file>' not specified/,
    );
    refused(cert('renew', 'app.example.test', '--timeout', '0'), /--timeout must be a whole number from 1/);
    refused(cert('rm'), /missing required argument 'domain'/);
  });

  it('a bad DOMAIN: one line naming DOMAIN, no host reached', () => {
    refused(cert('rm', 'app.example.test\nx'), /DOMAIN: .*control character/);
    refused(cert('renew', 'python1.service.consul'), /DOMAIN: .*stack's own domain/);
    refused(cert('add', 'localhost', '--cert', 'app.pem', '--key', 'app-key.pem'), /DOMAIN: /);
  });

  it("add checks the files first: unreadable, not covering, another's key; one line each, no host reached", () => {
    refused(
      cert('add', 'app.example.test', '--cert', 'missing.pem', '--key', 'app-key.pem'),
      /--cert missing\.pem cannot be read/,
    );
    refused(
      cert('add', 'www.example.test', '--cert', 'app.pem', '--key', 'app-key.pem'),
      /--cert app\.pem with --key app-key\.pem does not cover www\.example\.test \(its names: app\.example\.test\)/,
    );
    refused(
      cert('add', 'app.example.test', '--cert', 'app.pem', '--key', 'app.pem'),
      /--cert app\.pem with --key app\.pem comes without its private key/,
    );
  });
});
