// The pure parts of the apps API's view of swarm: services read back from
// `docker service inspect` (untrusted: only app services pass), deployment
// ids any master computes alike, versions and their K/V keys, and swarm's
// events turned into Marathon's.
import { expect } from 'chai';
import { marathonEvent } from '../../../src/api/events.js';
import { deploymentId, parseServices } from '../../../src/api/swarm-apps.js';
import { idKey, nextVersion } from '../../../src/api/versions.js';

const inspected = [
  {
    ID: 'svc1',
    Version: { Index: 42 },
    // Docker's nanoseconds: Marathon's clients read at most microseconds.
    CreatedAt: '2026-12-07T06:00:00.123456789Z',
    UpdatedAt: '2026-12-07T06:05:00Z',
    Spec: {
      Name: 'team-web',
      Labels: {
        'paasbox.marathon.id': '/team/web',
        'paasbox.marathon.image': 'web:1',
        'paasbox.marathon.version': '2026-12-07T06:05:00.000Z',
      },
      Mode: { Replicated: { Replicas: 3 } },
      TaskTemplate: { ContainerSpec: { Image: 'sha256:abc' } },
    },
    PreviousSpec: { Name: 'team-web' },
    UpdateStatus: { State: 'updating' },
  },
  { ID: 'svc2', Version: { Index: 7 }, CreatedAt: '', UpdatedAt: '', Spec: { Name: 'not-an-app' } },
];

describe('apps API: the view of swarm', function () {
  it('reads app services only, with counts, version and update state', function () {
    const got = parseServices(JSON.stringify(inspected), new Map([['team-web', '2/3']]));
    expect(got).to.deep.equal([
      {
        id: '/team/web',
        name: 'team-web',
        serviceId: 'svc1',
        index: 42,
        wanted: 3,
        running: 2,
        updating: 'updating',
        version: '2026-12-07T06:05:00.000Z',
        image: 'web:1',
        createdAt: '2026-12-07T06:00:00.123Z',
        updatedAt: '2026-12-07T06:05:00.000Z',
        hasPrevious: true,
      },
    ]);
  });

  it('gives one deployment id per service and spec index, shaped like a UUID', function () {
    const a = deploymentId('svc1', 42);
    expect(a).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(deploymentId('svc1', 42)).to.equal(a);
    expect(deploymentId('svc1', 43)).not.to.equal(a);
    expect(deploymentId('svc2', 42)).not.to.equal(a);
  });

  it('keys versions by id so that no two ids share a prefix, and versions only grow', function () {
    expect(idKey('/a/b')).to.equal('paasbox/api/versions/a+b/');
    expect(idKey('a/b/')).to.equal(idKey('/a/b'));
    expect(idKey('/a')).not.to.equal(idKey('/a/b').slice(0, idKey('/a').length + 1));
    const now = new Date('2026-12-07T06:00:00.000Z');
    expect(nextVersion(undefined, now)).to.equal('2026-12-07T06:00:00.000Z');
    expect(nextVersion('2026-12-07T05:00:00.000Z', now)).to.equal('2026-12-07T06:00:00.000Z');
    // A clock behind the last version still moves forward.
    expect(nextVersion('2026-12-07T07:00:00.000Z', now)).to.equal('2026-12-07T07:00:00.001Z');
  });

  it("maps swarm's events to Marathon's", function () {
    const appOf = (n: string) => (n === 'team-web' ? '/team/web' : undefined);
    const svc = (attrs: Record<string, string>, Action = 'update') => ({
      Type: 'service',
      Action,
      Actor: { ID: 'svc1', Attributes: { name: 'team-web', ...attrs } },
      time: 1796624468,
    });
    expect(marathonEvent(svc({}), appOf)?.event).to.equal('deployment_info');
    expect(marathonEvent(svc({ 'updatestate.new': 'completed' }), appOf)?.event).to.equal(
      'deployment_success',
    );
    expect(marathonEvent(svc({ 'updatestate.new': 'rollback_completed' }), appOf)?.event).to.equal(
      'deployment_failed',
    );
    expect(marathonEvent(svc({}, 'remove'), appOf)?.data).to.deep.include({ appId: '/team/web' });
    expect(marathonEvent({ ...svc({}), Actor: { Attributes: { name: 'other' } } }, appOf)).to.equal(
      undefined,
    );
    const container = (Action: string, attrs: Record<string, string> = {}) => ({
      Type: 'container',
      Action,
      Actor: { ID: 'c1', Attributes: { 'paasbox.marathon.id': '/team/web', ...attrs } },
      time: 1796624468,
    });
    expect(marathonEvent(container('start'), appOf)?.data).to.deep.include({ taskStatus: 'TASK_RUNNING' });
    expect(marathonEvent(container('die', { exitCode: '1' }), appOf)?.data).to.deep.include({
      taskStatus: 'TASK_FAILED',
    });
    expect(marathonEvent(container('health_status: unhealthy'), appOf)?.data).to.deep.include({
      alive: false,
    });
    expect(marathonEvent({ ...container('start'), Actor: { Attributes: {} } }, appOf)).to.equal(undefined);
  });
});
