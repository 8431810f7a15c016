// Consul's ACLs as install sets them up: least-privilege policies, the plan
// from what Consul has to what is wanted (pure), and the install step against
// a loopback stand-in of Consul's ACL API, driven through a LocalTarget as on
// a real target (curl, the management token read from its file).
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  aclPolicies,
  aclWanted,
  ANONYMOUS_ACCESSOR,
  describeAclAction,
  planAcl,
  type AclState,
} from '../../../src/consul/acl.js';
import { Progress } from '../../../src/progress.js';
import { runSteps } from '../../../src/provision/runner.js';
import { consulAclStep } from '../../../src/provision/secrets.js';
import type { StackPlan } from '../../../src/provision/plan.js';
import { generateSecrets, SECRET_NAMES, type StackSecrets } from '../../../src/secrets/secrets.js';
import { LocalTarget } from '../../../src/target/local.js';
import type { ExecOptions, ExecResult } from '../../../src/target/target.js';
import { failure } from '../../helpers/failure.js';
import { fakeConsulAcl } from '../../helpers/fake-consul-acl.js';

/** The state planAcl wants to see after apply: built from the wanted one. */
function converged(s: StackSecrets, node: string): AclState {
  const w = aclWanted(s, node);
  return {
    policies: w.policies.map((p, i) => ({
      id: `p${i}`,
      name: p.name,
      description: p.description,
      rules: p.rules,
    })),
    tokens: [
      ...w.tokens.map((t, i) => ({
        accessorId: `a${i}`,
        secretId: t.secretId,
        description: t.description,
        policies: [t.policy],
      })),
      {
        accessorId: ANONYMOUS_ACCESSOR,
        secretId: 'anonymous',
        description: 'Anonymous Token',
        policies: [w.anonymousPolicy],
      },
    ],
  };
}

