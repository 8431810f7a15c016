// Consul's ACLs as paasbox wants them, default deny (Consul 1.8): the policies
// (least privilege per consumer), the tokens with the SecretIDs install
// generated (src/secrets), and the anonymous token's policy that lets DNS and
// the UI read services and nodes and nothing more. planAcl (pure) compares
// what Consul has with that and says what to do; ConsulAcl reads and changes
// it through Consul's HTTP API on the target, authenticated with the
// management token read there from its file: no token is ever on a command
// line or in a report (actions name tokens by their description).

import { PaasboxError } from '../errors.js';
import { SECRET_FILES, SECRETS_DIR, type StackSecrets } from '../secrets/secrets.js';
import type { Target } from '../target/target.js';
import { composeFilter } from '../docker/compose.js';
import { poll } from '../poll.js';
import { curlCommand, onTarget, parseCurl, type HttpResponse, type Tools } from '../system/http.js';
import { ConsulClient } from './client.js';

export interface AclPolicySpec {
  name: string;
  description: string;
  /** HCL rules, compared as written. */
  rules: string;
}

export interface AclTokenSpec {
  /** Also how paasbox knows its own tokens: it starts with TOKEN_MARK. */
  description: string;
  secretId: string;
  policy: string;
}

export interface AclWanted {
  policies: AclPolicySpec[];
  tokens: AclTokenSpec[];
  /** The policy of the anonymous token (requests without a token, DNS). */
  anonymousPolicy: string;
}

/** Descriptions of the tokens paasbox creates start with this; one that is not wanted any more is deleted. */
export const TOKEN_MARK = 'paasbox: ';
export const ANONYMOUS_ACCESSOR = '00000000-0000-0000-0000-000000000002';

const read = (what: 'service_prefix' | 'node_prefix') => `${what} "" { policy = "read" }`;

/**
 * The policies, pure: `nodeName` is the Consul node (-node, the stack's
 * hostname), or a cluster's nodes (one agent token for all, each node its own
 * write rule).
 */
