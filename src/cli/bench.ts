// `paasbox bench`: the benchmarks, as figures and ratios (never pass/fail),
// each printed beside its goal where it has one. Sections: generate, images
// (cold + warm build), up (stack up to all-healthy on this host), verify,
// discovery (instance ready -> routed by name beside its own readiness,
// HAProxy vs direct, requests across reloads), converge (a fresh SSH host
// from nothing, re-converge, image push), orchestration (deploy to reachable
// for 2 and 20 instances on a swarm of docker-in-docker hosts), acl (time to
// route and requests/s through HAProxy with Consul's ACLs, each beside the same
// stack without them, on two docker-in-docker hosts), https (requests/s by
// name over https beside http through the same HAProxy; a public name's time
// to its first good HTTPS answer with ACME from Pebble), cluster (4 hosts from
// nothing beside 1, failover times and failed requests; slow). "up" and
// "discovery" use the stack install recorded on this machine (the default
// instance, standalone). A section that cannot run is reported as skipped with
// its reason; the others still run. The sections' modules load only when
// they run: autocannon and the labs would add ~200 ms to every command's start.

import { InvalidArgumentError, type Command } from 'commander';
import { StackControl } from '../compose/index.js';
import { PaasboxError } from '../errors.js';
import { buildAll } from '../images/index.js';
import { Progress } from '../progress.js';
import { loadStackModel } from '../model/load.js';
import type { StackModel } from '../model/model.js';
import { DEFAULT_INSTANCE, readInstance, type DeploymentRecord } from '../instance/state.js';
import { LocalTarget } from '../target/local.js';
import { composeFilter } from '../docker/compose.js';
import { runVerify } from '../verify/run.js';
import { settingsForTarget } from '../stackfile/deployed-settings.js';
import { jsonOption, listArg } from './program.js';
import { shq } from '../target/shell.js';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../paths.js';
import { readDeployment } from '../stackfile/deployment.js';

export const SECTIONS = [
  'generate',
  'images',
  'up',
  'verify',
  'discovery',
  'converge',
  'orchestration',
  'acl',
  'https',
  'cluster',
] as const;
export type Section = (typeof SECTIONS)[number];

export interface Figure {
  section: Section;
  name: string;
  value: number;
  unit: 's' | 'ms' | 'req/s' | 'ratio' | 'req';
  /** The reference the figure is judged by, e.g. "< 5 s". */
  goal?: string;
  note?: string;
}

/** One figure as a line: its value and unit, then its goal and note. */
export function formatFigure(f: Figure): string {
  const value = f.value.toFixed(f.unit === 'ms' || f.unit === 'ratio' ? 2 : 1);
  return `  ${f.section.padEnd(13)} ${f.name.padEnd(50)} ${value} ${f.unit}${f.goal ? `  [goal ${f.goal}]` : ''}${f.note ? `  (${f.note})` : ''}`;
}

/** --only/--skip: section names, comma-separated; an unknown one is refused at the door. */
export function sectionList(v: string, prev: Section[] = []): Section[] {
  const names = listArg(v);
  const unknown = names.filter((n) => !(SECTIONS as readonly string[]).includes(n));
  if (unknown.length)
    throw new InvalidArgumentError(
      `unknown section ${unknown.join(', ')} (sections: ${SECTIONS.join(', ')})`,
    );
  return [...prev, ...(names as Section[])];
}

interface BenchFlags {
  only?: Section[];
  skip?: Section[];
  json?: boolean;
}

/** What a section gets: this machine, the stack model (loaded on first use) and the figure sink. */
interface Bench {
  local: LocalTarget;
  model(): StackModel;
  fig(name: string, value: number, unit: Figure['unit'], extra?: { goal?: string; note?: string }): void;
}

const sec = (t0: number) => (Date.now() - t0) / 1000;
/** Steps run silently: the figures are the output. */
const quiet = () => new Progress({ json: true });

/** The stack install recorded for this machine (the default instance), for "up" and "discovery". */
function localDeployment(): DeploymentRecord {
  const inst = readInstance(DEFAULT_INSTANCE);
  if (!inst?.deployment || inst.stage.kind !== 'local')
    throw new PaasboxError(
      'no standalone install is recorded for this machine (the default instance)',
      'install one first: npx paasbox install --mode standalone',
    );
  return inst.deployment;
}

/** One paasbox command as a user runs it here (this checkout's bin, this directory), never throwing. */
function paasbox(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok) =>
    execFile(
      process.execPath,
      [repoPath('bin', 'paasbox.mjs'), ...args],
      { maxBuffer: 64 << 20 },
      (e, stdout, stderr) => ok({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }),
    ),
  );
}

