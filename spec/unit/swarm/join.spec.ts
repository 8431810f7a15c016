// Why this spec exists: issue 19 moved the swarm join token out of every
// process's argv (`docker swarm join --token` showed it in docker's). The
// join is POST /swarm/join of the Docker Engine API with the body on stdin;
// here the real command (perl, the shell) talks to a fake Engine on a unix
// socket: what it sends, that the token is only in the body, and that an
// error answer fails the command with Docker's message.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { swarmJoinBody, swarmJoinCommand } from '../../../src/swarm/join.js';

const TOKEN = 'SWMTKN-1-0123456789abcdef-secret';

function run(cmd: string, stdin: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const p = execFile('sh', ['-c', cmd], (err, _out, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
    p.stdin!.end(stdin);
  });
}

describe('swarm join without the token in argv (Engine API over the unix socket)', () => {
  let dir: string;
  let server: Server;
  let seen: { method?: string; url?: string; type?: string; body: string }[];
  let answer: { status: number; body: string };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'paasbox-swarm-join-'));
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, type: req.headers['content-type'], body });
        res.writeHead(answer.status, { 'Content-Type': 'application/json' });
        res.end(answer.body);
      });
    });
    await new Promise<void>((r) => server.listen(join(dir, 'docker.sock'), r));
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    seen = [];
    answer = { status: 200, body: '' };
  });

  it('the command carries no token; the body (stdin) carries it, and Docker gets POST /swarm/join with it', async () => {
    const cmd = swarmJoinCommand(join(dir, 'docker.sock'));
    const body = swarmJoinBody(TOKEN, '10.0.0.1:2377', '10.0.0.2');
    expect(cmd).to.not.include(TOKEN);
    const r = await run(cmd, body);
    expect(r).to.deep.equal({ code: 0, stderr: '' });
    expect(seen).to.have.length(1);
    expect(seen[0]).to.include({ method: 'POST', url: '/swarm/join', type: 'application/json' });
    expect(JSON.parse(seen[0]!.body)).to.deep.equal({
      ListenAddr: '0.0.0.0:2377',
      AdvertiseAddr: '10.0.0.2',
      RemoteAddrs: ['10.0.0.1:2377'],
      JoinToken: TOKEN,
    });
  });

  it("fails with Docker's message when the Engine refuses", async () => {
    answer = { status: 503, body: '{"message":"This node is already part of a swarm."}' };
    const r = await run(swarmJoinCommand(join(dir, 'docker.sock')), swarmJoinBody(TOKEN, '10.0.0.1:2377'));
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('HTTP 503').and.include('already part of a swarm');
    expect(r.stderr).to.not.include(TOKEN);
  });

  it('fails when there is no Docker socket', async () => {
    const r = await run(swarmJoinCommand(join(dir, 'missing.sock')), swarmJoinBody(TOKEN, '10.0.0.1:2377'));
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('missing.sock');
  });
});
