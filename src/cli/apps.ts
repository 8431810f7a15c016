// The app owners' commands, over the apps API with the operator's login or a
// team's token, never over SSH: `paasbox apps`, `app show|logs`, `scale`,
// `restart`, `rollback` and `destroy`. A change shows its steps, waits for
// its deployment to end (--no-wait: not) and ends with a summary; --json
// prints one document. The requests and the rendering live in src/scheduler/.

import type { Command } from 'commander';
import { Progress } from '../progress.js';
import { listAppRows, runAppChange, showApp, type AppChange } from '../scheduler/app-ops.js';
import { renderAppDetail, renderAppsTable } from '../scheduler/apps-view.js';
import { describeLogin } from '../scheduler/api-endpoint.js';
import { apiOptions, openApi, type ApiCommandFlags } from './api.js';
import { intArg, jsonOption, subcommand } from './program.js';

interface ChangeFlags extends ApiCommandFlags {
  wait: boolean;
  timeout: number;
  json?: boolean;
}

const out = (s: string) => process.stdout.write(s);

export function defineApps(cmd: Command): Command {
  return apiOptions(cmd)
    .addOption(jsonOption())
    .description('list the apps: instances running/wanted, health, URLs, image, hosts, version')
    .action(async (f: ApiCommandFlags & { json?: boolean }) => {
      const { ep, marathon } = await openApi(f);
      const rows = await listAppRows(marathon, ep.domain);
      out(f.json ? JSON.stringify({ api: ep.url, apps: rows }, null, 2) + '\n' : renderAppsTable(rows));
    });
}

export function defineApp(cmd: Command): Command {
  cmd.description("one app: its details and tasks (show), its instances' logs (logs)");

  apiOptions(subcommand(cmd, 'show <id>', "the app's instances, health, URLs, tasks and stored versions"))
    .addOption(jsonOption())
    .action(async (id: string, f: ApiCommandFlags & { json?: boolean }) => {
      const { ep, marathon } = await openApi(f);
      const shown = await showApp(marathon, id, ep.domain);
      out(
        f.json
          ? JSON.stringify(
              { api: ep.url, ...shown.row, tasks: shown.tasks, versions: shown.versions },
              null,
              2,
            ) + '\n'
          : renderAppDetail(shown.row, shown.tasks, shown.versions),
      );
    });

  apiOptions(
    subcommand(cmd, 'logs <id>', "every instance's log lines on every host, each prefixed with its instance"),
  )
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .option('--since <when>', 'only lines newer than this: 10m, 2h, 30s or an RFC 3339 time')
    .option('--tail <n>', 'the last N lines of each instance', intArg('--tail', 0, 1_000_000))
    .action(async (id: string, f: ApiCommandFlags & { follow?: boolean; since?: string; tail?: number }) => {
      const { paasbox } = await openApi(f);
      const stop = new AbortController();
      const onInt = () => stop.abort();
      process.once('SIGINT', onInt);
      try {
        const q = {
          ...(f.since !== undefined ? { since: f.since } : {}),
          ...(f.tail !== undefined ? { tail: f.tail } : {}),
          ...(f.follow ? { follow: true } : {}),
        };
        for await (const line of paasbox.logs(id, q, stop.signal)) out(line + '\n');
      } finally {
        process.off('SIGINT', onInt);
      }
    });
  return cmd;
}

/** --no-wait, --timeout and --json for the commands that change an app. */
function changeOptions(cmd: Command): Command {
  return apiOptions(cmd)
    .option('--no-wait', 'return once the API took the change, without waiting for its deployment')
    .option('--timeout <seconds>', 'seconds to wait for the deployment', intArg('--timeout', 1, 86_400), 300)
    .addOption(jsonOption());
}

async function change(c: AppChange, f: ChangeFlags): Promise<void> {
  const { ep, marathon } = await openApi(f);
  const progress = new Progress({ json: !!f.json });
  progress.say(`apps API ${ep.url} (${ep.urlFrom}) as ${describeLogin(ep.login)}`);
  const report = await runAppChange(marathon, c, { wait: f.wait, timeoutMs: f.timeout * 1000 }, progress);
  if (f.json) out(JSON.stringify({ api: ep.url, ...report, summary: progress.summary() }, null, 2) + '\n');
  else progress.finish();
}

export function defineScale(cmd: Command): Command {
  return changeOptions(cmd)
    .argument('<id>', 'app id, e.g. /team/app')
    .argument('<instances>', 'the instance count', intArg('instances', 0, 10_000))
    .description('set the instance count of an app (waits until the deployment ends)')
    .action((id: string, instances: number, f: ChangeFlags) => change({ action: 'scale', id, instances }, f));
}

export function defineRestart(cmd: Command): Command {
  return changeOptions(cmd)
    .argument('<id>', 'app id')
    .description("restart an app's instances, rolling and health-gated (waits until the deployment ends)")
    .action((id: string, f: ChangeFlags) => change({ action: 'restart', id }, f));
}

export function defineRollback(cmd: Command): Command {
  return changeOptions(cmd)
    .argument('<id>', 'app id')
    .option(
      '--to <version>',
      'the stored version to go back to (default: the one before the current definition)',
    )
    .description('go back to a stored version of an app (paasbox app show ID lists them)')
    .action((id: string, f: ChangeFlags & { to?: string }) =>
      change({ action: 'rollback', id, ...(f.to !== undefined ? { to: f.to } : {}) }, f),
    );
}

export function defineDestroy(cmd: Command): Command {
  return changeOptions(cmd)
    .argument('<id>', 'app id')
    .description('remove an app and its instances (waits until the deployment ends)')
    .action((id: string, f: ChangeFlags) => change({ action: 'destroy', id }, f));
}
