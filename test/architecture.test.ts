/**
 * The shape of src/: imports run one way, down the layers (docs/architecture.md), with no circle, and
 * no file grows past what one reader can hold. These are facts about the source text, read here.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');

/**
 * Layers, lowest first: a module may import its own layer's other folders only where listed as peers
 * below, and any lower layer. rules/ and dump/ meet only in contract/ (the engine knows rules through
 * EngineRules, the rules never see the engine).
 */
const LAYERS: Record<string, number> = {
  'errors.ts': 0,
  'load-module.ts': 0,
  contract: 0,
  text: 0,
  pseudonym: 1,
  io: 1,
  rules: 2,
  dump: 2,
  engine: 3,
  archive: 4,
  relations: 4,
  commands: 5,
  'api.ts': 6,
  cli: 6,
  'cli.ts': 7,
  'index.ts': 7,
  'one-file.ts': 8,
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of a file (static, dynamic and re-exports), as absolute .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+)'(\.{1,2}\/[^']+)\.js'/gm)) out.push(resolve(dirname(file), `${m[1]}.ts`));
  return out;
}

function layerOf(file: string): { name: string; layer: number } {
  const top = relative(SRC, file).split('/')[0]!;
  const layer = LAYERS[top];
  if (layer === undefined) throw new Error(`no layer for src/${top}: add it to LAYERS and to docs/architecture.md`);
  return { name: top, layer };
}

const files = sources(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

/** Strongly connected components of more than one file (Tarjan). */
function circles(): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(relative(SRC, w));
      } while (w !== v);
      if (scc.length > 1) found.push(scc.sort());
    }
  };
  for (const f of files) if (!idx.has(f)) visit(f);
  return found;
}

describe('src/ architecture', () => {
  it('every import names a file that exists', () => {
    const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${relative(SRC, f)} -> ${relative(SRC, d)}`));
    expect(missing).toEqual([]);
  });

  it('has no import circle', () => {
    expect(circles()).toEqual([]);
  });

  it('has no import that runs up the layers or across to a peer', () => {
    const upward: string[] = [];
    for (const [f, deps] of graph) {
      const from = layerOf(f);
      for (const d of deps) {
        const to = layerOf(d);
        if (to.name !== from.name && to.layer >= from.layer) upward.push(`${relative(SRC, f)} -> ${relative(SRC, d)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('keeps every file under 450 lines', () => {
    const long = files.map((f) => ({ f: relative(SRC, f), n: readFileSync(f, 'utf8').split('\n').length })).filter((x) => x.n > 450);
    expect(long).toEqual([]);
  });

  it('reads the import graph (a pattern that matched nothing would pass every check above)', () => {
    const edges = [...graph.values()].reduce((n, d) => n + d.length, 0);
    expect(edges).toBeGreaterThan(100);
    expect(layerOf(join(SRC, 'dump/rewriter.ts')).layer).toBeLessThan(layerOf(join(SRC, 'cli.ts')).layer);
  });
});
