// `paasbox info`: what the recorded stage offers, ready to paste: every web UI
// URL, the DNS server, and curl/dig lines. The lines come from the model and
// the deployment (pure: infoLines), so they are right for overridden ports.

import type { Command } from 'commander';
import { loadStackModel } from '../stack/load.js';
import type { StackModel } from '../stack/model.js';
import type { Deployment } from '../stack/deployment.js';
import { effectivePorts } from '../stack/queries.js';
import type { Settings } from '../settings/settings.js';
import { settingsForTarget } from '../verify/target-settings.js';
import { jsonOption, stageOptions } from './program.js';
import { deployedStack, openStage, type StageFlags } from './stage.js';

export interface StackInfo {
  target: string;
  ip: string;
  urls: { service: string; name: string; url: string }[];
  dns: { server: string; port: number } | undefined;
  try: string[];
  leftOut: Record<string, string>;
}

export function infoLines(model: StackModel, settings: Settings, deployment: Deployment, target: string): StackInfo {
  const ip = settings.ip;
  const urls: StackInfo['urls'] = [];
  let dns: StackInfo['dns'];
  for (const svc of deployment.services) {
    for (const p of effectivePorts(model, settings, svc)) {
      const http = p.checks?.find((c) => c.type === 'http');
      if (http && http.type === 'http') urls.push({ service: svc, name: p.name, url: `http://${ip}:${p.port}${http.path}` });
      if (svc === 'dns' && p.name === 'dns') dns = { server: ip, port: p.port };
    }
  }
  const port = (svc: string, name: string) => effectivePorts(model, settings, svc).find((p) => p.name === name)?.port;
  const d = settings.domain;
  const lines: string[] = [];
  const http = port('haproxy', 'http');
  if (deployment.services.includes('haproxy') && http) lines.push(`curl -H 'Host: python1.service.${d}' http://${ip}${http === 80 ? '' : `:${http}`}/`);
  if (dns) lines.push(`dig @${ip}${dns.port === 53 ? '' : ` -p ${dns.port}`} consul.service.${d}`, `dig @${ip}${dns.port === 53 ? '' : ` -p ${dns.port}`} python1.service.${d} SRV`);
  const consul = port('consul', 'http');
  if (deployment.services.includes('consul') && consul) lines.push(`curl http://${ip}:${consul}/v1/catalog/services`);
  return { target, ip, urls, dns, try: lines, leftOut: deployment.meta.omitted };
}

export function formatInfo(i: StackInfo): string {
  const w = Math.max(0, ...i.urls.map((u) => `${u.service} ${u.name}`.length));
  return [
    `paasbox on ${i.target} (advertised address ${i.ip})`,
    '',
    'Web UIs and endpoints:',
    ...i.urls.map((u) => `  ${`${u.service} ${u.name}`.padEnd(w)}  ${u.url}`),
    '',
    i.dns ? `DNS server: ${i.dns.server} port ${i.dns.port} (forwards .consul to Consul, everything else upstream)` : 'DNS server: not deployed',
    '',
    'Try:',
    ...i.try.map((l) => `  ${l}`),
    ...(Object.keys(i.leftOut).length ? ['', 'Left out:', ...Object.entries(i.leftOut).map(([s, why]) => `  ${s}: ${why}`)] : []),
  ].join('\n') + '\n';
}

export function defineInfo(cmd: Command): Command {
  return stageOptions(cmd)
    .addOption(jsonOption())
    .description('every web UI URL, the DNS server, and curl/dig lines for the recorded stage')
    .action(async (f: StageFlags & { json?: boolean }) => {
      const stage = await openStage(f);
      try {
        const { deployment } = await deployedStack(stage);
        const model = loadStackModel();
        const { settings } = await settingsForTarget(stage.target, model, stage.instance ? { instance: stage.instance } : {});
        const info = infoLines(model, settings, deployment, stage.target.name);
        process.stdout.write(f.json ? JSON.stringify(info, null, 2) + '\n' : formatInfo(info));
      } finally {
        await stage.target.close();
      }
    });
}
