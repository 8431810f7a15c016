// The one interface deploy scripts use, whichever scheduler runs the apps:
// Marathon on Mesos when the stack has it, else Docker swarm mode. Both take
// the same Marathon app definition.
import type { MarathonApp } from '../appspec/app.js';

export type SchedulerKind = 'marathon' | 'swarm';

/** One running instance of an app, reachable at host:ports. */
export interface AppInstance {
  id: string;
  /** Address of the node running it (as the scheduler knows it). */
  host: string;
  /** Host ports, in port-mapping order. */
  ports: number[];
  healthy: boolean;
}

export interface AppState {
  /** Marathon app id, e.g. /python1. */
  id: string;
  /** Instances asked for. */
  instances: number;
  /** Instances running (and healthy where the app has health checks). */
  ready: number;
  image?: string;
}

export interface DeployOutcome {
  /** false when an existing app was updated. */
  created: boolean;
  /** Things of the app definition the scheduler could not honour. */
  warnings: string[];
}

export interface Scheduler {
  readonly kind: SchedulerKind;
  /** Where it runs, for progress lines: a URL or a target name. */
  readonly where: string;
  deploy(app: MarathonApp): Promise<DeployOutcome>;
  scale(id: string, instances: number): Promise<void>;
  /** false when there was no such app. */
  destroy(id: string): Promise<boolean>;
  list(): Promise<AppState[]>;
  /** Wait until every wanted instance runs and passes its health checks. */
  waitReady(id: string, timeoutMs: number): Promise<AppInstance[]>;
}
