// The install steps for the stack's secrets (src/secrets) and Consul's ACLs
// (src/consul/acl.ts). "secrets": each secret is taken from the target's
// files (the running stack uses those), else from this machine's copy, else
// generated once; both places then hold the same files, mode 0600. "consul
// ACLs", after the stack is up: the policies, the tokens with those
// SecretIDs and the anonymous policy, created or corrected through Consul's
// HTTP API. Reports name files and tokens, never a value.

import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';
import type { StackControl } from '../compose/index.js';
import {
  ConsulAcl,
  aclProbeCommand,
  aclWanted,
  parseAclProbe,
  type AclProbe,
  describeAclAction,
  planAcl,
} from '../consul/acl.js';
import { PaasboxError } from '../errors.js';
import {
  localSecretFiles,
  mergeSecrets,
  parseSecretFiles,
  parseTlsFiles,
  SECRET_FILES,
  secretFiles,
  SECRETS_DIR,
  type SecretName,
  type SecretRole,
  type StackSecrets,
} from '../secrets/secrets.js';
import { resolveConsulTls, type ConsulTls } from '../secrets/tls.js';
import { parseEdgeTlsFiles, resolveEdgeTls, type EdgeScope, type EdgeTls } from '../secrets/edge.js';
import {
  parseRegistryTlsFiles,
  registryScopeOf,
  resolveRegistryTls,
  type RegistryTls,
} from '../secrets/registry.js';
import { isCluster, type Settings } from '../settings/index.js';
import { composePort } from '../stackfile/deployment.js';
import {
  inspectSecretsCommand,
  inspectTargetSecrets,
  localSecretsDiff,
  parseSecretsInspection,
  type TargetSecrets,
  localSecretsDir,
  readLocalSecretFiles,
  targetSecretsDiff,
  writeLocalSecretFiles,
  writeTargetSecrets,
} from '../secrets/store.js';
import type { ExecResult, Target } from '../target/target.js';
import { probeTools } from '../system/http.js';
import type { StackPlan } from './plan.js';
import type { ProvisionStep } from './runner.js';

/**
 * The secrets of one install run, resolved once (by the secrets step's first check) and shared with the ACL
 * step.
 */
export class InstallSecrets {
  /** The build host's copy: .paasbox/secrets/<instance>/. */
  readonly localDir: string;
  private resolved?: Promise<{ secrets: StackSecrets; generated: SecretName[] }>;
  /** The files resolve read (the target's, then this machine's): tls() reads its set from the same. */
  private layers?: Record<string, string>[];
  private tlsSet?: { domain: string; tls: ConsulTls; generated: boolean };
  private registrySet?: { ips: string; tls: RegistryTls; generated: boolean };
  private edgeSet?: { key: string; tls: EdgeTls; generated: boolean };

  constructor(instance: string, cwd?: string) {
    this.localDir = localSecretsDir(instance, cwd);
  }

  /** `inspected`: the target's secrets already read (the batched probe), else they are read here. */
  resolve(
    target: Target,
    inspected?: TargetSecrets,
  ): Promise<{ secrets: StackSecrets; generated: SecretName[] }> {
    this.resolved ??= (async () => {
      const there = inspected ?? (await inspectTargetSecrets(target));
      const onTarget = Object.fromEntries(Object.entries(there.files).map(([rel, f]) => [rel, f.content]));
      this.layers = [onTarget, readLocalSecretFiles(this.localDir)];
      return mergeSecrets(this.layers.map(parseSecretFiles));
    })();
    return this.resolved;
  }

  /**
   * Consul's RPC TLS set for `domain` (a cluster's), from the same layers as resolve; made once when none is
   * valid.
   */
  async tls(target: Target, domain: string): Promise<{ tls: ConsulTls; generated: boolean }> {
    if (this.tlsSet?.domain === domain) return this.tlsSet;
    await this.resolve(target);
    this.tlsSet = { domain, ...resolveConsulTls(this.layers!.map(parseTlsFiles), domain) };
    return this.tlsSet;
  }

  /** The image registry's TLS set for these masters, from the same layers; made once when none is valid. */
  async registryTls(target: Target, ips: string[]): Promise<{ tls: RegistryTls; generated: boolean }> {
    const key = [...ips].sort().join(',');
    if (this.registrySet?.ips === key) return this.registrySet;
    await this.resolve(target);
    this.registrySet = { ips: key, ...resolveRegistryTls(this.layers!.map(parseRegistryTlsFiles), ips) };
    return this.registrySet;
  }

  /** The edge's TLS set for the domain and hosts, from the same layers; made once when none is valid. */
  async edgeTls(target: Target, scope: EdgeScope): Promise<{ tls: EdgeTls; generated: boolean }> {
    const key = `${scope.domain} ${[...scope.ips].sort().join(',')}`;
    if (this.edgeSet?.key === key) return this.edgeSet;
    await this.resolve(target);
    this.edgeSet = { key, ...resolveEdgeTls(this.layers!.map(parseEdgeTlsFiles), scope) };
    return this.edgeSet;
  }
}

