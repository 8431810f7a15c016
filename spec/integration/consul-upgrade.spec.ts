// Why this spec exists: issue 19 replaced Debian bullseye's Consul 1.8.7 (the
// image main installed) with Consul 1.16.3. An existing install must keep its
// ACLs and its K/V across that upgrade. Here Consul runs from the OLD image
// (spec/fixtures/consul-1.8.7: the old Dockerfile, verbatim) with ACLs
// (default deny, acl.tokens.master as 1.8's install wrote it) and a data
// volume; a K/V key, a policy and a token with a known SecretID are written;
// then the NEW image (paasbox/consul:local, the stack's command, the config
// install now writes: initial_management) starts on the same volume and
// address and must read both back with the same tokens. A control run on an
// empty volume must not find them: the check can fail.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoPath } from '../../src/paths.js';
import { generateSecrets, SECRET_FILES, secretFiles, type StackSecrets } from '../../src/secrets/secrets.js';
import { resolveSettings } from '../../src/settings/settings.js';
import { generateCompose } from '../../src/stackfile/generate.js';
import { loadStackModel } from '../../src/model/load.js';
import { resolveImageRefs } from '../../src/stackfile/refs.js';
import { fetchOnce } from '../helpers/http.js';
import { ensureStackImages } from '../helpers/images.js';

const run = promisify(execFile);
const docker = async (...args: string[]) =>
  (await run('docker', args, { maxBuffer: 64 << 20, timeout: 900_000 })).stdout;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const OLD_IMAGE = 'paasbox-test/consul:1.8.7';

/** What install wrote for Consul 1.8 (src/secrets before issue 19): acl.tokens.master. */
function oldConsulConfig(s: StackSecrets): string {
  const tokens = { master: s.managementToken, agent: s.agentToken };
  return (
    JSON.stringify(
      {
        acl: { enabled: true, default_policy: 'deny', enable_token_persistence: true, tokens },
        encrypt: s.gossipKey,
      },
      null,
      2,
    ) + '\n'
  );
}

