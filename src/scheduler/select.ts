// Which scheduler deploys: Marathon's API when the recorded stack serves it
// (its compose file on the target says so: real Marathon, or paasbox's apps
// API, which speaks it over swarm), else Docker swarm mode on the target
// (Mesos and Marathon have no offline source, so a stack built with --source
// local has no Marathon). Never chosen by asking the network: anything that
// answers /ping on :8080 (an app can bind it) would receive every deploy.
import { stackHasMarathon } from '../apps/bounds.js';
import type { AppPolicy } from '../apps/policy.js';
import { PaasboxError } from '../errors.js';
import { MarathonClient, marathonCredentialsFromFile } from '../marathon/client.js';
import { SECRET_FILES } from '../secrets/secrets.js';
import { localSecretsDir } from '../secrets/store.js';
import type { Progress } from '../progress.js';
import type { ApiLogin } from './api-endpoint.js';
import type { Deployment } from '../stackfile/deployment.js';
import type { Target } from '../target/target.js';
import { MarathonScheduler } from './marathon.js';
import type { Scheduler } from './scheduler.js';
import { ensureSwarm } from '../swarm/membership.js';
import { SwarmScheduler } from './swarm.js';

export type SchedulerChoice = 'auto' | 'marathon' | 'swarm';

export interface SelectOptions {
  choice?: SchedulerChoice;
  /** The swarm manager / stack master. Needed for swarm. */
  target?: Target;
  /** Swarm workers to join (only when the swarm scheduler is picked). */
  workers?: Target[];
  /** Default http://ADVERTISED_ADDRESS:8080. Given, it chooses Marathon (the operator named it). */
  marathonUrl?: string;
  /** The deployed stack as its compose file on the target records it: whether it runs Marathon. */
  stack?: Pick<Deployment, 'services'>;
  /**
   * The stack's advertised address on the target (the recorded deployment's ip); default the target's
   * address.
   */
  advertiseAddr?: string;
  /** The app policy (allowances and bounds); the swarm back-end checks apps against it again. */
  policy?: AppPolicy;
  progress?: Progress;
  /**
   * Whose Marathon login to use (this machine's .paasbox/secrets/INSTANCE/, written by install; default
   * "default").
   */
  instance?: string;
  /** The login to send instead (a team's token, or the operator's login already read). */
  login?: ApiLogin;
  /**
   * The Marathon URL is paasbox's apps API (default: the recorded stack runs apps-api): the app goes as
   * written, with the operator's exceptions as allow=….
   */
  appsApi?: boolean;
}

export function defaultMarathonUrl(target?: Target, advertiseAddr?: string): string | undefined {
  const a = advertiseAddr ?? target?.address;
  return a ? `http://${a.includes(':') && !a.startsWith('[') ? `[${a}]` : a}:8080` : undefined;
}

/** The scheduler the stack has: chosen from the record and the operator's flags, never probed (pure). */
export function schedulerKind(
  opts: Pick<SelectOptions, 'choice' | 'marathonUrl' | 'stack'>,
): 'marathon' | 'swarm' {
  const choice = opts.choice ?? 'auto';
  if (choice !== 'auto') return choice;
  if (opts.stack) return stackHasMarathon(opts.stack) ? 'marathon' : 'swarm';
  return opts.marathonUrl ? 'marathon' : 'swarm';
}

/** The login: the one given, else the file install keeps on this machine (issue 19); none, no login. */
function loginOptions(opts: Pick<SelectOptions, 'login' | 'instance'>): {
  token?: string;
  credentials?: { user: string; password: string };
} {
  const login = opts.login;
  if (login?.kind === 'token') return { token: login.token };
  if (login?.kind === 'operator') return { credentials: login.credentials };
  if (login?.kind === 'none') return {};
  const file = `${localSecretsDir(opts.instance ?? 'default')}/${SECRET_FILES.marathonCredentials}`;
  const credentials = marathonCredentialsFromFile(file);
  return credentials ? { credentials } : {};
}

export async function selectScheduler(opts: SelectOptions): Promise<Scheduler> {
  if (schedulerKind(opts) === 'marathon') {
    const url = opts.marathonUrl ?? defaultMarathonUrl(opts.target, opts.advertiseAddr);
    if (!url)
      throw new PaasboxError(
        'no Marathon URL to deploy to',
        'pass --marathon http://HOST:8080 or --target HOST',
      );
    const appsApi = opts.appsApi ?? opts.stack?.services.includes('apps-api') ?? false;
    const auth = { ...loginOptions(opts), ...(appsApi ? { name: 'the apps API', urlFlag: '--api' } : {}) };
    const client = new MarathonClient({ baseUrl: url, timeoutMs: 5000, ...auth });
    if (!(await client.ping())) {
      throw new PaasboxError(
        `${appsApi ? 'the apps API' : 'Marathon'} does not answer at ${url}/ping`,
        appsApi
          ? 'check that the stack runs apps-api (npx paasbox status), or pass the right --api URL'
          : 'start the stack with Marathon (npx paasbox stack up; it needs --source registry), or use --scheduler swarm',
      );
    }
    return new MarathonScheduler(new MarathonClient({ baseUrl: url, ...auth }), opts.policy, appsApi);
  }
  if (!opts.target)
    throw new PaasboxError(
      'the swarm scheduler needs a target host',
      'pass --target HOST (the swarm manager)',
    );
  await ensureSwarm(opts.target, opts.workers ?? [], {
    ...(opts.progress ? { progress: opts.progress } : {}),
    ...(opts.advertiseAddr ? { advertiseAddr: opts.advertiseAddr } : {}),
  });
  return new SwarmScheduler(opts.target, opts.policy ? { policy: opts.policy } : {});
}
