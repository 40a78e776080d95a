/**
 * `risk`: how identifiable the rows of an OUTPUT still are, table by table, over the columns that
 * together could single a person out (quasi-identifiers: postcode, birth date, sex…). Rows with the same
 * values of those columns form an equivalence class; a class of k rows hides each of them among k
 * (k-anonymity). Per table: rows, classes, the smallest class (min_k), the rows in classes below `k`,
 * and the same at two coarser levels, as `generalise` would make them (dates to month then year, numbers
 * to steps of 10 then 100, UK postcodes to their district, IP addresses to /24 then /16), with the first
 * level that reaches k and the rules that would give it.
 *
 * Values are compared as the dump writes them (text), NULL as its own value, as GROUP BY groups them for
 * types whose text is canonical (integers, dates, text). Streaming: memory grows with the number of
 * classes, not rows; past `maxClasses` a table's classes spill to temporary files by hash, counted one
 * file at a time at the end.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { DumpRewriter } from '../dump/rewriter.js';
import { CompiledRules } from '../rules/rule-compiler.js';
import { plainDump } from '../io/input.js';
import { privateDirectory } from '../io/temp-dir.js';
import { AnonymiseError } from '../errors.js';
import { district, floorTo, prefix, truncateTime } from '../rules/kinds/generalise.js';
import { isWhole } from '../pseudonym/detectors.js';

/** Values as `generalise` would leave them at each level (0: as they are). */
export const LEVELS = 3;

type Shape = 'date' | 'number' | 'postcode' | 'ip' | 'text';
const DATE = /^\d{4,}-\d\d-\d\d([ T]\d\d:\d\d:\d\d(\.\d+)?)?([+-]\d\d(:?\d\d){0,2})?( BC)?$/;
const NUMBER = /^[-+]?\d+(\.\d+)?$/;

function shapeOf(v: string): Shape {
  if (DATE.test(v)) return 'date';
  if (NUMBER.test(v)) return 'number';
  if (isWhole('postcode', v)) return 'postcode';
  if (/^[\d.]+(\/\d+)?$/.test(v) && isWhole('ip', v.split('/')[0]!)) return 'ip';
  if (/^[0-9a-f:]+(\/\d+)?$/i.test(v) && v.includes(':') && isWhole('ip', v.split('/')[0]!)) return 'ip';
  return 'text';
}

/** A value at a level, and the rule that gives that level for a column of its shape. */
const LADDER: Record<Shape, { at: (v: string) => string; rule: string }[]> = {
  date: [
    { at: (v) => truncateTime(v, 'month'), rule: '{ generalise: month }' },
    { at: (v) => truncateTime(v, 'year'), rule: '{ generalise: year }' },
  ],
  number: [
    { at: (v) => floorTo(v, 10), rule: '{ generalise: { step: 10 } }' },
    { at: (v) => floorTo(v, 100), rule: '{ generalise: { step: 100 } }' },
  ],
  postcode: [
    { at: (v) => district(v), rule: '{ generalise: postcode_district }' },
    { at: (v) => district(v), rule: '{ generalise: postcode_district }' },
  ],
  ip: [
    { at: (v) => prefix(v, 24, 48, []), rule: '{ generalise: { ip_prefix: 24, ipv6_prefix: 48 } }' },
    { at: (v) => prefix(v, 16, 32, []), rule: '{ generalise: { ip_prefix: 16, ipv6_prefix: 32 } }' },
  ],
  text: [],
};

function atLevel(v: string | null, level: number): string | null {
  if (v === null || level === 0) return v;
  const step = LADDER[shapeOf(v)][level - 1];
  return step ? step.at(v) : v;
}

/** Counts of equal keys, spilling to hash-partitioned files past `limit` distinct keys. */
export class ClassCounter {
  private map = new Map<string, number>();
  private dir: string | null = null;
  private static readonly PARTS = 16;

  constructor(private readonly limit: number) {}

  add(key: string): void {
    this.map.set(key, (this.map.get(key) ?? 0) + 1);
    if (this.map.size > this.limit) this.spill();
  }

  private spill(): void {
    // removed at exit too: a run that fails before sizes() leaves no classes on disk
    this.dir ??= privateDirectory('anonymise-dump-risk-');
    const lines: string[][] = Array.from({ length: ClassCounter.PARTS }, () => []);
    for (const [k, n] of this.map) lines[hash(k) % ClassCounter.PARTS]!.push(`${JSON.stringify(k)}\t${n}\n`);
    for (let p = 0; p < ClassCounter.PARTS; p++) {
      if (lines[p]!.length === 0) continue;
      const fd = openSync(join(this.dir, String(p)), 'a', 0o600);
      try {
        writeSync(fd, lines[p]!.join(''));
      } finally {
        closeSync(fd);
      }
    }
    this.map.clear();
  }

  /** Every class's size, once; the spill files are removed. */
  *sizes(): Generator<number> {
    if (this.dir === null) {
      yield* this.map.values();
      return;
    }
    this.spill();
    try {
      for (let p = 0; p < ClassCounter.PARTS; p++) {
        let text: string;
        try {
          text = readFileSync(join(this.dir, String(p)), 'utf8');
        } catch {
          continue;
        }
        const part = new Map<string, number>();
        for (const line of text.split('\n')) {
          if (!line) continue;
          const tab = line.lastIndexOf('\t');
          const k = line.slice(0, tab);
          part.set(k, (part.get(k) ?? 0) + Number(line.slice(tab + 1)));
        }
        yield* part.values();
      }
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
      this.dir = null;
    }
  }

