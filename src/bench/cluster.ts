// The "cluster" benchmark, on docker-in-docker hosts (src/drivers/dind.ts, as
// spec/integration/cluster.spec.ts uses them): converging one host from
// nothing, then a cluster of 3 masters and 1 agent from nothing (the ratio is
// what the parallel masters buy); a second agent added; python1 deployed over
// both agents; then, under a request loop through a master's HAProxy, the
// host of the Consul leader hard-killed (time to a new leader) and an agent
// running a python1 task hard-killed (time until the swarm runs every
// instance again). Failed requests are counted across both. Mesos and
// Marathon are left out (no offline image). Slow: about ten minutes.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { MANAGEMENT_TOKEN_FILE } from '../consul/acl.js';
import { validateApp } from '../appspec/validate.js';
import type { Progress } from '../progress.js';
import { provisionCluster, type ClusterHost } from '../provision/cluster.js';
import { provisionTarget } from '../provision/provision.js';
import { SwarmScheduler } from '../scheduler/swarm.js';
import { localSecretsDir } from '../secrets/store.js';
import { repoPath } from '../paths.js';
import { createDindHosts, type DindHost } from '../drivers/dind.js';
import { openTarget } from '../instance/open.js';
import type { Target } from '../target/target.js';
import { httpHere, httpRequest, probeTools } from '../system/http.js';
import { poll, sleep } from '../poll.js';
import { ensureExampleImage, ensureStackImages } from './images.js';
import { loadImages } from './orchestration.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const run = promisify(execFile);

export interface ClusterBenchResult {
  convergeOneS: number;
  convergeFourS: number;
  addAgentS: number;
  newLeaderS: number;
  rescheduleS: number;
  requests: { ok: number; failed: number };
}

/** The pause between two requests of the failover loop (a pace, not a wait). */
const REQUEST_GAP_MS = 100;

/** One GET with a Host header from this machine, at most 3 s; the status, 0 on an error. */
async function status(address: string, host: string): Promise<number> {
  return (await httpHere(address, 80, '/', { host, timeoutS: 3 })).status;
}

/** What the user does when a wait of this benchmark runs out. */
const FIX = 'read the logs on the pbbench-cl hosts (docker exec NAME docker logs …) before their removal';

