// The layering the project keeps (ARCHITECTURE.md mirrors LAYERS and RULES below): src/ never
// imports spec/, scripts and the bin import only dist/src, src/'s folders form no import cycle,
// a lower layer never imports a higher one, and the few named rules inside a layer hold. Read
// from the sources (type imports included), so a new import that breaks a rule fails here,
// naming the file and the import.
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { repoPath } from '../../src/paths.js';

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p, ext) : ext.test(n) ? [p] : [];
  });
}

/** Every module specifier a file imports or re-exports (static, type-only, dynamic, URL). */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  const re =
    /\b(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\bimport\s+['"]([^'"]+)['"]|new URL\(\s*['"]([^'"]+\.js)['"]/g;
  for (const m of text.matchAll(re)) out.push(m[1] ?? m[2] ?? m[3] ?? m[4]!);
  return out;
}

/**
 * The layers of src/, lowest first. A unit is a folder of src/ or a file directly in src/. A unit
 * may import units of its own layer or of a lower one, never a higher one. ARCHITECTURE.md's
 * table is this one; change both together.
 */
export const LAYERS: { layer: string; units: string[] }[] = [
  { layer: 'core', units: ['errors.ts', 'progress.ts', 'poll.ts', 'paths.ts'] },
  { layer: 'transport', units: ['target'] },
  { layer: 'system', units: ['system', 'docker', 'compose'] },
  { layer: 'domain', units: ['model', 'settings', 'secrets', 'stackfile', 'appspec', 'apps', 'images'] },
  { layer: 'services', units: ['consul', 'swarm', 'marathon', 'scheduler', 'api', 'acme', 'vpn', 'tunnel'] },
  { layer: 'lifecycle', units: ['drivers', 'instance', 'provision', 'install', 'verify'] },
  { layer: 'tools', units: ['bench'] },
  { layer: 'cli', units: ['cli'] },
];

/** Imports forbidden beyond the layer order: [from, to, why]. `*` is any unit. */
export const RULES: [string, string, string][] = [
  ['*', 'cli', 'cli/ is flags → options → output: nothing in src imports it'],
  ['verify', 'provision', 'verify proves what install did; it never changes a host'],
  ['verify', 'install', 'verify proves what install did; it never changes a host'],
  ['consul', 'verify', 'the Consul client sits below the checks that use it'],
];

export type Edge = { from: string; to: string; file: string; spec: string };

/** The unit of src/ a path under src/ belongs to: its first folder, or the file itself. */
export function unitOf(relToSrc: string): string {
  return relToSrc.split(sep)[0]!.split('/')[0]!;
}

/** One edge per relative import between two different units of src/. */
export function unitEdges(srcDir: string, sources: { file: string; text: string }[]): Edge[] {
  return sources.flatMap(({ file, text }) =>
    importsOf(text)
      .filter((s) => s.startsWith('.'))
      .map((spec) => ({ spec, target: relative(srcDir, resolve(dirname(file), spec)) }))
      .filter(({ target }) => !target.startsWith('..'))
      .map(({ spec, target }) => ({
        from: unitOf(relative(srcDir, file)),
        to: unitOf(target).replace(/\.js$/, '.ts'),
        file: relative(repoPath(), file),
        spec,
      }))
      .filter((e) => e.from !== e.to),
  );
}

/** Every cycle among units, one per strongly connected component, as `a → b → … → a`. */
export function unitCycles(edges: { from: string; to: string }[]): string[] {
  const next = new Map<string, Set<string>>();
  for (const e of edges) next.set(e.from, (next.get(e.from) ?? new Set()).add(e.to));
  // Tarjan's strongly connected components.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const sccs: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      for (let w = stack.pop()!; ; w = stack.pop()!) {
        onStack.delete(w);
        scc.push(w);
        if (w === v) break;
      }
      if (scc.length > 1) sccs.push(scc);
    }
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) visit(v);
  // Name one concrete cycle per component: the shortest way back to its first unit.
  return sccs.map((scc) => {
    const inside = new Set(scc);
    const start = [...scc].sort()[0]!;
    const prev = new Map<string, string>();
    const queue = [start];
    while (queue.length) {
      const v = queue.shift()!;
      for (const w of [...(next.get(v) ?? [])].sort()) {
        if (!inside.has(w)) continue;
        if (w === start) {
          const path = [start];
          for (let u: string | undefined = v; u !== undefined && u !== start; u = prev.get(u))
            path.splice(1, 0, u);
          return [...path, start].join(' → ');
        }
        if (!prev.has(w)) {
          prev.set(w, v);
          queue.push(w);
        }
      }
    }
    return scc.join(', ');
  });
}

