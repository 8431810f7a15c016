// The real builder against this machine's dockerd: the base image (built by
// debootstrap when missing or stale) and small throwaway contexts, then a second
// run that must build nothing. Test images are tagged paasbox/pbh2it-*:local and removed.
import { expect } from 'chai';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Progress } from '../../src/progress.js';
import type { ServiceSpec, StackModel } from '../../src/model/model.js';
import { LocalTarget } from '../../src/target/local.js';
import type { ExecOptions, ExecResult, Target } from '../../src/target/target.js';
import { buildAll, type BuildAllResult } from '../../src/images/builder.js';
import { BASE_REF, HASH_LABEL } from '../../src/images/plan.js';
import { pushImages } from '../../src/images/push.js';
import { SshTarget } from '../../src/target/ssh.js';
import { isCI } from '../helpers/ci.js';
import { createTestHosts, type TestHosts } from '../helpers/testhosts.js';

/** A LocalTarget that records every command it runs. */
class RecordingTarget extends LocalTarget {
  readonly ran: string[] = [];
  override exec(command: string, opts?: ExecOptions): Promise<ExecResult> {
    this.ran.push(command);
    return super.exec(command, opts);
  }
}

const tag = `pbh2it-${process.pid}`;
const svc = (build: string): ServiceSpec => ({
  description: build,
  role: 'master',
  network: 'bridge',
  ports: [],
  restart: 'always',
  sources: { local: { build }, registry: { build, args: { BASE: 'debian:bookworm-slim' } } },
});

