// `paasbox info`: what the recorded stage offers, ready to paste: every web UI
// URL, the DNS server, curl/dig lines, and how to log in to Consul's UI and
// HAProxy's stats (the command that shows the secret, never the secret). The
// lines come from the model and the deployment (pure: infoLines), so they are
// right for overridden ports.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { SECRET_FILES, SECRETS_DIR, STATS_USER } from '../secrets/secrets.js';
import { localSecretsDir } from '../secrets/store.js';
import { DEFAULT_INSTANCE } from '../instance/state.js';
import { loadStackModel } from '../model/load.js';
import type { StackModel } from '../model/model.js';
import type { Deployment } from '../stackfile/deployment.js';
import { effectivePorts } from '../settings/services.js';
import type { Settings } from '../settings/settings.js';
import { settingsForTarget } from '../stackfile/deployed-settings.js';
import { jsonOption, stageOptions } from './program.js';
import { deployedStack, openStage, type StageFlags } from './stage.js';
import { closeHosts, eachHost, stageHosts } from '../instance/hosts.js';
import { EXIT } from '../errors.js';

export interface StackInfo {
  target: string;
  ip: string;
  urls: { service: string; name: string; url: string }[];
  dns: { server: string; port: number } | undefined;
  try: string[];
  /** How to log in: what, where, and the command that prints the secret. */
  logins: { service: string; login: string; show: string }[];
  /** HTTPS on :443: the stack CA's file and how to trust it, per system. */
  https?: { ca: string; trust: { where: string; how: string }[] };
  leftOut: Record<string, string>;
}

/**
 * How to trust the stack's CA (`ca`, a file on this machine) on a laptop: the
 * system stores browsers and curl read, and Firefox's own.
 */
export function trustSteps(ca: string, name: string): { where: string; how: string }[] {
  return [
    {
      where: 'Debian/Ubuntu',
      how: `sudo cp ${ca} /usr/local/share/ca-certificates/${name}.crt && sudo update-ca-certificates`,
    },
    {
      where: 'macOS',
      how: `sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${ca}`,
    },
    {
      where: 'Firefox',
      how: `Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import ${ca}, "Trust this CA to identify websites"`,
    },
  ];
}

/**
 * secretsHere: this machine's copy of the instance's secrets
 * (.paasbox/secrets/INSTANCE), when it has one; else the commands read the
 * target's files (as root there).
 */
export function infoLines(
  model: StackModel,
  settings: Settings,
  deployment: Deployment,
  target: string,
  secretsHere?: string,
): StackInfo {
  const ip = settings.ip;
  const urls: StackInfo['urls'] = [];
  let dns: StackInfo['dns'];
  for (const svc of deployment.services) {
    for (const p of effectivePorts(model, settings, svc)) {
      const http = p.checks?.find((c) => c.type === 'http');
      if (http && http.type === 'http')
        urls.push({ service: svc, name: p.name, url: `http://${ip}:${p.port}${http.path}` });
      if (svc === 'dns' && p.name === 'dns') dns = { server: ip, port: p.port };
    }
  }
  const port = (svc: string, name: string) =>
    effectivePorts(model, settings, svc).find((p) => p.name === name)?.port;
  const d = settings.domain;
  const lines: string[] = [];
  const http = port('haproxy', 'http');
  if (deployment.services.includes('haproxy') && http)
    lines.push(`curl -H 'Host: python1.service.${d}' http://${ip}${http === 80 ? '' : `:${http}`}/`);
  const https = deployment.services.includes('haproxy') ? port('haproxy', 'https') : undefined;
  const caFile = secretsHere ? join(secretsHere, SECRET_FILES.edgeCaCert) : undefined;
  if (https && caFile) {
    const at = https === 443 ? '' : `:${https}`;
    lines.push(
      `curl --cacert ${caFile} --resolve python1.service.${d}:${https}:${ip} https://python1.service.${d}${at}/`,
    );
  }
  if (dns)
    lines.push(
      `dig @${ip}${dns.port === 53 ? '' : ` -p ${dns.port}`} consul.service.${d}`,
      `dig @${ip}${dns.port === 53 ? '' : ` -p ${dns.port}`} python1.service.${d} SRV`,
    );
  const consul = port('consul', 'http');
  if (deployment.services.includes('consul') && consul)
    lines.push(`curl http://${ip}:${consul}/v1/catalog/services`);
  const file = (rel: string) => (secretsHere ? join(secretsHere, rel) : `${SECRETS_DIR}/${rel}`);
  const show = (cmd: string) => (secretsHere ? cmd : `on ${target}: sudo ${cmd}`);
  const logins: StackInfo['logins'] = [];
  if (deployment.services.includes('consul') && consul)
    logins.push({
      service: 'consul',
      login: `UI http://${ip}:${consul}/ui/ reads services and nodes without a login; to change anything (K/V, ACLs), "Log in" with the management token`,
      show: show(`cat ${file(SECRET_FILES.managementToken)}`),
    });
  const stats = port('haproxy', 'stats');
  if (deployment.services.includes('haproxy') && stats)
    logins.push({
      service: 'haproxy',
      login: `stats http://${ip}:${stats}/: user ${STATS_USER}, its password`,
      show: show(`cut -d: -f2- ${file(SECRET_FILES.statsAuth)}`),
    });
  const tls = https
    ? {
        https: {
          ca: caFile ?? `${SECRETS_DIR}/${SECRET_FILES.edgeCaCert} on ${target}`,
          trust: caFile ? trustSteps(caFile, `paasbox-${settings.projectName}`) : [],
        },
      }
    : {};
  return { target, ip, urls, dns, try: lines, logins, ...tls, leftOut: deployment.meta.omitted };
}

