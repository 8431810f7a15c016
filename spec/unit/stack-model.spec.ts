import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse } from 'yaml';
import { DEFAULT_STACK_PATH, loadStackModel, validateStackModel } from '../../src/model/load.js';
import type { StackModel } from '../../src/model/model.js';
import { thrown } from '../helpers/failure.js';

const raw = (): StackModel => parse(readFileSync(DEFAULT_STACK_PATH, 'utf8')) as StackModel;

function rejects(mutate: (m: StackModel) => void, ...parts: string[]): void {
  const m = raw();
  mutate(m);
  const err = thrown(() => validateStackModel(m));
  const text = `${err.problem} ${err.detail ?? ''}`;
  for (const p of parts) expect(text).to.include(p);
}

describe('stack model (stacks/paasbox.yaml)', () => {
  it('loads and validates the stack definition', () => {
    const m = loadStackModel();
    expect(m.version).to.equal(1);
    expect(Object.keys(m.services)).to.include.members([
      'zookeeper',
      'mesos-master',
      'mesos-slave',
      'marathon',
      'consul',
      'registrator',
      'haproxy',
      'dns',
      'sshd',
      'openvpn',
    ]);
    for (const [name, svc] of Object.entries(m.services)) {
      for (const src of ['registry', 'local'] as const) {
        const spec = svc.sources[src];
        const kinds = [spec.image, spec.build, spec.unavailable].filter((x) => x !== undefined);
        expect(kinds, `${name}.sources.${src} has exactly one of image/build/unavailable`).to.have.length(1);
      }
    }
    // registry images are pinned, never :latest
    for (const svc of Object.values(m.services))
      if (svc.sources.registry.image) expect(svc.sources.registry.image).to.match(/:(?!latest$)[\w.-]+$/);
  });

  it('rejects an unknown field, naming its path', () => {
    rejects(
      (m) => ((m.services['zookeeper'] as unknown as Record<string, unknown>)['imagee'] = 'x'),
      'services.zookeeper',
      'unknown field "imagee"',
    );
  });
  it('rejects a wrong type, naming its path', () => {
    rejects(
      (m) => ((m.services['consul']!.ports[0] as unknown as Record<string, unknown>)['port'] = '8500'),
      'services.consul.ports[0].port',
    );
  });
  it('rejects a bad enum value', () => {
    rejects(
      (m) => ((m.services['dns'] as unknown as Record<string, unknown>)['restart'] = 'sometimes'),
      'services.dns.restart',
      'always',
    );
  });
  it('rejects an image spec with both image and build', () => {
    rejects(
      (m) => (m.services['zookeeper']!.sources.local.image = 'zookeeper:3.8.4'),
      'services.zookeeper.sources.local',
    );
  });
  it('rejects a missing required field', () => {
    rejects(
      (m) => delete (m.services['haproxy'] as unknown as Record<string, unknown>)['ports'],
      'services.haproxy',
      'ports',
    );
  });
  it('rejects a dependency on an unknown service and a cycle', () => {
    rejects(
      (m) => (m.services['marathon']!.dependsOn = ['zookeeper', 'mesos']),
      'services.marathon.dependsOn: unknown service "mesos"',
    );
    rejects(
      (m) => (m.services['zookeeper']!.dependsOn = ['marathon']),
      'dependsOn cycle',
      'zookeeper -> marathon',
    );
  });
  it('rejects a replacedBy naming an unknown service or the service itself', () => {
    expect(raw().services['apps-api']!.replacedBy).to.equal('marathon');
    rejects(
      (m) => (m.services['apps-api']!.replacedBy = 'marathon2'),
      'services.apps-api.replacedBy: unknown service "marathon2"',
    );
    rejects(
      (m) => (m.services['apps-api']!.replacedBy = 'apps-api'),
      'services.apps-api.replacedBy: a service cannot replace itself',
    );
    rejects(
      (m) => ((m.services['apps-api'] as unknown as Record<string, unknown>)['replacedBy'] = ['marathon']),
      'services.apps-api.replacedBy',
    );
  });
  it('rejects duplicate port names and a healthcheck test without CMD/CMD-SHELL', () => {
    rejects(
      (m) => m.services['consul']!.ports.push({ name: 'http', port: 8501, protocol: 'tcp' }),
      'services.consul.ports[2].name: duplicate port name',
    );
    rejects(
      (m) => (m.services['consul']!.healthcheck!.test = ['consul', 'members']),
      'services.consul.healthcheck.test[0]',
    );
  });
  it('rejects a wrong version and a non-duration interval', () => {
    rejects((m) => ((m as unknown as Record<string, unknown>)['version'] = 2), 'version');
    rejects(
      (m) => (m.services['consul']!.healthcheck!.interval = '5 seconds'),
      'services.consul.healthcheck.interval',
    );
  });
});
