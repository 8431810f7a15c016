// The renewer's lock (src/acme/leader.ts) against a fake Consul that keeps
// sessions as Consul does (a TTL, renew 404 once one has lapsed, acquire 500
// "invalid session" with a dead one, the lock released with a lock delay when
// its session lapses), on a clock the spec moves: a follower keeps a live
// session however long it follows, and takes over within about one TTL once
// the leader stops renewing.
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LeaderLock, SESSION_TTL_S } from '../../../src/acme/leader.js';
import { LEADER_KEY } from '../../../src/acme/store.js';
import { ConsulClient } from '../../../src/consul/client.js';

interface FakeSessions {
  url: string;
  /** The fake's clock (ms); sessions lapse when it passes their last renewal + TTL. */
  now: number;
  sessions: Map<string, number>;
  /** The lock's holder and value. */
  lock: { session?: string; value?: string; delayUntil: number };
  close(): Promise<void>;
}

async function fakeConsulSessions(): Promise<FakeSessions> {
  const ttlMs = SESSION_TTL_S * 1000;
  const f = { now: 0, sessions: new Map<string, number>(), lock: { delayUntil: 0 } } as FakeSessions;
  const lapse = () => {
    for (const [id, renewed] of f.sessions)
      if (f.now > renewed + ttlMs) {
        f.sessions.delete(id);
        // Behavior release with LockDelay 5s, as Consul does.
        if (f.lock.session === id) f.lock = { value: f.lock.value, delayUntil: f.now + 5000 };
      }
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      lapse();
      const url = new URL(req.url ?? '/', 'http://consul');
      const p = url.pathname;
      const send = (status: number, text: string) =>
        res.writeHead(status, { 'X-Consul-Index': '7' }).end(text);
      if (req.method === 'PUT' && p === '/v1/session/create') {
        const id = randomUUID();
        f.sessions.set(id, f.now);
        return send(200, JSON.stringify({ ID: id }));
      }
      const renew = /^\/v1\/session\/renew\/(.+)$/.exec(p);
      if (req.method === 'PUT' && renew) {
        if (!f.sessions.has(renew[1]!)) return send(404, `Session id '${renew[1]}' not found`);
        f.sessions.set(renew[1]!, f.now);
        return send(200, JSON.stringify([{ ID: renew[1] }]));
      }
      if (p !== `/v1/kv/${LEADER_KEY}`) return send(404, '');
      if (req.method === 'GET') return f.lock.value === undefined ? send(404, '') : send(200, f.lock.value);
      const acquire = url.searchParams.get('acquire');
      if (req.method === 'PUT' && acquire) {
        if (!f.sessions.has(acquire)) return send(500, `invalid session "${acquire}"`);
        if (f.lock.session && f.lock.session !== acquire) return send(200, 'false');
        if (!f.lock.session && f.now < f.lock.delayUntil) return send(200, 'false');
        f.lock = { session: acquire, value: body, delayUntil: 0 };
        return send(200, 'true');
      }
      return send(405, '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  f.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  f.close = () => new Promise((r) => server.close(() => r()));
  return f;
}

describe('acme: the leader lock', function () {
  this.timeout(60_000);
  let consul: FakeSessions;
  beforeEach(async () => (consul = await fakeConsulSessions()));
  afterEach(() => consul.close());

  const lock = (self: string) => {
    const c = new ConsulClient({ baseUrl: consul.url });
    return new LeaderLock(c, c, self);
  };
  /** The follower's loop step: a third of the TTL, then an acquire (as src/acme/main.ts waits). */
  const step = () => (consul.now += (SESSION_TTL_S * 1000) / 3);

  it('a follower keeps a live session while the leader leads, and takes over within about a TTL', async () => {
    const a = lock('10.0.0.1:8402');
    const b = lock('10.0.0.2:8402');
    expect(await a.acquire()).to.equal(true);
    expect(await b.acquire()).to.equal(false);
    // Four TTLs of following: the leader renews (as lead() does), the follower contests each step.
    for (let i = 0; i < 12; i++) {
      step();
      expect(await a.renew(), `leader's renewal ${i}`).to.equal(true);
      expect(await b.acquire(), `follower's step ${i}`).to.equal(false);
    }
    expect(consul.sessions.size).to.equal(2);
    expect(await b.leader()).to.deep.equal({ host: '10.0.0.1', port: 8402 });
    // The leader dies (no more renewals): the follower leads once its session lapses and the lock delay ends.
    const died = consul.now;
    let took: number | undefined;
    for (let i = 0; i < 12 && took === undefined; i++) {
      step();
      if (await b.acquire()) took = consul.now - died;
    }
    expect(took, 'the follower never took over').to.be.a('number');
    // The TTL for the session to lapse, the 5 s lock delay, then the follower's next step.
    expect(took!).to.be.at.most(SESSION_TTL_S * 1000 + (2 * SESSION_TTL_S * 1000) / 3);
    expect(await b.leader()).to.deep.equal({ host: '10.0.0.2', port: 8402 });
    // The old leader finds its session gone (renew: false) and, contesting again, follows with a new one.
    expect(await a.renew()).to.equal(false);
    expect(await a.acquire()).to.equal(false);
    expect(consul.sessions.size).to.equal(2);
  });

  it('a session Consul no longer knows is made anew (not retried forever)', async () => {
    const b = lock('10.0.0.2:8402');
    expect(await b.acquire()).to.equal(true);
    // Consul lost every session (a restart, a lapse): the next acquire makes a new one and holds the lock.
    consul.sessions.clear();
    consul.lock = { value: '10.0.0.2:8402', delayUntil: 0 };
    expect(await b.acquire()).to.equal(true);
    expect(consul.sessions.size).to.equal(1);
    expect(consul.lock.session).to.equal([...consul.sessions.keys()][0]);
  });
});
