// The `acme:` settings (src/settings/acme.ts): resolved field by field from
// paasbox.yaml over the recorded deployment over the defaults, refused with
// the field named, handed to the acme service as generation variables,
// recorded in x-paasbox.acme and read back (refused there too when edited);
// install's copy of acme.directoryCa (src/provision/secrets.ts).
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadStackModel } from '../../../src/model/load.js';
import { readDirectoryCa } from '../../../src/provision/secrets.js';
import { generateCertSet } from '../../../src/secrets/tls.js';
import { acmeVariables, checkAcme, resolveSettings } from '../../../src/settings/index.js';
import { parseDeployment, recordedValues } from '../../../src/stackfile/deployment.js';
import { generateCompose, renderCompose } from '../../../src/stackfile/generate.js';
import { resolveImageRefs } from '../../../src/stackfile/refs.js';
import { thrown } from '../../helpers/failure.js';

const model = loadStackModel();
const defaults = { hostname: 'paasbox', ip: '10.11.12.13' };
const resolve = (file?: unknown, recorded?: object) =>
  resolveSettings({ defaults, file, ...(recorded ? { recorded } : {}) }, model);
const LE = 'https://acme-v02.api.letsencrypt.org/directory';

describe('settings: acme (the ACME renewer)', () => {
  it('defaults to no directory (nothing requested) and renewDays 30', () => {
    expect(resolve().acme).to.deep.equal({ renewDays: 30 });
    expect(acmeVariables(resolve().acme)).to.deep.equal({
      ACME_DIRECTORY: '',
      ACME_EMAIL: '',
      ACME_RENEW_DAYS: '30',
    });
  });

  it('reads paasbox.yaml acme: field by field over the recorded deployment; "" switches a recorded one off', () => {
    const file = {
      acme: { directory: LE, email: 'ops@example.com', directoryCa: './ca.pem', renewDays: 20 },
    };
    expect(resolve(file).acme).to.deep.equal(file.acme);
    const recorded = { acme: { directory: 'https://127.0.0.1:14000/dir', email: 'a@b.test', renewDays: 10 } };
    expect(resolve(undefined, recorded).acme).to.deep.equal(recorded.acme);
    expect(resolve({ acme: { renewDays: 45 } }, recorded).acme).to.deep.equal({
      ...recorded.acme,
      renewDays: 45,
    });
    expect(resolve({ acme: { directory: '' } }, recorded).acme).to.deep.equal({
      email: 'a@b.test',
      renewDays: 10,
    });
  });

  it('refuses a directory that is no https URL, an address that is none, renewDays out of 1..60', () => {
    const cases: [object, RegExp][] = [
      [
        { directory: 'http://acme.example/dir' },
        /^acme\.directory "http:\/\/acme\.example\/dir" is not an https URL$/,
      ],
      [{ directory: 'acme.example/dir' }, /acme\.directory .* is not an https URL/],
      [{ directory: 'https://acme.example/dir?x=$(id)' }, /is not an https URL/],
      [{ directory: 'https://acme.example/d ir' }, /is not an https URL/],
      [{ directory: 'https://user:pw@acme.example/dir' }, /carries a login in the URL/],
      [{ email: 'ops' }, /^acme\.email "ops" is not an e-mail address$/],
      [{ email: 'ops@example.com\nBcc: x@y.z' }, /acme\.email .* is not an e-mail address/],
      [{ directoryCa: 'ca\n.pem' }, /acme\.directoryCa .* is not a file path/],
    ];
    for (const [acme, re] of cases) {
      const e = thrown(() => resolve({ acme }));
      expect(e.problem, JSON.stringify(acme)).to.match(re);
      expect(e.fix).to.match(/acme: \{/);
    }
    // renewDays out of 1..60: the schema in paasbox.yaml, checkAcme in a record read back.
    expect(thrown(() => resolve({ acme: { renewDays: 61 } })).problem).to.match(
      /paasbox\.yaml.*acme\.renewDays/,
    );
    for (const n of [0, 61, 2.5])
      expect(thrown(() => checkAcme({ renewDays: n })).problem).to.equal(
        `acme.renewDays ${n} is not a whole number of days from 1 to 60`,
      );
    // The schema refuses the rest (a fraction, an unknown field), naming paasbox.yaml's field.
    expect(thrown(() => resolve({ acme: { renewDays: 1.5 } })).problem).to.match(/paasbox\.yaml/);
    expect(thrown(() => resolve({ acme: { server: LE } })).problem).to.match(/paasbox\.yaml/);
  });

  describe('generation', () => {
    const gen = async (file?: unknown) => {
      const s = resolve(file);
      return generateCompose(model, s, await resolveImageRefs(model, s, () => false));
    };

    it('the acme service: the settings in its environment, its secrets and volume, master only', async () => {
      const c = await gen({ acme: { directory: LE, email: 'ops@example.com', renewDays: 21 } });
      const acme = c.services['acme']!;
      expect(acme.environment).to.deep.equal({
        PAASBOX_ACME_LISTEN: '10.11.12.13:8402',
        CONSUL_HTTP_ADDR: 'http://10.11.12.13:8500',
        PAASBOX_ACME_DIRECTORY: LE,
        PAASBOX_ACME_EMAIL: 'ops@example.com',
        PAASBOX_ACME_RENEW_DAYS: '21',
        PAASBOX_DOMAIN: 'consul',
      });
      expect(acme.entrypoint).to.deep.equal(['node', '/opt/paasbox-api/bin/paasbox-acme.mjs']);
      expect(acme.image).to.match(/^paasbox\/apps-api:/);
      expect(acme.network_mode).to.equal('host');
      expect(acme.labels['paasbox.role']).to.equal('master');
      expect(acme.volumes).to.deep.equal([
        'acme-data:/var/lib/paasbox-acme',
        '/opt/paasbox/secrets/acme:/run/secrets/paasbox:ro',
      ]);
      expect(acme.healthcheck!.test.join(' ')).to.include("fetch('http://10.11.12.13:8402/health')");
      expect(c['x-paasbox'].acme).to.deep.equal({ directory: LE, email: 'ops@example.com', renewDays: 21 });
      // No directory: an empty one (the service idles).
      expect((await gen()).services['acme']!.environment!['PAASBOX_ACME_DIRECTORY']).to.equal('');
    });

    it('records acme: in x-paasbox, read back as the recorded layer; an edited record is refused', async () => {
      const c = await gen({ acme: { directory: LE, directoryCa: '/home/ops/ca.pem' } });
      const text = renderCompose(c);
      const d = parseDeployment(text)!;
      expect(recordedValues(d).acme).to.deep.equal({
        directory: LE,
        directoryCa: '/home/ops/ca.pem',
        renewDays: 30,
      });
      expect(resolve(undefined, recordedValues(d)).acme).to.deep.equal(d.meta.acme);
      const edited = (acme: unknown) => stringify({ ...c, 'x-paasbox': { ...c['x-paasbox'], acme } });
      for (const bad of [
        { directory: 'http://evil/dir', renewDays: 30 },
        { renewDays: 'thirty' },
        { renewDays: 30, email: 'a\n@b.c' },
        'https://x',
      ])
        expect(() => parseDeployment(edited(bad)), JSON.stringify(bad)).to.throw(/x-paasbox\.acme/);
    });
  });

  describe("install's copy of acme.directoryCa", function () {
    this.timeout(30_000);
    let dir: string;
    before(() => (dir = mkdtempSync(join(tmpdir(), 'pb-acme-ca-'))));
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('takes a PEM file of CA certificates, and refuses what is missing, no PEM, a key or no CA', () => {
      const set = generateCertSet({
        caName: 'spec directory CA',
        name: 'localhost',
        altNames: ['DNS:localhost'],
        usage: 'serverAuth',
      });
      const file = (name: string, text: string) => {
        writeFileSync(join(dir, name), text);
        return join(dir, name);
      };
      expect(readDirectoryCa(file('ca.pem', `\n${set.caCert}\n`))).to.equal(set.caCert);
      const cases: [string, RegExp][] = [
        [
          join(dir, 'missing.pem'),
          /^acme\.directoryCa .*missing\.pem cannot be read \(and the target holds no acme\/directory-ca\.pem from an earlier install\)$/,
        ],
        [file('text.pem', 'hello\n'), /is not a PEM file of certificates$/],
        [
          file('key.pem', set.caCert + set.caKey),
          /is not a PEM file of certificates \(it holds a PRIVATE KEY\)$/,
        ],
        [file('leaf.pem', set.cert), /holds CN=localhost, which is no CA$/],
        [file('bad.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), /does not parse/],
      ];
      for (const [f, re] of cases) {
        const e = thrown(() => readDirectoryCa(f));
        expect(e.problem).to.match(re);
        expect(e.fix).to.match(/acme: \{ directoryCa:/);
      }
    });

    it("a later install without the build host's file keeps the target's copy; fails only without both", () => {
      const set = generateCertSet({
        caName: 'spec directory CA 2',
        name: 'localhost',
        altNames: ['DNS:localhost'],
        usage: 'serverAuth',
      });
      const gone = join(dir, 'gone.pem');
      expect(readDirectoryCa(gone, set.caCert)).to.equal(set.caCert);
      // The build host's file wins when it is there.
      writeFileSync(join(dir, 'here.pem'), set.caCert);
      expect(readDirectoryCa(join(dir, 'here.pem'), 'not even PEM')).to.equal(set.caCert);
      // Neither: one line; the target's copy is checked like the file.
      expect(thrown(() => readDirectoryCa(gone, undefined)).problem).to.match(
        /gone\.pem cannot be read \(and the target holds no acme\/directory-ca\.pem/,
      );
      expect(thrown(() => readDirectoryCa(gone, set.cert)).problem).to.equal(
        "the target's acme/directory-ca.pem holds CN=localhost, which is no CA",
      );
    });
  });
});
