// deploy and an image only this machine has: pushed through the stack's
// registry and deployed by digest; an image the manager has, one this machine
// lacks too, or one already in the registry is left as the app names it. And
// the route: only off this machine, only to a stack with a registry, to the
// recorded masters at their advertised addresses, the manager first.
import { expect } from 'chai';
import type { MarathonApp } from '../../../src/appspec/app.js';
import { Progress } from '../../../src/progress.js';
import { registryRoute, shipChoice, shipImage } from '../../../src/scheduler/ship-image.js';
import type { Target } from '../../../src/target/target.js';
import { ok, ScriptedTarget } from '../../helpers/scripted-target.js';

const IMAGE_LINE = 'sha256:' + 'a'.repeat(64) + '\tweb:1\t\tsha256:' + 'b'.repeat(64) + '\t{}';
const app = (image?: string): MarathonApp => ({
  id: '/web',
  ...(image ? { container: { type: 'DOCKER', docker: { image } } } : {}),
});
const missing = { code: 1, stdout: '', stderr: 'Error: No such image: web:1' };

/** A host whose docker has exactly `images`. */
const host = (name: string, images: string[]) =>
  new ScriptedTarget(name, (c) =>
    c.includes('docker image inspect')
      ? images.some((i) => c.includes(i))
        ? ok(IMAGE_LINE)
        : missing
      : ok(''),
  );

describe('deploy: an image only here goes through the stack registry', function () {
  it('chooses from where the image is', function () {
    expect(shipChoice(undefined, 5000, { onManager: false, here: true })).to.equal('none');
    expect(
      shipChoice('10.0.0.5:5000/web@sha256:' + 'c'.repeat(64), 5000, { onManager: false, here: true }),
    ).to.equal('in-registry');
    expect(shipChoice('web:1', 5000, { onManager: true, here: true })).to.equal('on-manager');
    expect(shipChoice('web:1', 5000, { onManager: false, here: false })).to.equal('not-here');
    expect(shipChoice('web:1', 5000, { onManager: false, here: true })).to.equal('push');
  });

  it('leaves the app as named when the manager has the image, or when this machine lacks it too', async () => {
    for (const [managerHas, hereHas, detail] of [
      [['web:1'], [], 'on the manager'],
      [[], [], 'not here'],
    ] as const) {
      const manager = host('manager', [...managerHas]);
      const here = host('here', [...hereHas]);
      const progress = new Progress({ json: true });
      const route = { here, masters: [{ target: manager as Target, ip: '10.0.0.5' }], port: 5000 };
      const out = await shipImage(app('web:1'), route, progress);
      expect(out.container?.docker.image).to.equal('web:1');
      const step = progress.summary().steps.at(-1)!;
      expect([step.status, step.detail]).to.satisfy(
        ([s, d]: [string, string]) => s === 'ok' && d.includes(detail),
      );
      expect([...manager.commands, ...here.commands].some((c) => c.includes('docker push'))).to.equal(false);
    }
  });

  it('routes only off this machine, to a stack with a registry, to the recorded masters in order', function () {
    const t = (address: string) => new ScriptedTarget(address, () => ok('')) as Target & { address: string };
    const a = Object.assign(t('m1'), { address: '172.20.0.2' });
    const b = Object.assign(t('m2'), { address: '172.20.0.3' });
    const c = Object.assign(t('agent'), { address: '172.20.0.4' });
    const here = t('here');
    const stack = { services: ['consul', 'registry'], ports: { registry: 'https=5000/tcp' } };
    expect(registryRoute('local', stack, [a], undefined, here)).to.deep.equal({});
    expect(registryRoute('ssh', { ...stack, services: ['consul'] }, [a], undefined, here)).to.deep.equal({});
    const one = registryRoute('ssh', stack, [a], undefined, here, '10.9.9.9').registry!;
    expect(one.masters.map((m) => [m.target.name, m.ip])).to.deep.equal([['m1', '10.9.9.9']]);
    expect(one.port).to.equal(5000);
    const cluster = {
      masters: [
        { ip: '10.0.0.3', ssh: { host: '172.20.0.3' } },
        { ip: '10.0.0.2', ssh: { host: '172.20.0.2' } },
      ],
    };
    const many = registryRoute('ssh', stack, [c, a, b], cluster, here).registry!;
    expect(many.masters.map((m) => [m.target.name, m.ip])).to.deep.equal([
      ['m2', '10.0.0.3'],
      ['m1', '10.0.0.2'],
    ]);
  });
});
