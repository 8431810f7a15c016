// Which scheduler deploys: the recorded stack decides, never an answer on the
// network. An app that binds :8080 and answers /ping with pong must not
// receive the next deploy's JSON (env included).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { schedulerKind, selectScheduler } from '../../src/scheduler/select.js';
import { PaasboxError } from '../../src/errors.js';
import type { Target } from '../../src/target/target.js';

/** A server answering /ping with pong (Marathon, or an app posing as it); the requests it saw. */
async function pong(): Promise<{ url: string; seen: string[]; close: () => void }> {
  const seen: string[] = [];
  const server = createServer(
    (req, res) => (seen.push(`${req.method} ${req.url}`), res.end(req.url === '/ping' ? 'pong' : 'no')),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => server.close(),
  };
}

const fakeManager = (calls: string[]) =>
  ({
    name: 'fake',
    address: '10.9.9.9',
    exec: async (c: string) => (
      calls.push(c),
      { code: 0, stdout: c.startsWith('docker info') ? 'active true 10.9.9.9' : '', stderr: '' }
    ),
  }) as unknown as Target;

describe('selectScheduler', () => {
  it('chooses from the recorded stack: Marathon only when the stack runs it', () => {
    expect(schedulerKind({ stack: { services: ['consul', 'marathon'] } })).to.equal('marathon');
    expect(schedulerKind({ stack: { services: ['consul', 'haproxy'] } })).to.equal('swarm');
    // The apps API (issue 21) speaks Marathon's API over swarm: deploy goes through it.
    expect(schedulerKind({ stack: { services: ['consul', 'apps-api'] } })).to.equal('marathon');
    // A recorded stack without Marathon is not overruled by a URL nobody named as the stack's.
    expect(schedulerKind({ stack: { services: ['consul'] }, choice: 'marathon' })).to.equal('marathon');
    expect(schedulerKind({})).to.equal('swarm');
    expect(schedulerKind({ marathonUrl: 'http://m:8080' })).to.equal('marathon');
  });

  it('a stack without Marathon deploys on swarm even when something answers /ping with pong', async () => {
    const fake = await pong();
    try {
      const calls: string[] = [];
      const s = await selectScheduler({
        stack: { services: ['consul', 'haproxy'] },
        target: fakeManager(calls),
        advertiseAddr: '10.9.9.9',
      });
      expect(s.kind).to.equal('swarm');
      expect(calls[0]).to.match(/^docker info/);
      expect(fake.seen).to.deep.equal([]);
    } finally {
      fake.close();
    }
  });

  it('uses Marathon when the stack records it, and fails plainly when it does not answer', async () => {
    const m = await pong();
    try {
      const s = await selectScheduler({ stack: { services: ['marathon'] }, marathonUrl: m.url });
      expect(s.kind).to.equal('marathon');
      expect(s.where).to.equal(m.url);
    } finally {
      m.close();
    }
    await selectScheduler({ stack: { services: ['marathon'] }, marathonUrl: m.url }).then(
      () => expect.fail('should throw'),
      (e: PaasboxError) => expect(e.fix).to.match(/--scheduler swarm/),
    );
    await selectScheduler({ choice: 'swarm' }).then(
      () => expect.fail('should throw'),
      (e: PaasboxError) => expect(e.fix).to.match(/--target/),
    );
  });
});
