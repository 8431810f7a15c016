// Orchestration end to end on docker-in-docker test hosts: the SimpleWebappPython
// Marathon app JSON deployed through scripts/deploy.mjs to Docker swarm mode
// (manager h1 + worker h2), then found by name: HAProxy by Host header, its
// stats, and SRV records on 53 (dnsmasq) and 8600 (Consul).
//
// Setup (hosts, swarm, discovery stack on h1): ./orchestration-setup.ts over
// the benchmarks' lab, src/bench/orchestration.ts.
import { spawn } from 'node:child_process';
import { expect } from 'chai';
import type { DindHosts } from '../../src/drivers/dind.js';
import type { SshTarget } from '../../src/target/ssh.js';
import { SwarmScheduler } from '../../src/scheduler/swarm.js';
import { getByName, haproxyBackends, srvRecords, waitReachable } from '../../src/bench/reach.js';
import { createSwarmLab, repo, type SwarmLab } from './orchestration-setup.js';

async function deployScript(
  args: string[],
  th: DindHosts,
  manager: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(
      'npx',
      [
        'zx',
        'scripts/deploy.mjs',
        ...args,
        '--scheduler',
        'swarm',
        '--target',
        `root@${manager}`,
        '--key',
        th.keyPath,
        '--known-hosts',
        th.knownHostsPath,
        '--accept-new-host-key',
        '--json',
      ],
      { cwd: repo },
    );
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function example(n: number): string {
  return `examples/SimpleWebappPython/deploy${n}_marathon.json`;
}

describe('orchestration (integration): Marathon app JSON on Docker swarm, reachable by name', function () {
  this.timeout(1200000);
  let lab: SwarmLab | undefined;
  let th: DindHosts;
  let manager: SshTarget;
  let ip = '';

  before(async function () {
    // createSwarmLab builds the images it lacks (src/bench/images.ts).
    lab = await createSwarmLab();
    ({ hosts: th, manager, ip } = lab);
    expect(lab.swarm.initialised).to.equal(true);
    expect(lab.swarm.joined).to.deep.equal([lab.worker.name]);
  });
  after(async () => {
    await lab?.teardown();
  });

  it('deploys deploy1 then deploy2 with --wait through scripts/deploy.mjs (swarm back-end)', async () => {
    for (const n of [1, 2]) {
      const r = await deployScript([example(n), '--wait'], th, ip);
      expect(r.code, r.stderr).to.equal(0);
      const report = JSON.parse(r.stdout) as {
        scheduler: string;
        created: boolean;
        instances: { host: string; ports: number[] }[];
      };
      expect(report.scheduler).to.equal('swarm');
      expect(report.created).to.equal(true);
      expect(report.instances).to.have.length(2);
      expect(report.instances.every((i) => i.ports.length === 1 && i.ports[0]! > 0)).to.equal(true);
    }
    const apps = await new SwarmScheduler(manager).list();
    expect(apps.map((a) => `${a.id}=${a.instances}`).sort()).to.deep.equal(['/python1=2', '/python2=2']);
    // The tasks run the image pinned by ID (built here, no registry digest), so no task asks a registry;
    // listings keep its name.
    expect(apps.map((a) => a.image)).to.deep.equal([
      'paasbox/simplewebapp-python:latest',
      'paasbox/simplewebapp-python:latest',
    ]);
    const spec = await manager.exec(
      "docker service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' python1",
    );
    const id = await manager.exec(
      "docker image inspect --format '{{.Id}}' paasbox/simplewebapp-python:latest",
    );
    expect(spec.stdout.trim())
      .to.match(/^sha256:[0-9a-f]{64}$/)
      .and.to.equal(id.stdout.trim());
  });

  it('finds both apps by name: HAProxy Host header, HAProxy stats, SRV on 53 and 8600', async () => {
    for (const app of ['python1', 'python2']) {
      const r = await waitReachable(ip, app, 2, { timeoutMs: 120000 });
      expect(r).to.deep.equal({ haproxyUp: 2, httpStatus: 200, srv53: 2, srv8600: 2 });
      const res = await getByName(ip, app);
      expect(res.body).to.include(`Hello from ${app}`);
    }
    // Unknown names: HAProxy's 404 backend, no SRV records.
    expect((await getByName(ip, 'nosuchapp')).status).to.equal(404);
    expect(await srvRecords(ip, 8600, 'nosuchapp')).to.deep.equal([]);
    expect(await srvRecords(ip, 53, 'nosuchapp', 'consul', { tcp: true })).to.deep.equal([]);
  });

  it('scales python1 from 2 to 4: four HAProxy servers and four SRV records', async () => {
    const r = await deployScript([example(1), '--scale', '4', '--wait'], th, ip);
    expect(r.code, r.stderr).to.equal(0);
    expect((JSON.parse(r.stdout) as { instances: unknown[] }).instances).to.have.length(4);
    await waitReachable(ip, 'python1', 4, { timeoutMs: 120000 });
    const servers = await haproxyBackends(ip, 'python1');
    expect(servers.filter((s) => s.status === 'UP')).to.have.length(4);
    for (const port of [53, 8600]) {
      const tcp = await srvRecords(ip, port, 'python1', 'consul', { tcp: true });
      expect(new Set(tcp.map((s) => `${s.target}:${s.port}`)).size, `SRV over TCP on ${port}`).to.equal(4);
      // UDP answers may be cut to Consul's udp_answer_limit (3 by default), but name real instances.
      const udp = await srvRecords(ip, port, 'python1');
      expect(udp.length, `SRV over UDP on ${port}`).to.be.within(1, 4);
      for (const u of udp) expect(tcp).to.deep.include(u);
      if (udp.length < 4)
        console.log(
          `    note: SRV over UDP on ${port} lists ${udp.length} of 4 instances (Consul dns_config.udp_answer_limit, no truncation bit)`,
        );
    }
  });

  it('destroys python1: gone from HAProxy and DNS, python2 untouched', async () => {
    const r = await deployScript([example(1), '--destroy'], th, ip);
    expect(r.code, r.stderr).to.equal(0);
    await waitReachable(ip, 'python1', 0, { timeoutMs: 120000 });
    expect([404, 503]).to.include((await getByName(ip, 'python1')).status);
    await waitReachable(ip, 'python2', 2, { timeoutMs: 30000 });
    const again = await deployScript([example(1), '--destroy'], th, ip);
    expect((JSON.parse(again.stdout) as { existed: boolean }).existed).to.equal(false);
  });
});
