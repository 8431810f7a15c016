// The hardening the stack model and image contexts promise, read from the
// files themselves: data directories on named volumes (never an anonymous
// volume a `down` orphans), dnsmasq bound to the stack's addresses only.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { loadStackModel } from '../../src/model/load.js';
import { repoPath } from '../../src/paths.js';

const model = loadStackModel();
const dockerfile = (build: string) => readFileSync(repoPath('stacks', 'images', build, 'Dockerfile'), 'utf8');
/** Named volumes (not host paths) mounted by a service, by target. */
const namedVolumes = (service: string) =>
  new Map(
    (model.services[service]!.volumes ?? [])
      .filter((v) => !v.source.startsWith('/') && !v.source.startsWith('.'))
      .map((v) => [v.target, v.source]),
  );

/** Paths of the VOLUME instructions of a Dockerfile (JSON or plain form). */
function declaredVolumes(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^VOLUME\s+(.+)$/gm)) {
    const arg = m[1]!.trim();
    out.push(...(arg.startsWith('[') ? (JSON.parse(arg) as string[]) : arg.split(/\s+/)));
  }
  return out;
}

describe('stack exposure and data (stacks/paasbox.yaml, stacks/images)', () => {
  it("puts ZooKeeper's data and transaction log directories on named volumes", () => {
    // The directories the image's entrypoint writes into zoo.cfg (dataDir, dataLogDir).
    const env = Object.fromEntries(
      [...dockerfile('zookeeper').matchAll(/\b(ZOO_DATA_DIR|ZOO_DATA_LOG_DIR)=(\S+)/g)].map((m) => [
        m[1]!,
        m[2]!,
      ]),
    );
    expect(env).to.deep.equal({ ZOO_DATA_DIR: '/data', ZOO_DATA_LOG_DIR: '/datalog' }); // the official image's paths
    const entry = readFileSync(repoPath('stacks', 'images', 'zookeeper', 'docker-entrypoint.sh'), 'utf8');
    expect(entry).to.include('dataDir=$ZOO_DATA_DIR').and.include('dataLogDir=$ZOO_DATA_LOG_DIR');
    const vols = namedVolumes('zookeeper');
    for (const dir of Object.values(env)) expect(vols.get(dir), `zookeeper ${dir}`).to.be.a('string');
    expect(new Set(vols.values()).size).to.equal(vols.size); // one volume each
  });

  it('leaves no VOLUME of a locally built image to an anonymous volume', () => {
    for (const [name, svc] of Object.entries(model.services)) {
      const build = svc.sources.local.build;
      if (!build) continue;
      const mounted = new Set((svc.volumes ?? []).map((v) => v.target));
      for (const dir of declaredVolumes(dockerfile(build)))
        expect(
          mounted.has(dir),
          `${name}: VOLUME ${dir} in stacks/images/${build}/Dockerfile is not mounted`,
        ).to.equal(true);
    }
    expect(declaredVolumes('VOLUME ["/a", "/b"]\nVOLUME /c /d\n')).to.deep.equal(['/a', '/b', '/c', '/d']);
  });

  it('binds dnsmasq to the stack address (and 127.0.0.1), as an unprivileged user, with no extra capability', () => {
    const dns = model.services['dns']!;
    expect(dns.command).to.include('--listen-address=${IP}');
    expect(dns.command?.some((a) => /^--(bind-dynamic|interface|except-interface|user)\b/.test(a))).to.equal(
      false,
    );
    expect(dns.capAdd ?? []).to.deep.equal([]);
    const df = dockerfile('dnsmasq');
    expect(df).to.match(/^ENTRYPOINT \["\/usr\/local\/bin\/paasbox-dns"\]$/m);
    expect(df).to.not.match(/--user=root|--bind-dynamic/);
    const entry = readFileSync(repoPath('stacks', 'images', 'dnsmasq', 'paasbox-dns.sh'), 'utf8');
    expect(entry).to.match(/^fixed=\(--user=dnsmasq .*--bind-interfaces/m);
  });
});
