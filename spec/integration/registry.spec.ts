// Issue 21's "images reach every node", on this machine's standalone install
// (install.mjs, as a user runs it): an image built only here goes into the
// stack's private registry with `paasbox push`, which prints it by digest;
// docker then pulls that digest over TLS (the CA install put into
// /etc/docker/certs.d) with the login install keeps (a docker config file,
// this machine's copy), and is refused without it; verify's derived HTTPS
// check passes; and the image is still there after the registry's container
// is removed and install brings it back (its storage is a named volume).
// Traffic goes only to this machine's stack. No skip: without docker or the
// stack the spec fails, with CI=true as without.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoPath } from '../../src/paths.js';
import { REGISTRY_SECRET_FILES } from '../../src/secrets/registry.js';
import { installStandalone, sh, stackContainer } from '../helpers/standalone.js';

const run = promisify(execFile);

describe("the stack's image registry: paasbox push, then a pull by digest (integration)", function () {
  this.timeout(30 * 60_000);
  const state = mkdtempSync(join(tmpdir(), 'pb-registry-state-'));
  const env = { ...process.env, PAASBOX_STATE_DIR: state };
  // A name and content no other run has: the digest is this run's own.
  const tag = `pbreg${Date.now().toString(36)}`;
  const source = `${tag}/hello:v1`;
  const login = join(
    state,
    'secrets',
    'default',
    REGISTRY_SECRET_FILES.registryLogin.replace(/\/[^/]+$/, ''),
  );
  const anonymous = mkdtempSync(join(tmpdir(), 'pb-registry-anon-'));
  let ip = '';
  let imageId = '';
  let pinned = '';

  const paasbox = (args: string[]) =>
    run(process.execPath, [repoPath('bin', 'paasbox.mjs'), ...args], {
      cwd: repoPath(),
      env,
      maxBuffer: 16 << 20,
    });
  /** Every local name of this run's image, so a pull must fetch it from the registry. */
  const forget = () =>
    sh(
      `docker image ls --format '{{.Repository}}:{{.Tag}}' | grep '${tag}/' | xargs -r docker rmi -f >/dev/null; ` +
        `docker image ls --digests --format '{{.Repository}}@{{.Digest}}' | grep '${tag}/' | xargs -r docker rmi -f >/dev/null; true`,
    );

  before(async () => {
    ip = await installStandalone(env);
    await run('sh', [
      '-c',
      `printf 'FROM paasbox/debian:bookworm\\nRUN echo ${tag} > /hello\\n' | docker build -q -t ${source} -`,
    ]);
    imageId = await sh(`docker image inspect --format '{{.Id}}' ${source}`);
  });

  after(async () => {
    await forget().catch(() => undefined);
  });

  it('pushes an image that exists only here and prints MASTER:5000/NAME@sha256', async () => {
    const r = await paasbox(['push', source, '--json']);
    const out = JSON.parse(r.stdout) as { pinned: string; pushed: { ref: string; digest: string }[] };
    expect(out.pinned).to.match(
      new RegExp(`^${ip.replace(/\./g, '\\.')}:5000/${tag}/hello@sha256:[0-9a-f]{64}$`),
    );
    expect(out.pushed.map((p) => p.ref)).to.deep.equal([`${ip}:5000/${tag}/hello:v1`]);
    pinned = out.pinned;
    // The human form prints the reference alone on its last line.
    const human = await paasbox(['push', source]);
    expect(human.stdout.trim().split('\n').pop()).to.equal(pinned);
  });

  it('is refused a pull without the login, over TLS (no certificate error)', async () => {
    expect(pinned, 'the push test ran').to.not.equal('');
    await forget();
    const r = await run('docker', ['--config', anonymous, 'pull', pinned]).then(
      () => ({ ok: true, err: '' }),
      (e: { stderr?: string }) => ({ ok: false, err: e.stderr ?? '' }),
    );
    expect(r.ok, 'an anonymous pull must fail').to.equal(false);
    expect(r.err).to.match(/no basic auth credentials|unauthorized|authentication required/i);
    expect(r.err).to.not.match(/x509|certificate/i);
  });

  it('pulls the digest with the login install keeps, the very image built here', async () => {
    expect(pinned, 'the push test ran').to.not.equal('');
    await forget();
    await run('docker', ['--config', login, 'pull', pinned]);
    expect(await sh(`docker image inspect --format '{{.Id}}' ${pinned}`)).to.equal(imageId);
  });

  it("verify's derived check: /v2/ over TLS against the registry's CA answers 401", async () => {
    const r = await paasbox(['verify', '--only', 'registry', '--json']);
    const report = JSON.parse(r.stdout) as { results: { id: string; status: string; got?: string }[] };
    const https = report.results.find((x) => x.id === 'registry/https/http:/v2/');
    expect(https, JSON.stringify(report.results)).to.include({ status: 'passed' });
  });

  it('keeps the image when the container is removed and install brings it back (a named volume)', async () => {
    expect(pinned, 'the push test ran').to.not.equal('');
    const before = await stackContainer('registry');
    await sh(`docker rm -f ${before}`);
    await installStandalone(env);
    expect(await stackContainer('registry')).to.not.equal(before);
    await forget();
    await run('docker', ['--config', login, 'pull', pinned]);
    expect(await sh(`docker image inspect --format '{{.Id}}' ${pinned}`)).to.equal(imageId);
  });
});
