import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { selectScheduler } from '../../src/scheduler/select.js';
import { PaasboxError } from '../../src/errors.js';
import type { Target } from '../../src/target/target.js';

describe('selectScheduler', () => {
  it('picks Marathon when /ping answers pong', async () => {
    const server = createServer((req, res) => res.end(req.url === '/ping' ? 'pong' : 'no'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const s = await selectScheduler({ marathonUrl: url });
      expect(s.kind).to.equal('marathon');
      expect(s.where).to.equal(url);
    } finally {
      server.close();
    }
  });

  it('falls back to swarm on the target when Marathon does not answer', async () => {
    const server = createServer((_req, res) => res.end('x'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    server.close();
    const calls: string[] = [];
    const target = {
      name: 'fake',
      address: '10.9.9.9',
      exec: async (c: string) => (calls.push(c), { code: 0, stdout: c.startsWith('docker info') ? 'active true 10.9.9.9' : '', stderr: '' }),
    } as unknown as Target;
    const s = await selectScheduler({ marathonUrl: url, target });
    expect(s.kind).to.equal('swarm');
    expect(calls[0]).to.match(/^docker info/);
    await selectScheduler({ marathonUrl: url, choice: 'marathon' }).then(
      () => expect.fail('should throw'),
      (e: PaasboxError) => expect(e.fix).to.match(/--scheduler swarm/),
    );
    await selectScheduler({ choice: 'swarm' }).then(
      () => expect.fail('should throw'),
      (e: PaasboxError) => expect(e.fix).to.match(/--target/),
    );
  });
});
