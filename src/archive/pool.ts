/**
 * Worker threads for an archive's data: each worker builds the engine's state once (the TOC through
 * the rules, as the main thread did) and then rewrites pieces of tables' rows, one at a time, and packs
 * them (compresses them) for the output, through engine/worker-pool.ts (jobs to the least busy worker,
 * two held by each; the first failure stops the pool).
 */
import { getHeapStatistics } from 'node:v8';
import type { DumpRewriter } from '../dump/rewriter.js';
import { workerScript, type PieceResult, type WorkerScript } from '../engine/worker-pool.js';
import { PieceText, packPiece, rewritePiece, type Redirect } from './entries.js';
import { SpareBuffers } from '../io/buffer-pool.js';
import type { TocEntry } from './format.js';

export { WorkerPool, type PieceResult, type WorkerReply } from '../engine/worker-pool.js';

export interface PieceJob {
  dumpId: number;
  /** the piece's place in its entry, from 0: the same for the same input whoever cuts it (plan, shards) */
  index: number;
  /** whole rows of the entry's COPY data (moved to the worker, not copied) */
  data: Uint8Array;
  /** the entry's last piece (it holds the `\.` line) */
  last: boolean;
  /** a gzip member (directory archives), a raw deflate fragment ending on a full flush (custom archives), or as it is */
  pack: 'gzip' | 'deflate' | 'none';
  level: number;
}

/** The archive worker's script (engine/worker-pool.ts's workerScript). */
export function archiveWorkerFile(): WorkerScript {
  return workerScript(import.meta.url, 'archive', 'worker.js');
}

/** Who rewrites the pieces: worker threads, or this thread (`--jobs 1`) through the same steps, so the output is the same bytes. */
export interface PieceRunner {
  run(job: PieceJob): Promise<PieceResult>;
  /** memory for a piece's data, which the runner uses again once it has run that piece */
  pieceBuffer?(size: number): Uint8Array;
  close(reason?: unknown): Promise<void>;
}

/**
 * One piece rewritten and packed, the same steps in a worker and in this thread (so the output is the
 * same bytes whoever runs it). Packed here and now, its text is joined into `text`'s memory, used
 * again for the next piece, unless it goes out as it is (`none`). The counts are left in `rw`.
 */
export function rewriteAndPack(rw: DumpRewriter, redirect: Redirect, e: TocEntry, job: PieceJob, text: PieceText): { out: Buffer; length: number; adler: number; lines: number } {
  const data = Buffer.from(job.data.buffer, job.data.byteOffset, job.data.byteLength);
  const piece = rewritePiece(rw, redirect, e, data, job.last, job.pack === 'none' ? undefined : text);
  const { out, adler } = packPiece(piece.text, job.pack, job.level);
  return { out, length: piece.text.length, adler, lines: piece.lines };
}

const collect = (globalThis as { gc?: (o: { type: 'minor' }) => void }).gc;

/**
 * A young-generation collection after a piece, once memory outside the heap passes `limit`: a piece's
 * compressed chunks and their join, fresh from zlib, die with the piece, but V8 frees them only in a
 * collection, and rules that allocate little (values written as bytes) left them to pile up between
 * collections. Where the process was not started with --expose-gc (the library), nothing.
 */
export function collectAfterPiece(limit: number): void {
  if (collect && getHeapStatistics().external_memory > limit) collect({ type: 'minor' });
}

/**
 * The limit for a worker after its piece, and for this thread after it writes a worker's output (which
 * moved here and dies here, on a thread that allocates little of its own). Workers: -Fc --jobs 2 peaked
 * at 267-290 MiB instead of 232, and at 236-245 MiB with it; lower limits kept no less, and a limit on
 * the growth since the last collection kept more. This thread too: 235-237 -> 219-223 MiB, for ~250
 * young collections (~0.28 s of a run's ~13 CPU-s).
 */
export const COLLECT_ABOVE = 16 * 1024 * 1024;
/**
 * The limit for this thread after a piece it rewrote itself (`--jobs 1`): its own read-ahead chunks sit
 * above COLLECT_ABOVE, which collected after every piece. -Fc 142-149 -> 132 MiB, for 120 collections
 * that cost ~40 ms (and spared ~10 ms of full ones) of a 9.7 s run.
 */
const LOCAL_COLLECT_ABOVE = 32 * 1024 * 1024;

/** memory kept for a piece: most fit (rewrite.ts cuts at the first row past 2 MiB) */
const PIECE_MEMORY = 2.25 * 1024 * 1024;

/** `--jobs 1`: the pieces rewritten and compressed in this thread by its own engine: one core. */
export class LocalPieces implements PieceRunner {
  private readonly byId: Map<number, TocEntry>;
  private readonly text = new PieceText();
  /** pieces' memory to use again (two pieces are in flight at most): only what pieceBuffer gave (a wrapper's pieces may be kept) */
  private readonly spare = new SpareBuffers(2);
  private readonly given = new WeakSet<ArrayBuffer>();
  constructor(
    private readonly rw: DumpRewriter,
    private readonly redirect: Redirect,
    toc: readonly TocEntry[],
  ) {
    this.byId = new Map(toc.map((e) => [e.dumpId, e]));
  }
  /** The piece's counts stay in this thread's engine, where the run's result reads them. */
  async run(job: PieceJob): Promise<PieceResult> {
    const r = rewriteAndPack(this.rw, this.redirect, this.byId.get(job.dumpId)!, job, this.text);
    // rewritten and copied out: the piece's memory is free
    const ab = job.data.buffer as ArrayBuffer;
    if (this.given.has(ab)) this.spare.put(ab);
    collectAfterPiece(LOCAL_COLLECT_ABOVE);
    return { ...r, stats: [] };
  }
  pieceBuffer(size: number): Uint8Array {
    const ab = this.spare.take(size, PIECE_MEMORY);
    this.given.add(ab);
    return new Uint8Array(ab, 0, size);
  }
  async close(): Promise<void> {}
}
