/**
 * A table's COPY rows, by one handler chosen once per table from its plan (rewriter.ts) instead of flags
 * tested in the byte loop:
 *
 *   KeepRows    copied as bytes, lines counted
 *   SkipRows    copied as bytes, only possible `\.` lines looked at (later passes of find/forget)
 *   DropRows    none written
 *   RewriteRows each row read and rewritten (and a watched table's rows, with no action)
 *   SearchRows  rows a search hits rewritten, runs of the others copied as bytes (forget)
 *
 * Each reads whole lines from the reader's buffer, counts them on the reader, and at `\.` writes what
 * is left and ends the block.
 */
import { BACKSLASH, CR, DOT, LF } from '../text/bytes.js';
import { AnonymiseError } from '../errors.js';
import type { TablePlan } from '../contract/plan.js';
import type { DumpReader } from './reader.js';
import { positioned } from './reader.js';
import type { Output } from './output.js';
import type { RowWriter, TableStats } from './row-writer.js';
import type { DumpObserver } from './observer.js';
import type { ParallelCopy } from './options.js';
import { hold, release } from '../io/buffer-pool.js';
import { concatInto } from '../text/bytes.js';
import { END_CANDIDATE, rowsEnd } from './copy-codec.js';

type RewritePlan = Extract<TablePlan, { mode: 'rewrite' }>;

/** What a handler works with: the reader's position, the output, the table's stats. */
export interface BlockContext {
  reader: DumpReader;
  out: Output;
  table: string;
  stats: TableStats;
  /** the block ends after its `\.` line (`end`: the input offset after it, when known) */
  finish(end?: number): void;
}

export abstract class CopyRows {
  constructor(protected readonly c: BlockContext) {}

  /** COPY data lines from `pos`; returns the offset after the last complete line handled. */
  abstract rows(buf: Buffer, pos: number, end: number, stable: boolean): number;

  /** The block ends here or at a piece boundary: counts not yet added go to the stats. */
  close(): void {}

  /** The `\.` line ending at `nl`: what is left to write from `from` on goes out with it, and the block ends. Returns where the SQL text resumes. */
  protected endOfData(buf: Buffer, from: number, nl: number, stable: boolean): number {
    const { reader } = this.c;
    this.c.out.bytes(buf, from, nl + 1, stable);
    reader.line++;
    this.c.finish(reader.base + nl + 1);
    return nl + 1;
  }
}

export class KeepRows extends CopyRows {
  rows(buf: Buffer, pos: number, end: number, stable: boolean): number {
    const { stats, reader } = this.c;
    const runStart = pos; // every line from here on is copied as it is
    for (;;) {
      const nl = buf.indexOf(LF, pos);
      if (nl === -1 || nl >= end) break;
      if (isEndOfData(buf, pos, nl)) return this.endOfData(buf, runStart, nl, stable);
      stats.rowsIn++;
      stats.rowsOut++;
      reader.line++;
      pos = nl + 1;
    }
    this.c.out.bytes(buf, runStart, pos, stable);
    return pos;
  }
}

export class DropRows extends CopyRows {
  rows(buf: Buffer, pos: number, end: number, stable: boolean): number {
    const { stats, reader } = this.c;
    for (;;) {
      const nl = buf.indexOf(LF, pos);
      if (nl === -1 || nl >= end) break;
      if (isEndOfData(buf, pos, nl)) return this.endOfData(buf, pos, nl, stable);
      stats.rowsIn++;
      stats.rowsDropped++;
      reader.line++;
      pos = nl + 1;
    }
    return pos;
  }
}

/**
 * A kept table's rows, skipped through (skipKept): from the line at `pos`, only lines that begin with
 * `\.` are looked at. Its rows are not counted, and the reader's line numbers stop being the input's.
 */
export class SkipRows extends CopyRows {
  rows(buf: Buffer, pos: number, end: number, stable: boolean): number {
    let line = pos;
    for (;;) {
      const nl = buf.indexOf(LF, line);
      if (nl === -1 || nl >= end) break;
      if (isEndOfData(buf, line, nl)) return this.endOfData(buf, pos, nl, stable);
      const next = buf.indexOf(END_CANDIDATE, nl);
      if (next === -1 || next >= end) {
        // no end here: up to the last whole line, the rest waits for more input
        const last = buf.lastIndexOf(LF, end - 1);
        line = last < nl ? nl + 1 : last + 1;
        break;
      }
      line = next + 1;
    }
    this.c.out.bytes(buf, pos, line, stable);
    return line;
  }
}

