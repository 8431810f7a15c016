// An instance's lifecycle, as test-kitchen's instance.rb: create (a driver
// brings the host up) → converge (the install path) → verify → destroy, each
// instance in its own state file (state.ts), so a later process finds it.
// `test` runs all four and keeps the instance when verify fails
// (test-kitchen's --destroy=passing). The drivers (src/drivers/), converge
// and verify are injected, so this layer knows only instances.

import { PaasboxError } from '../errors.js';
import type { Progress } from '../progress.js';
import type { Target } from '../target/target.js';
import type { Driver, DriverName, HostState } from '../drivers/driver.js';
import { KITCHEN_DRIVERS } from '../drivers/index.js';
import { checkInstanceName } from '../paths.js';
import {
  listInstances,
  readInstance,
  removeInstance,
  requireInstance,
  writeInstance,
  type Instance,
} from './state.js';
import { openTarget } from './open.js';

export interface CreateSpec {
  kind: DriverName;
  /** ssh: user@host[:port] or an ~/.ssh/config alias. */
  hostSpec?: string;
  keyPath?: string;
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
  drivers: Partial<Record<DriverName, Driver>>;
  /** Install on the instance's host (it reaches the host itself). */
  converge(inst: Instance): Promise<void>;
  verify(target: Target, inst: Instance): Promise<R>;
  progress?: Progress;
  cwd?: string;
}

export class Kitchen<R extends VerifyOutcome> {
  constructor(private readonly deps: KitchenDeps<R>) {}

  list(): Instance[] {
    return listInstances(this.deps.cwd).filter((i) => KITCHEN_DRIVERS.includes(i.driver));
  }

  /** Each instance with where its host stands now, as its driver tells (Vagrant's `state`). */
  async listWithState(): Promise<{ instance: Instance; host: HostState }[]> {
    return Promise.all(
      this.list().map(async (instance) => {
        const d = this.deps.drivers[instance.driver];
        const unknown = (detail: string): HostState => ({ state: 'unknown', detail });
        const host = d
          ? await d.state(instance).catch((e: unknown) => unknown(e instanceof Error ? e.message : String(e)))
          : unknown(`no ${instance.driver} driver here`);
        return { instance, host };
      }),
    );
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
    // A Vagrant machine of a kitchen instance carries the instance's name.
    const opts = {
      instance: name,
      machine: name,
      ...(spec.hostSpec ? { host: spec.hostSpec } : {}),
      ...(spec.keyPath ? { keyPath: spec.keyPath } : {}),
    };
    const made = await this.step(`create ${name} (${spec.kind})`, name, () => driver.create(opts));
    return this.save({
      name,
      driver: driver.name,
      stage: made.ref,
      ...(made.dind ? { dind: made.dind } : {}),
      lifecycle: 'created',
      updatedAt: '',
    });
  }

  async converge(name: string): Promise<Instance> {
    const inst = this.get(name);
    await this.deps.converge(inst);
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
    if (!KITCHEN_DRIVERS.includes(inst.driver))
      throw new PaasboxError(
        `instance "${name}" was made by install (${inst.driver}), not by kitchen`,
        'remove it with: npx paasbox uninstall',
      );
    await this.step(`destroy ${name} (${inst.driver})`, name, () => this.driver(inst.driver).destroy(inst));
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
    this.deps.progress?.say(
      `[${name}] verify failed: instance kept for inspection; destroy it with: npx paasbox kitchen destroy ${name}`,
    );
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

  private driver(kind: DriverName): Driver {
    const d = this.deps.drivers[kind];
    if (!d)
      throw new PaasboxError(
        `no kitchen driver for "${kind}" instances`,
        `use --kind ${KITCHEN_DRIVERS.join('|')}`,
      );
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
