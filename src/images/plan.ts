// The image build plan (pure): from the stack model, the chosen source, what
// images the target already has and the content hashes of the build contexts,
// decide per image whether to build, pull, or leave it, and why. The hash of a
// built image covers its context files, its build args and its base image ID;
// it is stored in the image's `paasbox.hash` label, so an unchanged image is
// recognised and not rebuilt.
import { createHash } from 'node:crypto';
import { PaasboxError } from '../errors.js';
import type { ImageFacts } from '../docker/facts.js';
import type { ImageSourceName, StackModel } from '../model/model.js';
import { builtImageRef } from '../stackfile/refs.js';

/** The Debian base every local image builds FROM (debootstrap + docker import). */
export const BASE_REF = 'paasbox/debian:bookworm';
/** What the registry source builds paasbox images on. */
export const REGISTRY_BASE_REF = 'debian:bookworm-slim';
export const HASH_LABEL = 'paasbox.hash';
/** Bump when the base recipe (src/images/base.ts) changes in a way the inputs do not show. */
const BASE_RECIPE_VERSION = 2;

export interface BaseRecipe {
  suite: string;
  variant: string;
  mirror: string;
}

export type ImageState = ImageFacts;
/** The images a target has: ref → ID and labels. */
export type ImageSnapshot = Record<string, ImageState>;

export interface ContextInfo {
  /** hashContext() of stacks/images/<name>. */
  hash: string;
  /** The ARGs its Dockerfile declares. */
  args: string[];
}

export interface PlanInput {
  model: StackModel;
  source: ImageSourceName;
  /** Values for ${VAR} placeholders in the model's build args. */
  vars?: Record<string, string>;
  /** Args offered to every build that declares them (e.g. DEBIAN_MIRROR). */
  globalArgs?: Record<string, string>;
  images: ImageSnapshot;
  contexts: Record<string, ContextInfo | undefined>;
  base: BaseRecipe;
  /** Limit to these services, build contexts, or "debian" (the base). */
  only?: string[];
  /** Rebuild even when the hash matches. */
  force?: boolean;
  /**
   * The base was just built in this run: --force no longer applies to it (its builds can hash against it).
   */
  baseBuilt?: boolean;
}

export type PlanAction = 'build' | 'up-to-date' | 'pull' | 'present' | 'unavailable';

export interface PlanEntry {
  /** base: the debootstrap image; build: a stacks/images context; image: a pinned or loadable image. */
  kind: 'base' | 'build' | 'image';
  services: string[];
  ref: string;
  action: PlanAction;
  reason: string;
  /** The paasbox.hash the image has (or will have); undefined until its base exists. */
  hash?: string;
  /** The build context name (kind build). */
  build?: string;
  /** Build args passed to docker build (kind build). */
  args?: Record<string, string>;
  /** The image a build starts FROM. */
  baseRef?: string;
  /** How a user supplies an unavailable image. */
  supply?: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** The hash of the base image's inputs. */
export function baseHash(r: BaseRecipe): string {
  return sha256(
    JSON.stringify({
      recipe: BASE_RECIPE_VERSION,
      suite: r.suite,
      variant: r.variant,
      mirror: r.mirror.replace(/\/+$/, ''),
    }),
  );
}

/** The hash of a built image: context content, build args (sorted), base image ID. */
export function buildHash(contextHash: string, args: Record<string, string>, baseId: string): string {
  const sorted = Object.keys(args)
    .sort()
    .map((k) => [k, args[k]]);
  return sha256(JSON.stringify({ context: contextHash, args: sorted, base: baseId }));
}

/** Replace ${VAR} in a build arg value from vars. */
export function resolveArg(value: string, vars: Record<string, string>, where: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const v = vars[name];
    if (v === undefined)
      throw new PaasboxError(
        `${where} uses \${${name}}, which settings do not define`,
        `set ${name} in settings or remove it from the build args`,
      );
    return v;
  });
}

