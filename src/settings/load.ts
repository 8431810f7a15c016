// The I/O side of the settings pipeline: read paasbox.yaml (cwd, or --config
// FILE) and detect the advertised address when no layer gives one.
import { existsSync, readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { PaasboxError } from '../errors.js';
import type { StackModel } from '../model/model.js';
import type { Target } from '../target/target.js';
import { ADDRESS_COMMAND, pickAdvertiseAddress } from './address.js';
import { envValues, resolveSettings, settingsEnv, type Settings, type SettingsValues } from './settings.js';

export interface LoadSettingsOptions {
  cwd?: string;
  /** --config FILE; must exist when given. */
  configPath?: string;
  model: StackModel;
  flags?: SettingsValues;
  /** The environment layer as settingsEnv() picks it for the stage (default: PAASBOX_* of process.env). */
  env?: Record<string, string | undefined>;
  recorded?: SettingsValues;
  defaults?: SettingsValues;
  /** Called only when no layer sets ip. */
  detectIp?: () => Promise<string | undefined>;
}

/** Read a settings file as YAML; undefined when the default file is absent. */
export function readSettingsFile(cwd: string, configPath?: string): { path?: string; obj: unknown } {
  const path = configPath ? resolve(cwd, configPath) : join(cwd, 'paasbox.yaml');
  if (!existsSync(path)) {
    if (configPath)
      throw new PaasboxError(
        `config file ${path} does not exist`,
        'pass an existing file to --config, or omit --config to use ./paasbox.yaml',
      );
    return { obj: undefined };
  }
  try {
    return { path, obj: parse(readFileSync(path, 'utf8')) ?? undefined };
  } catch (e) {
    throw new PaasboxError(
      `config file ${path} is not valid YAML`,
      'fix the YAML syntax at the position shown',
      e instanceof Error ? e.message : String(e),
    );
  }
}

/** The one settings pipeline every command uses: read paasbox.yaml, detect what no layer sets, resolve. */
export async function loadSettings(opts: LoadSettingsOptions): Promise<Settings> {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? settingsEnv(process.env, { seedNames: false });
  const { obj } = readSettingsFile(cwd, opts.configPath);
  const defaults: SettingsValues = { hostname: osHostname().split('.')[0], ...opts.defaults };
  const fileIp = obj && typeof obj === 'object' ? (obj as { ip?: unknown }).ip : undefined;
  const ipGiven = opts.flags?.ip ?? envValues(env).ip ?? fileIp ?? opts.recorded?.ip ?? defaults.ip;
  if (!ipGiven && opts.detectIp) {
    const ip = await opts.detectIp();
    if (ip) defaults.ip = ip;
  }
  return resolveSettings(
    {
      ...(opts.flags ? { flags: opts.flags } : {}),
      env,
      file: obj,
      ...(opts.recorded ? { recorded: opts.recorded } : {}),
      defaults,
    },
    opts.model,
  );
}

/** Detect a target's advertised address from its `ip` output. */
export async function detectAdvertiseAddress(target: Target): Promise<string | undefined> {
  const r = await target.exec(ADDRESS_COMMAND);
  return pickAdvertiseAddress(r.stdout);
}
