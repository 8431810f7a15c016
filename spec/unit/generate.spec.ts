import { readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse } from 'yaml';
import { loadStackModel } from '../../src/model/load.js';
import type { StackModel } from '../../src/model/model.js';
import {
  generateCompose,
  renderCompose,
  validateCompose,
  type ComposeFile,
} from '../../src/stackfile/generate.js';
import { resolveImageRefs } from '../../src/stackfile/refs.js';
import { repoPath } from '../../src/paths.js';
import { resolveSettings } from '../../src/settings/settings.js';
import { parseDeployment, recordedValues } from '../../src/stackfile/deployment.js';
import { isEnabled } from '../../src/settings/services.js';
import { SECRET_DIRS, SECRETS_DIR } from '../../src/secrets/secrets.js';
import { thrown } from '../helpers/failure.js';

const model = loadStackModel();
const fixed = { HOSTNAME: 'paasbox', IP: '10.11.12.13' };
const settingsFor = (source: 'local' | 'registry', file?: unknown, m: StackModel = model) =>
  resolveSettings({ file: file, env: { ...fixed, PAASBOX_SOURCE: source } }, m);

async function generate(
  source: 'local' | 'registry',
  file?: unknown,
  has: (r: string) => boolean = () => false,
  m: StackModel = model,
): Promise<ComposeFile> {
  const s = settingsFor(source, file, m);
  return generateCompose(m, s, await resolveImageRefs(m, s, has));
}

function throwsPaasbox(fn: () => unknown, ...parts: string[]): void {
  const err = thrown(fn);
  const text = `${err.problem} ${err.detail ?? ''}`;
  for (const p of parts) expect(text).to.include(p);
}

