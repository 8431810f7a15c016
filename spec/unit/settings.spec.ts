import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { PaasboxError } from '../../src/errors.js';
import { loadStackModel } from '../../src/model/load.js';
import {
  loadSettings,
  pickAdvertiseAddress,
  resolveSettings,
  type Settings,
} from '../../src/settings/index.js';
import { effectivePorts, enabledServices, zkHosts } from '../../src/settings/services.js';
import { thrown } from '../helpers/failure.js';

const model = loadStackModel();
const base = { hostname: 'paasbox', ip: '10.11.12.13' };

function fails(fn: () => unknown, ...parts: (string | RegExp)[]): PaasboxError {
  const pe = thrown(fn);
  for (const p of parts)
    expect(`${pe.problem} | ${pe.fix}`).to.match(
      typeof p === 'string' ? new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : p,
    );
  expect(pe.fix.length, 'a fix is given').to.be.greaterThan(5);
  return pe;
}

describe('settings (resolveSettings)', () => {
  it("takes services a command recorded for the instance (tunnel: sshd), paasbox.yaml's entry winning", () => {
    const recorded = { services: { sshd: { enabled: true } } };
    expect(resolveSettings({ defaults: base, recorded }, model).services['sshd']).to.deep.equal({
      enabled: true,
    });
    expect(
      resolveSettings({ defaults: base, recorded, file: { services: { sshd: { enabled: false } } } }, model)
        .services['sshd'],
    ).to.deep.equal({ enabled: false });
    expect(enabledServices(model, resolveSettings({ defaults: base, recorded }, model))).to.include('sshd');
  });
  it('resolves defaults: domain consul, project paasbox, masters/agents = this host, optional services off', () => {
    const s = resolveSettings({ defaults: base }, model);
    expect(s).to.include({
      hostname: 'paasbox',
      ip: '10.11.12.13',
      domain: 'consul',
      projectName: 'paasbox',
      imageSource: 'local',
    });
    expect(s.masters).to.deep.equal(['10.11.12.13']);
    expect(s.agents).to.deep.equal(['10.11.12.13']);
    const on = enabledServices(model, s);
    expect(on).to.include.members(['zookeeper', 'consul', 'haproxy', 'dns']);
    expect(on).to.not.include('sshd');
    expect(on).to.not.include('openvpn');
    expect(zkHosts(model, s)).to.equal('10.11.12.13:2181');
  });

  it('takes the file over defaults and the environment (seed names) over the file', () => {
    const file = { hostname: 'fromfile', ip: '10.0.0.1', domain: 'file.test', imageSource: 'registry' };
    const s1 = resolveSettings({ defaults: base, file: file }, model);
    expect(s1).to.include({
      hostname: 'fromfile',
      ip: '10.0.0.1',
      domain: 'file.test',
      imageSource: 'registry',
    });
    const s2 = resolveSettings(
      {
        defaults: base,
        file: file,
        env: {
          HOSTNAME: 'boot2docker',
          IP: '192.168.59.103',
          PAASBOX_SOURCE: 'local',
          PAASBOX_DOMAIN: 'env.test',
        },
      },
      model,
    );
    expect(s2).to.include({
      hostname: 'boot2docker',
      ip: '192.168.59.103',
      domain: 'env.test',
      imageSource: 'local',
    });
    expect(s2.masters).to.deep.equal(['192.168.59.103']);
  });

  it('applies service overrides: enabling optional services, overriding ports, masters for ZK_HOSTS', () => {
    const s = resolveSettings(
      {
        defaults: base,
        file: {
          services: { sshd: { enabled: true, ports: { ssh: 2022 } }, zookeeper: { ports: { client: 2182 } } },
          masters: ['10.11.12.13', '10.11.12.14'],
        },
      },
      model,
    );
    expect(enabledServices(model, s)).to.include('sshd');
    expect(effectivePorts(model, s, 'sshd')[0]?.port).to.equal(2022);
    expect(zkHosts(model, s)).to.equal('10.11.12.13:2182,10.11.12.14:2182');
  });

  it('rejects an IP that is not an address, loopback and 0.0.0.0, with a fix', () => {
    fails(
      () => resolveSettings({ defaults: base, env: { IP: 'not-an-ip' } }, model),
      'ip "not-an-ip" is not an IPv4 address',
      'IP=',
    );
    fails(
      () => resolveSettings({ defaults: base, env: { IP: '127.0.0.1' } }, model),
      'ip "127.0.0.1" cannot be advertised',
      'default route',
    );
    fails(() => resolveSettings({ defaults: base, env: { IP: '127.1.2.3' } }, model), 'cannot be advertised');
    fails(
      () => resolveSettings({ defaults: base, file: { ip: '0.0.0.0' } }, model),
      'ip "0.0.0.0" cannot be advertised',
    );
    fails(
      () => resolveSettings({ defaults: base, file: { masters: ['10.0.0.1', 'zk1'] } }, model),
      'masters[1] "zk1" is not an IPv4 address',
    );
  });

  it('rejects a missing address and hostname', () => {
    fails(
      () => resolveSettings({ defaults: { hostname: 'x' } }, model),
      'ip (the advertised address) is not set',
      'IP=',
    );
    fails(() => resolveSettings({ defaults: { ip: '10.1.1.1' } }, model), 'hostname is not set', 'HOSTNAME=');
    fails(
      () => resolveSettings({ defaults: base, env: { HOSTNAME: 'bad_host!' } }, model),
      'hostname "bad_host!" is not a valid host name',
    );
  });

  it('rejects an unknown service, an unknown port name and an unknown field', () => {
    fails(
      () => resolveSettings({ defaults: base, file: { services: { mesos: { enabled: true } } } }, model),
      'services.mesos: unknown service "mesos"',
      'mesos-master',
    );
    fails(
      () =>
        resolveSettings({ defaults: base, file: { services: { consul: { ports: { web: 8501 } } } } }, model),
      'services.consul.ports.web',
      'http, dns',
    );
    fails(
      () => resolveSettings({ defaults: base, file: { hostnmae: 'typo' } }, model),
      'paasbox.yaml is invalid',
      'unknown field "hostnmae"',
    );
    fails(
      () => resolveSettings({ defaults: base, file: { services: { consul: { enable: true } } } }, model),
      'services.consul',
      'unknown field "enable"',
    );
    fails(
      () =>
        resolveSettings(
          { defaults: base, file: { services: { consul: { ports: { http: 70000 } } } } },
          model,
        ),
      'services.consul.ports.http',
    );
  });

  it('rejects bad source, domain and project values', () => {
    fails(
      () => resolveSettings({ defaults: base, env: { PAASBOX_SOURCE: 'dockerhub' } }, model),
      'imageSource "dockerhub"',
      '--source local or --source registry',
    );
    fails(
      () => resolveSettings({ defaults: base, file: { imageSource: 'dockerhub' } }, model),
      'imageSource',
      'registry, local',
    );
    fails(
      () => resolveSettings({ defaults: base, env: { PAASBOX_DOMAIN: 'Bad Domain' } }, model),
      'domain "Bad Domain"',
    );
    fails(
      () => resolveSettings({ defaults: base, file: { projectName: 'Paas Box' } }, model),
      'projectName "Paas Box"',
    );
  });

  it('rejects a port clash between two enabled services, overrides and optional services included', () => {
    fails(
      () =>
        resolveSettings({ defaults: base, file: { services: { consul: { ports: { http: 8080 } } } } }, model),
      'port 8080 is also used by',
      'marathon.http',
    );
    fails(
      () =>
        resolveSettings(
          { defaults: base, file: { services: { sshd: { enabled: true, ports: { ssh: 53 } } } } },
          model,
        ),
      'services.sshd.ports.ssh: port 53 is also used by dns.dns',
    );
    // apps-api and Marathon share 8080: one replaces the other (replacedBy), never both in the stack;
    // the apps API still clashes with any other service.
    expect(resolveSettings({ defaults: base }, model).services).to.not.have.property('apps-api');
    fails(
      () =>
        resolveSettings(
          { defaults: base, file: { services: { 'apps-api': { ports: { http: 8500 } } } } },
          model,
        ),
      'port 8500 is also used by',
    );
    // a clash with a disabled service is no clash
    const s = resolveSettings(
      { defaults: base, file: { services: { sshd: { enabled: false, ports: { ssh: 53 } } } } },
      model,
    );
    expect(enabledServices(model, s)).to.not.include('sshd');
  });

  it('rejects disabling a service an enabled one depends on', () => {
    fails(
      () => resolveSettings({ defaults: base, file: { services: { consul: { enabled: false } } } }, model),
      'services.consul: disabled, but apps-api depends on it',
    );
    const s: Settings = resolveSettings(
      {
        defaults: base,
        file: {
          services: {
            consul: { enabled: false },
            'apps-api': { enabled: false },
            acme: { enabled: false },
            registrator: { enabled: false },
            haproxy: { enabled: false },
            dns: { enabled: false },
          },
        },
      },
      model,
    );
    expect(enabledServices(model, s)).to.not.include('consul');
  });
});

