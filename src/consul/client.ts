// The one client for Consul's HTTP API, on the system layer (src/system/http.ts):
// leader status and the one wait for a leader, catalog, health, agent service
// (de)registration (the stack's own services' in the background), K/V, and the raw calls the ACL reconciler
// (src/consul/acl.ts) makes. Requests go from a target (its curl, the token
// read there from its file) or from this machine (a forwarded port, a test
// host's address); each on a connection of its own, none retried.

import { PaasboxError } from '../errors.js';
import { poll } from '../poll.js';
import {
  fromHere,
  type HttpEndpoint,
  type HttpOptions,
  type HttpResponse,
  type SecretHeader,
} from '../system/http.js';

export type ConsulClientOptions =
  | {
      /** From this machine, e.g. http://127.0.0.1:8500 (a path prefix is kept). */
      baseUrl: string;
      /** ACL token, sent as X-Consul-Token (held in this process only). */
      token?: string;
      /** Per-request timeout in milliseconds (default 5000). */
      timeoutMs?: number;
    }
  | {
      /** Consul's HTTP port and the way there (src/system/http.ts onTarget or fromHere). */
      http: HttpEndpoint;
      /**
       * The ACL token's header and file, read where the request is made (as root on a target unless asUser).
       */
      secret?: SecretHeader;
      timeoutMs?: number;
      /** What the user does when Consul fails a request (default: check the request and the Consul logs). */
      fix?: string;
    };

/** GET /v1/catalog/services: service name → tags. */
export type CatalogServices = Record<string, string[]>;

export interface HealthCheck {
  Node: string;
  CheckID: string;
  Name: string;
  Status: 'passing' | 'warning' | 'critical' | string;
  ServiceID: string;
  ServiceName: string;
  Output?: string;
}

export interface HealthServiceEntry {
  Node: { Node: string; Address: string; [k: string]: unknown };
  Service: {
    ID: string;
    Service: string;
    Tags: string[] | null;
    Address: string;
    Port: number;
    Meta?: Record<string, string> | null;
    [k: string]: unknown;
  };
  Checks: HealthCheck[];
}

export interface AgentServiceCheck {
  HTTP?: string;
  TCP?: string;
  Interval?: string;
  Timeout?: string;
  TTL?: string;
  DeregisterCriticalServiceAfter?: string;
}

export interface AgentServiceRegistration {
  Name: string;
  ID?: string;
  Tags?: string[];
  Address?: string;
  Port?: number;
  Meta?: Record<string, string>;
  Check?: AgentServiceCheck;
}

type Method = NonNullable<HttpOptions['method']>;

export class ConsulClient {
  /** "127.0.0.1:8500", "10.0.0.5:8500 from host1": where requests go, for messages. */
  readonly where: string;
  private readonly http: HttpEndpoint;
  private readonly prefix: string;
  private readonly secret: SecretHeader | undefined;
  private readonly timeoutS: number;
  private readonly fix: string;
  /** GET answers already read (a batched probe): each is used once, instead of asking Consul. */
  private readonly recorded = new Map<string, HttpResponse>();

  constructor(opts: ConsulClientOptions | string) {
    const o = typeof opts === 'string' ? { baseUrl: opts } : opts;
    this.timeoutS = (o.timeoutMs ?? 5000) / 1000;
    if ('baseUrl' in o) {
      const url = new URL(o.baseUrl);
      const port = Number(url.port || 80);
      this.http = fromHere(url.hostname, port, o.token ? { 'X-Consul-Token': o.token } : {});
      this.prefix = url.pathname.replace(/\/+$/, '');
      this.where = `${url.hostname}:${port}${this.prefix}`;
      this.secret = undefined;
      this.fix = 'check the request and the Consul logs';
    } else {
      this.http = o.http;
      this.prefix = '';
      this.where = o.http.where;
      this.secret = o.secret;
      this.fix = o.fix ?? 'check the request and the Consul logs';
    }
  }

  /** The leader's "IP:8300", or '' when the cluster has no leader yet. */
  async statusLeader(): Promise<string> {
    return (await this.json<string>('GET', '/v1/status/leader')) ?? '';
  }

  /**
   * The one wait for a Consul leader (a fresh agent needs a few seconds; a
   * lost one, an election): the leader's "IP:8300". At the deadline a
   * PaasboxError naming the last error (Consul not answering, HTTP 500).
   */
  waitForLeader(timeoutMs = 60_000, everyMs = 500): Promise<string> {
    return poll(
      {
        what: `a Consul leader at ${this.where}`,
        timeoutMs,
        everyMs,
        fix: 'check the consul container logs (docker logs) and that -bind/-advertise name an address of this host',
      },
      async (_, note) => {
        const leader = await this.statusLeader();
        if (!leader) note('Consul answers, with no leader yet');
        return leader || undefined;
      },
    );
  }

  async catalogServices(): Promise<CatalogServices> {
    return (await this.json<CatalogServices>('GET', '/v1/catalog/services')) ?? {};
  }

  /** Instances of a service with their checks; passing=true keeps only healthy ones. */
  async healthService(name: string, opts: { passing?: boolean } = {}): Promise<HealthServiceEntry[]> {
    const q = opts.passing ? '?passing=true' : '';
    return (
      (await this.json<HealthServiceEntry[]>('GET', `/v1/health/service/${encodeURIComponent(name)}${q}`)) ??
      []
    );
  }

  async agentServiceRegister(reg: AgentServiceRegistration): Promise<void> {
    await this.send('PUT', '/v1/agent/service/register', JSON.stringify(reg));
  }

