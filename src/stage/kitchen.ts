// test-kitchen's lifecycle over stages: create → converge (provision) →
// verify → destroy, each instance in its own state file (instances.ts), so a
// later process finds it. `test` runs all four and keeps the instance when
// verify fails (test-kitchen's --destroy=passing). Drivers decide how a host
// comes and goes; converge and verify are injected, so this layer knows only
// stages.

import { rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PaasboxError } from '../errors.js';
import type { Progress } from '../progress.js';
import type { Target } from '../target/target.js';
import { createDindHosts } from './dind.js';
import { sshInfoFor, vagrantInfo, vmKnownHostsPath, type SshInfoOptions } from './discover.js';
import { checkInstanceName, listInstances, readInstance, removeInstance, requireInstance, writeInstance, type DriverKind, type Instance } from './instances.js';
import { openTarget } from './open.js';

export type KitchenKind = Extract<DriverKind, 'dind' | 'ssh' | 'vagrant'>;
export const KITCHEN_KINDS: KitchenKind[] = ['dind', 'ssh', 'vagrant'];

export interface CreateSpec {
  kind: KitchenKind;
  /** ssh: user@host[:port] or an ~/.ssh/config alias. */
  hostSpec?: string;
  keyPath?: string;
}

/** How instances of one kind come and go. */
export interface KitchenDriver {
  create(name: string, spec: CreateSpec): Promise<Pick<Instance, 'driver' | 'stage' | 'dind'>>;
  destroy(inst: Instance): Promise<void>;
}

/** What a kitchen verify reports back (verify's report satisfies it). */
export interface VerifyOutcome {
  passed: number;
  failed: number;
  skipped: number;
  seconds: number;
  results: { id: string; status: string }[];
}

export interface KitchenDeps<R extends VerifyOutcome> {
  drivers: Partial<Record<KitchenKind, KitchenDriver>>;
  converge(target: Target, inst: Instance): Promise<void>;
  verify(target: Target, inst: Instance): Promise<R>;
  progress?: Progress;
  cwd?: string;
}

export class Kitchen<R extends VerifyOutcome> {
  constructor(private readonly deps: KitchenDeps<R>) {}

  list(): Instance[] {
    return listInstances(this.deps.cwd).filter((i) => (KITCHEN_KINDS as string[]).includes(i.driver));
  }

  get(name: string): Instance {
    return requireInstance(name, this.deps.cwd);
  }

  /** Create (or return the already created) instance. */
  async create(name: string, spec: CreateSpec): Promise<Instance> {
    checkInstanceName(name);
    const existing = readInstance(name, this.deps.cwd);
    if (existing) return existing;
    const driver = this.driver(spec.kind);
    const made = await this.step(`create ${name} (${spec.kind})`, name, () => driver.create(name, spec));
    return this.save({ name, ...made, lifecycle: 'created', updatedAt: '' });
  }

  async converge(name: string): Promise<Instance> {
    const inst = this.get(name);
    await this.withTarget(inst, (t) => this.deps.converge(t, inst));
    return this.save({ ...this.get(name), lifecycle: 'converged' });
  }

  async verify(name: string): Promise<R> {
    const inst = this.get(name);
    const report = await this.withTarget(inst, (t) => this.deps.verify(t, inst));
    this.save({
      ...this.get(name),
      lifecycle: report.failed ? 'failed' : 'verified',
      lastVerify: {
        at: new Date().toISOString(),
        passed: report.passed,
        failed: report.failed,
        skipped: report.skipped,
        seconds: report.seconds,
        failures: report.results.filter((r) => r.status === 'failed').map((r) => r.id),
      },
    });
    return report;
  }

  async destroy(name: string): Promise<void> {
    const inst = this.get(name);
    if (!(KITCHEN_KINDS as string[]).includes(inst.driver))
      throw new PaasboxError(`instance "${name}" was made by install (${inst.driver}), not by kitchen`, 'remove it with: npx paasbox uninstall');
    await this.step(`destroy ${name} (${inst.driver})`, name, () => this.driver(inst.driver as KitchenKind).destroy(inst));
    removeInstance(name, this.deps.cwd);
  }