export function aclPolicies(
  nodeName: string | string[],
): Record<'anonymous' | 'agent' | 'registrator' | 'consulTemplate' | 'appsApi' | 'acme', AclPolicySpec> {
  const nodes = typeof nodeName === 'string' ? [nodeName] : nodeName;
  return {
    anonymous: {
      name: 'paasbox-anonymous',
      description:
        'Requests without a token, DNS and the UI before login: read services and nodes, nothing more',
      rules: `${read('service_prefix')}\n${read('node_prefix')}\n`,
    },
    agent: {
      name: 'paasbox-agent',
      description:
        nodes.length === 1
          ? `The Consul agent of node ${nodes[0]}: register its node (anti-entropy), read services`
          : `The Consul agents of nodes ${nodes.join(', ')}: register each node (anti-entropy), read services`,
      rules: `${nodes.map((n) => `node ${JSON.stringify(n)} { policy = "write" }\n`).join('')}${read('service_prefix')}\n`,
    },
    registrator: {
      name: 'paasbox-registrator',
      // Registering and deregistering through the agent API needs service:write only; Consul's own name stays
      // Consul's. It reads which app owns each service name (paasbox/names/NAME, written by deploy) to refuse
      // the others.
      description: 'The registrator: register and deregister any service but consul; read the names apps own',
      rules: `service_prefix "" { policy = "write" }\nservice "consul" { policy = "read" }\nkey_prefix "paasbox/names/" { policy = "read" }\n`,
    },
    consulTemplate: {
      name: 'paasbox-consul-template',
      // The HAProxy template uses `services` (catalog) and `service "NAME|passing"` (health: services and
      // their nodes); a public domain is routed only to the app that owns it and its service name
      // (paasbox/domains/, paasbox/names/), with the certificates under paasbox/certs/.
      description:
        'consul-template for HAProxy: read services, nodes, the names and domains apps own, the certificates',
      rules:
        `${read('service_prefix')}\n${read('node_prefix')}\n` +
        ['names', 'domains', 'certs'].map((k) => `key_prefix "paasbox/${k}/" { policy = "read" }\n`).join(''),
    },
    appsApi: {
      name: 'paasbox-apps-api',
      // Its state is K/V under paasbox/ (app versions, team tokens, the names apps own); it registers
      // itself as the service marathon (HAProxy routes marathon.service.DOMAIN to it) and reads the
      // catalog, the nodes and the agents' own view of them.
      description:
        'The apps API: its K/V under paasbox/ but the certificates, register the service marathon, read the catalog',
      rules:
        `key_prefix "paasbox/" { policy = "write" }\nservice "marathon" { policy = "write" }\n` +
        // Not the certificates' private keys, nor the renewer's lock (followers trust its value).
        `key_prefix "paasbox/certs/" { policy = "deny" }\nkey_prefix "paasbox/acme/" { policy = "deny" }\n` +
        `${read('service_prefix')}\n${read('node_prefix')}\nagent_prefix "" { policy = "read" }\n`,
    },
    acme: {
      name: 'paasbox-acme',
      // One renewer leads (a session lock under paasbox/acme/); it reads the domains apps own and
      // writes their certificates and its results. Each registers itself as `acme` (host network: the
      // registrator does not), the service HAProxy sends /.well-known/acme-challenge/ to.
      description:
        'The ACME renewer: read the domains apps own, write the certificates and paasbox/acme/, register acme',
      rules:
        `key_prefix "paasbox/domains/" { policy = "read" }\nkey_prefix "paasbox/certs/" { policy = "write" }\n` +
        `key_prefix "paasbox/acme/" { policy = "write" }\nsession_prefix "" { policy = "write" }\n` +
        `${read('node_prefix')}\nservice "acme" { policy = "write" }\n`,
    },
  };
}

export function aclWanted(secrets: StackSecrets, nodeName: string | string[]): AclWanted {
  const p = aclPolicies(nodeName);
  return {
    policies: [p.anonymous, p.agent, p.registrator, p.consulTemplate, p.appsApi, p.acme],
    tokens: [
      { description: `${TOKEN_MARK}consul agent`, secretId: secrets.agentToken, policy: p.agent.name },
      {
        description: `${TOKEN_MARK}registrator`,
        secretId: secrets.registratorToken,
        policy: p.registrator.name,
      },
      {
        description: `${TOKEN_MARK}consul-template (haproxy)`,
        secretId: secrets.consulTemplateToken,
        policy: p.consulTemplate.name,
      },
      { description: `${TOKEN_MARK}apps-api`, secretId: secrets.appsApiToken, policy: p.appsApi.name },
      { description: `${TOKEN_MARK}acme`, secretId: secrets.acmeToken, policy: p.acme.name },
    ],
    anonymousPolicy: p.anonymous.name,
  };
}

// ---------------------------------------------------------------- plan (pure)

/**
 * What Consul has: every policy (with its rules) and the tokens paasbox cares about (ours and the anonymous
 * one).
 */
export interface AclState {
  policies: { id: string; name: string; description: string; rules: string }[];
  tokens: { accessorId: string; secretId: string; description: string; policies: string[] }[];
}

export type AclAction =
  | { kind: 'create-policy'; policy: AclPolicySpec }
  | { kind: 'update-policy'; id: string; policy: AclPolicySpec }
  | { kind: 'create-token'; token: AclTokenSpec }
  | { kind: 'update-token'; accessorId: string; token: AclTokenSpec }
  | { kind: 'set-anonymous'; policy: string }
  | { kind: 'delete-token'; accessorId: string; description: string };