/** Decide what to do for every image the source needs, base images first. */
export function planImages(input: PlanInput): PlanEntry[] {
  const { model, source, images } = input;
  const vars = input.vars ?? {};
  const only = input.only && input.only.length > 0 ? new Set(input.only) : undefined;
  if (only) {
    const known = new Set<string>(['debian', 'base', ...Object.keys(model.services)]);
    for (const s of Object.values(model.services))
      if (s.sources[source].build) known.add(s.sources[source].build!);
    const bad = [...only].filter((n) => !known.has(n));
    if (bad.length)
      throw new PaasboxError(
        `--only names unknown image(s): ${bad.join(', ')}`,
        `use service or build names: ${[...known].sort().join(', ')}`,
      );
  }
  const selected = (service: string, build?: string) =>
    !only || only.has(service) || (build !== undefined && only.has(build));

  const builds = new Map<string, PlanEntry>();
  const others = new Map<string, PlanEntry>();
  for (const [service, spec] of Object.entries(model.services)) {
    const src = spec.sources[source];
    if (src.build) {
      if (!selected(service, src.build)) continue;
      const ref = builtImageRef(src.build, source);
      const prev = builds.get(ref);
      if (prev) {
        prev.services.push(service);
        continue;
      }
      builds.set(ref, planBuild(input, service, src.build, src.args ?? {}, vars, ref));
    } else if (src.image) {
      if (!selected(service)) continue;
      const entry = others.get(src.image);
      if (entry) entry.services.push(service);
      else others.set(src.image, planPinned(source, service, src.image, images));
    } else if (src.unavailable) {
      if (!selected(service)) continue;
      const u = src.unavailable;
      const loaded = u.loadable !== undefined && images[u.loadable] !== undefined;
      others.set(`unavailable:${service}`, {
        kind: 'image',
        services: [service],
        ref: u.loadable ?? `(${service})`,
        action: loaded ? 'present' : 'unavailable',
        reason: loaded ? `${u.loadable} was loaded on the target` : u.reason,
        ...(loaded ? {} : { supply: u.supply }),
      });
    }
  }

  // The images builds start FROM come first: the debootstrap base, or a pinned one.
  const bases = new Map<string, PlanEntry>();
  const wantBase = !only || only.has('debian') || only.has('base');
  if (wantBase && source === 'local') bases.set(BASE_REF, planBase(input));
  for (const b of builds.values()) {
    const ref = b.baseRef!;
    if (bases.has(ref)) continue;
    bases.set(
      ref,
      ref === BASE_REF
        ? planBase(input)
        : { ...planPinned(source, `base of ${b.build}`, ref, images), services: [] },
    );
  }

  // A build whose base changes gets its final hash only once the base exists.
  for (const b of builds.values()) {
    const base = bases.get(b.baseRef!)!;
    if (base.action === 'build' || base.action === 'pull') {
      b.action = 'build';
      b.reason = `its base ${base.ref} is ${base.action === 'build' ? 'built' : 'pulled'} first`;
      delete b.hash;
    } else if (base.action === 'unavailable') {
      b.action = 'unavailable';
      b.reason = `its base ${base.ref} is not available`;
      b.supply = base.supply ?? `docker load ${base.ref} on the target`;
      delete b.hash;
    }
  }

  const rank = (e: PlanEntry) => (e.action === 'unavailable' ? 1 : 0);
  const rest = [...builds.values(), ...others.values()].sort((a, b) => rank(a) - rank(b));
  return [...bases.values(), ...rest];
}

