// `paasbox token create|list|revoke`: the teams' tokens of the apps API (the
// operator's login makes them). A token acts only on the apps its patterns
// name (`/team/*`: the ids under /team/). `create` prints the token once, alone
// on stdout (so `> team.token` keeps it; the server keeps only its sha256);
// the notes go to stderr. list and revoke never see a token.

import type { Command } from 'commander';
import { renderTable } from '../scheduler/apps-view.js';
import { apiOptions, openApi, type ApiCommandFlags } from './api.js';
import { jsonOption, listArg, subcommand } from './program.js';

type Flags = ApiCommandFlags & { json?: boolean };

export function defineToken(cmd: Command): Command {
  cmd.description("the teams' tokens of the apps API: create (shown once), list, revoke");

  apiOptions(
    subcommand(
      cmd,
      'create <team>',
      'make a token for TEAM, limited to the apps --apps names; print it once',
    ),
  )
    .option('--apps <patterns>', "app id patterns, comma separated or repeated (default '/TEAM/*')", listArg)
    .addOption(jsonOption())
    .action(async (team: string, f: Flags & { apps?: string[] }) => {
      const { ep, paasbox } = await openApi(f);
      const made = await paasbox.createToken(team, f.apps ?? []);
      if (f.json) {
        process.stdout.write(JSON.stringify({ api: ep.url, ...made }, null, 2) + '\n');
        return;
      }
      process.stdout.write(made.token + '\n');
      process.stderr.write(
        `made token ${made.id} for team ${made.team} (apps ${made.apps.join(', ')}); it is shown this once:\n` +
          '  keep it in a file of mode 0600 and use it with --token @FILE or PAASBOX_TOKEN;\n' +
          `  paasbox token revoke ${made.team} ends every token of the team\n`,
      );
    });

  apiOptions(
    subcommand(cmd, 'list', "the teams' tokens (their teams, app patterns and ids, never the tokens)"),
  )
    .addOption(jsonOption())
    .action(async (f: Flags) => {
      const { ep, paasbox } = await openApi(f);
      const tokens = await paasbox.listTokens();
      if (f.json) process.stdout.write(JSON.stringify({ api: ep.url, tokens }, null, 2) + '\n');
      else if (!tokens.length)
        process.stdout.write('no tokens yet: paasbox token create TEAM --apps /TEAM/*\n');
      else
        process.stdout.write(
          renderTable(
            ['TEAM', 'APPS', 'ID', 'CREATED'],
            tokens.map((t) => [t.team, t.apps.join(','), t.id, t.createdAt]),
          ),
        );
    });

  apiOptions(subcommand(cmd, 'revoke <team>', 'revoke every token of TEAM: the API refuses them from now on'))
    .addOption(jsonOption())
    .action(async (team: string, f: Flags) => {
      const { ep, paasbox } = await openApi(f);
      const revoked = await paasbox.revokeTokens(team);
      if (f.json) process.stdout.write(JSON.stringify({ api: ep.url, team, revoked }, null, 2) + '\n');
      else
        process.stdout.write(
          revoked ? `revoked ${revoked} token(s) of team ${team}\n` : `team ${team} had no tokens\n`,
        );
    });
  return cmd;
}