  get spilled(): boolean {
    return this.dir !== null;
  }
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export interface LevelRisk {
  level: number;
  /** the rule per quasi-identifier that gives this level (absent: the column as it is) */
  rules: Record<string, string>;
  classes: number;
  min_k: number;
  rows_below_k: number;
}

export interface TableRisk {
  table: string;
  quasi_identifiers: string[];
  rows: number;
  classes: number;
  min_k: number;
  rows_below_k: number;
  /** levels 0 (as it is) to 2 */
  levels: LevelRisk[];
  /** the first level whose min_k reaches k, or null */
  reaches_k_at: number | null;
}

export interface RiskReport {
  k: number;
  tables: TableRisk[];
}

interface Tracked {
  columns: string[];
  indices: number[] | null;
  rows: number;
  counters: ClassCounter[];
  /** per quasi-identifier, how many values of each shape: what its suggested rule follows */
  shapes: Map<Shape, number>[];
}

/**
 * The risk of each table of `quasi` (table → its quasi-identifiers) in the dump `source`, at `k`.
 */
export async function riskOf(
  source: AsyncIterable<Buffer> | Readable,
  quasi: Map<string, string[]>,
  options: { k: number; maxClasses?: number; onProgress?: (bytesIn: number, table: string | null) => void },
): Promise<RiskReport> {
  const tracked = new Map<string, Tracked>();
  for (const [table, columns] of quasi)
    tracked.set(table, { columns, indices: null, rows: 0, counters: Array.from({ length: LEVELS }, () => new ClassCounter(options.maxClasses ?? 2_000_000)), shapes: columns.map(() => new Map()) });
  const seen = new Set<string>();
  const rw = new DumpRewriter(
    {
      rules: CompiledRules.passthrough(),
      observer: {
        table: (e) => {
          const t = tracked.get(e.table);
          if (!t || e.columns === null) return;
          seen.add(e.table);
          t.indices = t.columns.map((c) => {
            const i = e.columns!.indexOf(c);
            if (i === -1) throw new AnonymiseError('USAGE', `risk: table ${e.table} has no column ${c} (quasi_identifiers)`);
            return i;
          });
        },
        row: (table, _columns, row) => {
          const t = tracked.get(table);
          if (!t?.indices) return;
          t.rows++;
          const values = t.indices.map((i) => row.text(i));
          for (let q = 0; q < values.length; q++) {
            const v = values[q];
            if (v === null || v === undefined) continue;
            const s = shapeOf(v);
            t.shapes[q]!.set(s, (t.shapes[q]!.get(s) ?? 0) + 1);
          }
          for (let level = 0; level < LEVELS; level++) t.counters[level]!.add(JSON.stringify(values.map((v) => atLevel(v ?? null, level))));
        },
      },
    },
    () => {},
  );
  for await (const chunk of plainDump(source as AsyncIterable<Buffer>)) {
    rw.write(chunk);
    options.onProgress?.(rw.bytesIn, rw.currentTable);
  }
  rw.end();
  const missing = [...quasi.keys()].filter((t) => !seen.has(t));
  if (missing.length) throw new AnonymiseError('USAGE', `risk: no rows of ${missing.join(', ')} in this dump (quasi_identifiers name a table it does not hold)`);
  const tables: TableRisk[] = [];
  for (const [table, t] of tracked) {
    const levels: LevelRisk[] = [];
    for (let level = 0; level < LEVELS; level++) {
      let classes = 0;
      let minK = t.rows === 0 ? 0 : Infinity;
      let below = 0;
      for (const n of t.counters[level]!.sizes()) {
        classes++;
        if (n < minK) minK = n;
        if (n < options.k) below += n;
      }
      const rules: Record<string, string> = {};
      if (level > 0)
        t.columns.forEach((c, q) => {
          const dominant = [...t.shapes[q]!].sort((a, b) => b[1] - a[1])[0]?.[0];
          const step = dominant ? LADDER[dominant][level - 1] : undefined;
          if (step) rules[c] = step.rule;
        });
      levels.push({ level, rules, classes, min_k: minK, rows_below_k: below });
    }
    const reach = levels.find((l) => l.min_k >= options.k);
    tables.push({ table, quasi_identifiers: t.columns, rows: t.rows, classes: levels[0]!.classes, min_k: levels[0]!.min_k, rows_below_k: levels[0]!.rows_below_k, levels, reaches_k_at: reach ? reach.level : null });
  }
  return { k: options.k, tables };
}

/** The report as a table on a terminal; never a value. */
export function formatRisk(r: RiskReport): string {
  const head = ['table', 'rows', 'classes', 'min_k', `rows below k=${r.k}`, 'reaches k'];
  const rows = r.tables.map((t) => [
    t.table,
    String(t.rows),
    String(t.classes),
    String(t.min_k),
    String(t.rows_below_k),
    t.reaches_k_at === null ? 'not by generalise: drop a quasi-identifier, or keep fewer rows' : t.reaches_k_at === 0 ? 'yes' : `at level ${t.reaches_k_at}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const line = (x: string[]) => x.map((c, i) => (i === 0 || i === 5 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const out = [line(head), ...rows.map(line)];
  for (const t of r.tables) {
    if (t.reaches_k_at === null || t.reaches_k_at === 0) continue;
    const l = t.levels[t.reaches_k_at]!;
    out.push(`${t.table}: level ${l.level} (min_k ${l.min_k}) with ${Object.entries(l.rules).map(([c, rule]) => `${c}: ${rule}`).join(', ') || 'no change'}`);
  }
  return out.join('\n') + '\n';
}
