// One state file per instance, as test-kitchen keeps .kitchen/NAME.yml:
// .paasbox/instances/NAME.json (or $PAASBOX_STATE_DIR/instances/NAME.json).
// install records its target as the instance "default", kitchen records its
// own; stack, verify, deploy, tunnel and info read it back and connect the same
// way. Each file is validated against stacks/schema/instance.schema.json on
// read and write, and written atomically (temp file + rename).

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PaasboxError } from '../errors.js';
import type { ImageSourceName } from '../model/model.js';
import { assertValid, projectValidator } from '../model/validate.js';
import type { DindState, DriverName } from '../drivers/driver.js';
import { checkInstanceName, INSTANCE_NAME_RE, stateDir, DEFAULT_INSTANCE } from '../paths.js';
import type { SshInfo, StageRef } from '../target/ssh-info.js';

export type Lifecycle = 'created' | 'converged' | 'verified' | 'failed';

/** What install put there, and the settings the user chose for it. */
export interface DeploymentRecord {
  ip: string;
  hostname?: string;
  imageSource: ImageSourceName;
  composePath: string;
  project: string;
  /** Settings given by flag or environment at install; a later run without them keeps them. */
  pinned?: {
    hostname?: string;
    ip?: string;
    imageSource?: ImageSourceName;
    domain?: string;
    services?: Record<string, { enabled?: boolean }>;
  };
}

/** One host of a cluster: how to reach it, and what it advertises. */
export interface ClusterMember {
  ssh: SshInfo;
  ip: string;
  hostname?: string;
}

export interface Instance {
  name: string;
  /** The driver that brought the host up. */
  driver: DriverName;
  /** install's --mode word for that driver (standalone, ssh, vagrant, boot2docker); kitchen's have none. */
  mode?: string;
  stage: StageRef;
  lifecycle: Lifecycle;
  deployment?: DeploymentRecord;
  /** A cluster's hosts (stage and deployment are its first master's). */
  cluster?: { masters: ClusterMember[]; agents: ClusterMember[] };
  /** A docker-in-docker host's container, network and key directory. */
  dind?: DindState;
  lastVerify?: {
    at: string;
    passed: number;
    failed: number;
    skipped: number;
    seconds: number;
    failures: string[];
  };
  updatedAt: string;
}

export { DEFAULT_INSTANCE };

export function instancePath(name: string, cwd = process.cwd()): string {
  return join(stateDir(cwd), 'instances', `${checkInstanceName(name)}.json`);
}

function validate(obj: unknown, where: string): Instance {
  assertValid(
    projectValidator('instance'),
    obj,
    where,
    `fix or delete ${where} (then install or kitchen create records it again)`,
  );
  return obj as Instance;
}

export function readInstance(name: string, cwd = process.cwd()): Instance | undefined {
  const p = instancePath(name, cwd);
  if (!existsSync(p)) return undefined;
  let obj: unknown;
  try {
    obj = JSON.parse(readFileSync(p, 'utf8'));
  } catch (e) {
    throw new PaasboxError(
      `${p} is not valid JSON`,
      `delete ${p} and run install (or kitchen create) again`,
      e instanceof Error ? e.message : String(e),
    );
  }
  return validate(obj, p);
}

/** Validate, then write through a temp file so a reader never sees half a file. */
export function writeInstance(inst: Instance, cwd = process.cwd()): Instance {
  const p = instancePath(inst.name, cwd);
  const next = { ...inst, updatedAt: new Date().toISOString() };
  validate(next, p);
  mkdirSync(join(stateDir(cwd), 'instances'), { recursive: true, mode: 0o700 });
  const tmp = `${p}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, p);
  return next;
}

export function removeInstance(name: string, cwd = process.cwd()): void {
  rmSync(instancePath(name, cwd), { force: true });
}

export function listInstances(cwd = process.cwd()): Instance[] {
  const dir = join(stateDir(cwd), 'instances');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && INSTANCE_NAME_RE.test(f.slice(0, -5)))
    .map((f) => readInstance(f.slice(0, -5), cwd))
    .filter((i): i is Instance => !!i);
}

/** The instance a command means: the one named, else install's "default"; a named one must exist. */
export function requireInstance(name: string, cwd = process.cwd()): Instance {
  const inst = readInstance(name, cwd);
  if (inst) return inst;
  const known = listInstances(cwd).map((i) => i.name);
  throw new PaasboxError(
    `no instance "${name}" in ${join(stateDir(cwd), 'instances')}`,
    name === DEFAULT_INSTANCE
      ? 'install first (npx paasbox install), or name a target with --target'
      : known.length
        ? `use one of: ${known.join(', ')}, or create it: npx paasbox kitchen create ${name}`
        : `create it first: npx paasbox kitchen create ${name}`,
  );
}
