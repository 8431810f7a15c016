// The stack's sshd access: which public keys install authorizes, and the step
// that writes /opt/paasbox/sshd/authorized_keys (root, 0600) against a fake host.
import { expect } from 'chai';
import { composeInspectCommand } from '../../../src/docker/compose.js';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import {
  findAuthorizedKeys,
  parseAuthorizedKeys,
  SSHD_KEYS_PATH,
  sshdKeysStep,
  sshdKeysSteps,
} from '../../../src/provision/access.js';
import type { StackPlan } from '../../../src/provision/plan.js';
import { COMPOSE_PATH } from '../../../src/stackfile/deployment.js';
import { generateCompose } from '../../../src/stackfile/generate.js';
import { loadStackModel } from '../../../src/model/load.js';
import { resolveImageRefs } from '../../../src/stackfile/refs.js';
import { resolveSettings } from '../../../src/settings/settings.js';
import type { ExecResult } from '../../../src/target/target.js';
import { AnsweringTarget } from '../../helpers/answering-target.js';

const ED = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEexampleEXAMPLEexampleEXAMPLEexample1 me@laptop';
const RSA = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDexample+/= ci';

/** A fake host: commands answered by `answer`, writes recorded. */
const host = (answer: (command: string) => Partial<ExecResult>) =>
  new AnsweringTarget('h', '10.0.0.5', answer);

const planWith = (services: string[]) =>
  ({
    project: 'paasbox',
    compose: { services: Object.fromEntries(services.map((s) => [s, {}])) },
  }) as unknown as StackPlan;