/** The changes that make `have` what `want` says, policies before the tokens that use them. */
export function planAcl(have: AclState, want: AclWanted): AclAction[] {
  const out: AclAction[] = [];
  for (const policy of want.policies) {
    const p = have.policies.find((x) => x.name === policy.name);
    if (!p) out.push({ kind: 'create-policy', policy });
    else if (p.rules.trim() !== policy.rules.trim() || p.description !== policy.description)
      out.push({ kind: 'update-policy', id: p.id, policy });
  }
  for (const token of want.tokens) {
    const t = have.tokens.find((x) => x.secretId === token.secretId);
    if (!t) out.push({ kind: 'create-token', token });
    else if (t.description !== token.description || t.policies.join(',') !== token.policy)
      out.push({ kind: 'update-token', accessorId: t.accessorId, token });
  }
  const anonymous = have.tokens.find((x) => x.accessorId === ANONYMOUS_ACCESSOR);
  if (anonymous?.policies.join(',') !== want.anonymousPolicy)
    out.push({ kind: 'set-anonymous', policy: want.anonymousPolicy });
  const wanted = new Set(want.tokens.map((t) => t.secretId));
  for (const t of have.tokens) {
    if (t.description.startsWith(TOKEN_MARK) && !wanted.has(t.secretId))
      out.push({ kind: 'delete-token', accessorId: t.accessorId, description: t.description });
  }
  return out;
}

/** An action for a report: names and descriptions only, never a SecretID. */
export function describeAclAction(a: AclAction): string {
  switch (a.kind) {
    case 'create-policy':
      return `create policy ${a.policy.name}`;
    case 'update-policy':
      return `update policy ${a.policy.name}`;
    case 'create-token':
      return `create token "${a.token.description}"`;
    case 'update-token':
      return `update token "${a.token.description}"`;
    case 'set-anonymous':
      return `anonymous token → ${a.policy}`;
    case 'delete-token':
      return `delete stale token "${a.description}"`;
  }
}

// ---------------------------------------------------------------- Consul's HTTP API on the target

/** The management token's file on the target: the X-Consul-Token of every request here. */
export const MANAGEMENT_TOKEN_FILE = `${SECRETS_DIR}/${SECRET_FILES.managementToken}`;

/**
 * A read-only command for the batched checks (src/provision/probe.ts): the
 * target's tools, whether the project's consul container runs, and with curl
 * every GET waitReady and state() make: token/self, the policy and token
 * lists and each listed one (the management token read from its file, in no
 * argv).
 */
export function aclProbeCommand(
  address: string,
  port: number,
  project: string,
  tokenFile = MANAGEMENT_TOKEN_FILE,
): string {
  const running = `docker ps -q ${composeFilter(project, 'consul')} --filter status=running`;
  const lines = [
    `printf '@@tools'; for t in curl ss docker; do command -v $t >/dev/null 2>&1 && printf ' %s' $t; done; echo`,
    `pb_consul=$(${running} 2>/dev/null | head -n 1)`,
    `printf '@@consul %s\n' "$pb_consul"`,
    `command -v curl >/dev/null 2>&1 || exit 0`,
    // Consul is asked nothing while its container does not run.
    `[ -n "$pb_consul" ] || exit 0`,
  ];
  const curl = (path: string) =>
    curlCommand(`http://${address}:${port}${path}`, {
      timeoutS: 10,
      secret: { name: 'X-Consul-Token', file: tokenFile },
    });
  // One GET: its answer between markers (read back by path, in any order).
  const get = (path: string, curlLine = curl(path)) =>
    `{ printf '\n@@acl %s\n' "${path}"; out=$(${curlLine} 2>/dev/null); c=$?; printf '%s' "$out"; printf '\n@@acl-exit %s\n' $c; }`;
  // Each listed policy and token read too (state() needs their rules and SecretIDs), side by
  // side; the ids are Consul's UUIDs, matched as such before they reach a URL.
  const each = (list: string, path: string, key: string) => {
    const line = curl(`${path}/@ID@`).replace('@ID@', `'"$id"'`);
    return `for id in $(grep -o '"${key}":"[0-9a-f-]*"' "$t/${list}" | cut -d'"' -f4); do n=$((n + 1)); ${get(`${path}/$id`, line)} >"$t/i$n" & done`;
  };
  lines.push(
    't=$(mktemp -d) || exit 70; n=0',
    `${get('/v1/acl/token/self')} >"$t/self" &`,
    `${get('/v1/acl/policies')} >"$t/policies" &`,
    `${get('/v1/acl/tokens')} >"$t/tokens" &`,
    'wait',
    each('policies', '/v1/acl/policy', 'ID'),
    each('tokens', '/v1/acl/token', 'AccessorID'),
    'wait',
    'cat "$t"/*; rm -rf "$t"',
  );
  return lines.join('\n');
}