/** The edges that break LAYERS or RULES, and the units no layer names, each said in one line. */
export function layerViolations(edges: Edge[], units: string[]): string[] {
  const layerOf = new Map(LAYERS.flatMap(({ units: us }, i) => us.map((u) => [u, i] as const)));
  const unknown = units
    .filter((u) => !layerOf.has(u))
    .map((u) => `src/${u} is in no layer of ARCHITECTURE.md`);
  const bad = edges.flatMap((e) => {
    const [a, b] = [layerOf.get(e.from), layerOf.get(e.to)];
    const out: string[] = [];
    if (a !== undefined && b !== undefined && b > a)
      out.push(
        `${e.file} imports ${e.spec}: ${LAYERS[a]!.layer} (${e.from}) must not import ${LAYERS[b]!.layer} (${e.to})`,
      );
    for (const [from, to, why] of RULES)
      if ((from === '*' || from === e.from) && to === e.to) out.push(`${e.file} imports ${e.spec}: ${why}`);
    return out;
  });
  return [...unknown, ...new Set(bad)];
}

function srcSources(): { file: string; text: string }[] {
  return files(repoPath('src'), /\.ts$/).map((file) => ({ file, text: readFileSync(file, 'utf8') }));
}

describe('module boundaries', () => {
  const root = repoPath();
  const rel = (p: string) => relative(root, p);
  const src = repoPath('src');
  const at = (f: string) => join(src, f);

  it('finds the imports it judges (static, type, re-export, dynamic, URL)', () => {
    const text = [
      `import { a } from '../x.js';`,
      `export * from "./y.js";`,
      `await import('../../spec/z.js');`,
      `new URL('../dist/spec/w.js', import.meta.url)`,
      `import type {\n  T,\n} from '../t.js';`,
      `let m: typeof import('../u.js');`,
    ].join('\n');
    expect(importsOf(text)).to.deep.equal([
      '../x.js',
      './y.js',
      '../../spec/z.js',
      '../dist/spec/w.js',
      '../t.js',
      '../u.js',
    ]);
  });

  it('maps imports to units: folders and the files directly in src/', () => {
    const edges = unitEdges(src, [
      { file: at('verify/run.ts'), text: `import { poll } from '../poll.js';\nimport { x } from './y.js';` },
      { file: at('poll.ts'), text: `import { PaasboxError } from './errors.js';` },
      { file: at('cli/a.ts'), text: `import { d } from '../docker/compose.js';\nimport 'zx';` },
    ]);
    expect(edges.map((e) => `${e.from}>${e.to}`)).to.deep.equal([
      'verify>poll.ts',
      'poll.ts>errors.ts',
      'cli>docker',
    ]);
  });

  it('names a cycle among units, and none in a tree', () => {
    expect(
      unitCycles([
        { from: 'a', to: 'b' },
        { from: 'b', to: 'c' },
        { from: 'a', to: 'c' },
      ]),
    ).to.deep.equal([]);
    expect(
      unitCycles([
        { from: 'settings', to: 'stackfile' },
        { from: 'stackfile', to: 'settings' },
      ]),
    ).to.deep.equal(['settings → stackfile → settings']);
    expect(
      unitCycles([
        { from: 'verify', to: 'consul' },
        { from: 'consul', to: 'system' },
        { from: 'system', to: 'verify' },
        { from: 'cli', to: 'verify' },
      ]),
    ).to.deep.equal(['consul → system → verify → consul']);
  });

  it('judges a deliberately bad import by each rule', () => {
    const e = (from: string, to: string): Edge => ({
      from,
      to,
      file: `src/${from}/x.ts`,
      spec: `../${to}/y.js`,
    });
    const ok = [e('verify', 'consul'), e('cli', 'install'), e('docker', 'target'), e('poll.ts', 'errors.ts')];
    expect(layerViolations(ok, ['verify', 'consul', 'cli', 'install', 'docker', 'target'])).to.deep.equal([]);
    expect(layerViolations([e('docker', 'settings')], [])).to.deep.equal([
      'src/docker/x.ts imports ../settings/y.js: system (docker) must not import domain (settings)',
    ]);
    expect(layerViolations([e('bench', 'cli')], [])).to.deep.equal([
      'src/bench/x.ts imports ../cli/y.js: tools (bench) must not import cli (cli)',
      'src/bench/x.ts imports ../cli/y.js: cli/ is flags → options → output: nothing in src imports it',
    ]);
    expect(layerViolations([e('verify', 'provision'), e('verify', 'install')], [])).to.have.length(2);
    expect(layerViolations([e('consul', 'verify')], [])).to.include(
      'src/consul/x.ts imports ../verify/y.js: the Consul client sits below the checks that use it',
    );
    expect(layerViolations([], ['stage'])).to.deep.equal(['src/stage is in no layer of ARCHITECTURE.md']);
  });

  it("src/'s folders import each other without a cycle (type imports included)", () => {
    const edges = unitEdges(src, srcSources());
    expect(edges.length).to.be.above(50);
    const cycles = unitCycles(edges).map((c) => {
      const hops = c.split(' → ');
      const why = hops.slice(1).map((to, i) => edges.find((x) => x.from === hops[i] && x.to === to)!);
      return `${c} (${why.map((x) => `${x.file} imports ${x.spec}`).join('; ')})`;
    });
    expect(cycles).to.deep.equal([]);
  });

  it('every unit of src/ sits in a layer, and no import breaks the layers or the rules of ARCHITECTURE.md', () => {
    // A folder counts once it holds a source file (git keeps no empty folder after a move).
    const units = readdirSync(src).filter((n) =>
      statSync(join(src, n)).isDirectory() ? files(join(src, n), /\.ts$/).length > 0 : n.endsWith('.ts'),
    );
    expect(layerViolations(unitEdges(src, srcSources()), units)).to.deep.equal([]);
  });

  it('ARCHITECTURE.md names every unit in the layer the spec gives it', () => {
    const doc = readFileSync(repoPath('ARCHITECTURE.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| *\*\*(\w+)\*\* *\|([^|\n]*)\|/gm)].map((m) => ({
      layer: m[1]!,
      units: [...m[2]!.matchAll(/`(?:src\/)?([\w.-]+?)\/?`/g)].map((u) => u[1]!),
    }));
    expect(rows).to.deep.equal(LAYERS.map(({ layer, units }) => ({ layer, units })));
  });

  it('no file under src/ imports from spec/', () => {
    const bad = srcSources().flatMap(({ file, text }) =>
      importsOf(text)
        .filter((i) => /(^|\/)spec\//.test(i))
        .map((i) => `${rel(file)} imports ${i}`),
    );
    expect(bad).to.deep.equal([]);
  });

  it('scripts and the bin import only dist/src (and packages), never dist/spec', () => {
    const entry = [...files(repoPath('scripts'), /\.mjs$/), ...files(repoPath('bin'), /\.mjs$/)];
    expect(entry.length).to.be.above(5);
    const bad = entry.flatMap((f) =>
      importsOf(readFileSync(f, 'utf8'))
        .filter((i) => i.startsWith('.') && !i.startsWith('../dist/src/'))
        .map((i) => `${rel(f)} imports ${i}`),
    );
    expect(bad).to.deep.equal([]);
  });
});
