// Push images from this machine's docker to a target's: only what the target
// lacks (src/images/push-plan.ts). A ref whose image the target has under
// another name is only tagged there; the others go in one `docker save`
// (shared layers once) streamed into `docker load`. When the target already
// has some of their layers the archive is saved here first and sent without
// those layer files (docker load does not open them). zstd compresses the
// stream when both ends have it (docker load itself reads only gzip, which
// costs more CPU than it saves on a fast link: measured in `npm run bench`).
// Progress says the bytes sent and the rate.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { ALL_IMAGES_COMMAND, imageInspectCommand, parseImageLine } from '../docker/images.js';
import { PaasboxError } from '../errors.js';
import type { Progress } from '../progress.js';
import { shq } from '../target/shell.js';
import type { Target } from '../target/target.js';
import {
  layerFilesToKeep,
  parseInventory,
  planPush,
  resolveLink,
  type ImageLayers,
  type PushPlan,
  type SaveManifestEntry,
} from './push-plan.js';

export interface PushResult {
  pushed: string[];
  skipped: string[];
  /** Refs only tagged on the target (it had the image under another name). */
  tagged: string[];
  /** Layer files left out because the target has them, and the layers sent. */
  layersPresent: number;
  layersSent: number;
  /** Bytes that went over the wire (after compression). */
  bytes: number;
  compression: 'none' | 'zstd';
  seconds: number;
}

export interface PushOptions {
  /** 'auto' (default): zstd when both ends have it. */
  compression?: 'auto' | 'none' | 'zstd';
}

/** A push in a few words, for a step's detail. */
export function describePush(r: PushResult): string {
  const mb = (r.bytes / 1e6).toFixed(0);
  return (
    [
      r.pushed.length
        ? `${r.pushed.length} loaded (${mb} MB${r.compression !== 'none' ? ` ${r.compression}` : ''}, ${r.layersSent} layers sent, ${r.layersPresent} already there)`
        : '',
      r.tagged.length ? `${r.tagged.length} tagged` : '',
    ]
      .filter(Boolean)
      .join(', ') || 'nothing to send'
  );
}

/**
 * Every image the target's docker has (all, intermediate ones too: their layers count), and whether it has
 * zstd.
 */
export const INVENTORY_COMMAND = `command -v zstd >/dev/null 2>&1 && echo zstd; ${ALL_IMAGES_COMMAND}`;

async function localLayers(from: Target, refs: string[]): Promise<Record<string, ImageLayers>> {
  const each = refs.map((r) => `printf '%s\\t' ${shq(r)}; ${imageInspectCommand([r])} 2>/dev/null || echo`);
  const r = await from.exec(
    `docker version --format '{{.Server.Version}}' >/dev/null && { ${[...each, 'true'].join('; ')}; }`,
    { timeoutMs: 60_000 },
  );
  if (r.code !== 0)
    throw new PaasboxError(
      `docker on ${from.name} does not answer`,
      'start dockerd here and run again',
      r.stderr,
    );
  const out: Record<string, ImageLayers> = {};
  for (const line of r.stdout.split('\n')) {
    const tab = line.indexOf('\t');
    const img = tab > 0 ? parseImageLine(line.slice(tab + 1)) : undefined;
    if (img) out[line.slice(0, tab)] = { id: img.id, layers: img.layers };
  }
  return out;
}

/**
 * Copy refs from `from` (must be this machine: the save stream is read here) to `to`.
 * A ref missing on `from` is a PaasboxError naming it.
 */
