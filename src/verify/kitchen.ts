// test-kitchen style lifecycle over instances (disposable test hosts, existing
// SSH hosts, Vagrant machines): create → converge (provision) → verify →
// destroy, with the instances kept in .paasbox/kitchen.json so a later
// `verify` (or `destroy`) finds them. `test` runs all four and keeps the
// instance when verify fails, so it can be inspected.

import { mkdirSync, readFileSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PaasboxError } from '../errors.js';
import type { Progress } from '../progress.js';
import type { Target } from '../target/target.js';
import type { VerifyReport } from './types.js';

export type InstanceKind = 'testhost' | 'ssh' | 'vagrant';
export type InstanceState = 'created' | 'converged' | 'verified' | 'failed';

export interface KitchenInstance {
  name: string;
  kind: InstanceKind;
  host: string;
  port: number;
  user: string;
  keyPath?: string;
  knownHostsPath?: string;
  /** testhost: the container, its network and the temp dir holding its key. */
  container?: string;
  network?: string;
  workDir?: string;
  state: InstanceState;
  lastVerify?: { at: string; passed: number; failed: number; skipped: number; seconds: number; failures: string[] };
  updatedAt: string;
}

export interface KitchenState {
  instances: Record<string, KitchenInstance>;
}

export function kitchenPath(cwd = process.cwd()): string {
  return join(cwd, '.paasbox', 'kitchen.json');
}

export function readKitchen(cwd = process.cwd()): KitchenState {
  const p = kitchenPath(cwd);
  if (!existsSync(p)) return { instances: {} };
  try {
    const s = JSON.parse(readFileSync(p, 'utf8')) as KitchenState;
    return { instances: s.instances ?? {} };
  } catch (e) {
    throw new PaasboxError(`${p} is not valid JSON`, `fix or delete ${p} (instances listed in it are then forgotten)`, e instanceof Error ? e.message : String(e));
  }
}

export function writeKitchen(state: KitchenState, cwd = process.cwd()): void {
  const p = kitchenPath(cwd);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(`${p}.tmp`, JSON.stringify(state, null, 2) + '\n');
  renameSync(`${p}.tmp`, p);
}

/** How instances of one kind come and go. */
export interface KitchenDriver {
  create(name: string, spec: CreateSpec): Promise<Omit<KitchenInstance, 'state' | 'updatedAt'>>;
  destroy(inst: KitchenInstance): Promise<void>;
}

export interface CreateSpec {
  kind: InstanceKind;
  /** ssh: user@host[:port] of an existing host. */
  hostSpec?: string;
  keyPath?: string;
}

/** What the kitchen needs from the rest of paasbox, injected so tests and scripts choose. */
export interface KitchenDeps {
  drivers: Partial<Record<InstanceKind, KitchenDriver>>;
  connect(inst: KitchenInstance): Target;
  converge(target: Target, inst: KitchenInstance): Promise<void>;
  verify(target: Target, inst: KitchenInstance): Promise<VerifyReport>;
  progress?: Progress;
  cwd?: string;
}

export interface TestOutcome {
  report: VerifyReport;
  destroyed: boolean;
}

export class Kitchen {
  constructor(private readonly deps: KitchenDeps) {}

  list(): KitchenInstance[] {
    return Object.values(readKitchen(this.deps.cwd).instances);
  }

  get(name: string): KitchenInstance {
    const inst = readKitchen(this.deps.cwd).instances[name];
    if (!inst) {
      const known = this.list().map((i) => i.name);
      throw new PaasboxError(
        `no kitchen instance "${name}" in ${kitchenPath(this.deps.cwd)}`,
        known.length ? `use one of: ${known.join(', ')}, or create it: npx zx scripts/kitchen.mjs create ${name}` : `create it first: npx zx scripts/kitchen.mjs create ${name}`,
      );
    }
    return inst;
  }

