// Stack-container lookups by compose labels: a swarm task or an app carrying
// the labels of a stack service is never taken for it, and two genuine
// matches are refused rather than one picked.
import { expect } from 'chai';
import { join } from 'node:path';
import { StackControl } from '../../../src/compose/control.js';
import { aclProbeCommand } from '../../../src/consul/acl.js';
import {
  composeFilter,
  composeInspectCommand,
  findStackContainer,
  pickStackContainer,
} from '../../../src/docker/compose.js';
import { parseContainers } from '../../../src/docker/facts.js';
import { NOT_STACK_LABELS } from '../../../src/docker/labels.js';
import { PaasboxError } from '../../../src/errors.js';
import { codeLinesMatching } from '../../helpers/sources.js';
import { APP_ID_LABEL } from '../../../src/scheduler/swarm-service.js';
import { ReadBackError } from '../../../src/system/readback.js';
import { AnsweringTarget } from '../../helpers/answering-target.js';

const hex = (c: string) => c.repeat(64);
const labels = { 'com.docker.compose.project': 'paasbox', 'com.docker.compose.service': 'sshd' };
const container = (id: string, name: string, extra: Record<string, string> = {}) => ({
  Id: hex(id),
  Name: `/${name}`,
  State: { Status: 'running', Running: true },
  Config: { Labels: { ...labels, ...extra } },
});
const sshd = container('a', 'paasbox-sshd-1');
const task = container('b', 'web.1.xyz', {
  'com.docker.swarm.service.id': 's1',
  'com.docker.swarm.task.id': 't1',
});
const app = container('c', 'web-app', { 'paasbox.marathon.id': 'web' });

describe('stack containers by compose labels', () => {
  it('composeFilter: the project (and service) labels, checked then quoted', () => {
    expect(composeFilter('paasbox')).to.equal('--filter label=com.docker.compose.project=paasbox');
    expect(composeFilter('pb_1', 'sshd')).to.equal(
      '--filter label=com.docker.compose.project=pb_1 --filter label=com.docker.compose.service=sshd',
    );
    expect(() => composeFilter("pb'; id; '")).to.throw(
      ReadBackError,
      /compose project .*: not a compose project name/,
    );
    expect(() => composeFilter('paasbox', 'ss hd')).to.throw(ReadBackError, /compose service "ss hd"/);
    expect(composeInspectCommand('paasbox', 'sshd')).to.equal(
      `ids=$(docker ps -q ${composeFilter('paasbox', 'sshd')}) || exit 3; [ -z "$ids" ] && echo '[]' || docker inspect $ids`,
    );
  });

  it("knows the label deploy puts on every app, and swarm's task labels", () => {
    expect(NOT_STACK_LABELS).to.have.keys(
      APP_ID_LABEL,
      'com.docker.swarm.service.id',
      'com.docker.swarm.task.id',
    );
  });

  it('parseContainers: a swarm task or an app keeps no compose labels, and says why', () => {
    const [a, b, c] = parseContainers(JSON.stringify([sshd, task, app]));
    expect([a!.project, a!.service, a!.notStack]).to.deep.equal(['paasbox', 'sshd', undefined]);
    expect([b!.project, b!.service, b!.notStack]).to.deep.equal([
      '',
      '',
      'a swarm task (label com.docker.swarm.service.id)',
    ]);
    expect([c!.project, c!.service, c!.notStack]).to.deep.equal([
      '',
      '',
      'an app (label paasbox.marathon.id)',
    ]);
    // Labels not in their formats are no compose labels either.
    const odd = container('d', 'odd', { 'com.docker.compose.service': 'sshd; id' });
    expect(parseContainers(JSON.stringify([odd]))[0]!.service).to.equal('');
  });

  it('picks the stack sshd, never a swarm task or an app carrying its labels', () => {
    for (const order of [[task, sshd, app], [app, task, sshd], [sshd]])
      expect(pickStackContainer(JSON.stringify(order), 'paasbox', 'sshd', 'h')?.id).to.equal(hex('a'));
    expect(pickStackContainer(JSON.stringify([task, app]), 'paasbox', 'sshd', 'h')).to.equal(undefined);
    expect(pickStackContainer('[]', 'paasbox', 'sshd', 'h')).to.equal(undefined);
    expect(pickStackContainer(JSON.stringify([sshd]), 'other', 'sshd', 'h')).to.equal(undefined);
  });

  it('refuses two containers that both look like the service, naming them', () => {
    const twin = container('e', 'sshd-twin');
    expect(() => pickStackContainer(JSON.stringify([sshd, twin]), 'paasbox', 'sshd', 'h')).to.throw(
      PaasboxError,
      "2 containers on h carry the compose labels of paasbox's sshd service (paasbox-sshd-1, sshd-twin): refusing to pick one",
    );
  });

  it("refuses an id not in docker's format before it reaches a shell line", () => {
    const bad = { ...sshd, Id: 'a; reboot' };
    expect(() => pickStackContainer(JSON.stringify([bad]), 'paasbox', 'sshd', 'h')).to.throw(
      ReadBackError,
      /id "a; reboot": not a container id/,
    );
  });

  it('findStackContainer runs the one inspect command and picks from its answer', async () => {
    const t = new AnsweringTarget('h', '10.0.0.5', () => ({ stdout: JSON.stringify([task, sshd]) }));
    expect((await findStackContainer(t, 'paasbox', 'sshd'))?.name).to.equal('paasbox-sshd-1');
    expect(t.ran).to.deep.equal([composeInspectCommand('paasbox', 'sshd')]);
    const down = new AnsweringTarget('h', '10.0.0.5', () => ({
      code: 3,
      stdout: '',
      stderr: 'Cannot connect to the Docker daemon',
    }));
    let err: unknown;
    await findStackContainer(down, 'paasbox', 'sshd').catch((e: unknown) => (err = e));
    expect((err as PaasboxError).problem).to.equal('looking up the sshd container on h failed');
  });
});

describe('composeFilter is the one compose-label filter of src/', () => {
  const tool = { kind: 'v2' as const, argv: ['docker', 'compose'], version: '2.24.0' };

  it('stack status, the ACL probe and the stack-container lookup ask docker through it (argv recorded)', async () => {
    const t = new AnsweringTarget('h', '10.0.0.5', () => ({}));
    await new StackControl(t, '/f.yml', 'pb_1', { tool }).statusOf([]);
    expect(t.ran[0]).to.equal(`docker ps -a ${composeFilter('pb_1')} --format '{{json .}}'`);
    expect(aclProbeCommand('10.0.0.5', 8500, 'pb_1')).to.include(
      `docker ps -q ${composeFilter('pb_1', 'consul')} --filter status=running`,
    );
    const u = new AnsweringTarget('h', '10.0.0.5', () => ({ stdout: '[]' }));
    expect(await findStackContainer(u, 'pb_1', 'sshd')).to.equal(undefined);
    expect(u.ran[0]).to.include(`docker ps -q ${composeFilter('pb_1', 'sshd')})`);
    // A project name that is no compose project never reaches a command.
    expect(() => aclProbeCommand('10.0.0.5', 8500, 'x; reboot')).to.throw(ReadBackError);
  });

  it('no other file of src/ spells a compose label', () => {
    const spelled = codeLinesMatching(
      (code) => code.includes('com.docker.compose.'),
      join('docker', 'labels.ts'),
    );
    expect(spelled).to.deep.equal([]);
  });
});