export async function pushImages(
  from: Target,
  to: Target,
  refs: string[],
  progress?: Progress,
  opts: PushOptions = {},
): Promise<PushResult> {
  const t0 = Date.now();
  if (from.name !== 'local') {
    throw new PaasboxError(
      `pushing images from ${from.name} is not supported`,
      'build or load the images on this machine, then push from here',
    );
  }
  const [have, inv, zstdHere] = await Promise.all([
    localLayers(from, refs),
    to.exec(INVENTORY_COMMAND, { timeoutMs: 120_000 }),
    from.exec('command -v zstd', { timeoutMs: 10_000 }).then((r) => r.code === 0),
  ]);
  if (inv.code !== 0)
    throw new PaasboxError(
      `docker on ${to.name} does not answer`,
      'start dockerd (systemctl start docker) and make sure this user may use it',
      inv.stderr,
    );
  const missing = refs.filter((r) => !have[r]);
  if (missing.length) {
    throw new PaasboxError(
      `${missing.join(', ')} not on this machine`,
      'build them first: npx zx scripts/build-images.mjs (or docker load them here)',
    );
  }
  const plan = planPush(refs, have, parseInventory(inv.stdout));
  const zstdThere = /^zstd$/m.test(inv.stdout);
  const compression =
    opts.compression === 'none'
      ? 'none'
      : opts.compression === 'zstd' || (zstdHere && zstdThere)
        ? 'zstd'
        : 'none';
  let bytes = 0;
  const run = async () => {
    for (const { ref, id } of plan.tag) {
      const r = await to.exec(`docker tag ${shq(id)} ${shq(ref)}`, { timeoutMs: 60_000 });
      if (r.code !== 0)
        throw new PaasboxError(
          `tagging ${ref} on ${to.name} failed`,
          `check dockerd on ${to.name}, then run again`,
          r.stderr,
        );
    }
    if (!plan.load.length)
      return {
        status: plan.tag.length ? ('changed' as const) : ('ok' as const),
        detail: plan.tag.length ? `tagged ${plan.tag.map((t) => t.ref).join(' ')}` : 'all present',
      };
    bytes = await send(to, plan, compression, progress);
    return { status: 'changed' as const, detail: `loaded ${plan.load.join(', ')}` };
  };
  if (progress) await progress.step(`push ${plan.load.length + plan.tag.length} image(s)`, to.name, run);
  else await run();
  return {
    pushed: plan.load,
    skipped: plan.present,
    tagged: plan.tag.map((t) => t.ref),
    layersPresent: plan.layersPresent,
    layersSent: plan.layersToSend,
    bytes,
    compression,
    seconds: (Date.now() - t0) / 1000,
  };
}

/** The archive for plan.load into the target's docker load; returns the bytes sent. */
async function send(
  to: Target,
  plan: PushPlan,
  compression: 'none' | 'zstd',
  progress?: Progress,
): Promise<number> {
  let tmp: string | undefined;
  const errs: string[] = [];
  const children: Promise<number>[] = [];
  const child = (cmd: string, args: string[], input?: Readable) => {
    const c = spawn(cmd, args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    c.stderr!.on('data', (d: Buffer) => errs.push(d.toString()));
    if (input) input.pipe(c.stdin!);
    children.push(new Promise((resolve) => c.on('close', (code) => resolve(code ?? 1))));
    return c.stdout!;
  };
  try {
    let archive: Readable;
    if (plan.layersPresent > 0) {
      // Some layers are there already: save here, then send the archive without their files.
      tmp = await mkdtemp(join(tmpdir(), 'paasbox-push-'));
      const file = join(tmp, 'images.tar');
      const saved = await new Promise<number>((resolve) => {
        const c = spawn('docker', ['save', '-o', file, ...plan.load], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        c.stderr.on('data', (d: Buffer) => errs.push(d.toString()));
        c.on('close', (code) => resolve(code ?? 1));
      });
      if (saved !== 0) throw failed(to, plan, errs.join(''));
      archive = await withoutLayers(file, plan.targetChains);
    } else {
      archive = child('docker', ['save', ...plan.load]);
    }
    const wire = compression === 'zstd' ? child('zstd', ['-1', '-T0', '-q', '-c'], archive) : archive;
    let bytes = 0;
    let said = Date.now();
    const t0 = Date.now();
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        if (progress && Date.now() - said > 5000) {
          said = Date.now();
          progress.say(
            `[${to.name}] push: ${(bytes / 1e6).toFixed(0)} MB sent (${(bytes / 1e6 / ((Date.now() - t0) / 1000)).toFixed(0)} MB/s)`,
          );
        }
        cb(null, chunk);
      },
    });
    // A PassThrough keeps the stream if the producer exits before the target reads (Node drops unread child
    // output).
    const stdin = wire.pipe(new PassThrough()).pipe(counter);
    // A failing zstd leaves docker load a cut archive, which it refuses.
    const res = await to.exec(compression === 'zstd' ? 'zstd -d -q -c | docker load' : 'docker load', {
      stdin,
      timeoutMs: 60 * 60_000,
    });
    const codes = await Promise.all(children);
    if (codes.some((c) => c !== 0) || res.code !== 0) throw failed(to, plan, `${errs.join('')}${res.stderr}`);
    return bytes;
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}