  /** Create (or return the already created) instance. */
  async create(name: string, spec: CreateSpec): Promise<KitchenInstance> {
    if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(name)) throw new PaasboxError(`instance name "${name}" is not usable`, 'use lowercase letters, digits and hyphens, e.g. default or ssh-1');
    const existing = readKitchen(this.deps.cwd).instances[name];
    if (existing) return existing;
    const driver = this.driver(spec.kind);
    const made = await this.step(`create ${name} (${spec.kind})`, name, () => driver.create(name, spec));
    const inst: KitchenInstance = { ...made, state: 'created', updatedAt: new Date().toISOString() };
    this.save(inst);
    return inst;
  }

  async converge(name: string): Promise<KitchenInstance> {
    const inst = this.get(name);
    const target = this.deps.connect(inst);
    try {
      await this.deps.converge(target, inst);
    } finally {
      await target.close();
    }
    return this.save({ ...inst, state: 'converged' });
  }

  async verify(name: string): Promise<VerifyReport> {
    const inst = this.get(name);
    const target = this.deps.connect(inst);
    let report: VerifyReport;
    try {
      report = await this.deps.verify(target, inst);
    } finally {
      await target.close();
    }
    this.save({
      ...inst,
      state: report.failed ? 'failed' : 'verified',
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
    await this.step(`destroy ${name} (${inst.kind})`, name, () => this.driver(inst.kind).destroy(inst));
    const s = readKitchen(this.deps.cwd);
    delete s.instances[name];
    writeKitchen(s, this.deps.cwd);
  }

  /** create, converge, verify; destroy only when verify passed (test-kitchen's --destroy=passing). */
  async test(name: string, spec: CreateSpec): Promise<TestOutcome> {
    await this.create(name, spec);
    await this.converge(name);
    const report = await this.verify(name);
    if (report.failed === 0) {
      await this.destroy(name);
      return { report, destroyed: true };
    }
    this.deps.progress?.say(`[${name}] verify failed: instance kept for inspection; destroy it with: npx zx scripts/kitchen.mjs destroy ${name}`);
    return { report, destroyed: false };
  }

  private driver(kind: InstanceKind): KitchenDriver {
    const d = this.deps.drivers[kind];
    if (!d) throw new PaasboxError(`no kitchen driver for "${kind}" instances here`, kind === 'testhost' ? 'run npm run build (the test host driver lives in dist/spec/helpers)' : 'use --kind testhost or --kind ssh');
    return d;
  }

  private save(inst: KitchenInstance): KitchenInstance {
    const s = readKitchen(this.deps.cwd);
    const next = { ...inst, updatedAt: new Date().toISOString() };
    s.instances[inst.name] = next;
    writeKitchen(s, this.deps.cwd);
    return next;
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
export function sshDriver(parse: (spec: string) => { user: string; host: string; port: number }): KitchenDriver {
  return {
    async create(name, spec) {
      if (!spec.hostSpec) throw new PaasboxError(`ssh instance "${name}" needs a host`, `pass --host user@host[:port] (and --key FILE)`);
      const h = parse(spec.hostSpec);
      return { name, kind: 'ssh', host: h.host, port: h.port, user: h.user, ...(spec.keyPath ? { keyPath: spec.keyPath } : {}) };
    },
    async destroy() {},
  };
}

/** Runs a command on this machine (docker, vagrant); injected for tests. */
export type LocalRun = (cmd: string, args: string[]) => Promise<{ stdout: string }>;

/** The subset of spec/helpers/testhosts.ts createTestHosts the kitchen uses. */
export type CreateTestHosts = (
  n: number,
  opts: { prefix: string; withDocker?: boolean },
) => Promise<{ hosts: { name: string; address: string; port: number; user: string; keyPath: string }[]; network: string; keyPath: string; knownHostsPath: string }>;

/**
 * Disposable docker-in-docker hosts (spec/helpers/testhosts.ts). Destroy works
 * from the recorded names alone, so it can run in a later process.
 */
export function testhostDriver(createTestHosts: CreateTestHosts, run: LocalRun, prefix = 'paasbox-kitchen'): KitchenDriver {
  return {
    async create(name) {
      const th = await createTestHosts(1, { prefix: `${prefix}-${name}`, withDocker: true });
      const h = th.hosts[0]!;
      return {
        name,
        kind: 'testhost',
        host: h.address,
        port: h.port,
        user: h.user,
        keyPath: h.keyPath,
        knownHostsPath: th.knownHostsPath,
        container: h.name,
        network: th.network,
        workDir: dirname(th.keyPath),
      };
    },
    async destroy(inst) {
      if (inst.container) await run('docker', ['rm', '-f', inst.container]).catch(() => undefined);
      if (inst.network) await run('docker', ['network', 'rm', inst.network]).catch(() => undefined);
      // Only the temp dir createTestHosts made (never a user path).
      if (inst.workDir && /^\/tmp\/[^/]+$/.test(inst.workDir)) await run('rm', ['-rf', inst.workDir]).catch(() => undefined);
    },
  };
}

/** `vagrant ssh-config NAME` → how to reach the machine. */
export function parseVagrantSshConfig(out: string): { host: string; port: number; user: string; keyPath?: string } {
  const get = (k: string) => new RegExp(`^\\s*${k}\\s+(.+)$`, 'mi').exec(out)?.[1]?.trim().replace(/^"(.*)"$/, '$1');
  const host = get('HostName');
  if (!host) throw new PaasboxError('vagrant ssh-config printed no HostName', 'check that the machine is up: vagrant status', out.slice(0, 500));
  const key = get('IdentityFile');
  return { host, port: Number(get('Port') ?? 22), user: get('User') ?? 'vagrant', ...(key ? { keyPath: key } : {}) };
}

/** A Vagrant machine of the Vagrantfile in cwd. */
export function vagrantDriver(run: LocalRun): KitchenDriver {
  return {
    async create(name) {
      await run('vagrant', ['up', name]);
      const cfg = parseVagrantSshConfig((await run('vagrant', ['ssh-config', name])).stdout);
      return { name, kind: 'vagrant', ...cfg };
    },
    async destroy(inst) {
      await run('vagrant', ['destroy', '-f', inst.name]);
    },
  };
}