export async function benchCluster(progress: Progress): Promise<ClusterBenchResult> {
  const stack = ['zookeeper', 'registry', 'consul', 'registrator', 'haproxy', 'dns'];
  await ensureStackImages(stack, progress);
  const example = await ensureExampleImage(progress);
  const dir = mkdtempSync(join(tmpdir(), 'pbbench-cl-'));
  const configPath = join(dir, 'paasbox.yaml');
  writeFileSync(
    configPath,
    'services:\n  mesos-master: { enabled: false }\n  mesos-slave: { enabled: false }\n  marathon: { enabled: false }\n',
  );
  const instances = ['bench-cluster-one', 'bench-cluster'];
  const set = await createDindHosts(6, { prefix: 'pbbench-cl', withDocker: true, sshTimeoutS: 180 });
  const targets = new Map<DindHost, Target>();
  const t = (h: DindHost) => {
    let x = targets.get(h);
    if (!x) targets.set(h, (x = openTarget({ kind: 'ssh', ssh: h.ssh })));
    return x;
  };
  const forget = async (h: DindHost) => {
    await targets
      .get(h)
      ?.close()
      .catch(() => undefined);
    targets.delete(h);
  };
  try {
    const [one, m1, m2, m3, a1, a2] = set.hosts as [
      DindHost,
      DindHost,
      DindHost,
      DindHost,
      DindHost,
      DindHost,
    ];
    const opts = {
      flags: { imageSource: 'local' as const },
      env: {},
      configPath,
      progress,
      healthTimeoutS: 600,
    };
    // The reference: one host from nothing (docker present, as on the cluster's hosts).
    let t0 = Date.now();
    await provisionTarget(t(one), { ...opts, instance: instances[0]! });
    const convergeOneS = (Date.now() - t0) / 1000;
    await forget(one);
    await run('docker', ['rm', '-f', one.name]).catch(() => undefined);

    const members: ClusterHost[] = [
      ...[m1, m2, m3].map((h) => ({ target: t(h), role: 'master' as const })),
      { target: t(a1), role: 'agent' as const },
    ];
    t0 = Date.now();
    await provisionCluster(members, { ...opts, instance: instances[1]! });
    const convergeFourS = (Date.now() - t0) / 1000;
    t0 = Date.now();
    await provisionCluster([...members, { target: t(a2), role: 'agent' }], {
      ...opts,
      instance: instances[1]!,
    });
    const addAgentS = (Date.now() - t0) / 1000;

    // python1 x2 over the two agents (swarm spreads a service's replicas).
    for (const a of [a1, a2]) await loadImages(t(a), [example]);
    const app = validateApp(
      JSON.parse(readFileSync(repoPath('examples', 'SimpleWebappPython', 'deploy1_marathon.json'), 'utf8')),
    );
    await new SwarmScheduler(t(m1)).deploy(app);
    const placed = await new SwarmScheduler(t(m1)).waitReady(app.id, 300_000);

    // The victim is the Consul leader's host; the loop enters through another master, whose manager also
    // watches the swarm.
    const leaderAddr = async (via: DindHost) => {
      const vt = t(via);
      const r = await httpRequest(
        vt,
        await probeTools(vt),
        via.address,
        8500,
        '/v1/operator/raft/configuration',
        { secret: { name: 'X-Consul-Token', file: MANAGEMENT_TOKEN_FILE } },
      );
      return r.status === 200
        ? (JSON.parse(r.body) as { Servers: { Address: string; Leader: boolean }[] }).Servers.find(
            (x) => x.Leader,
          )?.Address.replace(/:\d+$/, '')
        : undefined;
    };
    const lead = await poll({ what: 'a Consul leader', timeoutMs: 60_000, everyMs: 500, fix: FIX }, () =>
      leaderAddr(m1),
    );
    const victim = [m1, m2, m3].find((h) => h.address === lead) ?? m1;
    const entry = [m1, m2, m3].find((h) => h !== victim)!;
    const sched = new SwarmScheduler(t(entry));
    const python1 = 'python1.service.consul';
    const through = `python1 through ${entry.name}'s HAProxy`;
    await poll({ what: through, timeoutMs: 120_000, everyMs: 500, fix: FIX }, async () =>
      (await status(entry.address, python1)) === 200 ? true : undefined,
    );

    // The request loop: one at a time, each at most 3 s.
    let stop = false;
    const requests = { ok: 0, failed: 0 };
    const loop = (async () => {
      while (!stop) {
        if ((await status(entry.address, python1)) === 200) requests.ok++;
        else requests.failed++;
        await sleep(REQUEST_GAP_MS);
      }
    })();
    let newLeaderS: number;
    let rescheduleS: number;
    try {
      await forget(victim);
      t0 = Date.now();
      await run('docker', ['kill', victim.name]);
      await poll({ what: 'a new Consul leader', timeoutMs: 120_000, everyMs: 500, fix: FIX }, async () => {
        const l = await leaderAddr(entry);
        return l && l !== victim.address ? l : undefined;
      });
      newLeaderS = (Date.now() - t0) / 1000;

      // An agent with a python1 task: the swarm runs it again on the other agent.
      const lost = [a1, a2].find((a) => placed.some((i) => i.host === a.address)) ?? a2;
      await forget(lost);
      t0 = Date.now();
      await run('docker', ['kill', lost.name]);
      const again = 'python1 running all its instances again';
      await poll({ what: again, timeoutMs: 300_000, everyMs: 1000, fix: FIX }, async () => {
        const r = await sched.waitReady(app.id, 2000);
        return r.every((i) => i.host !== lost.address) ? r : undefined;
      });
      rescheduleS = (Date.now() - t0) / 1000;
      await sleep(3000);
    } finally {
      stop = true;
      await loop;
    }
    return { convergeOneS, convergeFourS, addAgentS, newLeaderS, rescheduleS, requests };
  } finally {
    await Promise.all([...targets.keys()].map(forget));
    await set.destroy();
    for (const i of instances) rmSync(localSecretsDir(i), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}