function failed(to: Target, plan: PushPlan, detail: string): PaasboxError {
  return new PaasboxError(
    `copying ${plan.load.join(', ')} to ${to.name} failed`,
    `check that dockerd runs on ${to.name} and has disk space, then run again`,
    detail,
  );
}

// ---------------------------------------------------------------- a saved archive without some layer files

interface TarEntry {
  name: string;
  /** Offset of the header; the data follows it. */
  offset: number;
  size: number;
  type: string;
  linkname: string;
}

const BLOCK = 512;
const cstr = (b: Buffer, start: number, len: number) => {
  const s = b.subarray(start, start + len);
  const nul = s.indexOf(0);
  return (nul >= 0 ? s.subarray(0, nul) : s).toString('utf8');
};

/**
 * The entries of a plain (ustar) tar file; undefined when it uses extended headers (then it is sent whole).
 */
async function listTar(fh: FileHandle): Promise<TarEntry[] | undefined> {
  const entries: TarEntry[] = [];
  const h = Buffer.alloc(BLOCK);
  for (let offset = 0; ;) {
    const { bytesRead } = await fh.read(h, 0, BLOCK, offset);
    if (bytesRead < BLOCK || h.every((x) => x === 0)) return entries;
    const type = String.fromCharCode(h[156]!);
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') return undefined;
    const prefix = cstr(h, 345, 155);
    const name = (prefix ? `${prefix}/` : '') + cstr(h, 0, 100);
    const size = parseInt(cstr(h, 124, 12).trim() || '0', 8);
    entries.push({ name, offset, size, type, linkname: cstr(h, 157, 100) });
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
}

async function readEntry(fh: FileHandle, e: TarEntry): Promise<string> {
  const b = Buffer.alloc(e.size);
  await fh.read(b, 0, e.size, e.offset + BLOCK);
  return b.toString('utf8');
}

/** The saved archive at `file` as a stream, without the layer files whose chain the target has. */
export async function withoutLayers(file: string, targetChains: Set<string>): Promise<Readable> {
  const fh = await open(file, 'r');
  try {
    const entries = await listTar(fh);
    const manifestEntry = entries?.find((e) => e.name === 'manifest.json');
    if (!entries || !manifestEntry) return createReadStream(file);
    const manifest = JSON.parse(await readEntry(fh, manifestEntry)) as SaveManifestEntry[];
    const configs: Record<string, string[]> = {};
    for (const m of manifest) {
      const e = entries.find((x) => x.name === m.Config);
      if (!e) return createReadStream(file);
      configs[m.Config] =
        (JSON.parse(await readEntry(fh, e)) as { rootfs?: { diff_ids?: string[] } }).rootfs?.diff_ids ?? [];
    }
    const symlinks: Record<string, string> = {};
    for (const e of entries) if (e.type === '2') symlinks[e.name] = resolveLink(e.name, e.linkname);
    const keep = layerFilesToKeep(manifest, (c) => configs[c] ?? [], targetChains, symlinks);
    const layerPaths = new Set(manifest.flatMap((m) => m.Layers));
    const kept = entries.filter((e) => !layerPaths.has(e.name) || keep.has(e.name));
    return Readable.from(copyEntries(file, kept));
  } finally {
    await fh.close();
  }
}

async function* copyEntries(file: string, kept: TarEntry[]): AsyncGenerator<Buffer> {
  const fh = await open(file, 'r');
  try {
    const CHUNK = 1 << 20;
    for (const e of kept) {
      let left = BLOCK + Math.ceil(e.size / BLOCK) * BLOCK;
      for (let pos = e.offset; left > 0;) {
        const b = Buffer.alloc(Math.min(CHUNK, left));
        const { bytesRead } = await fh.read(b, 0, b.length, pos);
        if (bytesRead <= 0) throw new Error(`${file} ended inside ${e.name}`);
        yield b.subarray(0, bytesRead);
        pos += bytesRead;
        left -= bytesRead;
      }
    }
    yield Buffer.alloc(2 * BLOCK);
  } finally {
    await fh.close();
  }
}
