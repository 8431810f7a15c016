// The flags every command over the apps API shares (--api, --token, --target)
// and how they become an endpoint: the recorded instance gives the default
// URL, the domain and the operator's login (src/scheduler/api-endpoint.ts
// decides). Nothing here connects anywhere: --help stays untouched.

import type { Command } from 'commander';
import { resolveStage } from '../instance/open.js';
import { DEFAULT_INSTANCE } from '../instance/state.js';
import {
  apiClients,
  resolveApiEndpoint,
  type ApiEndpoint,
  type ApiFlags,
} from '../scheduler/api-endpoint.js';

export interface ApiCommandFlags extends ApiFlags {
  target?: string;
}

/** --api, --token and --target (the instance whose record and login are used). */
export function apiOptions(cmd: Command): Command {
  return cmd
    .option(
      '--api <url>',
      'the apps API (default: $PAASBOX_API, else http://ADVERTISED:8080 of the instance)',
    )
    .option(
      '--token <token>',
      "a team's token, or @FILE to read it from a file (default: $PAASBOX_TOKEN, else the operator login install keeps here)",
    )
    .option(
      '--target <instance>',
      'the recorded instance whose address and login to use (default: the one install recorded)',
    );
}

/** The endpoint for the flags: the record is read, nothing is contacted. */
export async function apiEndpoint(f: ApiCommandFlags): Promise<ApiEndpoint> {
  const { ref, instance } = await resolveStage(f.target);
  const advertised =
    instance?.deployment?.ip ??
    (f.target === undefined ? undefined : ref.kind === 'ssh' ? ref.ssh.host : ref.address);
  const domain = instance?.deployment?.pinned?.domain;
  return resolveApiEndpoint(f, {
    env: process.env,
    instance: instance?.name ?? DEFAULT_INSTANCE,
    ...(advertised ? { advertised } : {}),
    ...(domain ? { domain } : {}),
  });
}

/** The endpoint and its clients. */
export async function openApi(f: ApiCommandFlags, timeoutMs?: number) {
  const ep = await apiEndpoint(f);
  return { ep, ...apiClients(ep, timeoutMs) };
}
