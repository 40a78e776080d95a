/** What a caller may ask of the engine (rewriter.ts): limits, check's mode, observers, and the seams find, forget and subsets use. */
import type { EngineRules, TablePlan } from '../contract/plan.js';
import type { SchemaModel } from './schema-model.js';
import type { DumpObserver } from './observer.js';
import type { OutsideIdentifiers } from './outside-writer.js';
import type { TableStats } from './row-writer.js';
import type { BufferPool } from '../io/buffer-pool.js';

export interface RewriterOptions {
  rules: EngineRules;
  /** largest statement or COPY line accepted (memory bound); default 256 MiB */
  maxLineBytes?: number;
  /**
   * largest value a rule may read (decoded, it takes several times its size while a rule works on
   * it); default 16 MiB. Kept columns are never read, whatever their size.
   */
  maxValueBytes?: number;
  /** how much schema text may be held back for the up-front check; default 64 MiB */
  maxHeldBytes?: number;
  /**
   * `check`: read the whole dump, rewrite nothing, and collect every gap and rule error instead of
   * stopping at the first.
   */
  inspect?: boolean;
  /** sees every statement outside the rows and every row, as written */
  observer?: DumpObserver;
  /**
   * Archive mode: the caller hands over one TOC entry's text at a time (beginEntry, write, endEntry).
   * Nothing is held back (the caller writes nothing before the whole TOC has passed and
   * schemaComplete() has checked it), and no plain dump header or footer is looked for.
   */
  archive?: boolean;
  /**
   * Changes the rules' plan for a table's data (forget and subsets: rows to remove, columns to set to
   * NULL, identifiers to scrub). Called with the plan the rules give, once per table, before its rows.
   */
  overlay?: PlanOverlay;
  /**
   * The schema of a --data-only dump, read from a `pg_dump --schema-only` of the same database
   * (`--schema FILE`): its tables' columns and types, as if the dump defined them.
   */
  schema?: SchemaModel;
  /** forget: a person's identifiers, to be scrubbed from statements outside the rows too (comments, statistics, DDL literals) */
  outsideIdentifiers?: OutsideIdentifiers;
  /**
   * Kept tables' rows are not counted, line by line: the run jumps from one possible end-of-data line
   * to the next. For a pass that has been made over the same input before (find, forget, subsets):
   * its line numbers after the first kept table are not the input's, and its stats count no kept rows.
   */
  skipKept?: boolean;
  /**
   * The input is pieces of a dump (its schema, then some tables' COPY blocks, cut where the first pass
   * found them): pg_dump's "dump complete" footer is not looked for.
   */
  fragment?: boolean;
  /** each database's schema once it is complete (at the next `\connect`, and at the end) */
  onSchema?: (schema: SchemaModel, database: string | null) => void;
  /** a plain dump's COPY rows rewritten by workers, in pieces, the output kept in order (engine/plain-pieces.ts) */
  parallel?: ParallelCopy;
  /** where the output's buffers come from, when the sink gives back what it has written (io/buffer-pool.ts) */
  outputPool?: BufferPool;
}

/**
 * Where a plain dump's rows go when workers rewrite them. Each worker reads the dump's schema first
 * (`start`: every byte before the first COPY or INSERT), so it plans each table as this thread does; then
 * each piece (the COPY statement and whole rows, or whole INSERT statements) is rewritten there, and its
 * output takes its place in the output's order.
 */
export interface ParallelCopy {
  /** the dump's bytes before its first COPY or INSERT statement */
  start(prefix: Buffer): void;
  /**
   * A buffer of `size` bytes to gather a piece's rows into, over an ArrayBuffer of its own (it moves to a
   * worker, and may come back for another piece)
   */
  pieceBuffer(size: number): Buffer;
  /**
   * rows `data` (from pieceBuffer) of the COPY statement `header`, whose first line is input line `line`;
   * their counts go into `stats`. With `inserts`, `data` is whole INSERT statements instead (no header),
   * each ending at one of `inserts.ends`, read after pg_dump's last `-- Data for Name:` header named
   * `inserts.dataFor`. `cut`: where the piece begins, should the output stop there (DumpRewriter.abort).
   */
  send(header: Buffer, data: Buffer, line: number, table: string, stats: TableStats, cut: PieceCut, inserts?: { dataFor: string | null; ends: Uint32Array }): void;
  /** rows handed to a worker at a time */
  pieceBytes: number;
  /** bytes of rows this thread rewrites, in the whole run, before the first piece goes out */
  localFirstBytes: number;
  /** the workers start (rows for them have come): they are busy() until each is ready */
  prepare(): void;
  /** whether every worker is starting or holds a piece besides the one it runs (this thread then rewrites rows itself) */
  busy(): boolean;
}

export type PlanOverlay = (table: string, columns: string[], plan: TablePlan) => TablePlan;

/** Where a worker's piece begins in the output: in COPY data (of `ncols` columns) or between statements. */
export interface PieceCut {
  inCopy: boolean;
  ncols: number;
}