export interface RewriteContext extends BlockContext {
  writer: RowWriter;
  /** the observer that reads this table's rows, if one does */
  watcher: DumpObserver | null;
}

export class RewriteRows extends CopyRows {
  constructor(
    protected readonly r: RewriteContext,
    protected readonly plan: RewritePlan,
  ) {
    super(r);
    r.writer.prepare(plan);
  }

  rows(buf: Buffer, pos: number, end: number, stable: boolean): number {
    const { stats, reader } = this.r;
    this.r.writer.row.newBytes(buf, pos, end);
    for (;;) {
      const nl = buf.indexOf(LF, pos);
      if (nl === -1 || nl >= end) break;
      if (isEndOfData(buf, pos, nl)) return this.endOfData(buf, pos, nl, stable);
      stats.rowsIn++;
      this.rewriteRow(buf, pos, buf[nl - 1] === CR && nl > pos ? nl - 1 : nl, nl, stable, undefined);
      reader.line++;
      pos = nl + 1;
    }
    return pos;
  }

  close(): void {
    this.r.writer.flushChanged(this.plan, this.r.stats);
  }

  /** One row `buf[start..stop)`, line terminator at `stop..nl]`. */
  protected rewriteRow(buf: Buffer, start: number, stop: number, nl: number, stable: boolean, searchHit: boolean | undefined): void {
    const { writer, stats, reader, table, out } = this.r;
    const plan = this.plan;
    const row = writer.row;
    const n = row.ncols;
    const f = row.copyRow(buf, start, stop);
    if (f !== n) {
      throw new AnonymiseError('BAD_INPUT', `row has ${f} fields, the COPY header lists ${n}`, { line: reader.line, table });
    }
    try {
      this.r.watcher?.row!(table, plan.columns, row);
      if (plan.filter && !plan.filter.keep(row, searchHit)) {
        stats.rowsDropped++;
        return;
      }
      if (plan.filter?.untouched?.(row, searchHit)) out.bytes(buf, start, nl + 1, stable);
      else out.bytes(buf, writer.writeValues(buf, start, plan.actions, false), nl + 1, false);
      stats.rowsOut++;
    } catch (e) {
      throw positioned(e, reader.line, table);
    }
  }
}

/** COPY rows of a plan that works on some rows only: runs of the others are copied as they are. */
export class SearchRows extends RewriteRows {
  rows(buf: Buffer, pos: number, end: number, stable: boolean): number {
    const { stats, reader, out } = this.r;
    const plan = this.plan;
    const search = plan.search!;
    this.r.writer.row.newBytes(buf, pos, end);
    let run = pos; // rows from here on not yet written are copied as they are
    // the search goes no further than this block's end (a line that begins with `\.`, as only the end
    // marker can): past it lie other tables' rows, and searching them again for every small block of a
    // chunk made many small tables quadratic
    const limit = rowsEnd(buf, pos, end);
    let hit = search(buf, pos, limit);
    for (;;) {
      const nl = buf.indexOf(LF, pos);
      if (nl === -1 || nl >= end) break;
      if (isEndOfData(buf, pos, nl)) return this.endOfData(buf, run, nl, stable);
      stats.rowsIn++;
      const found = hit !== -1 && hit <= nl;
      if (found || plan.everyRow) {
        out.bytes(buf, run, pos, stable);
        this.rewriteRow(buf, pos, buf[nl - 1] === CR && nl > pos ? nl - 1 : nl, nl, stable, found);
        run = nl + 1;
        if (found) hit = search(buf, nl + 1, limit);
      } else stats.rowsOut++;
      reader.line++;
      pos = nl + 1;
    }
    out.bytes(buf, run, pos, stable);
    return pos;
  }
}

/**
 * With a row observer every table's rows are read: a kept table is rewritten with no action (its bytes
 * are copied row by row), a dropped one filtered to nothing.
 */
export function observed(plan: TablePlan, columns: string[]): TablePlan {
  if (plan.mode === 'rewrite') return plan;
  return {
    mode: 'rewrite',
    rule: plan.rule,
    columns,
    actions: columns.map(() => null),
    filter: plan.mode === 'drop' ? { columns: [], keep: () => false } : null,
  };
}

/** The end-of-data marker: a line that is exactly \. (a CR before the LF: a CRLF-converted dump). */
function isEndOfData(buf: Buffer, pos: number, nl: number): boolean {
  return buf[pos] === BACKSLASH && buf[pos + 1] === DOT && (nl === pos + 2 || (nl === pos + 3 && buf[pos + 2] === CR));
}

