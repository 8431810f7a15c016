// The I/O side of settings: read paasbox.yaml (cwd, or --config FILE), the
// environment, and detect the advertised address when none is given.
import { existsSync, readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { PaasboxError } from '../errors.js';
import type { StackModel } from '../stack/model.js';
import type { Target } from '../target/target.js';
import { ADDRESS_COMMAND, pickAdvertiseAddress } from './address.js';
import { resolveSettings, type Settings, type SettingsDefaults } from './settings.js';

export interface LoadSettingsOptions {
  cwd?: string;
  /** --config FILE; must exist when given. */
  configPath?: string;
  env?: Record<string, string | undefined>;
  model: StackModel;
  defaults?: SettingsDefaults;
  /** Called only when neither env nor file sets ip. */
  detectIp?: () => Promise<string | undefined>;
}

/** Read a settings file as YAML; undefined when the default file is absent. */
export function readSettingsFile(cwd: string, configPath?: string): { path?: string; obj: unknown } {
  const path = configPath ? resolve(cwd, configPath) : join(cwd, 'paasbox.yaml');
  if (!existsSync(path)) {
    if (configPath) throw new PaasboxError(`config file ${path} does not exist`, 'pass an existing file to --config, or omit --config to use ./paasbox.yaml');
    return { obj: undefined };
  }
  try {
    return { path, obj: parse(readFileSync(path, 'utf8')) ?? undefined };
  } catch (e) {
    throw new PaasboxError(`config file ${path} is not valid YAML`, 'fix the YAML syntax at the position shown', e instanceof Error ? e.message : String(e));
  }
}

export async function loadSettings(opts: LoadSettingsOptions): Promise<Settings> {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const { obj } = readSettingsFile(cwd, opts.configPath);
  const defaults: SettingsDefaults = { hostname: osHostname().split('.')[0], ...opts.defaults };
  const fileIp = obj && typeof obj === 'object' ? (obj as { ip?: unknown }).ip : undefined;
  if (!env['IP'] && !fileIp && !defaults.ip && opts.detectIp) {
    const ip = await opts.detectIp();
    if (ip) defaults.ip = ip;
  }
  return resolveSettings(defaults, obj, env, opts.model);
}

/** Detect a target's advertised address from its `ip` output. */
export async function detectAdvertiseAddress(target: Target): Promise<string | undefined> {
  const r = await target.exec(ADDRESS_COMMAND);
  return pickAdvertiseAddress(r.stdout);
}
