// What to put on a target: the compose file generated here for the target's
// settings (the one pipeline), the images it runs, and its host ports.

import { createHash } from 'node:crypto';
import { PaasboxError } from '../errors.js';
import {
  detectAdvertiseAddress,
  loadSettings,
  type Settings,
  type SettingsValues,
} from '../settings/index.js';
import { generateCompose, renderCompose, type ComposeFile } from '../stackfile/generate.js';
import { loadStackModel } from '../model/load.js';
import type { StackModel } from '../model/model.js';
import { builtImageRef, resolveImageRefs } from '../stackfile/refs.js';
import type { Target } from '../target/target.js';
import { composeHostPorts, type WantedPort } from './ports.js';
import { imageIdsOf } from '../docker/facts.js';
import type { ImageSnapshot } from '../images/plan.js';
import { imageIds, localImageIds } from './image-ids.js';

export interface StackPlanOptions {
  /** The command line's settings (--source, --hostname, --ip). */
  flags?: SettingsValues;
  /** The environment layer (settingsEnv); default: PAASBOX_* of process.env only. */
  env?: Record<string, string | undefined>;
  /** What the user chose for this instance at an earlier install. */
  recorded?: SettingsValues;
  /** Defaults the stage knows (a Vagrant VM's private address), over the target's own facts. */
  defaults?: SettingsValues;
  configPath?: string;
  cwd?: string;
  /** Leave out services whose built image is not here (instead of failing). */
  skipMissingImages?: boolean;
  /**
   * The images were built on the target itself (src/provision/build-host.ts): they need not be here, and
   * nothing is sent.
   */
  imagesBuiltOnTarget?: boolean;
  model?: StackModel;
  /** Settings already resolved by planSettings with these same options (install does so once). */
  settings?: Settings;
  /** This machine's images as the build step just read them (it built nothing): not asked again. */
  localImages?: ImageSnapshot;
}

export interface StackPlan {
  settings: Settings;
  project: string;
  compose: ComposeFile;
  composeText: string;
  composeHash: string;
  /** Image refs the file runs. */
  images: string[];
  /** Built on the target: the images step sends nothing from here. */
  imagesBuiltOnTarget?: boolean;
  /** Their image ids on this machine ('' when absent), read while planning. */
  localIds: Record<string, string>;
  /** The target is this machine: localIds are its image ids, and no step asks them again. */
  imagesHere?: boolean;
  ports: WantedPort[];
  /** Services left out: service -> why. */
  omitted: Record<string, string>;
}

/**
 * The target's settings, through the one pipeline (flags > env > paasbox.yaml > recorded > defaults, the
 * target's hostname and address).
 */
export async function planSettings(target: Target, opts: StackPlanOptions = {}): Promise<Settings> {
  const model = opts.model ?? loadStackModel();
  const facts = await target.facts();
  const { flags, env, recorded, cwd, configPath } = opts;
  return loadSettings({
    model,
    flags,
    env,
    recorded,
    cwd,
    configPath,
    defaults: { hostname: facts.hostname.split('.')[0], ...opts.defaults },
    detectIp: () => detectAdvertiseAddress(target),
  });
}

/**
 * Image id per ref here ('' when absent): the build step's reading (every ref of interest for this model
 * and source) or asked now.
 */
function hereIds(refs: string[], known?: ImageSnapshot): Promise<Record<string, string>> {
  return known ? Promise.resolve(imageIdsOf(known, refs)) : localImageIds(refs);
}

export async function planStack(target: Target, opts: StackPlanOptions = {}): Promise<StackPlan> {
  const model = opts.model ?? loadStackModel();
  // Install resolves them once, before building the images (the same inputs give the same settings).
  const settings = opts.settings ?? (await planSettings(target, { ...opts, model }));
  // Every image that can stand in for an unavailable one, looked up once here and once on the target (not
  // one round trip each).
  const loadable = [
    ...new Set(
      Object.values(model.services).flatMap(
        (svc) => svc.sources[settings.imageSource]?.unavailable?.loadable ?? [],
      ),
    ),
  ];
  const builtRefs = Object.values(model.services).flatMap((svc) => {
    const b = svc.sources[settings.imageSource]?.build;
    return b ? [builtImageRef(b, settings.imageSource)] : [];
  });
  // This machine's images asked once (a standalone target is this machine: asked once in all).
  const targetIsHere = target.name === 'local';
  const [here, thereIds] = await Promise.all([
    hereIds([...new Set([...builtRefs, ...loadable])], opts.localImages),
    targetIsHere
      ? Promise.resolve({} as Record<string, string>)
      : imageIds(target, loadable).catch(() => ({}) as Record<string, string>),
  ]);
  const hasImage = (ref: string) => !!here[ref] || !!thereIds[ref];
  const refs = await resolveImageRefs(model, settings, hasImage);
  // A built image (paasbox/<build>:<source>) that is not here cannot be sent.
  const built = Object.entries(refs.images).filter(
    ([svc]) => !!model.services[svc]?.sources[settings.imageSource].build,
  );
  const local = Object.fromEntries(built.map(([, r]) => [r, here[r] ?? '']));
  const there = opts.imagesBuiltOnTarget
    ? await imageIds(
        target,
        built.map(([, r]) => r),
      )
    : {};
  const missing = built.filter(([, ref]) => !local[ref] && !there[ref]);
  if (missing.length) {
    if (!opts.skipMissingImages)
      throw new PaasboxError(
        `images not built here: ${missing.map(([, r]) => r).join(', ')}`,
        `build them first: npx zx scripts/build-images.mjs --source ${settings.imageSource}`,
      );
    for (const [svc, ref] of missing) {
      delete refs.images[svc];
      refs.unavailable[svc] = `image ${ref} is not built on this machine`;
    }
  }
  const compose = generateCompose(model, settings, refs);
  const composeText = renderCompose(compose);
  const images = [...new Set(Object.values(compose.services).map((s) => s.image))];
  const unasked = images.filter((r) => !(r in here));
  const localIds = { ...here, ...(unasked.length ? await localImageIds(unasked) : {}) };
  return {
    settings,
    project: settings.projectName,
    compose,
    composeText,
    composeHash: createHash('sha256').update(composeText).digest('hex'),
    images,
    ...(opts.imagesBuiltOnTarget ? { imagesBuiltOnTarget: true } : {}),
    ...(targetIsHere ? { imagesHere: true } : {}),
    localIds: Object.fromEntries(images.map((r) => [r, localIds[r] ?? ''])),
    ports: composeHostPorts(compose),
    omitted: compose['x-paasbox'].omitted,
  };
}
