// The `apps:` settings (src/settings/apps.ts): parsed from paasbox.yaml,
// resolved against the recorded deployment, refused when the TCP port range
// holds a stack port, recorded by generation in x-paasbox.apps and handed to
// HAProxy as PAASBOX_TCP_PORT_MIN/MAX, and read back by later commands.
import { expect } from 'chai';
import { PaasboxError } from '../../src/errors.js';
import { DEFAULT_APPS, resolveSettings } from '../../src/settings/index.js';
import { generateCompose, renderCompose } from '../../src/stackfile/generate.js';
import { parseDeployment, recordedValues } from '../../src/stackfile/deployment.js';
import { loadStackModel } from '../../src/model/load.js';
import { resolveImageRefs } from '../../src/stackfile/refs.js';
import { thrown } from '../helpers/failure.js';

const model = loadStackModel();
const defaults = { hostname: 'paasbox', ip: '10.11.12.13' };
const resolve = (file?: unknown, recorded?: object) =>
  resolveSettings({ defaults, file, ...(recorded ? { recorded } : {}) }, model);

function refused(fn: () => unknown, ...parts: (string | RegExp)[]): PaasboxError {
  const e = thrown(fn);
  const text = `${e.problem} | ${e.fix} | ${e.detail ?? ''}`;
  for (const p of parts)
    expect(text).to.match(typeof p === 'string' ? new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : p);
  return e;
}

describe("settings: apps (the app policy's limits)", () => {
  it('defaults to tcpPorts 10000-10999 and 250 instances per node', () => {
    expect(resolve().apps).to.deep.equal({ tcpPorts: { min: 10000, max: 10999 }, maxInstancesPerNode: 250 });
    expect(DEFAULT_APPS).to.deep.equal(resolve().apps);
  });

  it('reads paasbox.yaml apps: field by field, over the recorded deployment, over the defaults', () => {
    expect(resolve({ apps: { tcpPorts: '20000-20099' } }).apps).to.deep.equal({
      tcpPorts: { min: 20000, max: 20099 },
      maxInstancesPerNode: 250,
    });
    expect(resolve({ apps: { maxInstancesPerNode: 12 } }).apps).to.deep.equal({
      tcpPorts: { min: 10000, max: 10999 },
      maxInstancesPerNode: 12,
    });
    expect(resolve({ apps: { tcpPorts: '30000-30000' } }).apps.tcpPorts).to.deep.equal({
      min: 30000,
      max: 30000,
    });
    const recorded = { apps: { tcpPorts: { min: 40000, max: 40010 }, maxInstancesPerNode: 9 } };
    expect(resolve(undefined, recorded).apps).to.deep.equal(recorded.apps);
    expect(resolve({ apps: { maxInstancesPerNode: 3 } }, recorded).apps).to.deep.equal({
      tcpPorts: { min: 40000, max: 40010 },
      maxInstancesPerNode: 3,
    });
  });

  it('refuses what is no range of ports, naming apps.tcpPorts', () => {
    for (const bad of [
      '10000',
      '10000-',
      ' 10000-10999',
      'a-b',
      '10000 - 10999',
      '10000-10999,20000',
      '-1-5',
    ])
      refused(() => resolve({ apps: { tcpPorts: bad } }), /tcpPorts/);
    for (const bad of ['20000-10000', '0-100', '65000-70000', '99999-99999'])
      refused(() => resolve({ apps: { tcpPorts: bad } }), 'apps.tcpPorts', 'MIN-MAX');
    refused(() => resolve({ apps: { maxInstancesPerNode: 0 } }), /maxInstancesPerNode/);
    refused(() => resolve({ apps: { maxInstancesPerNode: 2.5 } }), /maxInstancesPerNode/);
    refused(() => resolve({ apps: { tcpPorts: '10000-10999', other: 1 } }), /other|additional/);
  });

  it('refuses a range that holds a stack port, naming apps.tcpPorts and the port', () => {
    refused(
      () => resolve({ apps: { tcpPorts: '8000-9000' } }),
      'apps.tcpPorts 8000-9000',
      'port 8080',
      'marathon.http',
    );
    refused(() => resolve({ apps: { tcpPorts: '80-80' } }), 'apps.tcpPorts', 'port 80', 'haproxy.http');
    refused(
      () => resolve({ apps: { tcpPorts: '8300-8300' } }),
      'apps.tcpPorts',
      'port 8300',
      'consul server RPC',
    );
    refused(
      () => resolve({ apps: { tcpPorts: '2000-3000' } }),
      'apps.tcpPorts',
      'port 2181',
      'zookeeper.client',
    );
    // A stack port moved into the default range is refused as well.
    refused(
      () => resolve({ services: { haproxy: { ports: { http: 10080 } } } }),
      'apps.tcpPorts 10000-10999',
      'port 10080',
      'haproxy.http',
    );
    // An optional service counts once it is enabled.
    expect(resolve({ apps: { tcpPorts: '2222-2222' } }).apps.tcpPorts).to.deep.equal({
      min: 2222,
      max: 2222,
    });
    refused(
      () => resolve({ apps: { tcpPorts: '2222-2222' }, services: { sshd: { enabled: true } } }),
      'port 2222',
      'sshd',
    );
  });

  it('refuses a recorded value that is no range (read back from a target)', () => {
    for (const tcpPorts of [{ min: 'x', max: 10 }, { min: 5 }, [], { min: 10999, max: 10000 }])
      refused(() => resolve(undefined, { apps: { tcpPorts, maxInstancesPerNode: 250 } }), 'apps.tcpPorts');
    refused(
      () =>
        resolve(undefined, { apps: { tcpPorts: { min: 10000, max: 10999 }, maxInstancesPerNode: '250' } }),
      'maxInstancesPerNode',
    );
  });

  it('is recorded in x-paasbox.apps, given to HAProxy as PAASBOX_TCP_PORT_MIN/MAX, and read back', async () => {
    const s = resolve({ apps: { tcpPorts: '20000-20499', maxInstancesPerNode: 40 } });
    const compose = generateCompose(model, s, await resolveImageRefs(model, s, () => false));
    expect(compose['x-paasbox'].apps).to.deep.equal({
      tcpPorts: { min: 20000, max: 20499 },
      maxInstancesPerNode: 40,
    });
    expect(compose.services['haproxy']?.environment).to.include({
      PAASBOX_TCP_PORT_MIN: '20000',
      PAASBOX_TCP_PORT_MAX: '20499',
    });
    const back = recordedValues(parseDeployment(renderCompose(compose))!);
    expect(back.apps).to.deep.equal({ tcpPorts: { min: 20000, max: 20499 }, maxInstancesPerNode: 40 });
    // A later command without paasbox.yaml resolves the same apps: settings.
    expect(resolve(undefined, back).apps).to.deep.equal(s.apps);
  });
});