describe('compose generation', () => {
  for (const source of ['local', 'registry'] as const) {
    it(`matches the golden file spec/golden/docker-compose.${source}.yml (UPDATE_GOLDEN=1 rewrites it)`, async () => {
      const text = renderCompose(await generate(source));
      const golden = repoPath('spec', 'golden', `docker-compose.${source}.yml`);
      if (process.env['UPDATE_GOLDEN'] === '1') {
        writeFileSync(golden, text);
        console.log(`      (rewrote ${golden})`);
      }
      expect(text).to.equal(readFileSync(golden, 'utf8'));
    });
  }

  it('is deterministic: two renders are byte-identical, whatever the model map order', async () => {
    const a = renderCompose(await generate('registry'));
    const b = renderCompose(await generate('registry'));
    expect(a).to.equal(b);
    const shuffled = structuredClone(model);
    for (const svc of Object.values(shuffled.services)) {
      if (svc.environment) svc.environment = Object.fromEntries(Object.entries(svc.environment).reverse());
    }
    expect(renderCompose(await generate('registry', undefined, () => false, shuffled))).to.equal(a);
    expect(a).to.not.match(/20\d\d-\d\d-\d\d/); // no timestamps
  });

  it('passes the Compose Specification schema, and a broken compose object fails it with the path', async () => {
    const c = await generate('registry');
    expect(() => validateCompose(c)).to.not.throw();
    const broken = structuredClone(c) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services['consul']!['healthcheck'] = { interval: 'soon', test: ['CMD', 'true'] };
    throwsPaasbox(() => validateCompose(broken), 'services.consul.healthcheck.interval');
    const broken2 = structuredClone(c) as unknown as { services: Record<string, Record<string, unknown>> };
    broken2.services['dns']!['restart_policy'] = 'always';
    throwsPaasbox(() => validateCompose(broken2), 'services.dns', 'restart_policy');
  });

  it('emits host networking, labels, init, restart, healthcheck, volumes and dependency conditions', async () => {
    const c = await generate('registry');
    const consul = c.services['consul']!;
    expect(consul).to.include({
      image: 'hashicorp/consul:1.16.3',
      init: true,
      network_mode: 'host',
      restart: 'unless-stopped',
    });
    expect(consul).to.not.have.property('ports');
    expect(consul).to.not.have.property('build');
    expect(consul.labels).to.deep.equal({
      'paasbox.ports': 'http=8500/tcp,dns=8600/udp',
      'paasbox.role': 'all',
      'paasbox.service': 'consul',
      'paasbox.source': 'registry',
    });
    expect(consul.command).to.include('-bind=10.11.12.13').and.include('-domain=consul');
    expect(c.volumes?.['consul-data']).to.deep.equal({
      name: 'paasbox_consul-data',
      labels: { 'paasbox.service': 'consul' },
    });
    expect(c.services['marathon']!.depends_on).to.deep.equal({
      zookeeper: { condition: 'service_healthy' },
      'mesos-master': { condition: 'service_healthy' },
    });
    expect(c.services['mesos-master']!.environment!['MESOS_ZK']).to.equal('zk://10.11.12.13:2181/mesos');
    expect(c.services['registrator']!.image).to.equal('paasbox/registrator:registry');
    // dns runs with docker's default capabilities (dnsmasq --bind-interfaces, as its own user).
    expect(c.services['dns']!).to.not.have.property('cap_add');
    const m = structuredClone(model);
    m.services['dns']!.capAdd = ['NET_ADMIN'];
    expect((await generate('registry', undefined, () => false, m)).services['dns']!.cap_add).to.deep.equal([
      'NET_ADMIN',
    ]);
  });

  it('uses service_started for a dependency without a healthcheck', async () => {
    const m = structuredClone(model);
    m.services['haproxy']!.dependsOn = ['consul', 'registrator'];
    const c = await generate('local', undefined, () => false, m);
    expect(c.services['haproxy']!.depends_on).to.deep.equal({
      consul: { condition: 'service_healthy' },
      registrator: { condition: 'service_started' },
    });
  });

  it('leaves out services whose image is unavailable, lists them in the header, and drops dependencies on them', async () => {
    const c = await generate('local');
    expect(Object.keys(c.services)).to.deep.equal([
      'zookeeper',
      'apps-api',
      'acme',
      'registry',
      'consul',
      'registrator',
      'haproxy',
      'dns',
    ]);
    expect(Object.keys(c['x-paasbox'].omitted)).to.deep.equal(['mesos-master', 'mesos-slave', 'marathon']);
    const text = renderCompose(c);
    expect(text).to.match(
      /^# Left out \(image unavailable from source local\):\n# {3}mesos-master: Mesos has no Debian package/m,
    );
    expect(c.services['zookeeper']!.image).to.equal('paasbox/zookeeper:local');
  });

  it('runs an unavailable service from its loadable image when that image is present', async () => {
    const c = await generate('local', undefined, (ref) => ref === 'mesosphere/mesos-master:1.7.1');
    expect(c.services['mesos-master']!.image).to.equal('mesosphere/mesos-master:1.7.1');
    expect(c.services['mesos-master']!.depends_on).to.deep.equal({
      zookeeper: { condition: 'service_healthy' },
    });
    expect(Object.keys(c['x-paasbox'].omitted)).to.deep.equal(['mesos-slave', 'marathon']);
  });

  it('labels a service that mounts the stack file with its record: a changed record recreates it', async () => {
    const label = (c: ComposeFile) => c.services['apps-api']!.labels['paasbox.stack-record'];
    const a = await generate('local');
    expect(a.services['apps-api']!.volumes).to.include(
      '/opt/paasbox/docker-compose.yml:/run/paasbox/stack.yml:ro',
    );
    expect(label(a)).to.match(/^[0-9a-f]{16}$/);
    expect(label(await generate('local'))).to.equal(label(a));
    // Only the readers of the file carry it.
    const others = Object.entries(a.services).filter(([n]) => n !== 'apps-api');
    expect(others.filter(([, s]) => s.labels['paasbox.stack-record'] !== undefined)).to.deep.equal([]);
    // The app bounds, a service's port or the set of services changed: another label.
    const tcp = await generate('local', { apps: { tcpPorts: '20000-20999' } });
    const port = await generate('local', { services: { haproxy: { ports: { stats: 8181 } } } });
    const sshd = await generate('local', { services: { sshd: { enabled: true } } });
    for (const c of [tcp, port, sshd]) expect(label(c)).to.not.equal(label(a));
  });

  it('leaves out a service whose replacedBy is in the stack (apps-api beside Marathon), and says why', async () => {
    // Local: no Marathon, so the apps API serves its API on 8080.
    const local = await generate('local');
    expect(local.services['apps-api']!.image).to.equal('paasbox/apps-api:local');
    expect(local['x-paasbox']).to.not.have.property('replaced');
    expect(renderCompose(local)).to.not.include('replaced by');
    // Registry: Marathon is in the stack; the API is left out, on no host (not "elsewhere").
    const registry = await generate('registry');
    expect(registry.services).to.have.property('marathon').and.not.have.property('apps-api');
    expect(registry['x-paasbox'].replaced).to.deep.equal({
      'apps-api': 'replaced by marathon, which is in the stack (source registry)',
    });
    expect(registry['x-paasbox'].elsewhere).to.not.include('apps-api');
    expect(renderCompose(registry)).to.match(
      /^# Left out \(replaced by another service in the stack\):\n# {3}apps-api: replaced by marathon/m,
    );
    // The record reads back, and a later command sees the API as left out.
    expect(parseDeployment(renderCompose(registry))!.meta.replaced).to.have.property('apps-api');
    // A docker-loaded Marathon on the local source replaces it too (both would bind 8080).
    const loaded = await generate('local', undefined, (r) => r === 'mesosphere/marathon:v1.7.50');
    expect(loaded.services).to.have.property('marathon').and.not.have.property('apps-api');
    // Marathon switched off on the registry source: the API comes back.
    const off = await generate('registry', { services: { marathon: { enabled: false } } });
    expect(off.services['apps-api']!.image).to.equal('paasbox/apps-api:registry');
    expect(off['x-paasbox']).to.not.have.property('replaced');
    // An agent of a registry cluster: not elsewhere either (it runs on no master).
    const agent = await generate('registry', { masters: ['10.11.12.1'] });
    expect(agent['x-paasbox'].elsewhere).to.not.include('apps-api');
    expect(agent['x-paasbox'].replaced).to.have.property('apps-api');
  });

  it('carries port overrides into commands, environment, healthchecks, labels and other services', async () => {
    const c = await generate('registry', {
      services: { consul: { ports: { http: 8501, dns: 8601 } }, zookeeper: { ports: { client: 2182 } } },
    });
    expect(c.services['consul']!.command).to.include('-http-port=8501').and.include('-dns-port=8601');
    expect(c.services['consul']!.healthcheck!.test.join(' ')).to.include(
      'http://127.0.0.1:8501/v1/status/leader',
    );
    expect(c.services['consul']!.labels['paasbox.ports']).to.equal('http=8501/tcp,dns=8601/udp');
    expect(c.services['registrator']!.environment!['CONSUL_HTTP_ADDR']).to.equal('http://10.11.12.13:8501');
    expect(c.services['dns']!.command).to.include('--server=/consul/10.11.12.13#8601');
    expect(c.services['marathon']!.command).to.include('zk://10.11.12.13:2182/mesos');
    // ZooKeeper listens on the stack's address only, and its healthcheck asks it there.
    expect(c.services['zookeeper']!.environment!['ZOO_SERVERS']).to.equal(
      'server.1=localhost:2888:3888;10.11.12.13:2182',
    );
    expect(c.services['zookeeper']!.healthcheck!.test.join(' '))
      .to.include('nc -w 2 10.11.12.13 2182')
      .and.not.include('127.0.0.1');
  });

  it("records paasbox.yaml's service overrides, so later commands judge the stack without the file (none recorded when there are none)", async () => {
    const file = { services: { sshd: { enabled: true }, consul: { ports: { http: 8501 } } } };
    const text = renderCompose(await generate('local', file));
    const recorded = recordedValues(parseDeployment(text)!);
    expect(recorded.services).to.deep.equal(file.services);
    // verify with no paasbox.yaml: the recorded layer gives the installed stack's services and ports.
    const later = resolveSettings({ env: fixed, recorded }, model);
    expect(later.services).to.deep.equal(file.services);
    expect(isEnabled(model, later, 'sshd')).to.equal(true);
    // A paasbox.yaml given again wins per service.
    expect(
      resolveSettings({ env: fixed, recorded, file: { services: { sshd: { enabled: false } } } }, model)
        .services['sshd'],
    ).to.deep.equal({ enabled: false });
    expect(parseDeployment(renderCompose(await generate('local')))!.meta.services).to.equal(undefined);
  });

  it('allows ZooKeeper only the four-letter words the checks send (ruok, and srvr for zkServer.sh status)', async () => {
    const c = await generate('registry');
    expect(c.services['zookeeper']!.environment!['ZOO_4LW_COMMANDS_WHITELIST']).to.equal('ruok,srvr');
    const words = Object.values(model.services).flatMap((s) =>
      s.ports.flatMap((p) => (p.checks ?? []).flatMap((k) => (k.type === 'four-letter' ? [k.command] : []))),
    );
    expect(words.every((w) => ['ruok', 'srvr'].includes(w))).to.equal(true);
  });

  it('includes enabled optional services, and only the roles this host has', async () => {
    const c = await generate('registry', { services: { sshd: { enabled: true } } });
    expect(c.services['sshd']!.volumes).to.deep.equal([
      './sshd/authorized_keys:/etc/paasbox/authorized_keys:ro',
    ]);
    const agentOnly = await generate('registry', { masters: ['10.11.12.1'] });
    expect(Object.keys(agentOnly.services)).to.deep.equal([
      'mesos-slave',
      'consul',
      'registrator',
      'haproxy',
      'dns',
    ]);
    expect(agentOnly['x-paasbox'].elsewhere).to.deep.equal([
      'zookeeper',
      'mesos-master',
      'marathon',
      'acme',
      'registry',
    ]);
    expect(agentOnly.services['mesos-slave']!.environment!['MESOS_MASTER']).to.equal(
      'zk://10.11.12.1:2181/mesos',
    );
  });

  it("mounts install's secrets read-only, one directory per consumer, and carries no secret", async () => {
    for (const source of ['local', 'registry'] as const) {
      const c = await generate(source);
      expect(c.services['consul']!.volumes).to.include(`${SECRETS_DIR}/consul:/consul/secrets:ro`);
      expect(c.services['consul']!.command).to.include('-config-dir=/consul/secrets');
      expect(c.services['registrator']!.volumes).to.include(
        `${SECRETS_DIR}/registrator:/run/secrets/paasbox:ro`,
      );
      expect(c.services['registrator']!.environment!['CONSUL_HTTP_TOKEN_FILE']).to.equal(
        '/run/secrets/paasbox/consul-token',
      );
      expect(c.services['haproxy']!.volumes).to.deep.equal([
        `${SECRETS_DIR}/haproxy:/run/secrets/paasbox:ro`,
      ]);
      // Every consumer directory install writes is mounted by its service, and nothing mounts the management
      // token.
      const mounts = Object.values(c.services)
        .flatMap((svc) => svc.volumes ?? [])
        .filter((v) => v.startsWith(SECRETS_DIR));
      // consul/tls is inside consul's mount; Marathon's and Mesos' only where the source has them (registry).
      // The apps API's (and the registry login it reads) only where Marathon is not (local).
      const consumers = SECRET_DIRS.filter(
        (d) =>
          !d.includes('/') &&
          (source === 'registry'
            ? !['apps-api', 'registry-login'].includes(d)
            : !['marathon', 'mesos'].includes(d)),
      );
      expect(mounts.map((v) => v.split(':')[0]).sort()).to.deep.equal(
        consumers.map((d) => `${SECRETS_DIR}/${d}`).sort(),
      );
      if (source === 'registry') {
        // Marathon and Mesos: HTTP authentication from 0600 files, never a value in the file.
        expect(c.services['marathon']!.volumes).to.deep.equal([
          `${SECRETS_DIR}/marathon:/run/secrets/paasbox:ro`,
        ]);
        expect(c.services['marathon']!.entrypoint!.join(' ')).to.include(
          'MARATHON_HTTP_CREDENTIALS="$$(cat /run/secrets/paasbox/http-credentials)"',
        );
        expect(c.services['marathon']!.environment).to.not.have.property('MARATHON_HTTP_CREDENTIALS');
        expect(c.services['mesos-master']!.command).to.include.members([
          '--authenticate_http_readonly',
          '--authenticate_http_readwrite',
          '--http_credentials=/run/secrets/paasbox/http-credentials.json',
        ]);
        expect(c.services['mesos-master']!.volumes).to.include(
          `${SECRETS_DIR}/mesos:/run/secrets/paasbox:ro`,
        );
      }
      expect(mounts.every((v) => v.endsWith(':ro'))).to.equal(true);
      // No secret-looking value in the environment: only file paths.
      const env = Object.values(c.services).flatMap((svc) => Object.entries(svc.environment ?? {}));
      expect(env.filter(([k]) => /TOKEN|PASS|SECRET|AUTH|KEY/.test(k) && !k.endsWith('_FILE'))).to.deep.equal(
        [],
      );
    }
    // The official image must stay root to read the root-only files (the local image never drops privileges).
    expect((await generate('registry')).services['consul']!.environment).to.deep.equal({
      CONSUL_DISABLE_PERM_MGMT: 'true',
    });
  });

  it('rejects an unknown placeholder, naming the field', async () => {
    const m = structuredClone(model);
    m.services['consul']!.command = ['agent', '-bind=${ADDR}'];
    const s = settingsFor('registry', undefined, m);
    const refs = await resolveImageRefs(m, s, () => false);
    throwsPaasbox(
      () => generateCompose(m, s, refs),
      'services.consul.command[1]: unknown placeholder ${ADDR}',
    );
  });

  it('escapes a literal $ so compose does not interpolate it', async () => {
    const m = structuredClone(model);
    m.services['dns']!.healthcheck!.test = ['CMD-SHELL', 'test -n "$HOME"'];
    const c = await generate('local', undefined, () => false, m);
    expect(c.services['dns']!.healthcheck!.test[1]).to.equal('test -n "$$HOME"');
    expect(parse(renderCompose(c)).services.dns.healthcheck.test[1]).to.equal('test -n "$$HOME"');
  });

  it('rejects a service with no image resolved', () => {
    const s = settingsFor('registry');
    throwsPaasbox(() => generateCompose(model, s, { images: {} }), 'service zookeeper: no image resolved');
  });
});
