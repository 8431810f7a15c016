import { expect } from 'chai';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PaasboxError } from '../../src/errors.js';
import type { ServiceSpec, StackModel } from '../../src/model/model.js';
import {
  BASE_REF,
  HASH_LABEL,
  REGISTRY_BASE_REF,
  baseHash,
  buildHash,
  planImages,
  type PlanEntry,
  type PlanInput,
} from '../../src/images/plan.js';
import { declaredArgs, hashContext } from '../../src/images/hash.js';
import { dockerBuildCommand, lastBuildStep } from '../../src/images/builder.js';
import { baseImageScript, SLIM_FILES } from '../../src/images/base.js';
import { parseImageManifest } from '../../src/images/manifest.js';

const svc = (sources: ServiceSpec['sources']): ServiceSpec => ({
  description: 'x',
  role: 'master',
  sources,
  network: 'host',
  ports: [],
  restart: 'always',
});

const MODEL: StackModel = {
  version: 1,
  name: 't',
  services: {
    zookeeper: svc({ registry: { image: 'zookeeper:3.8.4' }, local: { build: 'zookeeper' } }),
    consul: svc({ registry: { image: 'consul:1.8.7' }, local: { build: 'consul' } }),
    marathon: svc({
      registry: { image: 'mesosphere/marathon:v1' },
      local: {
        unavailable: {
          reason: 'no offline source',
          supply: 'docker load it',
          loadable: 'mesosphere/marathon:v1',
        },
      },
    }),
    sshd: svc({
      registry: { build: 'sshd', args: { BASE: 'debian:bookworm-slim' } },
      local: { build: 'sshd' },
    }),
  },
};
const RECIPE = { suite: 'bookworm', variant: 'minbase', mirror: 'http://mirror.example/debian' };
const CONTEXTS = {
  zookeeper: { hash: 'zk1', args: ['BASE'] },
  consul: { hash: 'c1', args: ['BASE', 'DEBIAN_MIRROR'] },
  sshd: { hash: 's1', args: ['BASE'] },
};
const BASE_ID = 'sha256:base1';

function input(over: Partial<PlanInput> = {}): PlanInput {
  return {
    model: MODEL,
    source: 'local',
    globalArgs: { DEBIAN_MIRROR: RECIPE.mirror },
    images: {},
    contexts: CONTEXTS,
    base: RECIPE,
    ...over,
  };
}
const byRef = (plan: PlanEntry[], ref: string) => plan.find((e) => e.ref === ref)!;

/** A target where the base and every build were made from exactly these inputs. */
function builtWorld(contexts = CONTEXTS, baseId = BASE_ID) {
  const images: PlanInput['images'] = {
    [BASE_REF]: { id: baseId, labels: { [HASH_LABEL]: baseHash(RECIPE) } },
  };
  for (const e of planImages(input({ images: { ...images }, contexts }))) {
    if (e.kind === 'build' && e.hash)
      images[e.ref] = { id: `sha256:${e.ref}`, labels: { [HASH_LABEL]: e.hash } };
  }
  return images;
}

