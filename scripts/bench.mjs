#!/usr/bin/env zx
// paasbox benchmarks: figures and ratios, never pass/fail.
//   npm run bench -- [--only a,b] [--skip a,b] [--json]
// Sections: generate, images (cold + warm build), up (stack up to all-healthy on
// this host), verify, discovery (time to route, HAProxy vs direct), converge
// (a fresh SSH test host from nothing, re-converge, image push), orchestration
// (deploy to reachable for 2 and 20 instances on a swarm of test hosts).
// "up" and "discovery" use the stack install left on this host (.paasbox/state.json).
import { argv } from 'zx';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Progress } from '../dist/src/progress.js';
import { readState } from '../dist/src/state.js';
import { loadStackModel } from '../dist/src/stack/load.js';
import { benchGenerate } from '../dist/src/stack/bench.js';
import { buildAll } from '../dist/src/images/index.js';
import { StackControl } from '../dist/src/compose/index.js';
import { LocalTarget } from '../dist/src/target/local.js';
import { SshTarget } from '../dist/src/target/ssh.js';
import { runVerify, settingsForTarget } from '../dist/src/verify/index.js';
import { benchDiscovery } from '../dist/src/discovery/bench.js';
import { provisionTarget } from '../dist/src/provision/provision.js';
import { createTestHosts } from '../dist/spec/helpers/testhosts.js';
import { benchOrchestration } from '../dist/spec/integration/orchestration-setup.js';

const run = promisify(execFile);
const list = (v) => (v ? String(v).split(',').map((s) => s.trim()) : undefined);
const only = list(argv.only);
const skip = list(argv.skip) ?? [];
const wanted = (s) => (!only || only.includes(s)) && !skip.includes(s);
const json = !!argv.json;
const log = (l) => { if (!json) console.error(l); };
const figures = [];
const fig = (section, name, value, unit, note) => {
  figures.push({ section, name, value, unit, ...(note ? { note } : {}) });
  log(`  ${section.padEnd(13)} ${name.padEnd(46)} ${typeof value === 'number' ? value.toFixed(unit === 'ms' ? 2 : unit === 'ratio' ? 2 : 1) : value} ${unit}${note ? `  (${note})` : ''}`);
};
const skipped = (section, why) => { figures.push({ section, skipped: why }); log(`  ${section.padEnd(13)} skipped: ${why}`); };
const sec = (t0) => (Date.now() - t0) / 1000;
const local = new LocalTarget();
const model = loadStackModel();
const state = readState();

async function section(name, fn) {
  if (!wanted(name)) return;
  log(`\n== ${name}`);
  try {
    await fn();
  } catch (e) {
    skipped(name, e?.message?.split('\n')[0] ?? String(e));
  }
}

await section('generate', async () => {
  const r = await benchGenerate(200);
  fig('generate', 'stack file generation (settings+validate+render)', r.msPerGeneration, 'ms', `${r.bytes} bytes, ${r.iterations} runs`);
});

await section('images', async () => {
  const progress = new Progress({ json: true });
  const t0 = Date.now();
  const cold = await buildAll({ target: local, model, source: 'local', force: true, noCache: true, progress });
  const coldS = sec(t0);
  if (!cold.ok) throw new Error(`cold build failed: ${cold.images.filter((i) => i.outcome === 'failed').map((i) => i.ref).join(', ')}`);
  for (const i of cold.images.filter((x) => x.outcome === 'built')) fig('images', `cold build ${i.ref}`, i.seconds, 's');
  fig('images', 'cold build of all local images', coldS, 's', `${cold.images.filter((i) => i.outcome === 'built').length} built`);
  const t1 = Date.now();
  const warm = await buildAll({ target: local, model, source: 'local', progress });
  const warmS = sec(t1);
  const rebuilt = warm.images.filter((i) => i.outcome === 'built').length;
  fig('images', 'warm rebuild (nothing changed)', warmS, 's', `${rebuilt} rebuilt`);
  fig('images', 'cold / warm', coldS / warmS, 'ratio');
});

await section('up', async () => {
  if (!state || state.target.kind !== 'local') throw new Error('no stack installed on this host: run npx zx scripts/install.mjs --mode standalone first');
  const ctl = new StackControl(local, state.composePath, state.project);
  await ctl.down();
  const t0 = Date.now();
  await ctl.up();
  await ctl.waitHealthy(300_000, new Progress({ json: true }));
  fig('up', 'stack up to all-healthy (images present)', sec(t0), 's', `${(await ctl.services()).length} services`);
});

await section('verify', async () => {
  const { settings, deployment } = await settingsForTarget(local, model, {});
  const t0 = Date.now();
  const report = await runVerify(local, model, settings, { deployment: deployment ?? null, progress: new Progress({ json: true }) });
  fig('verify', 'verify wall time, whole stack (goal < 5 s)', sec(t0), 's', `${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped`);
});

await section('discovery', async () => {
  if (!state || state.target.kind !== 'local') throw new Error('no stack installed on this host: run npx zx scripts/install.mjs --mode standalone first');
  await run('bash', ['examples/SimpleWebappPython/build-docker-image.sh'], { maxBuffer: 64 << 20 });
  const r = await benchDiscovery(local, { durationS: 5, connections: 8, reach: 'address' });
  fig('discovery', 'docker run -> first answer through HAProxy', r.route.msToRoute / 1000, 's', 'goal < 1 s; bounded by the 2 s Consul check interval');
  fig('discovery', 'requests/s through HAProxy', r.throughput.viaHaproxy.requestsPerSec, 'req/s');
  fig('discovery', 'requests/s direct to the app', r.throughput.direct.requestsPerSec, 'req/s');
  fig('discovery', 'HAProxy / direct', r.throughput.ratio, 'ratio');
});

await section('converge', async () => {
  const th = await createTestHosts(1, { prefix: 'pbbench-conv', withDocker: false });
  const h = th.hosts[0];
  const target = new SshTarget({ host: h.address, port: h.port, user: h.user, keyPath: h.keyPath, knownHostsPath: th.knownHostsPath });
  try {
    const p1 = new Progress({ json: true });
    let t0 = Date.now();
    await provisionTarget(target, { progress: p1, skipMissingImages: true });
    fig('converge', 'converge a bare host from nothing', sec(t0), 's', 'docker.io install, image push, up, healthy');
    const push = p1.records.find((r) => r.step === 'images');
    if (push) fig('converge', 'image push to the target (save | ssh | load)', push.seconds, 's', push.detail);
    const p2 = new Progress({ json: true });
    t0 = Date.now();
    const again = await provisionTarget(target, { progress: p2, skipMissingImages: true });
    fig('converge', 're-converge, nothing changed (goal < 5 s)', sec(t0), 's', `changed=${p2.summary().changed}`);
    void again;
  } finally {
    await target.close().catch(() => undefined);
    await th.destroy();
  }
});

await section('orchestration', async () => {
  const rows = await benchOrchestration([2, 20]);
  for (const r of rows) {
    fig('orchestration', `deploy -> ${r.instances} instances reachable by name`, r.reachableSeconds, 's', `scheduler ready at ${r.readySeconds.toFixed(1)} s`);
  }
  if (rows.length === 2) fig('orchestration', '20 / 2 instances', rows[1].reachableSeconds / rows[0].reachableSeconds, 'ratio');
});

await local.close();
if (json) console.log(JSON.stringify({ figures }, null, 2));