  /**
   * Register a service of the stack's own with an HTTP check on `checkPath`,
   * in the background: a fresh install starts the service before install has
   * made its Consul token, so it keeps trying (every 2 s, for 30 minutes)
   * while the caller serves. `log` hears each new reason once.
   */
  registerInBackground(
    r: { id: string; name: string; host: string; port: number; checkPath: string; tag: string; fix: string },
    log: (line: string) => void,
  ): void {
    const host = r.host.includes(':') ? `[${r.host}]` : r.host;
    const check = {
      HTTP: `http://${host}:${r.port}${r.checkPath}`,
      Interval: '5s',
      Timeout: '2s',
      DeregisterCriticalServiceAfter: '10m',
    };
    const reg = { ID: r.id, Name: r.name, Address: r.host, Port: r.port, Tags: [r.tag], Check: check };
    let said = '';
    const opts = {
      what: `registering in Consul as ${r.name}`,
      timeoutMs: 30 * 60_000,
      everyMs: 2000,
      fix: r.fix,
      kind: 'transient' as const,
    };
    void poll(opts, async () => {
      try {
        await this.agentServiceRegister(reg);
        log(`registered in Consul as ${r.name} (${r.id})`);
        return true;
      } catch (e) {
        const m = (e as Error).message;
        if (m !== said) log(`not yet registered in Consul (retrying): ${(said = m)}`);
        return undefined;
      }
    }).catch((e: unknown) => log(`gave up registering in Consul: ${(e as Error).message}`));
  }

  async agentServiceDeregister(serviceId: string): Promise<void> {
    await this.send('PUT', `/v1/agent/service/deregister/${encodeURIComponent(serviceId)}`);
  }

  /** Put a raw value; true when Consul stored it. */
  async kvPut(key: string, value: string | Buffer): Promise<boolean> {
    const res = await this.send('PUT', `/v1/kv/${encodeKey(key)}`, value.toString());
    return res.body.trim() === 'true';
  }

  /** The raw value of key, or undefined when it does not exist. */
  async kvGet(key: string): Promise<string | undefined> {
    const res = await this.send('GET', `/v1/kv/${encodeKey(key)}?raw`, undefined, [404]);
    return res.status === 404 ? undefined : res.body;
  }

  async kvDelete(key: string, opts: { recurse?: boolean } = {}): Promise<void> {
    await this.send('DELETE', `/v1/kv/${encodeKey(key)}${opts.recurse ? '?recurse=true' : ''}`);
  }

  /** Every key under prefix → its value (utf-8); empty when there is none. */
  async kvList(prefix: string): Promise<Map<string, string>> {
    const res = await this.send('GET', `/v1/kv/${encodeKey(prefix)}?recurse=true`, undefined, [404]);
    if (res.status === 404) return new Map();
    const rows = JSON.parse(res.body || '[]') as { Key: string; Value: string | null }[];
    return new Map(rows.map((r) => [r.Key, Buffer.from(r.Value ?? '', 'base64').toString('utf8')]));
  }

  /** Put value at key only if it does not exist yet (cas=0); false when it did. */
  async kvCreate(key: string, value: string): Promise<boolean> {
    const res = await this.send('PUT', `/v1/kv/${encodeKey(key)}?cas=0`, value);
    return res.body.trim() === 'true';
  }

  /** Answers read ahead (a batched probe) for the next GETs of their paths. */
  useRecorded(answers: Map<string, HttpResponse>): this {
    for (const [p, r] of answers) this.recorded.set(p, r);
    return this;
  }

  /**
   * One request as Consul answers it, status and all (no answer: error set); an object body is sent as JSON.
   */
  call(method: Method, path: string, body?: unknown): Promise<HttpResponse> {
    const ahead = method === 'GET' ? this.recorded.get(path) : undefined;
    if (ahead) {
      this.recorded.delete(path);
      return Promise.resolve(ahead);
    }
    const data = body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) };
    const secret = this.secret ? { secret: this.secret } : {};
    return this.http.request(this.prefix + path, { method, timeoutS: this.timeoutS, ...data, ...secret });
  }

  /**
   * A JSON answer (undefined for an empty body); a PaasboxError for no answer, an error status or non-JSON.
   */
  async json<T>(method: Method, path: string, body?: unknown): Promise<T | undefined> {
    const res = await this.send(method, path, body);
    if (!res.body.trim()) return undefined;
    try {
      return JSON.parse(res.body) as T;
    } catch {
      throw new PaasboxError(
        `Consul at ${this.where} answered ${path} with non-JSON`,
        "check that the address is Consul's HTTP port (8500)",
        res.body.slice(0, 500),
        'target',
      );
    }
  }

  private async send(
    method: Method,
    path: string,
    body?: unknown,
    okStatuses: number[] = [],
  ): Promise<HttpResponse> {
    const res = await this.call(method, path, body);
    if (res.error)
      throw new PaasboxError(
        `cannot reach Consul at ${this.where} (${method} ${path})`,
        'start the stack (npx paasbox stack up) or pass the right Consul address',
        res.error,
        'target',
      );
    if ((res.status < 200 || res.status > 299) && !okStatuses.includes(res.status))
      throw new PaasboxError(
        `Consul at ${this.where} answered ${method} ${path} with HTTP ${res.status}`,
        this.fix,
        res.body.trim().slice(0, 500),
        'target',
      );
    return res;
  }
}

/** Keys keep their slashes; every segment is URL-encoded. */
function encodeKey(key: string): string {
  return key.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/');
}
