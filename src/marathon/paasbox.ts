// The client of the apps API's own endpoints, the ones Marathon does not have
// (/paasbox/v1: an app's logs, the teams' tokens). It rides on a
// MarathonClient: the same server, the same login and the same HTTP client,
// so an error reads the same way whichever endpoint gave it. The shapes are
// the contract's (issue 21): a token is shown once, when it is made; the
// server keeps only its sha256.
import { normaliseId } from '../appspec/app.js';
import { APP_PATTERN_RE, SINCE_RE, teamProblem } from '../apps/teams.js';
import { PaasboxError } from '../errors.js';
import type { MarathonClient } from './client.js';

/** A team's token as the API lists it (never the token itself). */
export interface ApiToken {
  team: string;
  /** App id patterns it may act on: `/team/*` is every id under /team/. */
  apps: string[];
  id: string;
  createdAt: string;
}

/** A token just made: the only time the token is shown. */
export interface CreatedToken extends ApiToken {
  token: string;
}

export interface LogsQuery {
  /** Only lines newer than this: a duration (10m, 2h, 30s) or an RFC 3339 time. */
  since?: string;
  /** The last N lines of each instance. */
  tail?: number;
  /** Keep the stream open for new lines. */
  follow?: boolean;
}

/** The team name, or a one-line error naming the field. Pure. */
export function checkTeam(team: string): string {
  const bad = teamProblem(team, []);
  if (bad) throw new PaasboxError(bad.problem, bad.fix);
  return team;
}

/** The app patterns of a new token (default `/TEAM/*`), each checked. Pure. */
export function tokenPatterns(team: string, given: string[] | undefined): string[] {
  const apps = given?.length ? given : [`/${team}/*`];
  for (const p of apps)
    if (!APP_PATTERN_RE.test(p))
      throw new PaasboxError(
        `--apps ${p} is not an app id pattern`,
        "give absolute app ids or prefixes ending in /*, e.g. --apps '/team/*'",
      );
  return apps;
}

/** The logs query string (since, tail, follow), each value checked first. Pure. */
export function logsQuery(q: LogsQuery): string {
  const parts: string[] = [];
  if (q.since !== undefined) {
    if (!SINCE_RE.test(q.since))
      throw new PaasboxError(
        `--since ${q.since} is neither a duration nor a time`,
        'give e.g. --since 10m, 2h, 30s or 2026-12-07T06:00:00Z',
      );
    parts.push(`since=${encodeURIComponent(q.since)}`);
  }
  if (q.tail !== undefined) {
    if (!Number.isInteger(q.tail) || q.tail < 0)
      throw new PaasboxError(`--tail ${q.tail} is not a line count`, 'give a whole number >= 0');
    parts.push(`tail=${q.tail}`);
  }
  if (q.follow) parts.push('follow=true');
  return parts.length ? `?${parts.join('&')}` : '';
}

export class PaasboxApi {
  constructor(readonly marathon: MarathonClient) {}

  /**
   * GET /paasbox/v1/apps/{id}/logs: every instance's lines, each prefixed
   * with its instance (`NAME.N.TASK@NODE | line`), until the stream ends
   * (follow: until the signal aborts).
   */
  logs(id: string, q: LogsQuery = {}, signal?: AbortSignal): AsyncGenerator<string> {
    const path = `/paasbox/v1/apps${normaliseId(id)}/logs${logsQuery(q)}`;
    return this.marathon.lines(path, {
      what: `app ${normaliseId(id)}`,
      ...(signal ? { signal } : {}),
    });
  }

  /** GET /paasbox/v1/tokens (the operator's). */
  async listTokens(): Promise<ApiToken[]> {
    return (
      (await this.marathon.call('GET', '/paasbox/v1/tokens', undefined, 'the tokens')) as {
        tokens: ApiToken[];
      }
    ).tokens;
  }

  /** POST /paasbox/v1/tokens: a new token for the team (the operator's). */
  async createToken(team: string, apps: string[]): Promise<CreatedToken> {
    checkTeam(team);
    const made = (await this.marathon.call(
      'POST',
      '/paasbox/v1/tokens',
      { team, apps: tokenPatterns(team, apps) },
      `a token for team ${team}`,
    )) as CreatedToken;
    if (typeof made.token !== 'string' || !made.token)
      throw new PaasboxError(
        `the API at ${this.marathon.baseUrl} answered no token for team ${team}`,
        'check that --api names the paasbox apps API (real Marathon has no tokens)',
      );
    return made;
  }

  /** DELETE /paasbox/v1/tokens/{team}: every token of the team stops working; how many there were. */
  async revokeTokens(team: string): Promise<number> {
    checkTeam(team);
    const r = (await this.marathon.call(
      'DELETE',
      `/paasbox/v1/tokens/${encodeURIComponent(team)}`,
      undefined,
      `the tokens of team ${team}`,
    )) as { revoked?: number };
    return r.revoked ?? 0;
  }
}