describe('images builder (integration, real dockerd)', function () {
  let dir: string;
  const local = new LocalTarget();
  const model: StackModel = {
    version: 1,
    name: 'pbh2it',
    services: {
      probe: svc(`${tag}-probe`),
      marathon: {
        ...svc('unused'),
        sources: {
          registry: { image: 'mesosphere/marathon:v0-pbh2it' },
          local: {
            unavailable: {
              reason: 'no offline source',
              supply: 'docker load it',
              loadable: 'mesosphere/marathon:v0-pbh2it',
            },
          },
        },
      },
    },
  };
  const quiet = () => new Progress({ write: () => undefined });
  const outcome = (r: BuildAllResult, ref: string) => r.images.find((i) => i.ref === ref)?.outcome;

  before(async function () {
    const docker = await local.exec("docker version --format '{{.Server.Version}}'");
    if (docker.code !== 0) {
      if (isCI())
        throw new Error(
          `dockerd does not answer, and CI=true: this spec must run (${docker.stderr.trim().split('\n')[0]})`,
        );
      console.log('      skipped: dockerd does not answer here:', docker.stderr.trim().split('\n')[0]);
      this.skip();
    }
    const base = await local.exec(
      `docker image inspect ${BASE_REF} >/dev/null 2>&1 || command -v debootstrap`,
    );
    if (base.code !== 0) {
      if (isCI())
        throw new Error(
          `${BASE_REF} is missing and debootstrap is not installed, and CI=true: this spec must run`,
        );
      console.log(
        `      skipped: ${BASE_REF} is missing and debootstrap is not installed (apt-get install debootstrap)`,
      );
      this.skip();
    }
    dir = await mkdtemp(join(tmpdir(), 'pbh2-images-'));
    await mkdir(join(dir, `${tag}-probe`));
    await writeFile(
      join(dir, `${tag}-probe`, 'Dockerfile'),
      'ARG BASE=paasbox/debian:bookworm\nFROM ${BASE}\nCOPY hello.txt /hello.txt\nRUN test -s /hello.txt\n',
    );
    await writeFile(join(dir, `${tag}-probe`, 'hello.txt'), 'v1\n');
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    await local.exec(
      `docker rmi -f paasbox/${tag}-probe:local paasbox/${tag}-fail:local >/dev/null 2>&1 || true`,
    );
  });

  it('builds the base (when stale) and a context, then finds everything up-to-date without any docker build', async () => {
    const first = await buildAll({
      target: local,
      model,
      source: 'local',
      imagesDir: dir,
      progress: quiet(),
    });
    expect(first.ok, JSON.stringify(first.images, null, 1)).to.equal(true);
    expect(['built', 'up-to-date']).to.include(outcome(first, BASE_REF));
    expect(outcome(first, `paasbox/${tag}-probe:local`)).to.equal('built');
    // The unavailable component is reported with how to supply it, and the run still succeeds.
    const m = first.images.find((i) => i.services.includes('marathon'))!;
    expect(m).to.include({ outcome: 'unavailable', supply: 'docker load it' });

    const rec = new RecordingTarget();
    const second = await buildAll({ target: rec, model, source: 'local', imagesDir: dir, progress: quiet() });
    expect(second.ok).to.equal(true);
    expect(outcome(second, BASE_REF)).to.equal('up-to-date');
    expect(outcome(second, `paasbox/${tag}-probe:local`)).to.equal('up-to-date');
    expect(rec.ran.filter((c) => /docker build|debootstrap|docker import/.test(c))).to.deep.equal([]);
    console.log(`      timings: first ${first.seconds.toFixed(1)}s, second ${second.seconds.toFixed(1)}s`);
  });

  it('rebuilds only the context whose file changed', async () => {
    await writeFile(join(dir, `${tag}-probe`, 'hello.txt'), 'v2\n');
    const rec = new RecordingTarget();
    const r = await buildAll({ target: rec, model, source: 'local', imagesDir: dir, progress: quiet() });
    expect(outcome(r, `paasbox/${tag}-probe:local`), JSON.stringify(r.images, null, 1)).to.equal('built');
    expect(outcome(r, BASE_REF)).to.equal('up-to-date');
    expect(rec.ran.filter((c) => c.includes('docker build'))).to.have.length(1);
    const cat = await local.exec(`docker run --rm paasbox/${tag}-probe:local cat /hello.txt`);
    expect(cat.stdout.trim()).to.equal('v2');
  });

  it('a failing build is reported with the image and the Dockerfile step, and the run is not ok', async () => {
    await mkdir(join(dir, `${tag}-fail`));
    await writeFile(
      join(dir, `${tag}-fail`, 'Dockerfile'),
      'ARG BASE=paasbox/debian:bookworm\nFROM ${BASE}\nRUN echo about to fail && exit 3\n',
    );
    const failModel: StackModel = { ...model, services: { ...model.services, broken: svc(`${tag}-fail`) } };
    const r = await buildAll({
      target: local,
      model: failModel,
      source: 'local',
      imagesDir: dir,
      progress: quiet(),
    });
    expect(r.ok).to.equal(false);
    const f = r.images.find((i) => i.ref === `paasbox/${tag}-fail:local`)!;
    expect(f.outcome).to.equal('failed');
    expect(f.failedStep).to.match(/^Step 3\/\d+ : RUN echo about to fail/);
    expect(f.reason).to.contain(`paasbox/${tag}-fail:local`);
    expect(f.detail).to.contain('about to fail');
    // The other images are unaffected.
    expect(outcome(r, `paasbox/${tag}-probe:local`)).to.equal('up-to-date');
  });

  describe('over SSH to a docker-in-docker test host', function () {
    let th: TestHosts | undefined;
    let remote: SshTarget | undefined;
    before(async function () {
      try {
        th = await createTestHosts(1, { prefix: 'pbh2-img', withDocker: true });
      } catch (e) {
        if (isCI()) throw e;
        console.log(
          '      skipped: no docker-in-docker test host could start here:',
          (e as Error).message.split('\n')[0],
        );
        this.skip();
      }
      const h = th!.hosts[0]!;
      remote = new SshTarget({
        host: h.address,
        user: h.user,
        keyPath: h.keyPath,
        knownHostsPath: th!.knownHostsPath,
      });
    });
    after(async () => {
      await remote?.close();
      await th?.destroy();
    });

    it('pushes images by docker save | docker load, then skips them when the IDs match', async () => {
      const refs = [BASE_REF, `paasbox/${tag}-probe:local`];
      const first = await pushImages(local, remote!, refs, quiet());
      expect(first.pushed).to.deep.equal(refs);
      const ids = async (t: Target) =>
        (await t.exec(`docker image inspect --format '{{.Id}}' ${refs.join(' ')}`)).stdout.trim();
      expect(await ids(remote!)).to.equal(await ids(local));
      const second = await pushImages(local, remote!, refs, quiet());
      expect(second).to.deep.include({ pushed: [], skipped: refs });
    });

    it('pushes to a host lacking one image only that image, without the layers the host has; the host ends up with all', async () => {
      const probe = `paasbox/${tag}-probe:local`;
      const refs = [BASE_REF, probe];
      await pushImages(local, remote!, refs, quiet());
      const rmi = await remote!.exec(`docker rmi ${probe}`);
      expect(rmi.code, rmi.stderr).to.equal(0);
      const r = await pushImages(local, remote!, refs, quiet());
      expect(r).to.deep.include({ pushed: [probe], skipped: [BASE_REF], tagged: [] });
      // The base's layers are on the host: their files stayed here.
      expect(r.layersPresent).to.be.greaterThan(0);
      const whole = Number((await local.exec(`docker save ${probe} | wc -c`)).stdout.trim());
      expect(r.bytes).to.be.greaterThan(0).and.lessThan(whole);
      const ids = async (t: Target) =>
        (await t.exec(`docker image inspect --format '{{.Id}}' ${refs.join(' ')}`)).stdout.trim();
      expect(await ids(remote!)).to.equal(await ids(local));
      // The same image under a new name there is only tagged, nothing sent.
      const other = `paasbox/${tag}-alias:local`;
      expect((await local.exec(`docker tag ${probe} ${other}`)).code).to.equal(0);
      try {
        const t = await pushImages(local, remote!, [other], quiet());
        expect(t).to.deep.include({ pushed: [], tagged: [other], bytes: 0 });
        expect(
          (await remote!.exec(`docker image inspect --format '{{.Id}}' ${other}`)).stdout.trim(),
        ).to.equal((await local.exec(`docker image inspect --format '{{.Id}}' ${probe}`)).stdout.trim());
      } finally {
        await local.exec(`docker rmi ${other}`);
      }
    });

    it('builds on the remote target (context streamed as a tar), incrementally', async () => {
      await writeFile(join(dir, `${tag}-probe`, 'hello.txt'), 'remote\n');
      const r = await buildAll({
        target: remote!,
        model,
        source: 'local',
        imagesDir: dir,
        progress: quiet(),
      });
      expect(outcome(r, BASE_REF)).to.equal('up-to-date');
      expect(outcome(r, `paasbox/${tag}-probe:local`), JSON.stringify(r.images, null, 1)).to.equal('built');
      const label = await remote!.exec(
        `docker image inspect --format '{{index .Config.Labels "${HASH_LABEL}"}}' paasbox/${tag}-probe:local`,
      );
      expect(label.stdout.trim()).to.equal(
        r.images.find((i) => i.ref === `paasbox/${tag}-probe:local`)!.hash,
      );
      const again = await buildAll({
        target: remote!,
        model,
        source: 'local',
        imagesDir: dir,
        progress: quiet(),
      });
      expect(outcome(again, `paasbox/${tag}-probe:local`)).to.equal('up-to-date');
    });
  });
});
