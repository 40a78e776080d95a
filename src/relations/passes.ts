/**
 * One pass over a dump file through the engine, output discarded unless a sink is given: what find,
 * forget and subsets read the file with, as many times as their references need. The first pass over a
 * plain, uncompressed file notes where each table's COPY block lies (DataIndex); later passes that read
 * a few tables then read the schema and those blocks only.
 */
import { DumpRewriter, type PlanOverlay } from '../dump/rewriter.js';
import type { DumpObserver, TableEvent } from '../dump/observer.js';
import { plainDump } from '../io/input.js';
import { CompiledRules } from '../rules/rule-compiler.js';

/** The plain text of the dump, from its start, each time it is called (a file: plain, gzip, or an archive printed as pg_restore does). */
export interface PassSource {
  (): AsyncIterable<Buffer>;
  /** a plain, uncompressed file: these byte ranges of it, in order */
  ranges?: (ranges: readonly (readonly [number, number])[]) => AsyncIterable<Buffer>;
  /** throws if the input is not the one the first pass read */
  unchanged?: () => void;
}

export async function runPass(
  source: PassSource | (() => AsyncIterable<Buffer>),
  o: {
    observer?: DumpObserver;
    overlay?: PlanOverlay;
    rules?: CompiledRules;
    sink?: (b: Buffer) => void;
    onStart?: (rw: DumpRewriter) => void;
    /** a pass after the first, over the same file: kept tables are skipped through, their lines not counted */
    skipKept?: boolean;
    /** the input is the schema and some tables' COPY blocks (DataIndex.pieces), not a whole dump */
    fragment?: boolean;
  },
): Promise<DumpRewriter> {
  const rw = new DumpRewriter({ rules: o.rules ?? CompiledRules.passthrough(), observer: o.observer, overlay: o.overlay, skipKept: o.skipKept, fragment: o.fragment }, o.sink ?? (() => {}));
  o.onStart?.(rw);
  for await (const chunk of plainDump(source())) rw.write(chunk);
  rw.end();
  return rw;
}

/** Where each table's COPY blocks lie in the input, learned by the first pass. */
export class DataIndex {
  /** the offset of the first COPY: what comes before it is the schema */
  private schemaEnd = Infinity;
  private readonly blocks = new Map<string, [number, number][]>();
  /** tables whose rows are INSERT statements: not cut out as blocks */
  private readonly inserts = new Set<string>();
  private open: { table: string; start: number } | null = null;

  /** Events for the first pass's observer. */
  table(e: TableEvent): void {
    if (e.offset === undefined) {
      this.inserts.add(e.table);
      return;
    }
    this.open = { table: e.table, start: e.offset };
    this.schemaEnd = Math.min(this.schemaEnd, e.offset);
  }

  dataEnd(table: string, offset: number): void {
    if (this.open?.table !== table) return;
    const list = this.blocks.get(table) ?? [];
    list.push([this.open.start, offset]);
    this.blocks.set(table, list);
    this.open = null;
  }

  /** The ranges to read for the tables `wanted` says, schema first; null when only a whole pass will do. */
  pieces(wanted: (table: string) => boolean): [number, number][] | null {
    if (!Number.isFinite(this.schemaEnd) || this.open) return null;
    for (const t of this.inserts) if (wanted(t)) return null;
    const out: [number, number][] = [];
    for (const [t, list] of this.blocks) if (wanted(t)) out.push(...list);
    out.sort((a, b) => a[0] - b[0]);
    return [[0, this.schemaEnd], ...out];
  }
}