export interface AclProbe {
  tools: Tools;
  consulRunning: boolean;
  /** path -> the answer, for the GETs made. */
  answers: Map<string, HttpResponse>;
}

/** aclProbeCommand's output (pure); undefined when it did not run through. */
export function parseAclProbe(stdout: string): AclProbe | undefined {
  const tools = /^@@tools(.*)$/m.exec(stdout);
  const consul = /^@@consul ?(.*)$/m.exec(stdout);
  if (!tools || !consul) return undefined;
  const have = new Set(tools[1]!.trim().split(' '));
  const answers = new Map<string, HttpResponse>();
  const re = /\n@@acl (\S+)\n([\s\S]*?)\n@@acl-exit (\d+)\n/g;
  for (let m = re.exec(stdout); m; m = re.exec(stdout)) {
    const r = parseCurl(m[2]!, 'no answer', Number(m[3]));
    // Only a whole answer is kept: anything else is asked again, live.
    if (!r.error && r.status === 200) answers.set(m[1]!, r);
  }
  return {
    tools: { curl: have.has('curl'), ss: have.has('ss'), docker: have.has('docker') },
    consulRunning: !!consul[1]!.trim(),
    answers,
  };
}

export class ConsulAcl {
  private readonly consul: ConsulClient;

  constructor(
    private readonly target: Target,
    tools: Tools,
    private readonly address: string,
    private readonly port: number,
    /** The management token's file on the target. */
    private readonly tokenFile = MANAGEMENT_TOKEN_FILE,
  ) {
    this.consul = new ConsulClient({
      http: onTarget(target, tools, address, port),
      secret: { name: 'X-Consul-Token', file: tokenFile },
      timeoutMs: 10_000,
      fix: 'check the consul container (npx paasbox logs consul) and run install again',
    });
  }

  /** Answers read ahead (AclProbe.answers) for the next GETs of their paths. */
  useRecorded(answers: Map<string, HttpResponse>): this {
    this.consul.useRecorded(answers);
    return this;
  }

  private async json<T>(method: 'GET' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    return (await this.consul.json<T>(method, path, body)) as T;
  }

  /**
   * Wait until Consul accepts the management token (a fresh server creates it
   * once it leads). Fails at once when Consul runs without ACLs, and after
   * 10 s (at most timeoutMs) when it does not answer at all (not started).
   */
  async waitReady(timeoutMs: number): Promise<void> {
    const started = Date.now();
    const where = `${this.address}:${this.port} on ${this.target.name}`;
    await poll(
      {
        what: `Consul on ${this.target.name} to accept the management token`,
        timeoutMs,
        everyMs: 1000,
        fix: `the consul container may run with an older ${SECRETS_DIR}: restart it (npx paasbox stack restart consul) and run install again`,
        // Every throw below ends the wait: the cause is known; a plain "not yet" is noted.
        fatal: () => true,
      },
      async (_, note) => {
        const r = await this.consul.call('GET', '/v1/acl/token/self');
        if (!r.error && r.status === 200) return true;
        const last = r.error ?? `HTTP ${r.status} ${r.body.trim().slice(0, 120)}`;
        if (r.error?.includes(this.tokenFile))
          throw new PaasboxError(
            `${this.tokenFile} is missing on ${this.target.name}`,
            'run install again: its secrets step writes it',
            undefined,
            'target',
          );
        if (r.error && Date.now() - started > Math.min(10_000, timeoutMs))
          throw new PaasboxError(
            `Consul does not answer at ${where} (${last})`,
            'start the stack (npx paasbox stack up) and run install again',
            undefined,
            'target',
          );
        if (/ACL support disabled/i.test(r.body))
          throw new PaasboxError(
            `Consul on ${this.target.name} runs without ACLs (${last})`,
            `its configuration ${SECRETS_DIR}/${SECRET_FILES.consulConfig} is not loaded: recreate the container (npx paasbox stack up) and run install again`,
            undefined,
            'target',
          );
        note(last);
        return undefined;
      },
    );
  }