function planBase(input: PlanInput): PlanEntry {
  const hash = baseHash(input.base);
  const have = input.images[BASE_REF];
  const force =
    input.force &&
    !input.baseBuilt &&
    (!input.only || input.only.includes('debian') || input.only.includes('base'));
  const recipe = `debootstrap --variant=${input.base.variant} ${input.base.suite} ${input.base.mirror}`;
  let action: PlanAction = 'build';
  let reason: string;
  if (!have) reason = `${BASE_REF} is missing; ${recipe}`;
  else if (have.labels[HASH_LABEL] !== hash)
    reason = have.labels[HASH_LABEL]
      ? `its recipe changed; ${recipe}`
      : `it carries no ${HASH_LABEL} label; ${recipe}`;
  else if (force) reason = '--force';
  else {
    action = 'up-to-date';
    reason = `hash matches (${recipe})`;
  }
  return { kind: 'base', services: [], ref: BASE_REF, action, reason, hash };
}

function planPinned(source: ImageSourceName, service: string, ref: string, images: ImageSnapshot): PlanEntry {
  if (images[ref])
    return { kind: 'image', services: [service], ref, action: 'present', reason: 'already on the target' };
  if (source === 'registry')
    return { kind: 'image', services: [service], ref, action: 'pull', reason: 'not on the target yet' };
  return {
    kind: 'image',
    services: [service],
    ref,
    action: 'unavailable',
    reason: `${ref} is not on the target and the local source does not pull`,
    supply: `docker load a saved ${ref} on the target, or use --source registry on a connected host`,
  };
}

function planBuild(
  input: PlanInput,
  service: string,
  build: string,
  modelArgs: Record<string, string>,
  vars: Record<string, string>,
  ref: string,
): PlanEntry {
  const ctx = input.contexts[build];
  const defaultBase = input.source === 'local' ? BASE_REF : REGISTRY_BASE_REF;
  if (!ctx) {
    return {
      kind: 'build',
      services: [service],
      ref,
      build,
      baseRef: defaultBase,
      action: 'unavailable',
      reason: `stacks/images/${build} has no Dockerfile`,
      supply: `add stacks/images/${build}/Dockerfile`,
    };
  }
  const args: Record<string, string> = {};
  for (const name of ctx.args) {
    const g = input.globalArgs?.[name];
    if (g !== undefined) args[name] = g;
  }
  for (const [k, v] of Object.entries(modelArgs))
    args[k] = resolveArg(v, vars, `stacks/paasbox.yaml ${service}.sources.${input.source}.args.${k}`);
  if (ctx.args.includes('BASE') || args.BASE === undefined) args.BASE = args.BASE ?? defaultBase;
  const baseRef = args.BASE;
  const baseState = input.images[baseRef];
  const entry: PlanEntry = {
    kind: 'build',
    services: [service],
    ref,
    build,
    args,
    baseRef,
    action: 'build',
    reason: '',
  };
  if (!baseState) {
    entry.reason = `its base ${baseRef} is not on the target yet`;
    return entry;
  }
  const hash = buildHash(ctx.hash, args, baseState.id);
  entry.hash = hash;
  const have = input.images[ref];
  if (!have) entry.reason = 'not built yet';
  else if (have.labels[HASH_LABEL] !== hash)
    entry.reason = have.labels[HASH_LABEL]
      ? 'context, args or base changed'
      : `it carries no ${HASH_LABEL} label`;
  else if (input.force) entry.reason = '--force';
  else {
    entry.action = 'up-to-date';
    entry.reason = 'hash matches';
  }
  return entry;
}

/** Every image ref a plan for this source may ask the target about. */
export function refsOfInterest(model: StackModel, source: ImageSourceName): string[] {
  const refs = new Set<string>([BASE_REF]);
  for (const spec of Object.values(model.services)) {
    const src = spec.sources[source];
    if (src.build) {
      refs.add(builtImageRef(src.build, source));
      refs.add(src.args?.BASE ?? (source === 'local' ? BASE_REF : REGISTRY_BASE_REF));
    }
    if (src.image) refs.add(src.image);
    if (src.unavailable?.loadable) refs.add(src.unavailable.loadable);
  }
  return [...refs];
}