/**
 * Bytes gathered for one piece of work: views of input chunks that stay as they are (held until the
 * piece is sent: io/buffer-pool.ts), copies of the reader's carry, which is reused. Consecutive ranges of
 * one chunk make one view (an `--inserts` dump's statements come one by one).
 */
export class PieceParts {
  private parts: Buffer[] = [];
  size = 0;
  /** the range of a chunk taken last, not yet a view */
  private runSrc: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;

  take(buf: Buffer, from: number, to: number, stable: boolean): void {
    if (to <= from) return;
    this.size += to - from;
    if (stable && buf === this.runSrc && from === this.runEnd) {
      this.runEnd = to;
      return;
    }
    this.settle();
    if (!stable) {
      this.parts.push(Buffer.from(buf.subarray(from, to)));
      return;
    }
    hold(buf);
    this.runSrc = buf;
    this.runStart = from;
    this.runEnd = to;
  }

  private settle(): void {
    if (this.runSrc === null) return;
    this.parts.push(this.runSrc.subarray(this.runStart, this.runEnd));
    this.runSrc = null;
  }

  /** One copy, into a buffer of its own that moves to the worker (null when nothing was taken); the parts are let go. */
  gather(copy: Pick<ParallelCopy, 'pieceBuffer'>): Buffer | null {
    this.settle();
    const data = this.size > 0 ? copy.pieceBuffer(this.size) : null;
    if (data) concatInto(this.parts, data);
    this.clear();
    return data;
  }

  /** Lets the parts go without sending them (the run stopped). */
  clear(): void {
    this.settle();
    for (const part of this.parts) release(part);
    this.parts = [];
    this.size = 0;
  }
}

/**
 * A table's rows rewritten by workers (RewriterOptions.parallel): whole rows gathered into pieces and
 * sent, in order; the `\\.` line written here, after the last piece's place. Rows are rewritten on this
 * thread instead (`local`, as without workers) while the run's budget of such rows lasts — a small dump
 * never starts a worker, a big one pays their start-up once it is worth it — then while they start,
 * and, between pieces, whenever every worker already holds its next piece (`busy`): this thread is
 * then one of the jobs.
 * Its output takes its place between the pieces' as any other bytes do.
 */
export class ParallelRows extends CopyRows {
  private readonly piece = new PieceParts();
  private firstLine: number;

  constructor(
    c: BlockContext,
    private readonly header: Buffer,
    /** the COPY's columns */
    private readonly ncols: number,
    private readonly copy: Pick<ParallelCopy, 'send' | 'pieceBuffer' | 'prepare'>,
    private readonly pieceBytes: number,
    /** this thread's handler for the table */
    private readonly local: CopyRows,
    /** bytes of rows this thread still rewrites before the first piece, for the whole run */
    private readonly budget: { left: number },
    private readonly busy: () => boolean,
  ) {
    super(c);
    this.firstLine = c.reader.line;
  }

  rows(buf: Buffer, pos: number, end: number, stable: boolean): number {
    const { reader } = this.c;
    if (this.piece.size === 0) {
      // the budget spent, the workers start, and take rows once they are ready
      if (this.budget.left === 0) this.copy.prepare();
      if (this.budget.left > 0 || this.busy()) {
        const next = this.local.rows(buf, pos, end, stable);
        this.budget.left = Math.max(0, this.budget.left - (next - pos));
        return next;
      }
      this.firstLine = reader.line;
    }
    let from = pos;
    for (;;) {
      const nl = buf.indexOf(LF, pos);
      if (nl === -1 || nl >= end) break;
      if (isEndOfData(buf, pos, nl)) {
        this.piece.take(buf, from, pos, stable);
        this.flushPiece();
        return this.endOfData(buf, pos, nl, stable);
      }
      reader.line++;
      pos = nl + 1;
      if (this.piece.size + pos - from >= this.pieceBytes) {
        this.piece.take(buf, from, pos, stable);
        this.flushPiece();
        // the rest of this input chunk is this thread's while the workers have enough
        if (this.busy()) return this.rows(buf, pos, end, stable);
        from = pos;
      }
    }
    this.piece.take(buf, from, pos, stable);
    return pos;
  }

  close(): void {
    // what this thread rewrote: its changed counts
    this.local.close();
  }

  private flushPiece(): void {
    // what this thread wrote before the piece goes out before it
    this.c.out.flush();
    const data = this.piece.gather(this.copy);
    if (data) this.copy.send(this.header, data, this.firstLine, this.c.table, this.c.stats, { inCopy: true, ncols: this.ncols });
    this.firstLine = this.c.reader.line;
  }
}
