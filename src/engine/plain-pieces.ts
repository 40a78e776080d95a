/**
 * `--jobs N` for a plain dump: its rows rewritten by N - 1 worker threads (plain-worker.ts) and this
 * one, in pieces of whole COPY rows or whole INSERT statements, while this thread reads on; each piece's
 * output takes its place in the output's order (a slot the stream writer waits for only when it reaches
 * it). The output is the same bytes as with one thread: the same rules, key and rows, and pieces written
 * back in order.
 */
import { AnonymiseError } from '../errors.js';
import { WorkerPool, ownBytes, workerScript } from './worker-pool.js';
import { SpareBuffers, adopt } from '../io/buffer-pool.js';
import type { ParallelCopy, PieceCut } from '../dump/options.js';
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
  /** the key the main thread's rules were compiled with (CompiledRules.keyForWorkers) */
  key: Uint8Array;
  maxLineBytes?: number;
  maxValueBytes?: number;
  schema: Uint8Array;
}

/**
 * One piece: the COPY statement, and whole rows of it (no `\\.` line); or, with `inserts`, whole INSERT
 * statements (no header), read after pg_dump's header for the data of `inserts.dataFor`.
 */
export interface PlainPieceJob {
  header: Uint8Array;
  data: Uint8Array;
  inserts?: { dataFor: string | null; ends: Uint32Array };
  /** buffers of earlier outputs, written now, for the worker to write its next outputs into */
  gifts?: ArrayBuffer[];
}

/** A piece's place in the output: filled when its worker is done. */
export interface Slot {
  done: boolean;
  value: Buffer | null;
  error: unknown;
  wait: Promise<void>;
  /** where the piece begins, should the output stop there */
  cut: PieceCut;
}

/** Rows handed to a worker at a time (as the archive pool's pieces). */
export const PIECE_BYTES = 2 * 1024 * 1024;
/** A piece ends at the first row past its size: room for that row, so that most pieces fit a buffer used before. */
export const PIECE_SLACK = 256 * 1024;
/** Buffers kept for reuse, each way (here and in each worker): pieces in flight are at most two per worker. */
export const SPARE_BUFFERS = 4;

export class PlainPieces implements ParallelCopy {
  get pieceBytes(): number {
    return this.o.pieceBytes ?? PIECE_BYTES;
  }
  get localFirstBytes(): number {
    return this.o.localFirstBytes;
  }
  private pool: WorkerPool<PlainPieceJob> | null = null;
  /** pieces sent to the workers */
  sent = 0;

  constructor(
    private readonly o: {
      jobs: number;
      localFirstBytes: number;
      pieceBytes?: number;
      /** rows wait for starting workers instead of being rewritten here meanwhile (RewriteOptions) */
      waitForWorkers?: boolean;
      /** every row the workers may take goes to them (RewriteOptions) */
      workersOnly?: boolean;
      rules: WorkerRules;
      key: Uint8Array;
      maxLineBytes?: number;
      maxValueBytes?: number;
      place: (slot: Slot) => void;
    },
  ) {}

  private setup: PlainWorkerSetup | null = null;
  /**
   * Memory that goes back and forth instead of fresh buffers per piece (2 MiB each way: page faults and
   * full collections on both threads): a piece's buffer comes back with its worker's reply, and the
   * buffer of a worker's output goes back to the workers, with the next piece, once it is written (when
   * the run's sink gives it back: io/buffer-pool.ts).
   */
  private readonly spare = new SpareBuffers(SPARE_BUFFERS);
  private readonly written = new SpareBuffers(SPARE_BUFFERS);

  pieceBuffer(size: number): Buffer {
    const ab = this.spare.take(size, this.pieceBytes + PIECE_SLACK);
    this.pieceBuffers.add(ab);
    return Buffer.from(ab, 0, size);
  }
  /** what pieceBuffer made: memory of its own, safe to move to a worker whole */
  private readonly pieceBuffers = new WeakSet<ArrayBuffer>();

  start(prefix: Buffer): void {
    this.setup = { rules: this.o.rules, key: this.o.key, maxLineBytes: this.o.maxLineBytes, maxValueBytes: this.o.maxValueBytes, schema: ownBytes(prefix) };
  }

  /**
   * The workers start when the first rows for them come (a dump with no rows to rewrite pays nothing
   * for them). This thread is one of the jobs: it rewrites rows itself while they start and whenever
   * they have enough (busy). A piece sent to a worker still starting held the output behind it: this
   * thread waited ~0.15 s at the start of the 1 GB bench dump.
   */
  prepare(): void {
    this.pool ??= new WorkerPool<PlainPieceJob>(this.o.jobs - 1, this.setup!, workerScript(import.meta.url, 'engine', 'plain-worker.js'));
  }

  send(header: Buffer, data: Buffer, line: number, _table: string, stats: TableStats, cut: PieceCut, inserts?: { dataFor: string | null; ends: Uint32Array }): void {
    this.prepare();
    this.sent++;
    const slot: Slot = { done: false, value: null, error: null, wait: Promise.resolve(), cut };
    // a pieceBuffer's ArrayBuffer moves to the worker as it is; anything else (a small Buffer may live in
    // Node's shared pool) is copied first
    const own = this.pieceBuffers.has(data.buffer as ArrayBuffer) ? data : ownBytes(data);
    const gifts = this.written.takeAll();
    slot.wait = this.pool!.run({ header: ownBytes(header), data: own, gifts, inserts }).then(
      (r) => {
        for (const ab of r.give ?? []) this.spare.put(ab);
        for (const s of r.stats) {
          stats.rowsIn += s.rowsIn;
          stats.rowsOut += s.rowsOut;
          stats.rowsDropped += s.rowsDropped;
          for (const [c, n] of Object.entries(s.changed)) stats.changed[c] = (stats.changed[c] ?? 0) + n;
        }
        slot.value = adopt(Buffer.from(r.out.buffer, r.out.byteOffset, r.out.byteLength), (ab) => this.written.put(ab));
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
    if (!this.pool || this.o.workersOnly) return false;
    return this.o.waitForWorkers ? this.pool.full() : this.pool.busy();
  }

  /** Whether the workers have started (with the first piece). */
  get running(): boolean {
    return this.pool !== null;
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}