/**
 * The edge certificate's names: the stack's domain, and the masters'
 * addresses (one host: its own). Not the agents': an agent joining or
 * leaving changes no other host's files (apps are reached by name; an agent's
 * :443 by its address is for the name check to refuse).
 */
export function edgeScopeOf(
  s: Partial<Pick<Settings, 'masters' | 'ip' | 'domain'>>,
  address: string,
): EdgeScope {
  const ips = s.masters?.length ? [...s.masters] : [s.ip ?? address];
  return { domain: s.domain ?? 'consul', ips };
}

/**
 * What a host of these settings is to Consul: a server (one host, or a cluster's master) or a client agent.
 */
export function secretRole(s: Pick<Settings, 'masters' | 'agents' | 'ip'>): SecretRole {
  return !isCluster(s) || s.masters.includes(s.ip) ? 'server' : 'client';
}

/**
 * The secrets step. `settings` (the host's plan) decide what the host gets:
 * its role's files, and on a cluster Consul's RPC TLS; without them, a
 * server's files (one host).
 */
export function secretsStep(
  s: InstallSecrets,
  settings?: Pick<Settings, 'masters' | 'agents' | 'ip' | 'domain'> &
    Partial<Pick<Settings, 'services' | 'acme'>>,
): ProvisionStep {
  const role = settings ? secretRole(settings) : 'server';
  // The image registry's files, for every master's address (without settings: this one host's).
  const scopeOf = (t: Target) => registryScopeOf(settings ?? { masters: [t.address] });
  const cluster = settings ? isCluster(settings) : false;
  // The ACME directory's CA (acme.directoryCa), read here on the build host once (else the target's copy).
  let acmeCa: string | undefined;
  const directoryCa = (there: TargetSecrets) =>
    settings?.acme?.directoryCa
      ? (acmeCa ??= readDirectoryCa(
          settings.acme.directoryCa,
          there.files[SECRET_FILES.acmeDirectoryCa]?.content,
        ))
      : undefined;
  const diff = async (t: Target, probed?: ExecResult) => {
    const inspected =
      probed?.code === 0 ? parseSecretsInspection(probed.stdout) : await inspectTargetSecrets(t);
    const { secrets, generated } = await s.resolve(t, inspected);
    const tls = cluster && settings ? await s.tls(t, settings.domain) : undefined;
    const scope = scopeOf(t);
    const reg = await s.registryTls(t, scope.ips);
    const registry = { tls: reg.tls, ...scope };
    const edge = await s.edgeTls(t, edgeScopeOf(settings ?? {}, t.address));
    const ca = directoryCa(inspected);
    const files = secretFiles(secrets, {
      role,
      ...(tls ? { tls: tls.tls } : {}),
      registry,
      edge: edge.tls,
      ...(ca ? { acmeDirectoryCa: ca } : {}),
    });
    const local = localSecretFiles(secrets, tls?.tls, registry, edge.tls, ca);
    const made = [
      ...generated,
      ...(tls?.generated ? ['consul TLS'] : []),
      ...(reg.generated ? ['registry TLS'] : []),
      ...(edge.generated ? ['edge TLS'] : []),
    ];
    const there = targetSecretsDiff(inspected, files);
    return { files, local, generated: made, there, here: localSecretsDiff(s.localDir, local) };
  };
  return {
    name: `secrets ${SECRETS_DIR}${cluster ? ` (${role === 'server' ? 'Consul server' : 'Consul client'})` : ''}`,
    fix: `check that the login can use sudo on the target and that ${s.localDir} is writable here`,
    probe: inspectSecretsCommand(),
    async check(t, probed) {
      const d = await diff(t, probed);
      if (!d.there.length && !d.here.length)
        return {
          ok: true,
          detail: `${Object.keys(d.files).length} files, mode 0600, here and on the target`,
        };
      const parts = [
        d.generated.length ? `new: ${d.generated.join(', ')}` : '',
        d.there.length ? `on the target: ${d.there.join(', ')}` : '',
        d.here.length ? `in ${s.localDir}: ${d.here.join(', ')}` : '',
      ];
      return { ok: false, detail: parts.filter(Boolean).join('; ') };
    },
    async apply(t) {
      const d = await diff(t);
      // This machine first: a run stopped half-way finds the values here next time.
      writeLocalSecretFiles(s.localDir, d.local);
      if (d.there.length) await writeTargetSecrets(t, d.files);
    },
  };
}

/**
 * The PEM of acme.directoryCa (a file on the build host, relative to the working directory): one or more
 * CA certificates, nothing else. A later install run from elsewhere may not have the file: then the copy
 * an earlier install put on the target (`onTarget`, acme/directory-ca.pem) is kept. A PaasboxError naming
 * acme.directoryCa when neither exists, or the PEM holds anything else.
 */
