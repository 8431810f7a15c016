// A loopback stand-in for Consul 1.8's ACL HTTP API (policies, tokens, the
// anonymous token), as far as src/consul/acl.ts uses it: lists without rules
// or SecretIDs, reads by id, create and update by PUT, DELETE; every request
// must carry the management token. It records each request's method, path and
// X-Consul-Token, so a test sees what went over the wire.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

export interface FakePolicy {
  ID: string;
  Name: string;
  Description: string;
  Rules: string;
}
export interface FakeToken {
  AccessorID: string;
  SecretID: string;
  Description: string;
  Policies: { ID: string; Name: string }[];
}

export interface FakeConsulAcl {
  port: number;
  policies: FakePolicy[];
  tokens: FakeToken[];
  requests: { method: string; path: string; token: string }[];
  close(): Promise<void>;
}

export async function fakeConsulAcl(managementToken: string): Promise<FakeConsulAcl> {
  const policies: FakePolicy[] = [
    {
      ID: '00000000-0000-0000-0000-000000000001',
      Name: 'global-management',
      Description: 'Builtin',
      Rules: '',
    },
  ];
  const tokens: FakeToken[] = [
    {
      AccessorID: randomUUID(),
      SecretID: managementToken,
      Description: 'Master Token',
      Policies: [{ ID: policies[0]!.ID, Name: 'global-management' }],
    },
    {
      AccessorID: '00000000-0000-0000-0000-000000000002',
      SecretID: 'anonymous',
      Description: 'Anonymous Token',
      Policies: [],
    },
  ];
  const requests: FakeConsulAcl['requests'] = [];
  const byName = (refs: { Name?: string; ID?: string }[] = []) =>
    refs
      .map((r) => policies.find((p) => p.Name === r.Name || p.ID === r.ID))
      .filter((p): p is FakePolicy => !!p)
      .map((p) => ({ ID: p.ID, Name: p.Name }));

  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const token = String(req.headers['x-consul-token'] ?? '');
      const path = req.url ?? '';
      requests.push({ method: req.method ?? '', path, token });
      const send = (status: number, body: unknown) => {
        res.statusCode = status;
        res.end(typeof body === 'string' ? body : JSON.stringify(body));
      };
      if (token !== managementToken) return send(403, 'ACL not found');
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      const m = /^\/v1\/acl\/(policy|token)(?:\/([^/]+))?$/.exec(path);
      if (req.method === 'GET' && path === '/v1/acl/token/self') return send(200, tokens[0]);
      if (req.method === 'GET' && path === '/v1/acl/policies')
        return send(
          200,
          policies.map(({ Rules: _r, ...stub }) => stub),
        );
      if (req.method === 'GET' && path === '/v1/acl/tokens')
        return send(
          200,
          tokens.map(({ SecretID: _s, ...stub }) => stub),
        );
      if (!m) return send(404, 'no such endpoint');
      const [, kind, id] = m;
      if (kind === 'policy') {
        if (req.method === 'GET') {
          const p = policies.find((x) => x.ID === id);
          return p ? send(200, p) : send(404, 'not found');
        }
        if (req.method === 'PUT') {
          const existing = id ? policies.find((x) => x.ID === id) : undefined;
          if (id && !existing) return send(404, 'not found');
          const p = existing ?? { ID: randomUUID(), Name: '', Description: '', Rules: '' };
          Object.assign(p, {
            Name: String(body['Name']),
            Description: String(body['Description'] ?? ''),
            Rules: String(body['Rules'] ?? ''),
          });
          if (!existing) policies.push(p);
          return send(200, p);
        }
      }
      if (kind === 'token') {
        const t = id ? tokens.find((x) => x.AccessorID === id) : undefined;
        if (req.method === 'GET') return t ? send(200, t) : send(404, 'not found');
        if (req.method === 'DELETE') {
          if (!t) return send(404, 'not found');
          tokens.splice(tokens.indexOf(t), 1);
          return send(200, 'true');
        }
        if (req.method === 'PUT') {
          if (id && !t) return send(404, 'not found');
          const secret = String(body['SecretID'] ?? t?.SecretID ?? randomUUID());
          if (!/^[0-9a-f-]{36}$/.test(secret) && secret !== 'anonymous')
            return send(500, 'Invalid Token: SecretID is not a valid UUID');
          const next = t ?? { AccessorID: randomUUID(), SecretID: secret, Description: '', Policies: [] };
          Object.assign(next, {
            Description: String(body['Description'] ?? ''),
            Policies: byName(body['Policies'] as { Name?: string }[]),
          });
          if (!t) tokens.push(next);
          return send(200, next);
        }
      }
      return send(405, 'method not allowed');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    policies,
    tokens,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
