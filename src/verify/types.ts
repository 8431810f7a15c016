// Types shared by the verify modules: a Check is derived from the stack model
// or from Consul's catalog, runs on a Target and yields an Outcome.

import type { Target } from '../target/target.js';
import type { ContainerState } from './docker.js';
import type { Tools } from '../system/http.js';

/** What one run of a check saw. */
export interface Outcome {
  ok: boolean;
  expected: string;
  got: string;
  /** A failure retrying cannot mend (e.g. no such container): stop trying. */
  final?: boolean;
}

/** Shared, lazily gathered facts about the target during one verify run. */
export interface VerifyContext {
  /** The address the checks talk to on the target (settings.ip, else 127.0.0.1). */
  address: string;
  tools: Tools;
  /**
   * Where the checks' logins are read: this machine's copy, as the user (verify --from-here); default the
   * target's SECRETS_DIR, as root.
   */
  localSecretsDir?: string;
  /** Containers of the compose project (fresh if older than a second). */
  containers(): Promise<ContainerState[]>;
  /** Containers as first sampled in this run (the crash-loop baseline). */
  baseline(): Promise<ContainerState[]>;
}

export interface Check {
  /** Stable id, e.g. "haproxy/stats/http:/haproxyStats". */
  id: string;
  service: string;
  /** The target's name, for grouping in reports. */
  host: string;
  description: string;
  /** When set the check is not run and is reported skipped with this reason. */
  skip?: string;
  /** Tries before the check counts as failed (DNS and health need a few). */
  attempts?: number;
  delayMs?: number;
  /**
   * A probe over the network to ctx.address (HTTP, TCP, four-letter word, DNS): with a probing host (verify
   * --from-here) it runs there.
   */
  network?: boolean;
  run(target: Target, ctx: VerifyContext): Promise<Outcome>;
}

export type CheckStatus = 'passed' | 'failed' | 'skipped';

export interface CheckResult {
  id: string;
  service: string;
  host: string;
  description: string;
  status: CheckStatus;
  expected: string;
  got: string;
  /** Why it was skipped. */
  reason?: string;
  attempts: number;
  seconds: number;
}

export interface VerifyReport {
  target: string;
  startedAt: string;
  seconds: number;
  passed: number;
  failed: number;
  skipped: number;
  results: CheckResult[];
}