  /** create, converge, verify; destroy only when verify passed. */
  async test(name: string, spec: CreateSpec): Promise<{ report: R; destroyed: boolean }> {
    await this.create(name, spec);
    await this.converge(name);
    const report = await this.verify(name);
    if (report.failed === 0) {
      await this.destroy(name);
      return { report, destroyed: true };
    }
    this.deps.progress?.say(`[${name}] verify failed: instance kept for inspection; destroy it with: npx paasbox kitchen destroy ${name}`);
    return { report, destroyed: false };
  }

  private async withTarget<T>(inst: Instance, fn: (t: Target) => Promise<T>): Promise<T> {
    const target = openTarget(inst.stage);
    try {
      return await fn(target);
    } finally {
      await target.close();
    }
  }

  private driver(kind: KitchenKind): KitchenDriver {
    const d = this.deps.drivers[kind];
    if (!d) throw new PaasboxError(`no kitchen driver for "${kind}" instances`, `use --kind ${KITCHEN_KINDS.join('|')}`);
    return d;
  }

  private save(inst: Instance): Instance {
    return writeInstance(inst, this.deps.cwd);
  }

  private async step<T>(what: string, host: string, fn: () => Promise<T>): Promise<T> {
    const p = this.deps.progress;
    if (!p) return fn();
    let out!: T;
    await p.step(what, host, async () => {
      out = await fn();
      return { status: 'changed' as const };
    });
    return out;
  }
}

// ---------------------------------------------------------------- drivers

/** An existing SSH host: create records it, destroy forgets it (the host and its stack stay). */
export function sshDriver(lookup?: SshInfoOptions['lookup']): KitchenDriver {
  return {
    async create(name, spec) {
      if (!spec.hostSpec) throw new PaasboxError(`ssh instance "${name}" needs a host`, 'pass --host user@host[:port] (and --key FILE)');
      const ssh = await sshInfoFor(spec.hostSpec, { ...(spec.keyPath ? { keyPath: spec.keyPath } : {}), ...(lookup ? { lookup } : {}) });
      return { driver: 'ssh', stage: { kind: 'ssh', ssh } };
    },
    async destroy() {},
  };
}

/** Runs a command on this machine (docker, vagrant); injected for tests. */
export type LocalRun = (cmd: string, args: string[]) => Promise<{ stdout: string }>;
const execRun: LocalRun = (cmd, args) => promisify(execFile)(cmd, args, { maxBuffer: 64 << 20 });

/** Disposable docker-in-docker hosts; destroy works from the recorded names alone, in a later process too. */
export function dindDriver(opts: { prefix?: string; run?: LocalRun; create?: typeof createDindHosts } = {}): KitchenDriver {
  const run = opts.run ?? execRun;
  return {
    async create(name) {
      const set = await (opts.create ?? createDindHosts)(1, { prefix: `${opts.prefix ?? 'paasbox-kitchen'}-${name}`, withDocker: true });
      const h = set.hosts[0]!;
      return { driver: 'dind', stage: { kind: 'ssh', ssh: h.ssh }, dind: { container: h.name, network: set.network, workDir: set.keyPath.replace(/\/[^/]+$/, '') } };
    },
    async destroy(inst) {
      const d = inst.dind ?? {};
      if (d.container) await run('docker', ['rm', '-f', d.container]).catch(() => undefined);
      if (d.network) await run('docker', ['network', 'rm', d.network]).catch(() => undefined);
      // Only the temp dir the driver made (the schema allows nothing else).
      if (d.workDir && /^\/tmp\/[^/]+$/.test(d.workDir)) rmSync(d.workDir, { recursive: true, force: true });
    },
  };
}

/** A machine of the Vagrantfile in the working directory. */
export function vagrantDriver(run: LocalRun = execRun): KitchenDriver {
  return {
    async create(name) {
      const ssh = await vagrantInfo({ machine: name, instance: name });
      return { driver: 'vagrant', stage: { kind: 'ssh', ssh } };
    },
    async destroy(inst) {
      await run('vagrant', ['destroy', '-f', inst.name]);
      // The next VM of that name has a new host key.
      rmSync(vmKnownHostsPath(inst.name), { force: true });
    },
  };
}
