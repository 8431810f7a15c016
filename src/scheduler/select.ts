// Which scheduler deploys: Marathon when it answers /ping on the master, else
// Docker swarm mode on the target (Mesos and Marathon have no offline source,
// so a stack built with --source local has no Marathon).
import { PaasboxError } from '../errors.js';
import type { AppSafety } from '../marathon/app.js';
import { MarathonClient } from '../marathon/client.js';
import type { Progress } from '../progress.js';
import type { Target } from '../target/target.js';
import { MarathonScheduler } from './marathon.js';
import type { Scheduler } from './scheduler.js';
import { SwarmScheduler, ensureSwarm } from './swarm.js';

export type SchedulerChoice = 'auto' | 'marathon' | 'swarm';

export interface SelectOptions {
  choice?: SchedulerChoice;
  /** The swarm manager / stack master. Needed for swarm. */
  target?: Target;
  /** Swarm workers to join (only when the swarm scheduler is picked). */
  workers?: Target[];
  /** Default http://ADVERTISED_ADDRESS:8080. */
  marathonUrl?: string;
  /** The stack's advertised address on the target (the recorded deployment's ip); default the target's address. */
  advertiseAddr?: string;
  /** What deploy allows beyond the safe default; the swarm back-end checks apps against it again. */
  safety?: AppSafety;
  progress?: Progress;
}

export function defaultMarathonUrl(target?: Target, advertiseAddr?: string): string | undefined {
  const a = advertiseAddr ?? target?.address;
  return a ? `http://${a.includes(':') && !a.startsWith('[') ? `[${a}]` : a}:8080` : undefined;
}

export async function selectScheduler(opts: SelectOptions): Promise<Scheduler> {
  const choice = opts.choice ?? 'auto';
  const url = opts.marathonUrl ?? defaultMarathonUrl(opts.target, opts.advertiseAddr);
  if (choice !== 'swarm' && url) {
    const client = new MarathonClient({ baseUrl: url, timeoutMs: 5000 });
    if (await client.ping()) return new MarathonScheduler(new MarathonClient({ baseUrl: url }));
    if (choice === 'marathon') {
      throw new PaasboxError(`Marathon does not answer at ${url}/ping`, 'start the stack with Marathon (it needs --source registry or a loaded mesosphere/marathon image), or use --scheduler swarm');
    }
  }
  if (choice === 'marathon') throw new PaasboxError('no Marathon URL to deploy to', 'pass --marathon http://HOST:8080 or --target HOST');
  if (!opts.target) throw new PaasboxError('the swarm scheduler needs a target host', 'pass --target HOST (the swarm manager)');
  await ensureSwarm(opts.target, opts.workers ?? [], { ...(opts.progress ? { progress: opts.progress } : {}), ...(opts.advertiseAddr ? { advertiseAddr: opts.advertiseAddr } : {}) });
  return new SwarmScheduler(opts.target, opts.safety ? { safety: opts.safety } : {});
}