describe('images plan', () => {
  it('from nothing: the base first, every build after it, unavailable last with how to supply it', () => {
    const plan = planImages(input());
    expect(plan[0]).to.include({ kind: 'base', ref: BASE_REF, action: 'build' });
    expect(plan.slice(1, 4).map((e) => [e.ref, e.action])).to.deep.equal([
      ['paasbox/zookeeper:local', 'build'],
      ['paasbox/consul:local', 'build'],
      ['paasbox/sshd:local', 'build'],
    ]);
    expect(plan.at(-1)).to.include({
      ref: 'mesosphere/marathon:v1',
      action: 'unavailable',
      supply: 'docker load it',
    });
    // Builds wait for the new base's ID before they have a hash.
    expect(byRef(plan, 'paasbox/consul:local').hash).to.equal(undefined);
  });

  it('everything built from the same inputs is up-to-date', () => {
    const plan = planImages(input({ images: builtWorld() }));
    for (const e of plan.filter((e) => e.kind !== 'image')) expect(e.action, e.ref).to.equal('up-to-date');
  });

  it('a changed context file rebuilds only that image', () => {
    const images = builtWorld();
    const plan = planImages(
      input({ images, contexts: { ...CONTEXTS, sshd: { hash: 's2', args: ['BASE'] } } }),
    );
    expect(byRef(plan, 'paasbox/sshd:local').action).to.equal('build');
    expect(byRef(plan, 'paasbox/sshd:local').reason).to.match(/changed/);
    expect(byRef(plan, 'paasbox/zookeeper:local').action).to.equal('up-to-date');
  });

  it('a changed build arg (the mirror) rebuilds the images that declare it, and the base', () => {
    const images = builtWorld();
    const plan = planImages(input({ images, globalArgs: { DEBIAN_MIRROR: 'http://other.example/debian' } }));
    expect(byRef(plan, 'paasbox/consul:local').action).to.equal('build');
    expect(byRef(plan, 'paasbox/zookeeper:local').action).to.equal('up-to-date');
    const plan2 = planImages(input({ images, base: { ...RECIPE, mirror: 'http://other.example/debian' } }));
    expect(byRef(plan2, BASE_REF).action).to.equal('build');
    expect(byRef(plan2, 'paasbox/zookeeper:local')).to.include({ action: 'build' });
  });

  it('a new base image ID rebuilds every image on it', () => {
    const images = builtWorld();
    images[BASE_REF] = { ...images[BASE_REF]!, id: 'sha256:base2' };
    const plan = planImages(input({ images }));
    expect(byRef(plan, BASE_REF).action).to.equal('up-to-date');
    for (const ref of ['paasbox/zookeeper:local', 'paasbox/consul:local', 'paasbox/sshd:local'])
      expect(byRef(plan, ref).action, ref).to.equal('build');
  });

  it('an unlabelled base (imported by hand) is rebuilt; --force rebuilds builds', () => {
    const images = builtWorld();
    images[BASE_REF] = { id: BASE_ID, labels: {} };
    expect(byRef(planImages(input({ images })), BASE_REF).reason).to.match(/no paasbox.hash label/);
    const forced = planImages(input({ images: builtWorld(), force: true, only: ['sshd'] }));
    expect(byRef(forced, 'paasbox/sshd:local')).to.include({ action: 'build', reason: '--force' });
    expect(byRef(forced, BASE_REF).action).to.equal('up-to-date');
  });

  it('--force on everything: the base is rebuilt first, then the replan hashes every build against the new base', () => {
    const first = planImages(input({ images: builtWorld(), force: true }));
    expect(byRef(first, BASE_REF)).to.include({ action: 'build', reason: '--force' });
    expect(byRef(first, 'paasbox/consul:local').hash, 'no hash before the base exists').to.equal(undefined);
    const images = builtWorld();
    images[BASE_REF] = { ...images[BASE_REF]!, id: 'sha256:rebuilt' };
    const again = planImages(input({ images, force: true, baseBuilt: true }));
    expect(byRef(again, BASE_REF).action).to.equal('up-to-date');
    const consul = byRef(again, 'paasbox/consul:local');
    expect(consul).to.include({ action: 'build' });
    expect(consul.hash).to.be.a('string').with.length(64);
  });

  it('a loaded `loadable` image makes an unavailable component present', () => {
    const images = { ...builtWorld(), 'mesosphere/marathon:v1': { id: 'sha256:m', labels: {} } };
    expect(byRef(planImages(input({ images })), 'mesosphere/marathon:v1')).to.include({ action: 'present' });
  });

  it('--only limits the plan to the named images and their base, and rejects unknown names', () => {
    const plan = planImages(input({ only: ['consul'] }));
    expect(plan.map((e) => e.ref)).to.deep.equal([BASE_REF, 'paasbox/consul:local']);
    expect(() => planImages(input({ only: ['nope'] }))).to.throw(PaasboxError, /nope/);
  });

  it('registry: pins are pulled, builds go on debian:bookworm-slim (pulled first), no debootstrap', () => {
    const plan = planImages(input({ source: 'registry' }));
    expect(plan[0]).to.include({ ref: REGISTRY_BASE_REF, action: 'pull' });
    expect(plan.some((e) => e.ref === BASE_REF)).to.equal(false);
    expect(byRef(plan, 'zookeeper:3.8.4').action).to.equal('pull');
    expect(byRef(plan, 'paasbox/sshd:registry')).to.include({ action: 'build', baseRef: REGISTRY_BASE_REF });
    const images = {
      [REGISTRY_BASE_REF]: { id: 'sha256:slim', labels: {} },
      'zookeeper:3.8.4': { id: 'sha256:z', labels: {} },
    };
    const plan2 = planImages(input({ source: 'registry', images }));
    expect(byRef(plan2, 'zookeeper:3.8.4').action).to.equal('present');
    expect(byRef(plan2, 'paasbox/sshd:registry').hash).to.equal(
      buildHash('s1', { BASE: REGISTRY_BASE_REF }, 'sha256:slim'),
    );
  });

  it('a build context without a Dockerfile is unavailable, naming the path', () => {
    const plan = planImages(input({ images: builtWorld(), contexts: { ...CONTEXTS, sshd: undefined } }));
    expect(byRef(plan, 'paasbox/sshd:local')).to.include({ action: 'unavailable' });
    expect(byRef(plan, 'paasbox/sshd:local').reason).to.contain('stacks/images/sshd');
  });
});

