// Who may log in to the stack's sshd (the far end of `paasbox tunnel`): the
// public key(s) install is given, written on the target as
// /opt/paasbox/sshd/authorized_keys (root, 0600) and mounted read-only into the
// container, whose entrypoint copies them to root's own file for sshd's
// StrictModes. Without the file docker would mount an empty directory and no
// login could work. Only when the stack runs sshd; with sshd and no key,
// install stops before it changes anything.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { findStackContainer } from '../docker/compose.js';
import { PaasboxError } from '../errors.js';
import { STACK_DIR } from '../stackfile/deployment.js';
import { shq } from '../target/shell.js';
import type { ExecResult, Target } from '../target/target.js';
import type { StackPlan } from './plan.js';
import { sh, type ProvisionStep } from './runner.js';

/** The file on the target; the model mounts it as ./sshd/authorized_keys beside the compose file. */
export const SSHD_KEYS_PATH = `${STACK_DIR}/sshd/authorized_keys`;

export interface AuthorizedKeys {
  /** authorized_keys content: one public key a line, newline-terminated. */
  text: string;
  /** Where it came from, for reports: a file path. */
  source: string;
}

// An OpenSSH public key line: type, base64 blob (its length prefix makes it start AAAA), optional comment.
const PUBLIC_KEY =
  /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) AAAA[A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/;

/**
 * Public key text from `source` → authorized_keys content; a private key or anything else is refused naming
 * the line. Pure.
 */
export function parseAuthorizedKeys(text: string, source: string): AuthorizedKeys {
  const fix =
    'pass --authorized-key with a public key file (one "ssh-ed25519 AAAA... comment" line a key, e.g. ~/.ssh/id_ed25519.pub)';
  if (/PRIVATE KEY/.test(text)) throw new PaasboxError(`${source} is a private key, not a public one`, fix);
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (!lines.length) throw new PaasboxError(`${source} holds no public key`, fix);
  const bad = lines.findIndex((l) => !PUBLIC_KEY.test(l));
  if (bad >= 0)
    throw new PaasboxError(
      `${source}: key ${bad + 1} is not an OpenSSH public key (${JSON.stringify(lines[bad]!.slice(0, 40))})`,
      fix,
    );
  return { text: lines.join('\n') + '\n', source };
}

/**
 * The keys to authorize: --authorized-key FILE, else the public half of the
 * install's SSH key (KEY.pub), else the user's default identity
 * (~/.ssh/id_{ed25519,ecdsa,rsa}.pub, as ssh and sshuttle use). undefined
 * when there is none: only a stack with sshd needs one.
 */
export function findAuthorizedKeys(opts: {
  file?: string;
  keyPath?: string;
  home?: string;
}): AuthorizedKeys | undefined {
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (e) {
      throw new PaasboxError(
        `cannot read --authorized-key ${opts.file}: ${(e as NodeJS.ErrnoException).code ?? e}`,
        'pass the path of a public key file, e.g. ~/.ssh/id_ed25519.pub',
      );
    }
    return parseAuthorizedKeys(text, opts.file);
  }
  const candidates = opts.keyPath
    ? [`${opts.keyPath}.pub`]
    : ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((k) => join(opts.home ?? homedir(), '.ssh', `${k}.pub`));
  const found = candidates.find((p) => existsSync(p));
  return found ? parseAuthorizedKeys(readFileSync(found, 'utf8'), found) : undefined;
}

/**
 * The step writing sshd's authorized_keys when the plan runs sshd (none otherwise); throws before any change
 * when there is no key.
 */
export function sshdKeysSteps(plan: StackPlan, keys: AuthorizedKeys | undefined): ProvisionStep[] {
  if (!plan.compose.services['sshd']) return [];
  if (!keys)
    throw new PaasboxError(
      "the stack's sshd is enabled but there is no public key to let in",
      'pass --authorized-key FILE (a public key such as ~/.ssh/id_ed25519.pub), or --key KEY with KEY.pub beside it; or disable sshd in paasbox.yaml (services: { sshd: { enabled: false } })',
    );
  return [sshdKeysStep(plan.project, keys)];
}

export function sshdKeysStep(project: string, keys: AuthorizedKeys): ProvisionStep {
  const hash = createHash('sha256').update(keys.text).digest('hex');
  const p = shq(SSHD_KEYS_PATH);
  // "MODE UID" then the content's hash; nothing when the file is absent.
  const probe = `[ -f ${p} ] && stat -c '%a %u' ${p} && sha256sum < ${p}`;
  return {
    name: `sshd authorized_keys ${SSHD_KEYS_PATH}`,
    probe,
    async check(t: Target, probed?: ExecResult) {
      const r = probed ?? (await t.exec(probe, { sudo: true, timeoutMs: 60_000 }));
      const [meta = '', sum = ''] = r.stdout.trim().split('\n');
      if (r.code !== 0 || !meta) return { ok: false, detail: 'absent' };
      if (sum.split(' ')[0] !== hash) return { ok: false, detail: `different keys than ${keys.source}` };
      if (meta !== '600 0')
        return { ok: false, detail: `mode and owner uid are "${meta}", want "600 0" (root, 0600)` };
      return { ok: true, detail: `from ${keys.source}` };
    },
    async apply(t: Target) {
      await t.writeFile(SSHD_KEYS_PATH, keys.text, 0o600);
      // A running sshd copied the old keys when it started (and its bind mount
      // still shows the replaced file): restart it to take the new ones.
      const sshd = await findStackContainer(t, project, 'sshd');
      if (!sshd) return `from ${keys.source}`;
      await sh(t, `docker restart ${shq(sshd.id)}`, {
        fix: 'restart the sshd service: npx paasbox stack restart sshd',
      });
      return `from ${keys.source}; sshd restarted`;
    },
  };
}