/** cluster: slow (about ten minutes, six docker-in-docker hosts); --skip cluster leaves it out. */
async function clusterSection(b: Bench): Promise<void> {
  const { benchCluster } = await import('../bench/cluster.js');
  const r = await benchCluster(quiet());
  b.fig('converge 1 host from nothing (docker present)', r.convergeOneS, 's', { note: 'the reference' });
  b.fig('converge 4 hosts from nothing (3 masters, 1 agent)', r.convergeFourS, 's', {
    goal: `≈ ${r.convergeOneS.toFixed(1)} s (1 host)`,
  });
  b.fig('4 hosts / 1 host', r.convergeFourS / r.convergeOneS, 'ratio', {
    note: '1 = hosts fully in parallel',
  });
  b.fig('add an agent (it converges, the others ok)', r.addAgentS, 's');
  b.fig("Consul leader's host killed -> new leader", r.newLeaderS, 's', {
    note: "Consul's default Raft timing",
  });
  b.fig('agent killed -> its instances running elsewhere', r.rescheduleS, 's');
  const total = r.requests.ok + r.requests.failed;
  b.fig('failed / all requests through HAProxy meanwhile', total ? r.requests.failed / total : 0, 'ratio', {
    goal: '0',
    note: `${r.requests.failed} failed of ${total}`,
  });
}

