/**
 * A plain dump's COPY rows rewritten by workers (RewriterOptions.parallel): which blocks may go, and the
 * schema text the workers read first. Every byte before the first COPY statement is kept and handed to
 * the workers once; a block goes to them only while nothing since could make a worker plan it otherwise
 * — its table defined in that schema, no SET, no `\connect` (pg_dumpall) since — and only for a plan that
 * rewrites rows on their own (no search, no observer). Anything else is rewritten here, as without workers.
 */
import type { TablePlan } from '../contract/plan.js';
import type { ParallelCopy } from './options.js';
import { ParallelRows, type BlockContext, type CopyRows } from './rows.js';
import { hold, release } from '../io/buffer-pool.js';

export const LF_BYTE = Buffer.from('\n');

/**
 * Schema text beyond this is not held for the workers: the run goes on without them. An `--inserts`
 * dump has no COPY at all, and with a larger bound its first 256 MiB were held (a 1.2 GB dump peaked
 * at 320 MiB); a schema of thousands of tables is a few MiB.
 */
const MAX_PREFIX_BYTES = 16 * 1024 * 1024;

export class ParallelPlain {
  private chunks: Buffer[] | null = [];
  private kept = 0;
  private started = false;
  private stopped = false;
  private tables: ReadonlySet<string> = new Set();
  private readonly budget: { left: number };

  constructor(private readonly copy: ParallelCopy) {
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
   * At a COPY statement (`header`, at input offset `at`): the handler that sends its rows to the
   * workers (`local` rewrites them here while the budget lasts), or null. The first COPY hands the
   * workers the schema, whatever its plan.
   */
  rows(c: BlockContext, plan: TablePlan, header: Buffer, at: number, watched: boolean, schemaTables: () => Iterable<string>, local: () => CopyRows): CopyRows | null {
    if (this.stopped) return null;
    if (!this.started) {
      this.started = true;
      this.copy.start(Buffer.concat(this.chunks!, this.kept).subarray(0, at));
      this.drop();
      this.tables = new Set(schemaTables());
    }
    if (plan.mode !== 'rewrite' || plan.search || watched || !this.tables.has(c.table)) return null;
    return new ParallelRows(c, header, this.copy, this.copy.pieceBytes, local(), this.budget, () => this.copy.busy());
  }
}