describe('settings (pickAdvertiseAddress)', () => {
  const addrs = [
    '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
    '2: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever',
    '3: eth0    inet 192.168.59.103/24 brd 192.168.59.255 scope global dynamic eth0\\       valid_lft 86000sec',
    '4: eth1    inet 10.0.2.15/24 brd 10.0.2.255 scope global eth1\\       valid_lft forever',
  ].join('\n');

  it('prefers the default route source address', () => {
    expect(
      pickAdvertiseAddress(`default via 10.0.2.2 dev eth1 proto dhcp src 10.0.2.15 metric 100\n${addrs}`),
    ).to.equal('10.0.2.15');
    expect(
      pickAdvertiseAddress('1.1.1.1 via 192.168.59.1 dev eth0 src 192.168.59.103 uid 0\n    cache'),
    ).to.equal('192.168.59.103');
  });
  it('else takes the default route device address', () => {
    expect(pickAdvertiseAddress(`default via 192.168.59.1 dev eth0\n${addrs}`)).to.equal('192.168.59.103');
  });
  it('else the first global non-bridge address, never loopback', () => {
    expect(pickAdvertiseAddress(addrs)).to.equal('192.168.59.103');
    expect(pickAdvertiseAddress(addrs.split('\n').slice(0, 2).join('\n'))).to.equal('172.17.0.1');
    expect(pickAdvertiseAddress(addrs.split('\n')[0]!)).to.equal(undefined);
    expect(pickAdvertiseAddress('default via 127.0.0.1 dev lo src 127.0.0.1')).to.equal(undefined);
  });
});