const RUN: Record<Section, (b: Bench) => Promise<void>> = {
  async generate(b) {
    const { benchGenerate } = await import('../bench/generate.js');
    const r = await benchGenerate(200);
    b.fig('stack file generation (settings+validate+render)', r.msPerGeneration, 'ms', {
      note: `${r.bytes} bytes, ${r.iterations} runs`,
    });
  },

  async images(b) {
    const opts = { target: b.local, model: b.model(), source: 'local' as const, progress: quiet() };
    const t0 = Date.now();
    const cold = await buildAll({ ...opts, force: true, noCache: true });
    const coldS = sec(t0);
    if (!cold.ok)
      throw new PaasboxError(
        `cold build failed: ${cold.images
          .filter((i) => i.outcome === 'failed')
          .map((i) => i.ref)
          .join(', ')}`,
        'run npx paasbox build-images to see the build output',
      );
    const built = cold.images.filter((i) => i.outcome === 'built');
    for (const i of built) b.fig(`cold build ${i.ref}`, i.seconds, 's');
    b.fig('cold build of all local images', coldS, 's', { note: `${built.length} built` });
    const t1 = Date.now();
    const warm = await buildAll(opts);
    const warmS = sec(t1);
    b.fig('warm rebuild (nothing changed)', warmS, 's', {
      note: `${warm.images.filter((i) => i.outcome === 'built').length} rebuilt`,
    });
    b.fig('cold / warm', coldS / warmS, 'ratio');
  },

  async up(b) {
    const d = localDeployment();
    const ctl = new StackControl(b.local, d.composePath, d.project);
    await ctl.down();
    const t0 = Date.now();
    await ctl.up();
    await ctl.waitHealthy(300_000, quiet());
    b.fig('stack up to all-healthy (images present)', sec(t0), 's', {
      note: `${(await ctl.services()).length} services`,
    });
  },

  async verify(b) {
    const { settings, deployment } = await settingsForTarget(b.local, b.model(), {});
    const t0 = Date.now();
    const report = await runVerify(b.local, b.model(), settings, {
      deployment: deployment ?? null,
      progress: quiet(),
    });
    b.fig('verify wall time, whole stack', sec(t0), 's', {
      goal: '< 5 s',
      note: `${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped`,
    });
  },

  async discovery(b) {
    const d = localDeployment();
    const { ensureExampleImage } = await import('../bench/images.js');
    const { benchDiscovery, median } = await import('../bench/discovery.js');
    await ensureExampleImage(quiet());
    const hp = await b.local.exec(`docker ps -q ${composeFilter(d.project, 'haproxy')}`);
    const haproxyContainer = hp.stdout.trim().split('\n')[0] || undefined;
    const runs = 7;
    // Direct and via HAProxy both at the stack's IP as installed: the address instances are registered at.
    const r = await benchDiscovery(b.local, {
      durationS: 5,
      connections: 8,
      reach: 'address',
      address: d.ip,
      runs,
      ...(haproxyContainer ? { haproxyContainer } : {}),
    });
    const ms = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
    const ready = median(r.routes.map((x) => x.msToReady));
    const route = median(r.routes.map((x) => x.msReadyToRoute));
    const first = median(r.routes.map((x) => x.msToRoute));
    b.fig('docker run -> instance answers directly (reference)', ready, 'ms', {
      note: `median of ${runs}: ${ms(r.routes.map((x) => x.msToReady))} ms`,
    });
    b.fig('instance ready -> first answer via HAProxy by name', route, 'ms', {
      goal: '< 200 ms',
      note: `median of ${runs}: ${ms(r.routes.map((x) => x.msReadyToRoute))} ms`,
    });
    b.fig('docker run -> first answer via HAProxy by name', first, 'ms', {
      goal: '< 1000 ms',
      note: `median of ${runs}: ${ms(r.routes.map((x) => x.msToRoute))} ms`,
    });
    b.fig('docker run -> via HAProxy / docker run -> direct', first / ready, 'ratio', {
      note: '1 = routed the moment it is ready',
    });
    b.fig('requests/s direct to the app (reference)', r.throughput.direct.requestsPerSec, 'req/s', {
      note: `${d.ip}:PORT as registered, p50 ${r.throughput.direct.latencyP50Ms} ms, 8 connections, 2 x 5 s in ABBA order with HAProxy`,
    });
    b.fig('requests/s through HAProxy', r.throughput.viaHaproxy.requestsPerSec, 'req/s', {
      note: `p50 ${r.throughput.viaHaproxy.latencyP50Ms} ms, failed ${r.throughput.viaHaproxy.failed}`,
    });
    b.fig('HAProxy / direct', r.throughput.ratio, 'ratio', { goal: '>= 0.9' });
    if (r.reload)
      b.fig(`failed requests across ${r.reload.reloads} HAProxy reloads under load`, r.reload.failed, 'req', {
        goal: '0',
        note: `of ${r.reload.total} requests`,
      });
  },

  async https(b) {
    const d = localDeployment();
    const { ensureExampleImage } = await import('../bench/images.js');
    const { benchTimeToRoute } = await import('../bench/discovery.js');
    const { benchLabelToHttps, benchTlsCost } = await import('../bench/https.js');
    await ensureExampleImage(quiet());
    // One instance routed by name (as discovery starts them), then the same app over both schemes.
    const app = await benchTimeToRoute(b.local, { keep: true });
    try {
      const runs = 5;
      const r = await benchTlsCost({ address: d.ip, host: `${app.service}.service.consul`, runs });
      const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
      b.fig('requests/s through HAProxy by name, http (reference)', r.http.median, 'req/s', {
        note: `median of ${runs}: ${list(r.http.runs)}; p50 ${r.p50Ms.http} ms, 8 connections, 4 s runs`,
      });
      b.fig('requests/s through HAProxy by name, https (TLS 1.3, SNI)', r.https.median, 'req/s', {
        note: `median of ${runs}: ${list(r.https.runs)}; p50 ${r.p50Ms.https} ms; failed ${r.httpsFailed} of ${r.httpsTotal}`,
      });
      b.fig('https / http (the cost of TLS at the edge)', r.ratio, 'ratio', {
        note: 'same app, same concurrency, alternating runs; keep-alive connections',
      });
    } finally {
      await b.local.exec(`docker rm -f ${shq(app.container)}`);
    }
    // A public name's wait, as the user waits: `paasbox deploy --wait`, then its certificate from a
    // real ACME server (Pebble on loopback) and the first good answer. It installs the stack with
    // acme: pointing at Pebble and again without: never over an ACME directory of the operator's.
    const own = (await readDeployment(b.local))?.meta.acme?.directory;
    if (own)
      throw new PaasboxError(
        `the stack has an ACME directory of its own (${own}); the public name's wait was not measured`,
        'run the https section on a stack installed without acme.directory',
      );
    const dir = mkdtempSync(join(tmpdir(), 'pb-bench-https-'));
    try {
      const runs = 5;
      const t = await benchLabelToHttps({ address: d.ip, runs, dir, paasbox, progress: quiet() });
      const list = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');
      b.fig('paasbox deploy --wait, an app with HAPROXY_0_VHOST (reference)', t.deploySeconds.median, 's', {
        note: `median of ${runs}: ${list(t.deploySeconds.runs)} s; one instance`,
      });
      b.fig('HAPROXY_0_VHOST deployed -> first good HTTPS answer by that name', t.seconds.median, 's', {
        note: `median of ${runs}: ${list(t.seconds.runs)} s; from the deploy's start; ACME from Pebble`,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },

  async converge(b) {
    // Each figure, its reference measured in the same run, and their ratio.
    const { benchConverge } = await import('../bench/converge.js');
    await benchConverge((f) => {
      b.fig(f.name, f.seconds, 's', {
        ...(f.goal ? { goal: f.goal } : {}),
        ...(f.note ? { note: f.note } : {}),
      });
      if (!f.reference) return;
      b.fig(`reference: ${f.reference.name}`, f.reference.seconds, 's');
      b.fig(`${f.name} / reference`, f.seconds / f.reference.seconds, 'ratio');
    });
  },

  async orchestration(b) {
    const { benchOrchestration } = await import('../bench/orchestration.js');
    const rows = await benchOrchestration([2, 20], quiet());
    for (const r of rows)
      b.fig(`deploy -> ${r.instances} instances reachable by name`, r.reachableSeconds, 's', {
        note: `scheduler ready at ${r.readySeconds.toFixed(1)} s`,
      });
    if (rows.length === 2)
      b.fig('20 / 2 instances', rows[1]!.reachableSeconds / rows[0]!.reachableSeconds, 'ratio');
  },

  async acl(b) {
    const runs = 5;
    const { benchAcl } = await import('../bench/acl.js');
    const { acl, noAcl } = await benchAcl({ progress: quiet(), runs, durationS: 5, connections: 8 });
    // Each ACL figure is judged by the same figure without ACLs, printed first.
    const runsNote = (ms: number[]) => `median of ${runs}: ${ms.map((m) => m.toFixed(0)).join(', ')} ms`;
    b.fig('docker run -> answer via HAProxy, no ACLs', noAcl.medianRouteMs, 'ms', {
      note: runsNote(noAcl.routeMs),
    });
    b.fig('docker run -> answer via HAProxy, ACLs', acl.medianRouteMs, 'ms', {
      goal: `≈ ${noAcl.medianRouteMs.toFixed(2)} ms (no ACLs)`,
      note: runsNote(acl.routeMs),
    });
    b.fig('time to route, ACLs / no ACLs', acl.medianRouteMs / noAcl.medianRouteMs, 'ratio', {
      note: '1 = no cost',
    });
    const direct = (t: typeof acl.throughput) =>
      `direct ${t.direct.requestsPerSec.toFixed(1)} req/s, HAProxy/direct ${t.ratio.toFixed(2)}`;
    const noAclRps = noAcl.throughput.viaHaproxy.requestsPerSec;
    b.fig('requests/s through HAProxy, no ACLs', noAclRps, 'req/s', { note: direct(noAcl.throughput) });
    b.fig('requests/s through HAProxy, ACLs', acl.throughput.viaHaproxy.requestsPerSec, 'req/s', {
      goal: `≈ ${noAclRps.toFixed(1)} req/s (no ACLs)`,
      note: direct(acl.throughput),
    });
    b.fig(
      'requests/s through HAProxy, ACLs / no ACLs',
      noAclRps > 0 ? acl.throughput.viaHaproxy.requestsPerSec / noAclRps : 0,
      'ratio',
      { note: '1 = no cost' },
    );
  },

  cluster: clusterSection,
};

export function defineBench(cmd: Command): Command {
  return cmd
    .option(
      '--only <sections>',
      `run only these sections, comma-separated (${SECTIONS.join(', ')})`,
      sectionList,
    )
    .option('--skip <sections>', 'leave these sections out, comma-separated', sectionList)
    .addOption(jsonOption())
    .description('benchmarks: figures and ratios (never pass/fail), each beside its goal where it has one')
    .action(async (f: BenchFlags) => {
      const say = (line: string) => {
        if (!f.json) process.stdout.write(line + '\n');
      };
      const results: (Figure | { section: Section; skipped: string })[] = [];
      const local = new LocalTarget();
      let model: StackModel | undefined;
      try {
        for (const section of SECTIONS) {
          if ((f.only && !f.only.includes(section)) || f.skip?.includes(section)) continue;
          say(`\n== ${section}`);
          const bench: Bench = {
            local,
            model: () => (model ??= loadStackModel()),
            fig: (name, value, unit, extra = {}) => {
              const fig: Figure = { section, name, value, unit, ...extra };
              results.push(fig);
              say(formatFigure(fig));
            },
          };
          try {
            await RUN[section](bench);
          } catch (e) {
            const why = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
            results.push({ section, skipped: why });
            say(`  ${section.padEnd(13)} skipped: ${why}`);
          }
        }
      } finally {
        await local.close();
      }
      if (f.json) process.stdout.write(JSON.stringify({ figures: results }, null, 2) + '\n');
    });
}
