// lego as the renewer runs it (src/acme/lego.ts): an argv, never a shell
// line (a hostile value stays one argument), an environment of PATH and the
// directory's CA only, the domain's old files removed first, and the output
// read back; run against a stand-in lego that records what it was given.
import { expect } from 'chai';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  legoArgv,
  legoEnv,
  legoError,
  legoFiles,
  runLego,
  withDirectoryCa,
  type LegoOptions,
} from '../../../src/acme/lego.js';

describe('acme: lego', () => {
  const base: LegoOptions = {
    bin: 'lego',
    directory: 'https://127.0.0.1:14000/dir',
    email: 'ops@example.test',
    path: '/var/lib/paasbox-acme/lego',
    webroot: '/var/lib/paasbox-acme/webroot',
  };

  it("the contract's argv, one element per value", () => {
    expect(legoArgv(base, 'app.example.test')).to.deep.equal([
      '--accept-tos',
      '--email',
      'ops@example.test',
      '--server',
      'https://127.0.0.1:14000/dir',
      '--path',
      '/var/lib/paasbox-acme/lego',
      '--http',
      '--http.webroot',
      '/var/lib/paasbox-acme/webroot',
      '--domains',
      'app.example.test',
      'run',
    ]);
    const { email: _e, ...noEmail } = base;
    expect(legoArgv(noEmail, 'a.test')).to.not.include('--email');
  });

  it('the environment: PATH, LEGO_CA_CERTIFICATES only with the directory CA, nothing of this process', () => {
    expect(legoEnv({}, '/usr/bin')).to.deep.equal({ PATH: '/usr/bin' });
    expect(legoEnv({ directoryCa: '/run/secrets/paasbox/directory-ca.pem' }, '/usr/bin')).to.deep.equal({
      PATH: '/usr/bin',
      LEGO_CA_CERTIFICATES: '/run/secrets/paasbox/directory-ca.pem',
    });
    process.env['PAASBOX_SPEC_SECRET'] = 'x';
    try {
      expect(Object.keys(legoEnv({ directoryCa: '/ca.pem' }))).to.deep.equal([
        'PATH',
        'LEGO_CA_CERTIFICATES',
      ]);
    } finally {
      delete process.env['PAASBOX_SPEC_SECRET'];
    }
  });

  it("takes the directory's CA file as it is at each run: added, or removed, after the start", () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-lego-ca-'));
    try {
      const ca = join(dir, 'directory-ca.pem');
      expect(withDirectoryCa(base, ca)).to.deep.equal(base);
      writeFileSync(ca, 'PEM\n');
      expect(withDirectoryCa(base, ca)).to.deep.equal({ ...base, directoryCa: ca });
      rmSync(ca);
      expect(withDirectoryCa({ ...base, directoryCa: ca }, ca)).to.deep.equal(base);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('its last words, one line', () => {
    expect(
      legoError(
        '2026/12/07 [INFO] x\nlego: obtain certificate: acme: error: 400 :: urn:connection\n\n',
        '',
        'f',
      ),
    ).to.equal('lego: obtain certificate: acme: error: 400 :: urn:connection');
    expect(legoError('', '', 'exit 1')).to.equal('exit 1');
  });

  describe('run against a stand-in lego', () => {
    let dir: string;
    let o: LegoOptions;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'pb-lego-'));
      // Records argv (one line per element) and env, then writes the files lego would, or fails.
      const fake = join(dir, 'lego');
      writeFileSync(
        fake,
        `#!${process.execPath}\n` +
          `const fs = require('fs'); const path = require('path');\n` +
          `fs.writeFileSync(${JSON.stringify(join(dir, 'argv'))}, process.argv.slice(2).join('\\n'));\n` +
          `fs.writeFileSync(${JSON.stringify(join(dir, 'env'))}, JSON.stringify(process.env));\n` +
          `const a = process.argv.slice(2); const d = a[a.indexOf('--domains') + 1];\n` +
          `if (d.startsWith('fail')) { console.error('lego: acme: error: 403 :: unauthorized\\nfor ' + d); process.exit(1); }\n` +
          `const c = path.join(a[a.indexOf('--path') + 1], 'certificates');\n` +
          `fs.mkdirSync(c, { recursive: true });\n` +
          `if (!d.startsWith('none')) { fs.writeFileSync(path.join(c, d + '.crt'), 'CERT\\n'); fs.writeFileSync(path.join(c, d + '.key'), 'KEY\\n'); }\n`,
      );
      chmodSync(fake, 0o755);
      o = {
        ...base,
        bin: fake,
        path: join(dir, 'data', 'lego'),
        webroot: join(dir, 'data', 'webroot'),
        directoryCa: '/ca.pem',
      };
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('runs the argv without a shell: a value with shell syntax stays one argument', async () => {
      const hostile = { ...o, email: "ops@example.test'; touch pwned; echo '$(id)" };
      const r = await runLego(hostile, 'app.example.test');
      expect(r).to.deep.equal({ ok: true, pem: 'CERT\nKEY\n' });
      expect(readFileSync(join(dir, 'argv'), 'utf8').split('\n')).to.deep.equal(
        legoArgv(hostile, 'app.example.test'),
      );
      expect(existsSync(join(o.path, 'pwned'))).to.equal(false);
      const env = JSON.parse(readFileSync(join(dir, 'env'), 'utf8')) as Record<string, string>;
      expect(env['LEGO_CA_CERTIFICATES']).to.equal('/ca.pem');
      expect(existsSync(o.webroot)).to.equal(true);
    });

    it("removes the domain's old files first: no output is no certificate", async () => {
      writeFileSync(legoFiles(o, 'none.example.test').crt, 'OLD\n');
      const r = await runLego(o, 'none.example.test');
      expect(r.ok).to.equal(false);
      expect(!r.ok && r.error).to.match(/lego left no .*none\.example\.test\.crt/);
    });

    it('a failure: its last line, and a missing binary says so', async () => {
      const r = await runLego(o, 'fail.example.test');
      expect(r).to.deep.equal({ ok: false, error: 'for fail.example.test' });
      const gone = await runLego({ ...o, bin: join(dir, 'no-such-lego') }, 'app.example.test');
      expect(gone).to.deep.equal({ ok: false, error: `no ${join(dir, 'no-such-lego')}` });
    });
  });
});