describe('settings (loadSettings)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pbh1-settings-'));
  writeFileSync(join(dir, 'paasbox.yaml'), 'hostname: filehost\ndomain: box.test\n');
  writeFileSync(join(dir, 'other.yaml'), 'ip: 10.9.9.9\nservices: { openvpn: { enabled: true } }\n');
  writeFileSync(join(dir, 'broken.yaml'), 'hostname: [unclosed\n');

  it('reads ./paasbox.yaml and detects the address only when none is given', async () => {
    let asked = 0;
    const detectIp = async () => (asked++, '10.1.2.3');
    const s = await loadSettings({ cwd: dir, env: {}, model, detectIp });
    expect(s).to.include({ hostname: 'filehost', domain: 'box.test', ip: '10.1.2.3' });
    expect(asked).to.equal(1);
    const s2 = await loadSettings({ cwd: dir, env: { IP: '10.4.4.4' }, model, detectIp });
    expect(s2.ip).to.equal('10.4.4.4');
    expect(asked).to.equal(1);
  });
  it('reads --config FILE instead', async () => {
    const s = await loadSettings({ cwd: dir, configPath: 'other.yaml', env: { HOSTNAME: 'h' }, model });
    expect(s.ip).to.equal('10.9.9.9');
    expect(enabledServices(model, s)).to.include('openvpn');
  });
  it('rejects a missing --config file and broken YAML', async () => {
    for (const [configPath, msg] of [
      ['missing.yaml', 'does not exist'],
      ['broken.yaml', 'is not valid YAML'],
    ] as const) {
      let err: unknown;
      try {
        await loadSettings({ cwd: dir, configPath, env: { IP: '10.1.1.1' }, model });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(PaasboxError);
      expect((err as PaasboxError).problem).to.include(msg);
    }
  });
});

describe('settings pipeline order: flags > environment > paasbox.yaml > recorded > defaults', () => {
  const layers = {
    flags: { ip: '10.0.0.1' },
    env: { PAASBOX_IP: '10.0.0.2', PAASBOX_DOMAIN: 'env.test', HOSTNAME: 'envhost' },
    file: { ip: '10.0.0.3', domain: 'file.test', imageSource: 'registry', projectName: 'fileproj' },
    recorded: {
      ip: '10.0.0.4',
      domain: 'rec.test',
      imageSource: 'local' as const,
      projectName: 'recproj',
      hostname: 'rechost',
    },
    defaults: { ip: '10.0.0.5', hostname: 'defhost' },
  };
  it('each value comes from the highest layer that sets it', () => {
    const s = resolveSettings(layers, model);
    expect(s).to.include({
      ip: '10.0.0.1',
      domain: 'env.test',
      hostname: 'envhost',
      imageSource: 'registry',
      projectName: 'fileproj',
    });
  });
  it('dropping a layer exposes the next one', () => {
    const { flags: _f, ...noFlags } = layers;
    expect(resolveSettings(noFlags, model).ip).to.equal('10.0.0.2');
    const { flags: _g, env: _e, ...noEnv } = layers;
    expect(resolveSettings(noEnv, model)).to.include({ ip: '10.0.0.3', hostname: 'rechost' });
    const { flags: _h, env: _i, file: _j, ...onlyRec } = layers;
    expect(resolveSettings(onlyRec, model)).to.include({
      ip: '10.0.0.4',
      domain: 'rec.test',
      projectName: 'recproj',
    });
    expect(resolveSettings({ defaults: layers.defaults }, model)).to.include({
      ip: '10.0.0.5',
      hostname: 'defhost',
      domain: 'consul',
      imageSource: 'local',
    });
  });
  it("PAASBOX_IP wins over the seed's IP; the seed's names are read only where the stack runs here", async () => {
    expect(
      resolveSettings({ env: { PAASBOX_IP: '10.0.0.7', IP: '10.0.0.8' }, defaults: base }, model).ip,
    ).to.equal('10.0.0.7');
    const { settingsEnv } = await import('../../src/settings/settings.js');
    expect(
      settingsEnv(
        { IP: '10.0.0.8', HOSTNAME: 'me', PAASBOX_SOURCE: 'local', PATH: '/bin' },
        { seedNames: false },
      ),
    ).to.deep.equal({ PAASBOX_SOURCE: 'local' });
    expect(settingsEnv({ IP: '10.0.0.8', HOSTNAME: 'me' }, { seedNames: true })).to.deep.equal({
      IP: '10.0.0.8',
      HOSTNAME: 'me',
    });
  });
});
