// The words a team token is made of, checked alike by the apps API (which
// stores and enforces them) and the CLI (which refuses a bad one before it
// asks): a team name, the app-id patterns a token covers, and the --since of
// an app's logs. Pure.

/** A team name: a path segment of the API, and by convention the first segment of its apps' ids. */
export const TEAM_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** An app id pattern: an absolute id, or a prefix ending in `/*` (`/*` alone: every app). */
export const APP_PATTERN_RE = /^(\/[a-z0-9]([a-z0-9.-]*[a-z0-9])?)+(\/\*)?$|^\/\*$/;
/** A logs --since: a duration in s/m/h, or an RFC 3339 time (the forms docker logs takes). */
export const SINCE_RE =
  /^(?:\d{1,6}[smh]|\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)$/;

/** Whether `team` and `apps` make a token: undefined, or the problem and its fix. */
export function teamProblem(team: unknown, apps: unknown): { problem: string; fix: string } | undefined {
  if (typeof team !== 'string' || !TEAM_RE.test(team))
    return {
      problem: `team "${String(team).slice(0, 64)}" is not a team name`,
      fix: 'use lower-case letters, digits and dashes, starting with a letter or digit (at most 63)',
    };
  if (!Array.isArray(apps) || !apps.every((p) => typeof p === 'string' && APP_PATTERN_RE.test(p)))
    return {
      problem: 'apps: every entry must be an absolute app id or a prefix ending in /*',
      fix: `give e.g. --apps '/${team}/*'`,
    };
  return undefined;
}
