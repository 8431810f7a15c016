// A Target that answers some commands from a script (docker, ss: the parts a
// unit test cannot own on a shared machine) and runs everything else on this
// machine through LocalTarget, so probes really talk to loopback fakes
// (rewritten first when `rewrite` is given, e.g. to move a path to a temp dir).
import { createHash } from 'node:crypto';
import { LocalTarget } from '../../src/target/local.js';
import type { ExecOptions, ExecResult, Forward, Target, TargetFacts } from '../../src/target/target.js';

export type Script = (command: string) => ExecResult | undefined;

export class ScriptedTarget implements Target {
  readonly address = '127.0.0.1';
  readonly commands: string[] = [];
  private readonly local = new LocalTarget();
  constructor(
    readonly name: string,
    public script: Script,
    private readonly rewrite: (command: string) => string = (c) => c,
  ) {}

  async exec(command: string, opts?: ExecOptions): Promise<ExecResult> {
    this.commands.push(command);
    return this.script(command) ?? this.local.exec(this.rewrite(command), opts);
  }
  copy(): Promise<void> {
    throw new Error('not scripted');
  }
  writeFile(): Promise<void> {
    throw new Error('not scripted');
  }
  forward(): Promise<Forward> {
    throw new Error('not scripted');
  }
  facts(): Promise<TargetFacts> {
    return this.local.facts();
  }
  async close(): Promise<void> {}
}

export const ok = (stdout: string): ExecResult => ({ code: 0, stdout, stderr: '' });

/** docker inspect JSON for a compose container. */
export function inspectJson(c: {
  name: string;
  service: string;
  project?: string;
  status?: string;
  health?: string;
  restartPolicy?: string;
  restartCount?: number;
  published?: number[];
}): object {
  const status = c.status ?? 'running';
  return {
    // 64 hex digits, as docker prints them (lookups refuse any other id).
    Id: createHash('sha256').update(c.name).digest('hex'),
    Name: `/${c.name}`,
    RestartCount: c.restartCount ?? 0,
    State: {
      Status: status,
      Running: status === 'running',
      ExitCode: status === 'running' ? 0 : 137,
      ...(c.health ? { Health: { Status: c.health, Log: [{ Output: 'probe said ' + c.health }] } } : {}),
    },
    Config: {
      Image: `paasbox/${c.service}:local`,
      Labels: {
        'com.docker.compose.project': c.project ?? 'paasbox',
        'com.docker.compose.service': c.service,
      },
    },
    HostConfig: {
      RestartPolicy: { Name: c.restartPolicy ?? 'unless-stopped' },
      NetworkMode: c.published ? 'bridge' : 'host',
    },
    NetworkSettings: {
      Ports: c.published
        ? Object.fromEntries(
            c.published.map((p) => [`${p}/tcp`, [{ HostIp: '0.0.0.0', HostPort: String(p) }]]),
          )
        : {},
    },
  };
}
