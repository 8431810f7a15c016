// Types of the stack model (stacks/paasbox.yaml). The YAML is validated against
// stacks/schema/stack.schema.json before it is trusted as these types.

export type ImageSourceName = 'registry' | 'local';

/** How one image source provides a service's image. */
export interface ImageSpec {
  /** A pinned image reference to pull (registry) or an already loaded image (local). */
  image?: string;
  /** A build context under stacks/images/<build>; built as paasbox/<build>:<source>. */
  build?: string;
  /** Build args; ${VAR} placeholders are resolved from settings. */
  args?: Record<string, string>;
  /** Per-source overrides of the service's runtime contract. */
  command?: string[];
  /** Replaces the image's entrypoint (e.g. a wrapper that reads a secret file into the process). */
  entrypoint?: string[];
  environment?: Record<string, string>;
  healthcheck?: Healthcheck;
  /** The source cannot provide this service: why, and how a user supplies it. */
  unavailable?: { reason: string; supply: string; loadable?: string };
}

export interface Healthcheck {
  test: string[];
  interval: string;
  timeout: string;
  retries: number;
  startPeriod?: string;
}

/** A login verify reads on the target (src/secrets): the HAProxy stats page's. */
export type CheckAuth = 'haproxy-stats';

/** A CA verify checks a port's TLS against (src/secrets): the image registry's, the edge's (the stack's). */
export type CheckTls = 'registry' | 'edge';

/** What an anonymous request to Consul's HTTP API must get under ACLs, default deny. */
export type ConsulAclProbe = 'kv-write' | 'service-register' | 'catalog-read';

/** A check verify derives from a port; the port's own number is implied. */
export type PortCheck =
  /** With auth: refused (401) without the login, and answered as expected with it. */
  /** With tls: over HTTPS, the server's certificate checked against that CA. */
  | { type: 'http'; path: string; status?: number; bodyIncludes?: string; auth?: CheckAuth; tls?: CheckTls }
  | { type: 'consul-acl'; probe: ConsulAclProbe }
  | { type: 'four-letter'; command: string; expect: string }
  | { type: 'dns'; name: string; record: 'A' | 'SRV' }
  /** A TLS handshake sending `name`: chains to the CA, for the name, HTTP/2 offered, 14 days or more left. */
  | { type: 'tls'; ca: CheckTls; name: string }
  | { type: 'tcp' };

export interface PortSpec {
  name: string;
  port: number;
  protocol: 'tcp' | 'udp';
  checks?: PortCheck[];
}

export interface VolumeSpec {
  /** A named volume, or an absolute host path. */
  source: string;
  target: string;
  readOnly?: boolean;
}

export interface ServiceSpec {
  description: string;
  /** Which hosts run it when the stack spans masters and agents. */
  role: 'master' | 'agent' | 'all';
  /** Optional services are off unless settings enable them. */
  optional?: boolean;
  /**
   * Left out of the stack whenever this other service is in it (enabled, and its image available from the
   * source): apps-api, which serves Marathon's API on swarm, gives way to Marathon itself.
   */
  replacedBy?: string;
  sources: Record<ImageSourceName, ImageSpec>;
  network: 'host' | 'bridge';
  ports: PortSpec[];
  command?: string[];
  environment?: Record<string, string>;
  volumes?: VolumeSpec[];
  healthcheck?: Healthcheck;
  restart: 'always' | 'unless-stopped' | 'on-failure';
  dependsOn?: string[];
  capAdd?: string[];
  devices?: string[];
  /**
   * The host's PID namespace: the Mesos agent's executors must outlive it and be seen again after its
   * restart.
   */
  pid?: 'host';
}

export interface StackModel {
  version: 1;
  name: string;
  services: Record<string, ServiceSpec>;
}
