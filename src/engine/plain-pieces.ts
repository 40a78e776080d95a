/**
 * `--jobs N` for a plain dump: its COPY rows rewritten by N - 1 worker threads (plain-worker.ts) and
 * this one, in pieces of whole rows, while this thread reads on; each piece's output takes its place
 * in the output's order (a slot the stream writer waits for only when it reaches it). The output is the same bytes as with
 * one thread: the same rules, key and rows, and pieces written back in order.
 */
import { AnonymiseError } from '../errors.js';
import { WorkerPool, ownBytes, workerScript } from './worker-pool.js';
import type { ParallelCopy } from '../dump/options.js';
import type { TableStats } from '../dump/row-writer.js';
import type { JsPolicy } from '../rules/rules-file.js';

/** The rules as the workers read them (run.ts's RulesSource). */
export interface WorkerRules {
  files?: string[];
  text?: { name: string; yaml: string }[];
  js?: JsPolicy;
  /** the run's rulesDigest: a worker that reads other bytes stops */
  digest?: string;
}

/** What each worker starts from: the rules and key, the limits, and the dump's schema text. */
export interface PlainWorkerSetup {
  rules: WorkerRules;
  secret?: string;
  maxLineBytes?: number;
  maxValueBytes?: number;
  schema: Uint8Array;
}

/** One piece: the COPY statement, and whole rows of it (no `\\.` line). */
export interface PlainPieceJob {
  header: Uint8Array;
  data: Uint8Array;
}

/** A piece's place in the output: filled when its worker is done. */
export interface Slot {
  done: boolean;
  value: Buffer | null;
  error: unknown;
  wait: Promise<void>;
}

/** Rows handed to a worker at a time (as the archive pool's pieces). */
const PIECE_BYTES = 2 * 1024 * 1024;

export class PlainPieces implements ParallelCopy {
  readonly pieceBytes = PIECE_BYTES;
  get localFirstBytes(): number {
    return this.o.localFirstBytes;
  }
  private pool: WorkerPool<PlainPieceJob> | null = null;

  constructor(
    private readonly o: { jobs: number; localFirstBytes: number; rules: WorkerRules; secret?: string; maxLineBytes?: number; maxValueBytes?: number; place: (slot: Slot) => void },
  ) {}

  private setup: PlainWorkerSetup | null = null;

  start(prefix: Buffer): void {
    this.setup = { rules: this.o.rules, secret: this.o.secret, maxLineBytes: this.o.maxLineBytes, maxValueBytes: this.o.maxValueBytes, schema: ownBytes(prefix) };
  }

  send(header: Buffer, data: Buffer, line: number, _table: string, stats: TableStats): void {
    // the workers start with the first piece: a dump with no rows to rewrite pays nothing for them; this
    // thread is one of the jobs (it rewrites rows whenever the workers have enough: ParallelRows)
    this.pool ??= new WorkerPool<PlainPieceJob>(this.o.jobs - 1, this.setup!, workerScript(import.meta.url, 'engine', 'plain-worker.js'));
    const slot: Slot = { done: false, value: null, error: null, wait: Promise.resolve() };
    slot.wait = this.pool.run({ header: ownBytes(header), data: ownBytes(data) }).then(
      (r) => {
        for (const s of r.stats) {
          stats.rowsIn += s.rowsIn;
          stats.rowsOut += s.rowsOut;
          stats.rowsDropped += s.rowsDropped;
          for (const [c, n] of Object.entries(s.changed)) stats.changed[c] = (stats.changed[c] ?? 0) + n;
        }
        slot.value = Buffer.from(r.out.buffer, r.out.byteOffset, r.out.byteLength);
        slot.done = true;
      },
      (e: unknown) => {
        // a worker numbers lines from the piece's first row
        slot.error = e instanceof AnonymiseError ? e.below(line - 1) : e;
        slot.done = true;
      },
    );
    this.o.place(slot);
  }

  busy(): boolean {
    return this.pool?.busy() ?? false;
  }

  /** Whether the workers have started (with the first piece). */
  get running(): boolean {
    return this.pool !== null;
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}
