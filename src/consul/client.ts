// A small typed client for the parts of Consul's HTTP API paasbox uses:
// leader status, catalog, health, agent service (de)registration and K/V.
// fetch-based, a connection per request; the base URL is given (for a remote target, a forwarded port).

import { PaasboxError } from '../errors.js';

export interface ConsulClientOptions {
  /** e.g. http://127.0.0.1:8500 */
  baseUrl: string;
  /** ACL token, sent as X-Consul-Token. */
  token?: string;
  /** Per-request timeout in milliseconds (default 5000). */
  timeoutMs?: number;
}

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

export class ConsulClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(opts: ConsulClientOptions | string) {
    const o = typeof opts === 'string' ? { baseUrl: opts } : opts;
    this.baseUrl = o.baseUrl.replace(/\/+$/, '');
    this.token = o.token;
    this.timeoutMs = o.timeoutMs ?? 5000;
  }

  /** The leader's "IP:8300", or '' when the cluster has no leader yet. */
  async statusLeader(): Promise<string> {
    return (await this.json<string>('GET', '/v1/status/leader')) ?? '';
  }

  async catalogServices(): Promise<CatalogServices> {
    return (await this.json<CatalogServices>('GET', '/v1/catalog/services')) ?? {};
  }

  /** Instances of a service with their checks; passing=true keeps only healthy ones. */
  async healthService(name: string, opts: { passing?: boolean } = {}): Promise<HealthServiceEntry[]> {
    const q = opts.passing ? '?passing=true' : '';
    return (await this.json<HealthServiceEntry[]>('GET', `/v1/health/service/${encodeURIComponent(name)}${q}`)) ?? [];
  }

  async agentServiceRegister(reg: AgentServiceRegistration): Promise<void> {
    await this.request('PUT', '/v1/agent/service/register', JSON.stringify(reg));
  }

  async agentServiceDeregister(serviceId: string): Promise<void> {
    await this.request('PUT', `/v1/agent/service/deregister/${encodeURIComponent(serviceId)}`);
  }

  /** Put a raw value; true when Consul stored it. */
  async kvPut(key: string, value: string | Buffer): Promise<boolean> {
    const res = await this.request('PUT', `/v1/kv/${encodeKey(key)}`, value);
    return (await res.text()).trim() === 'true';
  }

  /** The raw value of key, or undefined when it does not exist. */
  async kvGet(key: string): Promise<string | undefined> {
    const res = await this.request('GET', `/v1/kv/${encodeKey(key)}?raw`, undefined, [404]);
    if (res.status === 404) return undefined;
    return await res.text();
  }

  async kvDelete(key: string): Promise<void> {
    await this.request('DELETE', `/v1/kv/${encodeKey(key)}`);
  }

  /** Poll until the cluster has elected a leader (a fresh agent needs a few seconds). */
  async waitForLeader(timeoutMs = 60_000, intervalMs = 500): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const leader = await this.statusLeader();
        if (leader) return leader;
      } catch (e) {
        last = e;
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    throw new PaasboxError(
      `Consul at ${this.baseUrl} elected no leader within ${Math.round(timeoutMs / 1000)}s`,
      'check the consul container logs (docker logs) and that -bind/-advertise name an address of this host',
      last instanceof Error ? last.message : undefined,
    );
  }

  private async json<T>(method: string, path: string): Promise<T | undefined> {
    const res = await this.request(method, path);
    const text = await res.text();
    if (!text.trim()) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new PaasboxError(`Consul at ${this.baseUrl} answered ${path} with non-JSON`, 'check that the URL points to Consul\'s HTTP port (8500)', text.slice(0, 500));
    }
  }

  private async request(method: string, path: string, body?: string | Buffer, okStatuses: number[] = []): Promise<Response> {
    // A connection per request: a kept-alive one that Consul closes between two requests fails
    // the next with "other side closed". No request is retried.
    const headers: Record<string, string> = { Connection: 'close' };
    if (this.token) headers['X-Consul-Token'] = this.token;
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, {
        method,
        headers,
        ...(body !== undefined ? { body: typeof body === 'string' ? body : new Uint8Array(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const cause = e instanceof Error ? ((e as { cause?: Error }).cause?.message ?? e.message) : String(e);
      throw new PaasboxError(
        `cannot reach Consul at ${this.baseUrl} (${method} ${path})`,
        'start the stack (npm run install / scripts/stack.mjs up) or pass the right Consul address',
        cause,
      );
    }
    if (!res.ok && !okStatuses.includes(res.status)) {
      const text = await res.text().catch(() => '');
      throw new PaasboxError(`Consul at ${this.baseUrl} answered ${method} ${path} with HTTP ${res.status}`, 'check the request and the Consul logs', text.slice(0, 500));
    }
    return res;
  }
}

/** Keys keep their slashes; every segment is URL-encoded. */
function encodeKey(key: string): string {
  return key.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/');
}
