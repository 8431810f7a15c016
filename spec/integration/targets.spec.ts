// SshTarget and LocalTarget against real sshd: a dind test host on a private
// docker network (spec/helpers/testhosts.ts).

import { expect } from 'chai';
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { LocalTarget } from '../../src/target/local.js';
import { SshTarget } from '../../src/target/ssh.js';
import { failure } from '../helpers/failure.js';
import { fetchOnce } from '../helpers/http.js';
import { createTestHosts, generateKey, hostExec, type TestHosts } from '../helpers/testhosts.js';

describe('targets (integration)', function () {
  this.timeout(180_000);
  let th: TestHosts;
  let t: SshTarget;

  before(async function () {
    th = await createTestHosts(1, { prefix: 'pbh3-targets' });
    const h = th.hosts[0]!;
    t = new SshTarget({
      host: h.address,
      user: h.user,
      keyPath: h.keyPath,
      knownHostsPath: th.knownHostsPath,
    });
  });
  after(async () => {
    await t?.close();
    await th?.destroy();
  });

  it('runs commands and reports exit codes, stdout and stderr', async () => {
    const r = await t.exec('echo out; echo err >&2; exit 3');
    expect(r).to.deep.equal({ code: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  it('pins the host key on first contact (accept-new)', async () => {
    const kh = await readFile(th.knownHostsPath, 'utf8');
    expect(kh).to.match(
      new RegExp(`^\\[${th.hosts[0]!.address.replace(/\./g, '\\.')}\\]:22 ssh-\\S+ \\S+\\n$`),
    );
  });

  it('reuses one connection for many commands', async () => {
    const rs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => t.exec(`echo $((${i}*2)); echo $SSH_CONNECTION`)),
    );
    const conns = new Set(rs.map((r) => r.stdout.split('\n')[1]));
    expect(rs.map((r) => r.stdout.split('\n')[0])).to.deep.equal(['0', '2', '4', '6', '8', '10', '12', '14']);
    expect(conns.size).to.equal(1);
  });

  it('feeds stdin from a string, a Buffer and a stream (5 MB)', async () => {
    expect((await t.exec('cat', { stdin: 'abc' })).stdout).to.equal('abc');
    expect((await t.exec('wc -c', { stdin: Buffer.alloc(1000, 1) })).stdout.trim()).to.equal('1000');
    const chunks = Array.from({ length: 80 }, (_, i) => Buffer.alloc(65536, i));
    const r = await t.exec('sha256sum | cut -d" " -f1', { stdin: Readable.from(chunks) });
    const { createHash } = await import('node:crypto');
    expect(r.stdout.trim()).to.equal(createHash('sha256').update(Buffer.concat(chunks)).digest('hex'));
  });

  it('applies cwd, env and a timeout', async () => {
    expect((await t.exec('pwd; echo "$A"', { cwd: '/etc', env: { A: "it's" } })).stdout).to.equal(
      "/etc\nit's\n",
    );
    const r = await t.exec('sleep 20', { timeoutMs: 500 });
    expect(r.code).to.equal(124);
  });

  it('copies files and writes files with a mode', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pbh3-copy-'));
    await writeFile(join(dir, 'f'), 'copied\n');
    await t.copy(join(dir, 'f'), '/opt/paasbox-test/sub/f');
    await t.writeFile('/opt/paasbox-test/secret', 'x', 0o600);
    const r = await t.exec('cat /opt/paasbox-test/sub/f; stat -c %a /opt/paasbox-test/secret');
    expect(r.stdout).to.equal('copied\n600\n');
  });

  it('re-opens a connection that dropped between commands', async () => {
    const before = (await t.exec('echo $SSH_CONNECTION')).stdout;
    // End every root session's sshd on the test host (its listener stays).
    await hostExec(th.hosts[0]!, "pkill -f '^sshd: root@' ; true");
    await new Promise((r) => setTimeout(r, 300));
    const after = (await t.exec('echo $SSH_CONNECTION')).stdout;
    expect(after).to.match(/^\S+ \d+ /);
    expect(after, 'a new connection (new source port)').to.not.equal(before);
  });

  it('reads facts', async () => {
    const f = await t.facts();
    expect(f).to.include({ os: 'debian 12', user: 'root', isRoot: true, hostname: th.hosts[0]!.name });
  });

  it('forwards a local port to a port on the target', async () => {
    await hostExec(
      th.hosts[0]!,
      'mkdir -p /srv/www && echo forwarded > /srv/www/index.html && (cd /srv/www && nohup python3 -m http.server 18080 --bind 127.0.0.1 >/dev/null 2>&1 &)',
    );
    await hostExec(th.hosts[0]!, 'for i in $(seq 50); do curl -fs localhost:18080 && break; sleep 0.1; done');
    const f = await t.forward('127.0.0.1', 18080);
    try {
      const body = await (await fetchOnce(`http://127.0.0.1:${f.localPort}/index.html`)).text();
      expect(body).to.equal('forwarded\n');
    } finally {
      await f.close();
    }
  });

  it('runs sudo as a non-root user with passwordless sudo', async () => {
    const h = th.hosts[0]!;
    const p = new SshTarget({
      host: h.address,
      user: 'paas',
      keyPath: h.keyPath,
      knownHostsPath: th.knownHostsPath,
    });
    try {
      expect((await p.exec('id -un', { sudo: true })).stdout.trim()).to.equal('root');
      expect((await p.exec('id -un')).stdout.trim()).to.equal('paas');
    } finally {
      await p.close();
    }
  });

  it('says sudo is needed for a user without passwordless sudo', async () => {
    const h = th.hosts[0]!;
    const n = new SshTarget({
      host: h.address,
      user: 'nosudo',
      keyPath: h.keyPath,
      knownHostsPath: th.knownHostsPath,
    });
    try {
      const e = await failure(n.exec('true', { sudo: true }));
      expect(e.problem).to.match(/nosudo .* no passwordless sudo/);
      expect(e.fix).to.include('NOPASSWD');
    } finally {
      await n.close();
    }
  });

  it('authenticates with an ssh-agent when no key file is given', async () => {
    const h = th.hosts[0]!;
    const dir = await mkdtemp(join(tmpdir(), 'pbh3-agent-'));
    const sock = join(dir, 'agent.sock');
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const run = promisify(execFile);
    const out = await run('ssh-agent', ['-a', sock]);
    const pid = /SSH_AGENT_PID=(\d+)/.exec(out.stdout)?.[1];
    try {
      await run('ssh-add', [h.keyPath], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
      const a = new SshTarget({ host: h.address, agent: sock, knownHostsPath: th.knownHostsPath });
      expect((await a.exec('echo agent')).stdout).to.equal('agent\n');
      await a.close();
    } finally {
      if (pid) process.kill(Number(pid));
    }
  });

  it('says the key was refused for a wrong key', async () => {
    const h = th.hosts[0]!;
    const wrong = await generateKey();
    const w = new SshTarget({ host: h.address, keyPath: wrong, knownHostsPath: th.knownHostsPath });
    const e = await failure(w.exec('true'));
    expect(e.problem).to.match(/refused key .* \(authentication failed\)/);
    expect(e.fix).to.include('authorized_keys');
  });

  it('says the host is unreachable for an address with no host', async () => {
    const addr = await th.unusedAddress();
    const u = new SshTarget({
      host: addr,
      keyPath: th.keyPath,
      knownHostsPath: th.knownHostsPath,
      connectTimeoutMs: 2000,
      retries: 1,
      retryDelayMs: 100,
    });
    const t0 = Date.now();
    const e = await failure(u.exec('true'));
    expect(e.problem).to.match(new RegExp(`cannot reach ${addr.replace(/\./g, '\\.')}:22`));
    expect(Date.now() - t0).to.be.below(30_000);
  });

  it('says the connection was refused for a closed port', async () => {
    const h = th.hosts[0]!;
    const u = new SshTarget({
      host: h.address,
      port: 2299,
      keyPath: h.keyPath,
      knownHostsPath: th.knownHostsPath,
      retries: 0,
    });
    const e = await failure(u.exec('true'));
    expect(e.problem).to.match(/connection refused/);
  });

  it('refuses a changed host key and says how to fix it', async () => {
    const h = th.hosts[0]!;
    const kh = await readFile(th.knownHostsPath, 'utf8');
    const forged = join(await mkdtemp(join(tmpdir(), 'pbh3-kh-')), 'known_hosts');
    // The same line with a different (valid-looking) key.
    const [label, type] = kh.trim().split(/\s+/);
    const otherPub = (await readFile(`${await generateKey()}.pub`, 'utf8')).split(' ')[1];
    await writeFile(forged, `${label} ${type} ${otherPub}\n`);
    const c = new SshTarget({ host: h.address, keyPath: h.keyPath, knownHostsPath: forged });
    const e = await failure(c.exec('true'));
    expect(e.problem).to.match(new RegExp(`host key for ${h.address.replace(/\./g, '\\.')}:22 changed`));
    expect(e.fix).to.include(forged);
  });

  it('LocalTarget runs commands with stdin and forwards as identity', async () => {
    const l = new LocalTarget();
    expect(await l.exec('cat; exit 2', { stdin: 'x' })).to.deep.equal({ code: 2, stdout: 'x', stderr: '' });
    const srv = createServer((_q, s) => s.end('local'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    const f = await l.forward('127.0.0.1', port);
    expect(f.localPort).to.equal(port);
    expect(await (await fetchOnce(`http://127.0.0.1:${f.localPort}/`)).text()).to.equal('local');
    srv.close();
    expect((await l.facts()).arch).to.match(/\w+/);
  });
});