  async state(): Promise<AclState> {
    type Policy = { ID: string; Name: string; Description?: string; Rules?: string };
    type Token = {
      AccessorID: string;
      SecretID?: string;
      Description?: string;
      Policies?: { Name: string }[] | null;
    };
    const stubs = (await this.json<Policy[] | null>('GET', '/v1/acl/policies')) ?? [];
    // The list has no rules: read each of ours.
    const policies = await Promise.all(
      stubs
        .filter((p) => p.Name.startsWith('paasbox-'))
        .map(async (p) => {
          const full = await this.json<Policy>('GET', `/v1/acl/policy/${p.ID}`);
          return {
            id: full.ID,
            name: full.Name,
            description: full.Description ?? '',
            rules: full.Rules ?? '',
          };
        }),
    );
    const list = (await this.json<Token[] | null>('GET', '/v1/acl/tokens')) ?? [];
    // The list has no SecretIDs: read the tokens paasbox cares about.
    const mine = list.filter(
      (t) => t.AccessorID === ANONYMOUS_ACCESSOR || (t.Description ?? '').startsWith(TOKEN_MARK),
    );
    const tokens = await Promise.all(
      mine.map(async (t) => {
        const full = await this.json<Token>('GET', `/v1/acl/token/${t.AccessorID}`);
        return {
          accessorId: full.AccessorID,
          secretId: full.SecretID ?? '',
          description: full.Description ?? '',
          policies: (full.Policies ?? []).map((p) => p.Name),
        };
      }),
    );
    return { policies, tokens };
  }

  async apply(a: AclAction): Promise<void> {
    const policyBody = (p: AclPolicySpec) => ({ Name: p.name, Description: p.description, Rules: p.rules });
    const tokenBody = (t: AclTokenSpec) => ({
      Description: t.description,
      Policies: [{ Name: t.policy }],
      Local: false,
    });
    switch (a.kind) {
      case 'create-policy':
        return void (await this.json('PUT', '/v1/acl/policy', policyBody(a.policy)));
      case 'update-policy':
        return void (await this.json('PUT', `/v1/acl/policy/${a.id}`, { ID: a.id, ...policyBody(a.policy) }));
      case 'create-token':
        return void (await this.json('PUT', '/v1/acl/token', {
          SecretID: a.token.secretId,
          ...tokenBody(a.token),
        }));
      case 'update-token':
        return void (await this.json('PUT', `/v1/acl/token/${a.accessorId}`, {
          AccessorID: a.accessorId,
          SecretID: a.token.secretId,
          ...tokenBody(a.token),
        }));
      case 'set-anonymous':
        return void (await this.json('PUT', `/v1/acl/token/${ANONYMOUS_ACCESSOR}`, {
          AccessorID: ANONYMOUS_ACCESSOR,
          Description: 'Anonymous Token',
          Policies: [{ Name: a.policy }],
        }));
      case 'delete-token':
        return void (await this.json('DELETE', `/v1/acl/token/${a.accessorId}`));
    }
  }
}
