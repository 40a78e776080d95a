/**
 * Writes a rewritten row over its original: the values its plan's actions compute, in place of theirs,
 * with the untouched bytes between them copied as they are (as COPY fields, or as SQL literals for an
 * INSERT). Shared by the COPY handlers (rows.ts) and the INSERT writer (inserts.ts); counts, per column,
 * the values whose output differs from the input.
 */
import type { ColumnAction, TablePlan } from '../contract/plan.js';
import { NULL_FIELD } from './copy-codec.js';
import type { Output } from './output.js';
import type { RowCursor } from './row-cursor.js';
import { UTF8_CODEC, type TextCodec } from '../text/encoding.js';

type RewritePlan = Extract<TablePlan, { mode: 'rewrite' }>;

export interface TableStats {
  table: string;
  rule: string;
  mode: TablePlan['mode'];
  rowsIn: number;
  rowsOut: number;
  rowsDropped: number;
  /** column → values whose output differs from the input */
  changed: Record<string, number>;
  /** an archive's data copied as it was (compressed blocks, never read): its rows were not counted */
  copied?: boolean;
}

export class RowWriter {
  /** per column of the current plan: values whose output differs from the input */
  private changedCounts = new Float64Array(16);
  /** the dump's client encoding (SET client_encoding) */
  codec: TextCodec = UTF8_CODEC;
  /** whether backslashes are plain characters in SQL strings (SET standard_conforming_strings) */
  standardConformingStrings = true;

  constructor(
    readonly row: RowCursor,
    private readonly out: Output,
  ) {}

  /** A new plan's rows come next. */
  prepare(plan: RewritePlan): void {
    this.row.prepare(plan);
    this.changedCounts = new Float64Array(plan.columns.length);
  }

  /**
   * The current row's rewritten values written over their originals, from `buf[from]` on; returns
   * where the untouched rest of the row begins. Every value is computed before a byte is written, so
   * that an error never leaves half a row.
   */
  writeValues(buf: Buffer, from: number, actions: readonly (ColumnAction | null)[], sql: boolean): number {
    const row = this.row;
    const out = this.out;
    const n = row.ncols;
    const codec = this.codec;
    for (let c = 0; c < n; c++) if (actions[c] !== null) row.outputValue(c);
    let run = from; // start of bytes still to copy unchanged
    for (let c = 0; c < n; c++) {
      if (actions[c] === null) continue;
      const value = row.outputValue(c);
      out.bytes(buf, run, row.starts[c]!, false);
      // the most the value can take: 3 bytes a UTF-16 unit (or its bytes), doubled by escaping, and quotes
      if (value !== null) out.reserve(typeof value === 'string' ? value.length * 6 + 8 : value.length * 2 + 8);
      const mark = out.mark;
      const generation = out.generation;
      if (value === null) {
        if (sql) out.ascii('NULL');
        else out.bytes(NULL_FIELD, 0, 2, false);
      } else if (typeof value !== 'string') {
        if (sql) out.literalBytes(value, codec, this.standardConformingStrings);
        else if (codec.isUtf8 && actions[c]!.bytesAsCopy?.()) out.bytes(value, 0, value.length, false);
        else out.copyValueBytes(value, codec);
      } else if (sql) out.literal(value, codec, this.standardConformingStrings);
      else out.copyValue(value, codec);
      if (!out.sameSince(mark, generation, buf, row.starts[c]!, row.ends[c]!)) this.changedCounts[c]!++;
      run = row.ends[c]!;
    }
    return run;
  }

  /** Adds the per-column counts of changed values to the table's stats, and restarts them. */
  flushChanged(plan: RewritePlan, stats: TableStats): void {
    plan.columns.forEach((c, i) => {
      if (plan.actions[i]) stats.changed[c] = (stats.changed[c] ?? 0) + this.changedCounts[i]!;
    });
    this.changedCounts.fill(0);
  }
}