describe('sshd access: authorized keys', () => {
  describe('parseAuthorizedKeys', () => {
    it('keeps public key lines (comments and blanks dropped), newline-terminated', () => {
      expect(parseAuthorizedKeys(`# mine\n${ED}\n\n  ${RSA}  \n`, 'k.pub')).to.deep.equal({
        text: `${ED}\n${RSA}\n`,
        source: 'k.pub',
      });
    });
    it('refuses a private key, an empty file and a line that is not a key, naming the file and the fix', () => {
      const cases: Array<[string, RegExp]> = [
        [
          '-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n',
          /^k is a private key, not a public one$/,
        ],
        ['# nothing\n\n', /^k holds no public key$/],
        [`${ED}\nssh-ed25519 not base64!\n`, /^k: key 2 is not an OpenSSH public key/],
        ['command="rm -rf /" ' + ED, /^k: key 1 is not an OpenSSH public key/],
      ];
      for (const [text, re] of cases) {
        let err: unknown;
        try {
          parseAuthorizedKeys(text, 'k');
        } catch (e) {
          err = e;
        }
        expect((err as { problem: string }).problem).to.match(re);
        expect((err as { fix: string }).fix).to.include('--authorized-key');
      }
    });
  });

  describe('findAuthorizedKeys', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'pb-keys-'));
      await mkdir(join(dir, 'home', '.ssh'), { recursive: true });
    });
    afterEach(async () => rm(dir, { recursive: true, force: true }));

    it('--authorized-key wins; else KEY.pub beside --key; else none (not the default identity: another key than the login)', async () => {
      await writeFile(join(dir, 'deploy'), 'private');
      await writeFile(join(dir, 'deploy.pub'), ED + '\n');
      await writeFile(join(dir, 'other.pub'), RSA + '\n');
      await writeFile(join(dir, 'home', '.ssh', 'id_ed25519.pub'), ED + '\n');
      const home = join(dir, 'home');
      expect(
        findAuthorizedKeys({ file: join(dir, 'other.pub'), keyPath: join(dir, 'deploy'), home }),
      ).to.deep.equal({ text: RSA + '\n', source: join(dir, 'other.pub') });
      expect(findAuthorizedKeys({ keyPath: join(dir, 'deploy'), home })?.source).to.equal(
        join(dir, 'deploy.pub'),
      );
      expect(findAuthorizedKeys({ keyPath: join(dir, 'nopub'), home })).to.equal(undefined);
    });

    it('without --key: the default identities ~/.ssh/id_{ed25519,ecdsa,rsa}.pub, in that order', async () => {
      const home = join(dir, 'home');
      expect(findAuthorizedKeys({ home })).to.equal(undefined);
      await writeFile(join(home, '.ssh', 'id_rsa.pub'), RSA + '\n');
      expect(findAuthorizedKeys({ home })?.source).to.equal(join(home, '.ssh', 'id_rsa.pub'));
      await writeFile(join(home, '.ssh', 'id_ed25519.pub'), ED + '\n');
      expect(findAuthorizedKeys({ home })?.source).to.equal(join(home, '.ssh', 'id_ed25519.pub'));
    });

    it('an --authorized-key that cannot be read is a user error naming it', async () => {
      let err: unknown;
      try {
        findAuthorizedKeys({ file: join(dir, 'missing.pub') });
      } catch (e) {
        err = e;
      }
      expect((err as { problem: string }).problem).to.equal(
        `cannot read --authorized-key ${join(dir, 'missing.pub')}: ENOENT`,
      );
    });
  });

  describe('the step', () => {
    const keys = { text: `${ED}\n`, source: '/home/me/.ssh/id_ed25519.pub' };
    const hash = createHash('sha256').update(keys.text).digest('hex');

    it('is there only when the stack runs sshd, and stops install before any change without a key', () => {
      expect(sshdKeysSteps(planWith(['consul', 'haproxy']), undefined)).to.deep.equal([]);
      expect(sshdKeysSteps(planWith(['consul', 'sshd']), keys).map((s) => s.name)).to.deep.equal([
        `sshd authorized_keys ${SSHD_KEYS_PATH}`,
      ]);
      let err: unknown;
      try {
        sshdKeysSteps(planWith(['sshd']), undefined);
      } catch (e) {
        err = e;
      }
      expect((err as { problem: string }).problem).to.equal(
        "the stack's sshd is enabled but there is no public key to let in",
      );
      expect((err as { fix: string }).fix).to.include('--authorized-key FILE');
    });

    it('check: absent, other keys, wrong mode or owner are not ok; the right root 0600 file is', async () => {
      const answers: Array<[Partial<ExecResult>, boolean, string]> = [
        [{ code: 1 }, false, 'absent'],
        [
          { stdout: `600 0\n${'0'.repeat(64)}  -\n` },
          false,
          'different keys than /home/me/.ssh/id_ed25519.pub',
        ],
        [
          { stdout: `644 1000\n${hash}  -\n` },
          false,
          'mode and owner uid are "644 1000", want "600 0" (root, 0600)',
        ],
        [{ stdout: `600 0\n${hash}  -\n` }, true, 'from /home/me/.ssh/id_ed25519.pub'],
      ];
      for (const [answer, ok, detail] of answers) {
        const h = host(() => answer);
        expect(await sshdKeysStep('paasbox', keys).check(h)).to.deep.equal({ ok, detail });
        expect(h.ran[0]).to.equal(
          `[ -f ${SSHD_KEYS_PATH} ] && stat -c '%a %u' ${SSHD_KEYS_PATH} && sha256sum < ${SSHD_KEYS_PATH}`,
        );
      }
    });

    it('apply writes the keys root-only (0600) and restarts a running sshd so it takes them', async () => {
      const labels = { 'com.docker.compose.project': 'paasbox', 'com.docker.compose.service': 'sshd' };
      const sshd = {
        Id: 'abc123abc123',
        Name: '/paasbox-sshd-1',
        State: { Running: true },
        Config: { Labels: labels },
      };
      // An app carrying the sshd's compose labels is not restarted (nor taken for the sshd).
      const app = {
        Id: 'fed456fed456',
        Name: '/web',
        State: { Running: true },
        Config: { Labels: { ...labels, 'paasbox.marathon.id': 'web' } },
      };
      const running = host((c) =>
        c.startsWith('ids=$(docker ps') ? { stdout: JSON.stringify([app, sshd]) } : {},
      );
      expect(await sshdKeysStep('paasbox', keys).apply(running)).to.equal(
        'from /home/me/.ssh/id_ed25519.pub; sshd restarted',
      );
      expect(running.writes).to.deep.equal([{ path: SSHD_KEYS_PATH, content: keys.text, mode: 0o600 }]);
      expect(running.ran).to.deep.equal([
        composeInspectCommand('paasbox', 'sshd'),
        'docker restart abc123abc123',
      ]);
      const first = host(() => ({}));
      expect(await sshdKeysStep('paasbox', keys).apply(first)).to.equal('from /home/me/.ssh/id_ed25519.pub');
      expect(first.ran.filter((c) => c.startsWith('docker restart'))).to.deep.equal([]);
    });

    it('the compose file mounts exactly that file, read-only, where the entrypoint copies it from', async () => {
      const model = loadStackModel();
      const s = resolveSettings(
        { file: { services: { sshd: { enabled: true } } }, env: { HOSTNAME: 'h', IP: '10.11.12.13' } },
        model,
      );
      const c = generateCompose(model, s, await resolveImageRefs(model, s, () => false));
      const [volume] = c.services['sshd']!.volumes!;
      const [source, target, ro] = volume!.split(':');
      expect(posix.join(posix.dirname(COMPOSE_PATH), source!)).to.equal(SSHD_KEYS_PATH);
      expect([target, ro]).to.deep.equal(['/etc/paasbox/authorized_keys', 'ro']);
    });
  });
});
