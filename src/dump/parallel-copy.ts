/**
 * A plain dump's rows rewritten by workers (RewriterOptions.parallel): which COPY blocks and INSERT
 * statements may go, and the schema text the workers read first. Every byte before the first COPY or
 * INSERT statement is kept and handed to the workers once; rows go to them only while nothing since could
 * make a worker plan them otherwise — their table defined in that schema, nothing the schema model learnt
 * since (SchemaModel.version), no SET, no `\connect` (pg_dumpall) — and only for a plan that rewrites
 * rows on their own (no search, no observer). Anything else is rewritten here, as without workers.
 */
import type { TablePlan } from '../contract/plan.js';
import type { ParallelCopy } from './options.js';
import { ParallelRows, PieceParts, type BlockContext, type CopyRows } from './rows.js';
import type { Output } from './output.js';
import type { TableStats } from './row-writer.js';
import type { SchemaModel } from './schema-model.js';
import type { InsertTarget } from './inserts.js';
import { hold, release } from '../io/buffer-pool.js';
import { countLf } from './reader.js';

export const LF_BYTE = Buffer.from('\n');

/**
 * Schema text beyond this is not held for the workers: the run goes on without them. A schema of
 * thousands of tables is a few MiB; what is held is memory the run does not otherwise need (with a
 * bound of 256 MiB, a 1.2 GB dump once peaked at 320 MiB).
 */
const MAX_PREFIX_BYTES = 16 * 1024 * 1024;

export class ParallelPlain {
  private chunks: Buffer[] | null = [];
  private kept = 0;
  private started = false;
  private stopped = false;
  private tables: ReadonlySet<string> = new Set();
  /** the schema model the workers' schema text built, and its version then */
  private schema: SchemaModel | null = null;
  private version = 0;
  private readonly budget: { left: number };

  /**
   * INSERT statements gathered for the workers: one table's, under one statement header (`head`), read
   * after one `-- Data for Name:` header. Sent whole before anything else is written (sendInserts).
   */
  private inserts: { parts: PieceParts; ends: number[]; line: number; head: object; dataFor: string | null; table: string; stats: TableStats } | null = null;

  constructor(
    private readonly copy: ParallelCopy,
    private readonly out: Output,
  ) {
    this.budget = { left: copy.localFirstBytes };
  }

  /** An input chunk, before it is read: kept until the first COPY (held: io/buffer-pool.ts). */
  keep(chunk: Buffer): void {
    if (!this.chunks) return;
    hold(chunk);
    this.chunks.push(chunk);
    this.kept += chunk.length;
    if (this.kept > MAX_PREFIX_BYTES) this.stop();
  }

  /**
   * A SET or a `\connect`: in the schema the workers read, nothing to do; after it, a worker would plan
   * the next tables otherwise, so from here on this thread rewrites every block.
   */
  changed(): void {
    if (!this.started) return;
    this.stopped = true;
    this.drop();
  }

  private stop(): void {
    this.stopped = true;
    this.drop();
  }

  private drop(): void {
    for (const c of this.chunks ?? []) release(c);
    this.chunks = null;
  }

  /**
   * At the first COPY or INSERT statement (at input offset `at`, from where its unit begins): the
   * workers are handed the schema, whatever its plan.
   */
  begin(at: number, schema: SchemaModel): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.copy.start(Buffer.concat(this.chunks!, this.kept).subarray(0, at));
    this.drop();
    this.schema = schema;
    this.tables = new Set(schema.tables.keys());
    this.version = schema.version;
  }

  /**
   * Whether a worker plans these rows as this thread does: a table of the schema text it read, and
   * nothing learnt since that could plan it otherwise — a search_path (`SELECT set_config(…)`), a
   * partition attached, a table created again (SchemaModel.version).
   */
  private goes(table: string, plan: TablePlan, watched: boolean): boolean {
    return this.started && !this.stopped && plan.mode === 'rewrite' && !plan.search && !watched && this.tables.has(table) && this.schema!.version === this.version;
  }

  /**
   * At a COPY statement (`header`, at input offset `at`): the handler that sends its rows to the
   * workers (`local` rewrites them here while the budget lasts), or null.
   */
  rows(c: BlockContext, plan: TablePlan, header: Buffer, at: number, watched: boolean, schema: SchemaModel, local: () => CopyRows): CopyRows | null {
    this.begin(at, schema);
    if (!this.goes(c.table, plan, watched) || plan.mode !== 'rewrite') return null;
    return new ParallelRows(c, header, plan.columns.length, this.copy, this.copy.pieceBytes, local(), this.budget, () => this.copy.busy());
  }

  /**
   * An INSERT statement `buf[start..end)` (from the blank text before it; its code begins at `code`, on
   * input line `line`) of `table`, under the statement header `head`: taken into the workers' piece
   * (true), or left to this thread (false), which then writes it after what the workers were given. This
   * thread keeps statements while the budget lasts or the workers have enough, as for COPY rows.
   */
  insert(buf: Buffer, start: number, code: number, end: number, stable: boolean, line: number, at: InsertTarget): boolean {
    const open = this.inserts;
    if (open && (open.head !== at.head || open.dataFor !== at.dataFor)) this.sendInserts();
    if (!this.goes(at.table, at.plan, at.watched)) {
      this.sendInserts();
      return false;
    }
    if (!this.inserts) {
      if (this.budget.left === 0) this.copy.prepare();
      if (this.budget.left > 0 || this.copy.busy()) {
        this.budget.left = Math.max(0, this.budget.left - (end - start));
        return false;
      }
      // a worker counts lines from the piece's first byte
      this.inserts = { parts: new PieceParts(), ends: [], line: line - countLf(buf, start, code), head: at.head, dataFor: at.dataFor, table: at.table, stats: at.stats };
    }
    const p = this.inserts;
    p.parts.take(buf, start, end, stable);
    // where it ends in the piece: the worker reads the statements as this thread's reader cut them
    p.ends.push(p.parts.size);
    if (p.parts.size >= this.copy.pieceBytes) this.sendInserts();
    return true;
  }

  /** The INSERT statements gathered go to a worker, after what this thread has written (before anything else is). */
  sendInserts(): void {
    const p = this.inserts;
    if (!p) return;
    this.inserts = null;
    this.out.flush();
    const data = p.parts.gather(this.copy);
    if (data) this.copy.send(Buffer.alloc(0), data, p.line, p.table, p.stats, { inCopy: false, ncols: 0 }, { dataFor: p.dataFor, ends: Uint32Array.from(p.ends) });
  }

  /** The run stopped: statements gathered and not sent are let go. */
  abandon(): void {
    this.inserts?.parts.clear();
    this.inserts = null;
  }
}