export function formatInfo(i: StackInfo): string {
  const w = Math.max(0, ...i.urls.map((u) => `${u.service} ${u.name}`.length));
  return (
    [
      `paasbox on ${i.target} (advertised address ${i.ip})`,
      '',
      'Web UIs and endpoints:',
      ...i.urls.map((u) => `  ${`${u.service} ${u.name}`.padEnd(w)}  ${u.url}`),
      '',
      i.dns
        ? `DNS server: ${i.dns.server} port ${i.dns.port} (forwards .consul to Consul, everything else upstream)`
        : 'DNS server: not deployed',
      '',
      'Try:',
      ...i.try.map((l) => `  ${l}`),
      ...(i.logins.length
        ? [
            '',
            'Logins (generated by install; the commands show them, keep them to yourself):',
            ...i.logins.flatMap((l) => [`  ${l.service} ${l.login}:`, `    ${l.show}`]),
          ]
        : []),
      ...(i.https
        ? [
            '',
            `HTTPS (:443, every host): certificates from the stack's own CA, ${i.https.ca}`,
            ...(i.https.trust.length
              ? ['Trust it once on this machine:', ...i.https.trust.map((t) => `  ${t.where}: ${t.how}`)]
              : ["  (copy it here to trust it: this machine has no copy of the stack's secrets)"]),
          ]
        : []),
      ...(Object.keys(i.leftOut).length
        ? ['', 'Left out:', ...Object.entries(i.leftOut).map(([s, why]) => `  ${s}: ${why}`)]
        : []),
    ].join('\n') + '\n'
  );
}

export function defineInfo(cmd: Command): Command {
  return stageOptions(cmd)
    .addOption(jsonOption())
    .description(
      'every web UI URL, the DNS server, curl/dig lines and how to log in (Consul UI, HAProxy stats) for the recorded stage; on a cluster, for every host (each is an entry point)',
    )
    .action(async (f: StageFlags & { json?: boolean }) => {
      const stage = await openStage(f);
      const hosts = stageHosts(stage);
      try {
        const model = loadStackModel();
        const here = localSecretsDir(stage.instance?.name ?? DEFAULT_INSTANCE);
        const secretsHere = existsSync(join(here, SECRET_FILES.managementToken)) ? here : undefined;
        const { results: infos, unreachable } = await eachHost(
          hosts,
          async (h): Promise<StackInfo & { role?: string }> => {
            const { deployment } = await deployedStack({ ...stage, target: h.target });
            // The first host's settings may use the instance's record; the others are read from their own
            // files.
            const { settings } = await settingsForTarget(
              h.target,
              model,
              h.target === stage.target && stage.instance ? { instance: stage.instance } : {},
            );
            return {
              ...infoLines(model, settings, deployment, h.target.name, secretsHere),
              ...(hosts.length > 1 ? { role: h.role } : {}),
            };
          },
        );
        if (f.json)
          process.stdout.write(
            JSON.stringify(
              hosts.length === 1 ? infos[0] : { cluster: stage.instance!.name, hosts: infos, unreachable },
              null,
              2,
            ) + '\n',
          );
        else {
          const head =
            hosts.length > 1
              ? `paasbox cluster ${stage.instance!.name}: ${hosts.length} hosts; each is an entry point (its HAProxy routes apps by name, its DNS answers)\n\n`
              : '';
          process.stdout.write(
            head +
              [
                ...infos.map((i) => (i.role ? `[${i.role}] ` : '') + formatInfo(i)),
                ...unreachable.map((u) => `[${u.role}] ${u.host}: not reached: ${u.error}\n`),
              ].join('\n'),
          );
        }
        if (unreachable.length) process.exitCode = EXIT.checksFailed;
      } finally {
        await closeHosts(hosts);
      }
    });
}