describe('Consul 1.8.7 -> 1.16 upgrade in place keeps ACL tokens and K/V (integration)', function () {
  this.timeout(1_800_000);
  const tag = `pbupg${randomInt(1e6)}`;
  const net = `${tag}-net`;
  const octet = 100 + randomInt(100);
  const ip = `172.29.${octet}.10`;
  const volumes = [`${tag}-data`, `${tag}-empty`];
  const containers: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'paasbox-consul-upgrade-'));
  const secrets = generateSecrets();
  const readToken = randomUUID();
  const value = `kept-${randomUUID()}`;
  let newImage = '';
  let command: string[] = [];

  const api = async (method: string, path: string, token?: string, body?: string) => {
    try {
      const r = await fetchOnce(`http://${ip}:8500${path}`, {
        method,
        headers: token ? { 'X-Consul-Token': token } : {},
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(5000),
      });
      return { status: r.status, text: await r.text() };
    } catch (e) {
      return { status: 0, text: String(e) };
    }
  };
  const until = async (what: string, ok: () => Promise<boolean>, ms = 90_000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await ok()) return;
      await sleep(1000);
    }
    const logs = containers.length
      ? await docker('logs', '--tail', '40', containers[containers.length - 1]!).catch(() => '')
      : '';
    expect.fail(`${what} within ${ms / 1000}s\n${logs}`);
  };
  /** The config dir as install mounts it (its consul/ directory, 0700/0600). */
  const secretsDir = (name: string, files: Record<string, string>) => {
    const d = join(dir, name);
    mkdirSync(join(d, 'consul'), { recursive: true, mode: 0o700 });
    for (const [rel, content] of Object.entries(files))
      if (rel.startsWith('consul/') && !rel.includes('/tls'))
        writeFileSync(join(d, rel), content, { mode: 0o600 });
    return join(d, 'consul');
  };
  const start = async (name: string, image: string, volume: string, config: string) => {
    containers.push(name);
    await docker(
      'run',
      '-d',
      '--name',
      name,
      '--network',
      net,
      '--ip',
      ip,
      '-v',
      `${volume}:/consul/data`,
      '-v',
      `${config}:/consul/secrets:ro`,
      image,
      ...command,
    );
    await until(`${name}: a leader`, async () =>
      (await api('GET', '/v1/status/leader')).text.includes(':8300'),
    );
  };

  before(async () => {
    newImage = (await ensureStackImages(['consul']))['consul']!;
    // The old image, from the committed old Dockerfile (docker's cache makes repeats quick).
    await docker(
      'build',
      '--network',
      'host',
      '--build-arg',
      'BASE=paasbox/debian:bookworm',
      '-t',
      OLD_IMAGE,
      repoPath('spec', 'fixtures', 'consul-1.8.7'),
    );
    expect(await docker('run', '--rm', OLD_IMAGE, 'version')).to.match(/Consul v1\.8\.7/);
    expect(await docker('run', '--rm', newImage, 'version')).to.match(/Consul v1\.(1[6-9]|[2-9]\d)\./);
    await docker('network', 'create', '--subnet', `172.29.${octet}.0/24`, net);
    for (const v of volumes) await docker('volume', 'create', v);
    // The stack's own consul command for a one-host install at this address.
    const model = loadStackModel();
    const settings = resolveSettings({ defaults: { hostname: 'pbupg', ip } }, model);
    const compose = generateCompose(model, settings, await resolveImageRefs(model, settings, () => true));
    command = compose.services['consul']!.command!;
    expect(command).to.include('-config-dir=/consul/secrets');
  });

  after(async () => {
    for (const c of containers) await docker('rm', '-f', '-v', c).catch(() => undefined);
    for (const v of volumes) await docker('volume', 'rm', '-f', v).catch(() => undefined);
    await docker('network', 'rm', net).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the old image (1.8.7, acl.tokens.master): a K/V key, a policy and a token with a known SecretID', async () => {
    const oldDir = secretsDir('old', { [SECRET_FILES.consulConfig]: oldConsulConfig(secrets) });
    await start(`${tag}-old`, OLD_IMAGE, volumes[0]!, oldDir);
    const m = secrets.managementToken;
    await until(
      'the management token accepted',
      async () => (await api('PUT', '/v1/kv/pbupg/key', m, value)).text.trim() === 'true',
    );
    const policy = await api(
      'PUT',
      '/v1/acl/policy',
      m,
      JSON.stringify({ Name: 'pbupg-read', Rules: 'key_prefix "pbupg/" { policy = "read" }' }),
    );
    expect(policy.status, policy.text).to.equal(200);
    const token = await api(
      'PUT',
      '/v1/acl/token',
      m,
      JSON.stringify({
        SecretID: readToken,
        Description: 'pbupg reader',
        Policies: [{ Name: 'pbupg-read' }],
      }),
    );
    expect(token.status, token.text).to.equal(200);
    expect((await api('GET', '/v1/kv/pbupg/key?raw', readToken)).text).to.equal(value);
    expect((await api('GET', '/v1/kv/pbupg/key?raw')).status, 'anonymous is denied').to.equal(403);
    // Stopped and removed (the volume stays): the next container takes its address.
    await docker('stop', '-t', '30', `${tag}-old`);
    await docker('rm', `${tag}-old`);
  });

  it('the new image on the same data and address (the config install writes now) reads both back with the same tokens', async () => {
    const files = secretFiles(secrets);
    expect(files[SECRET_FILES.consulConfig]).to.include('initial_management');
    await start(`${tag}-new`, newImage, volumes[0]!, secretsDir('new', files));
    await until(
      'the reader token accepted',
      async () => (await api('GET', '/v1/kv/pbupg/key?raw', readToken)).status === 200,
    );
    expect((await api('GET', '/v1/kv/pbupg/key?raw', readToken)).text).to.equal(value);
    expect((await api('GET', '/v1/kv/pbupg/key?raw', secrets.managementToken)).text).to.equal(value);
    const self = await api('GET', '/v1/acl/token/self', readToken);
    expect(JSON.parse(self.text) as { Description: string }).to.include({ Description: 'pbupg reader' });
    expect((await api('GET', '/v1/kv/pbupg/key?raw')).status, 'anonymous still denied').to.equal(403);
    expect((await api('PUT', '/v1/kv/pbupg/key', readToken, 'x')).status, 'the reader cannot write').to.equal(
      403,
    );
    const version = JSON.parse((await api('GET', '/v1/agent/self', secrets.managementToken)).text) as {
      Config: { Version: string };
    };
    expect(version.Config.Version).to.match(/^1\.(1[6-9]|[2-9]\d)\./);
    await docker('stop', '-t', '30', `${tag}-new`);
    await docker('rm', `${tag}-new`);
  });

  it('control: the new image on an EMPTY volume does not know the token or the key (the check above can fail)', async () => {
    await start(`${tag}-control`, newImage, volumes[1]!, secretsDir('control', secretFiles(secrets)));
    // The management token is the config's (initial_management): accepted once ACLs are bootstrapped; the key
    // is not there.
    await until(
      'the management token accepted',
      async () => (await api('GET', '/v1/kv/pbupg/key?raw', secrets.managementToken)).status === 404,
    );
    expect((await api('GET', '/v1/kv/pbupg/key?raw', readToken)).status, 'an unknown token').to.equal(403);
  });
});