describe('images hash and commands', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ctx-'));
    await writeFile(join(dir, 'Dockerfile'), 'ARG BASE=x\nFROM ${BASE}\n');
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'a.sh'), 'echo a\n');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('the context hash follows content, names and modes, not .bin/', async () => {
    const h1 = await hashContext(dir);
    await mkdir(join(dir, '.bin'));
    await writeFile(join(dir, '.bin', 'tool'), 'binary');
    expect(await hashContext(dir)).to.equal(h1);
    await writeFile(join(dir, 'sub', 'a.sh'), 'echo b\n');
    const h2 = await hashContext(dir);
    expect(h2).to.not.equal(h1);
    await writeFile(join(dir, 'sub', 'a.sh'), 'echo b\n', { mode: 0o755 });
    const { chmod } = await import('node:fs/promises');
    await chmod(join(dir, 'sub', 'a.sh'), 0o755);
    expect(await hashContext(dir)).to.not.equal(h2);
  });

  it('manifest inputs outside the context are hashed', async () => {
    const outside = join(dir, '..', `${dir.split('/').at(-1)}-input.txt`);
    await writeFile(outside, 'v1');
    try {
      await writeFile(join(dir, 'image.yaml'), `inputs: [../${outside.split('/').at(-1)}]\n`);
      const h1 = await hashContext(dir);
      await writeFile(outside, 'v2');
      expect(await hashContext(dir)).to.not.equal(h1);
    } finally {
      await rm(outside, { force: true });
    }
  });

  it('a directory input is every file under it: a change, a new file or a mode rebuilds (apps-api: dist/src)', async () => {
    const outside = join(dir, '..', `${dir.split('/').at(-1)}-dist`);
    await mkdir(join(outside, 'src', 'api'), { recursive: true });
    await writeFile(join(outside, 'src', 'api', 'main.js'), 'v1');
    try {
      await writeFile(join(dir, 'image.yaml'), `inputs: [../${outside.split('/').at(-1)}/src]\n`);
      const h1 = await hashContext(dir);
      expect(await hashContext(dir)).to.equal(h1);
      await writeFile(join(outside, 'src', 'api', 'main.js'), 'v2');
      const h2 = await hashContext(dir);
      expect(h2).to.not.equal(h1);
      await writeFile(join(outside, 'src', 'paths.js'), 'new');
      expect(await hashContext(dir)).to.not.equal(h2);
      // A missing input names itself and the fix.
      await rm(outside, { recursive: true, force: true });
      const err = await hashContext(dir).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).to.include('-dist/src').and.include('cannot be read');
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('declared ARGs, build command and failed step', () => {
    expect(
      declaredArgs('ARG BASE=paasbox/debian:bookworm\nFROM ${BASE}\n  arg DEBIAN_MIRROR=\n'),
    ).to.deep.equal(['BASE', 'DEBIAN_MIRROR']);
    const cmd = dockerBuildCommand({
      kind: 'build',
      services: ['x'],
      ref: 'paasbox/x:local',
      action: 'build',
      reason: '',
      hash: 'h1',
      args: { DEBIAN_MIRROR: 'http://m', BASE: 'b' },
    });
    expect(cmd.replace(/'/g, '')).to.equal(
      'DOCKER_BUILDKIT=0 docker build --force-rm --network host --label paasbox.hash=h1 --build-arg BASE=b --build-arg DEBIAN_MIRROR=http://m -t paasbox/x:local -',
    );
    expect(lastBuildStep('Step 1/3 : FROM b\n ---> 1\nStep 2/3 : RUN false\nerror')).to.equal(
      'Step 2/3 : RUN false',
    );
  });

  it('the base script labels the import with the recipe hash and always cleans up', () => {
    const s = baseImageScript(RECIPE, 'abc');
    expect(s.replace(/'/g, '')).to.contain(
      'debootstrap --variant=minbase bookworm "$tmp/rootfs" http://mirror.example/debian',
    );
    expect(s.replace(/'/g, '')).to.contain('-c LABEL paasbox.hash=abc');
    expect(s).to.match(/trap cleanup EXIT/);
  });

  it('the base is slim: apt keeps no binary caches and dpkg leaves out docs, man pages and translations', () => {
    const s = baseImageScript(RECIPE, 'abc');
    for (const path of Object.keys(SLIM_FILES)) expect(s).to.contain(`> "$tmp/rootfs/${path}"`);
    expect(SLIM_FILES['etc/apt/apt.conf.d/docker-clean']).to.contain('Dir::Cache::pkgcache "";');
    expect(SLIM_FILES['etc/dpkg/dpkg.cfg.d/docker']).to.match(/^path-exclude \/usr\/share\/doc\/\*$/m);
    // Written before the import, so the imported rootfs carries them.
    expect(s.indexOf('docker-clean')).to.be.lessThan(s.indexOf('docker import'));
  });

  it('image.yaml: prepare steps and inputs are validated', () => {
    expect(parseImageManifest(undefined, 'x')).to.deep.equal({ prepare: [], inputs: [] });
    const ok = {
      prepare: [
        { goInstall: 'github.com/hashicorp/consul-template@v0.42.1', binary: 'consul-template' },
        { script: 'prepare.sh' },
      ],
      inputs: ['../t'],
    };
    expect(parseImageManifest(ok, 'x')).to.deep.equal(ok);
    expect(() =>
      parseImageManifest({ prepare: [{ goInstall: 'no-version', binary: 'b' }] }, 'image.yaml'),
    ).to.throw(PaasboxError, /image.yaml/);
    expect(() => parseImageManifest({ prepare: [{ script: 'a.sh', extra: 1 }] }, 'image.yaml')).to.throw(
      PaasboxError,
    );
  });
});
