// The app format: a Marathon app definition, the one input for deploying
// apps, whether the scheduler is Marathon itself or Docker swarm. Its types
// and the readings every consumer shares; validate.ts checks a document
// against the schema, fields.ts each field's grammar, and src/apps/policy.ts
// what an app may ask of the hosts.

export interface MarathonPortMapping {
  containerPort: number;
  hostPort?: number;
  servicePort?: number;
  protocol?: 'tcp' | 'udp' | 'udp,tcp' | 'tcp,udp';
  name?: string;
  labels?: Record<string, string>;
}

export interface MarathonHealthCheck {
  protocol?: 'HTTP' | 'TCP' | 'MESOS_HTTP' | 'COMMAND';
  path?: string;
  portIndex?: number;
  port?: number;
  command?: { value: string };
  gracePeriodSeconds?: number;
  intervalSeconds?: number;
  timeoutSeconds?: number;
  maxConsecutiveFailures?: number;
  delaySeconds?: number;
  ignoreHttp1xx?: boolean;
}

export interface MarathonDocker {
  image: string;
  network?: 'BRIDGE' | 'HOST';
  portMappings?: MarathonPortMapping[];
  forcePullImage?: boolean;
  privileged?: false;
  parameters?: { key: string; value: string }[];
}

export interface MarathonContainer {
  type: 'DOCKER';
  docker: MarathonDocker;
  portMappings?: MarathonPortMapping[];
  volumes?: { containerPath: string; hostPath: string; mode?: 'RO' | 'RW' }[];
}

export type MarathonConstraint = [
  string,
  'UNIQUE' | 'CLUSTER' | 'GROUP_BY' | 'LIKE' | 'UNLIKE' | 'MAX_PER' | 'IS',
  string?,
];

export interface MarathonApp {
  id: string;
  cmd?: string | null;
  args?: string[] | null;
  user?: string | null;
  cpus?: number;
  mem?: number;
  disk?: number;
  instances?: number;
  container?: MarathonContainer;
  env?: Record<string, string>;
  labels?: Record<string, string>;
  healthChecks?: MarathonHealthCheck[];
  upgradeStrategy?: { minimumHealthCapacity?: number; maximumOverCapacity?: number };
  constraints?: MarathonConstraint[];
  ports?: number[];
  requirePorts?: boolean;
  backoffSeconds?: number;
  backoffFactor?: number;
  maxLaunchDelaySeconds?: number;
}

/** The port mappings wherever the document puts them (Marathon >= 1.5 or the older docker location). */
export function portMappingsOf(app: MarathonApp): MarathonPortMapping[] {
  return app.container?.portMappings ?? app.container?.docker.portMappings ?? [];
}

/** Normalised app id: always starting with a slash, no trailing slash. */
export function normaliseId(id: string): string {
  return '/' + id.replace(/^\/+|\/+$/g, '');
}
