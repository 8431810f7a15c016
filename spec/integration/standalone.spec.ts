// The README's first command, for real on this machine: provisioning over the
// LocalTarget converges this host to a running stack, the foundation's promises
// answer (Consul leader, HAProxy stats behind install's login, ZooKeeper ruok,
// DNS on 53), a second run changes nothing, and the stack tears down and comes back.

import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import dnsPacket from 'dns-packet';
import { StackControl } from '../../src/compose/index.js';
import { Progress } from '../../src/progress.js';
import { provisionTarget, type ProvisionOutcome } from '../../src/provision/provision.js';
import { COMPOSE_PATH } from '../../src/stackfile/deployment.js';
import { LocalTarget } from '../../src/target/local.js';
import { SECRET_FILES } from '../../src/secrets/secrets.js';
import { localSecretsDir } from '../../src/secrets/store.js';
import { DEFAULT_INSTANCE } from '../../src/instance/state.js';
import { isCI } from '../helpers/ci.js';
import { fetchOnce } from '../helpers/http.js';

const HOST = '127.0.0.1';

/** login: user:password, sent as basic auth. */
async function httpGet(
  port: number,
  path: string,
  login?: string,
): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = login
    ? { Authorization: `Basic ${Buffer.from(login).toString('base64')}` }
    : {};
  const r = await fetchOnce(`http://${HOST}:${port}${path}`, { headers, signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: await r.text() };
}

/** HAProxy's stats login, from the secrets install keeps on this machine. */
const statsLogin = () =>
  readFileSync(join(localSecretsDir(DEFAULT_INSTANCE), SECRET_FILES.statsAuth), 'utf8').trim();

function fourLetter(host: string, port: number, word: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, host, () => s.end(word));
    let out = '';
    s.setTimeout(5000, () => s.destroy(new Error(`no answer to ${word} on ${port}`)));
    s.on('data', (d) => (out += d.toString()));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

// dns-packet decodes rcode, but its types do not declare it.
type Reply = dnsPacket.DecodedPacket & { rcode: string };

function dnsQuery(port: number, name: string, type: 'A' | 'SRV'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error(`no DNS answer for ${name} ${type} on ${port}`));
    }, 5000);
    sock.on('message', (m) => {
      clearTimeout(timer);
      sock.close();
      resolve(dnsPacket.decode(m) as Reply);
    });
    sock.send(
      dnsPacket.encode({
        type: 'query',
        id: 4242,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ type, name }],
      }),
      port,
      HOST,
    );
  });
}

describe('standalone: the stack on this host (integration)', function () {
  this.timeout(30 * 60_000);
  const target = new LocalTarget();
  let first: ProvisionOutcome;
  let ctl: StackControl;

  before(async function () {
    const docker = await target
      .exec('docker info --format "{{.ServerVersion}}"', { timeoutMs: 20_000 })
      .catch(() => undefined);
    if (!docker || docker.code !== 0) {
      // Provisioning installs and starts dockerd itself; without root it cannot.
      if (process.getuid?.() !== 0) {
        if (isCI())
          throw new Error('dockerd does not answer and this is not root, and CI=true: .ci/run runs as root');
        console.log(
          '      skipped: dockerd does not answer and this is not root, so provisioning cannot install it',
        );
        this.skip();
      }
    }
  });

  after(() => target.close());

  it('converges this host to a running, healthy stack', async () => {
    first = await provisionTarget(target, { progress: new Progress() });
    expect(first.steps.filter((s) => s.status === 'failed')).to.deep.equal([]);
    expect(first.plan, 'a stack plan').to.not.equal(undefined);
    ctl = new StackControl(target, COMPOSE_PATH, first.plan!.project);
    const st = await ctl.status();
    for (const s of st) expect(`${s.service}: ${s.state}/${s.health}`).to.match(/: running\/(healthy|none)$/);
    expect(st.map((s) => s.service)).to.include.members([
      'consul',
      'haproxy',
      'dns',
      'zookeeper',
      'registrator',
    ]);
  });

  it('Consul answers on 8500 with a leader', async () => {
    const r = await httpGet(8500, '/v1/status/leader');
    expect(r.status).to.equal(200);
    expect(JSON.parse(r.body))
      .to.be.a('string')
      .and.match(/:8300$/);
  });

  it('HAProxy serves its stats page on 81 and at /haproxyStats, only with the login', async () => {
    for (const path of ['/', '/haproxyStats']) {
      expect((await httpGet(81, path)).status, `${path} without the login`).to.equal(401);
      const r = await httpGet(81, path, statsLogin());
      expect(r.status, path).to.equal(200);
      expect(r.body, path).to.include('Statistics Report');
    }
  });

  it('ZooKeeper answers ruok with imok on 2181 of the advertised address only, and no other four-letter word', async () => {
    const ip = first.plan!.settings.ip;
    expect(await fourLetter(ip, 2181, 'ruok')).to.equal('imok');
    expect(await fourLetter(ip, 2181, 'stat')).to.match(/not in the whitelist/);
    expect(
      await fourLetter(HOST, 2181, 'ruok').then(
        () => 'answered',
        (e: NodeJS.ErrnoException) => e.code,
      ),
    ).to.equal('ECONNREFUSED');
  });

  it('the DNS service on 53 answers consul.service.consul with the advertised address', async () => {
    const a = await dnsQuery(53, 'consul.service.consul', 'A');
    expect(a.rcode).to.equal('NOERROR');
    const addrs = (a.answers ?? []).flatMap((x) => (x.type === 'A' ? [x.data] : []));
    expect(addrs).to.deep.equal([first.plan!.settings.ip]);
    const srv = await dnsQuery(53, 'consul.service.consul', 'SRV');
    expect((srv.answers ?? []).flatMap((x) => (x.type === 'SRV' ? [x.data.port] : []))).to.deep.equal([8300]);
    const none = await dnsQuery(53, 'no-such-app.service.consul', 'A');
    expect(none.rcode).to.equal('NXDOMAIN');
  });

  it('a second run on the converged host changes nothing', async () => {
    const again = await provisionTarget(target, { progress: new Progress() });
    expect(
      again.steps.filter((s) => s.status !== 'ok').map((s) => `${s.step}: ${s.status} ${s.detail ?? ''}`),
    ).to.deep.equal([]);
  });

  it('tears the stack down (nothing left listening) and brings it back', async () => {
    await ctl.down();
    const st = await ctl.status();
    expect(st.filter((s) => s.state === 'running').map((s) => s.service)).to.deep.equal([]);
    let refused = false;
    await httpGet(8500, '/v1/status/leader').catch(() => (refused = true));
    expect(refused, 'Consul still answers after down').to.equal(true);
    // Leave the host as install left it.
    await ctl.up();
    await ctl.waitHealthy(300_000);
    expect((await httpGet(81, '/haproxyStats', statsLogin())).status).to.equal(200);
  });
});