export function readDirectoryCa(file: string, onTarget?: string): string {
  const fix =
    'name the PEM file of the CA the ACME directory is served with in paasbox.yaml, e.g. acme: { directoryCa: ./pebble.minica.pem }';
  let text: string;
  try {
    text = readFileSync(resolvePath(file), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && onTarget?.trim())
      return readDirectoryCaText(onTarget, `the target's ${SECRET_FILES.acmeDirectoryCa}`, fix);
    const gone = (e as NodeJS.ErrnoException).code === 'ENOENT';
    const there = gone
      ? ` (and the target holds no ${SECRET_FILES.acmeDirectoryCa} from an earlier install)`
      : '';
    throw new PaasboxError(`acme.directoryCa ${file} cannot be read${there}`, fix, (e as Error).message);
  }
  return readDirectoryCaText(text, `acme.directoryCa ${file}`, fix);
}

/** The CA certificates of a directoryCa PEM (`what` names it in errors). */
function readDirectoryCaText(text: string, what: string, fix: string): string {
  const blocks = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)];
  const rest = blocks.reduce((t, b) => t.replace(b[0], ''), text);
  const notCert = blocks.find((b) => b[1] !== 'CERTIFICATE');
  if (!blocks.length || rest.trim() || notCert)
    throw new PaasboxError(
      `${what} is not a PEM file of certificates${notCert ? ` (it holds a ${notCert[1]})` : ''}`,
      fix,
    );
  for (const b of blocks) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(b[0]);
    } catch (e) {
      throw new PaasboxError(`${what} holds a certificate that does not parse`, fix, (e as Error).message);
    }
    if (!cert.ca)
      throw new PaasboxError(`${what} holds ${cert.subject.replace(/\n/g, ', ')}, which is no CA`, fix);
  }
  return blocks.map((b) => b[0]).join('\n') + '\n';
}

export interface ConsulAclStepOptions {
  /** How long Consul may take to accept the management token (default 120 s). */
  readyTimeoutMs?: number;
  /** The management token's file on the target (default MANAGEMENT_TOKEN_FILE). */
  tokenFile?: string;
  /** A cluster's Consul nodes (default: this host's, plan.settings.hostname). */
  nodeNames?: string[];
}

/**
 * Consul's ACLs (when the stack runs consul): check lists what Consul has,
 * apply creates or corrects what is missing. Consul is asked only once its
 * container runs (a dry run on a fresh host reports the step, it sends nothing).
 */
export function consulAclStep(
  plan: Pick<StackPlan, 'compose' | 'settings'>,
  s: Pick<InstallSecrets, 'resolve'>,
  ctl: Pick<StackControl, 'status'>,
  opts: ConsulAclStepOptions = {},
): ProvisionStep {
  const port = composePort(plan.compose.services['consul']?.labels['paasbox.ports'], 'http');
  if (port === undefined)
    throw new PaasboxError(
      'the compose file has no consul http port',
      'this is a paasbox bug: stacks/paasbox.yaml names consul\'s port "http"',
    );
  const open = async (t: Target, ahead?: AclProbe) => {
    const acl = new ConsulAcl(
      t,
      ahead?.tools ?? (await probeTools(t)),
      plan.settings.ip,
      port,
      opts.tokenFile,
    );
    if (ahead) acl.useRecorded(ahead.answers);
    await acl.waitReady(opts.readyTimeoutMs ?? 120_000);
    return acl;
  };
  const actionsFor = async (t: Target, acl: ConsulAcl) =>
    planAcl(
      await acl.state(),
      aclWanted((await s.resolve(t)).secrets, opts.nodeNames ?? plan.settings.hostname),
    );
  return {
    name: 'consul ACLs (default deny)',
    fix: "read the detail; `npx paasbox logs consul` shows Consul's side",
    probe: aclProbeCommand(plan.settings.ip, port, plan.settings.projectName, opts.tokenFile),
    async check(t, probed) {
      const ahead = probed?.code === 0 ? parseAclProbe(probed.stdout) : undefined;
      // The probe's "running" is trusted; its "not running" is asked again (a fresh host, rarely).
      const running =
        ahead?.consulRunning ||
        (await ctl.status()).some((x) => x.service === 'consul' && x.state === 'running');
      if (!running) return { ok: false, detail: 'consul is not running yet' };
      const actions = await actionsFor(t, await open(t, ahead));
      return actions.length
        ? { ok: false, detail: actions.map(describeAclAction).join('; ') }
        : { ok: true, detail: 'policies, tokens and the anonymous policy in place' };
    },
    async apply(t) {
      const acl = await open(t);
      const actions = await actionsFor(t, acl);
      for (const a of actions) await acl.apply(a);
      return actions.map(describeAclAction).join('; ');
    },
  };
}