describe('consul ACLs', () => {
  const s = generateSecrets();

  it('policies: anonymous reads services and nodes only; each consumer gets what its API calls need, no more', () => {
    const p = aclPolicies('node-1');
    expect(p.anonymous.rules).to.equal(
      'service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }\n',
    );
    // consul-template: `services` and `service "NAME|passing"` (health: services and nodes), and the
    // keys that decide a public name's route (who owns it and the service name) and its certificate.
    expect(p.consulTemplate.rules).to.equal(
      p.anonymous.rules +
        'key_prefix "paasbox/names/" { policy = "read" }\nkey_prefix "paasbox/domains/" { policy = "read" }\n' +
        'key_prefix "paasbox/certs/" { policy = "read" }\n',
    );
    // The ACME renewer: reads the domains, writes the certificates and its own keys, holds a session lock.
    expect(p.acme.rules).to.equal(
      'key_prefix "paasbox/domains/" { policy = "read" }\nkey_prefix "paasbox/certs/" { policy = "write" }\n' +
        'key_prefix "paasbox/acme/" { policy = "write" }\nsession_prefix "" { policy = "write" }\n' +
        'node_prefix "" { policy = "read" }\nservice "acme" { policy = "write" }\n',
    );
    // It registers itself as acme (its HTTP check), no other service.
    expect(p.acme.rules.replace('service "acme" { policy = "write" }', '')).to.not.match(
      /service|acl|operator|key_prefix "paasbox\/" /,
    );
    // The registrator registers and deregisters through the agent API: service write; Consul's own name is
    // not its. It reads the names apps own (deploy writes paasbox/names/NAME) and no other key.
    expect(p.registrator.rules).to.equal(
      'service_prefix "" { policy = "write" }\nservice "consul" { policy = "read" }\nkey_prefix "paasbox/names/" { policy = "read" }\n',
    );
    // The agent registers its own node, nothing else.
    expect(p.agent.rules).to.equal(
      'node "node-1" { policy = "write" }\nservice_prefix "" { policy = "read" }\n',
    );
    // The apps API: its K/V under paasbox/ (versions, team tokens, app names), itself as the service
    // marathon, and reads of the catalog, the nodes and the agents; no other service, no ACL or operator.
    expect(p.appsApi.name).to.equal('paasbox-apps-api');
    expect(p.appsApi.rules).to.equal(
      'key_prefix "paasbox/" { policy = "write" }\nservice "marathon" { policy = "write" }\n' +
        'key_prefix "paasbox/certs/" { policy = "deny" }\nkey_prefix "paasbox/acme/" { policy = "deny" }\n' +
        'service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }\nagent_prefix "" { policy = "read" }\n',
    );
    expect(p.appsApi.rules).to.not.match(/acl|operator|service_prefix "" \{ policy = "write"/);
    expect(p.anonymous.rules).to.not.match(/write|key|agent|acl|operator/);
    expect(p.consulTemplate.rules).to.not.match(/write|agent|acl|operator/);
    expect(aclPolicies('we"ird').agent.rules).to.match(/^node "we\\"ird"/);
  });

  it('wants one token per consumer with the SecretIDs install generated', () => {
    const w = aclWanted(s, 'h1');
    expect(w.tokens.map((t) => [t.secretId, t.policy])).to.deep.equal([
      [s.agentToken, 'paasbox-agent'],
      [s.registratorToken, 'paasbox-registrator'],
      [s.consulTemplateToken, 'paasbox-consul-template'],
      [s.appsApiToken, 'paasbox-apps-api'],
      [s.acmeToken, 'paasbox-acme'],
    ]);
    expect(w.policies.map((p) => p.name)).to.include('paasbox-apps-api');
    expect(w.anonymousPolicy).to.equal('paasbox-anonymous');
  });

  it('plans everything on a fresh Consul, nothing on a converged one, and only the difference otherwise', () => {
    const fresh: AclState = {
      policies: [],
      tokens: [
        {
          accessorId: ANONYMOUS_ACCESSOR,
          secretId: 'anonymous',
          description: 'Anonymous Token',
          policies: [],
        },
      ],
    };
    expect(planAcl(fresh, aclWanted(s, 'h1')).map((a) => a.kind)).to.deep.equal([
      'create-policy',
      'create-policy',
      'create-policy',
      'create-policy',
      'create-policy',
      'create-policy',
      'create-token',
      'create-token',
      'create-token',
      'create-token',
      'create-token',
      'set-anonymous',
    ]);
    const done = converged(s, 'h1');
    expect(planAcl(done, aclWanted(s, 'h1'))).to.deep.equal([]);
    // The host renamed: only the agent's policy changes.
    expect(planAcl(done, aclWanted(s, 'h2')).map(describeAclAction)).to.deep.equal([
      'update policy paasbox-agent',
    ]);
    // A token with another policy, a stale paasbox token, someone else's token.
    const drifted = structuredClone(done);
    drifted.tokens[1]!.policies = ['global-management'];
    drifted.tokens.push({
      accessorId: 'old',
      secretId: generateSecrets().registratorToken,
      description: 'paasbox: registrator',
      policies: ['paasbox-registrator'],
    });
    drifted.tokens.push({
      accessorId: 'theirs',
      secretId: generateSecrets().registratorToken,
      description: 'ops team',
      policies: [],
    });
    drifted.tokens.find((t) => t.accessorId === ANONYMOUS_ACCESSOR)!.policies = [];
    expect(planAcl(drifted, aclWanted(s, 'h1')).map(describeAclAction)).to.deep.equal([
      'update token "paasbox: registrator"',
      'anonymous token → paasbox-anonymous',
      'delete stale token "paasbox: registrator"',
    ]);
  });

  it('describes every action without a SecretID', () => {
    const fresh: AclState = {
      policies: [],
      tokens: [
        {
          accessorId: 'x',
          secretId: generateSecrets().agentToken,
          description: 'paasbox: old',
          policies: [],
        },
      ],
    };
    const text = planAcl(fresh, aclWanted(s, 'h1')).map(describeAclAction).join('\n');
    for (const n of SECRET_NAMES) expect(text).to.not.include(s[n]);
    expect(text).to.not.include(fresh.tokens[0]!.secretId);
  });

  describe('the install step, against a stand-in of Consul on loopback', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-acl-'));
    const tokenFile = join(dir, 'consul-management-token');
    writeFileSync(tokenFile, `${s.managementToken}\n`, { mode: 0o600 });
    const secrets = { resolve: async () => ({ secrets: s, generated: [] }) };
    const running = {
      status: async () => [
        {
          service: 'consul',
          state: 'running',
          health: 'healthy',
          restartPolicy: 'unless-stopped',
          restartCount: 0,
        },
      ],
    };

    /** This machine as the target, recording command lines and stdin. */
    class Recording extends LocalTarget {
      readonly lines: string[] = [];
      override exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
        this.lines.push(command);
        return super.exec(command, opts);
      }
    }
    // A project no container here belongs to: the batched probe's `docker ps` finds no consul of it.
    const planFor = (port: number, hostname = 'h1') =>
      ({
        compose: { services: { consul: { labels: { 'paasbox.ports': `http=${port}/tcp,dns=8600/udp` } } } },
        settings: { ip: '127.0.0.1', hostname, projectName: 'pbunit-acl' },
      }) as unknown as StackPlan;
    const quiet = () => new Progress({ write: () => undefined });

    it('creates the policies, tokens and anonymous policy; a second run is ok; a renamed host updates the agent policy; only ever with the management token, from its file', async () => {
      const consul = await fakeConsulAcl(s.managementToken);
      const t = new Recording();
      try {
        const step = () =>
          consulAclStep(planFor(consul.port), secrets, running, { tokenFile, readyTimeoutMs: 5000 });
        const r1 = await runSteps(t, [step()], quiet());
        expect(r1.steps[0]?.status).to.equal('changed');
        expect(r1.steps[0]?.detail).to.include('create token "paasbox: registrator"');
        expect(consul.policies.map((p) => p.Name).sort()).to.deep.equal([
          'global-management',
          'paasbox-acme',
          'paasbox-agent',
          'paasbox-anonymous',
          'paasbox-apps-api',
          'paasbox-consul-template',
          'paasbox-registrator',
        ]);
        const bySecret = (id: string) =>
          consul.tokens.find((x) => x.SecretID === id)?.Policies.map((p) => p.Name);
        expect(bySecret(s.registratorToken)).to.deep.equal(['paasbox-registrator']);
        expect(bySecret(s.consulTemplateToken)).to.deep.equal(['paasbox-consul-template']);
        expect(bySecret(s.agentToken)).to.deep.equal(['paasbox-agent']);
        expect(bySecret('anonymous')).to.deep.equal(['paasbox-anonymous']);

        const r2 = await runSteps(t, [step()], quiet());
        expect(r2.steps[0]?.status, r2.steps[0]?.detail).to.equal('ok');

        const r3 = await runSteps(
          t,
          [
            consulAclStep(planFor(consul.port, 'renamed'), secrets, running, {
              tokenFile,
              readyTimeoutMs: 5000,
            }),
          ],
          quiet(),
        );
        expect(r3.steps[0]?.detail).to.equal('update policy paasbox-agent');
        expect(consul.policies.find((p) => p.Name === 'paasbox-agent')?.Rules).to.match(/^node "renamed"/);

        expect(consul.requests.length).to.be.above(10);
        expect(
          consul.requests.every((r) => r.token === s.managementToken),
          'every request authenticated',
        ).to.equal(true);
        const report = JSON.stringify([r1, r2, r3]);
        for (const n of SECRET_NAMES) {
          expect(t.lines.join('\n'), `${n} on a command line`).to.not.include(s[n]);
          expect(report, `${n} in the report`).to.not.include(s[n]);
        }
      } finally {
        await consul.close();
      }
    });

    it('asks Consul nothing while its container does not run (a dry run on a fresh host)', async () => {
      const consul = await fakeConsulAcl(s.managementToken);
      try {
        const stopped = {
          status: async () => [
            {
              service: 'consul',
              state: 'exited',
              health: 'none',
              restartPolicy: 'unless-stopped',
              restartCount: 0,
            },
          ],
        };
        const r = await runSteps(
          new LocalTarget(),
          [consulAclStep(planFor(consul.port), secrets, stopped, { tokenFile })],
          quiet(),
          { checkOnly: true },
        );
        expect(r.steps[0]).to.deep.include({
          status: 'skipped',
          detail: 'would change: consul is not running yet',
        });
        expect(consul.requests).to.deep.equal([]);
      } finally {
        await consul.close();
      }
    });

    it('fails with the cause when Consul refuses the management token, or does not answer', async () => {
      const consul = await fakeConsulAcl(generateSecrets().managementToken);
      try {
        const e = await failure(
          runSteps(
            new LocalTarget(),
            [consulAclStep(planFor(consul.port), secrets, running, { tokenFile, readyTimeoutMs: 1500 })],
            quiet(),
          ),
        );
        expect(e.problem).to.match(
          /timed out after 1\.5 s waiting for Consul on \S+ to accept the management token/,
        );
        expect(e.detail).to.include('HTTP 403 ACL not found');
        expect(e.fix).to.match(/stack restart consul/);
      } finally {
        await consul.close();
      }
      const gone = await failure(
        runSteps(
          new LocalTarget(),
          [consulAclStep(planFor(consul.port), secrets, running, { tokenFile, readyTimeoutMs: 1500 })],
          quiet(),
        ),
      );
      expect(gone.problem).to.match(/Consul does not answer at 127\.0\.0\.1:\d+/);
    });
  });
});
