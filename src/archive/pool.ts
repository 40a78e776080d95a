/**
 * Worker threads for an archive's data: each worker builds the engine's state once (the TOC through
 * the rules, as the main thread did) and then rewrites pieces of tables' rows, one at a time, and packs
 * them (compresses them) for the output, through engine/worker-pool.ts (jobs to the least busy worker,
 * two held by each; the first failure stops the pool).
 */
import type { DumpRewriter } from '../dump/rewriter.js';
import { workerScript, type PieceResult, type WorkerScript } from '../engine/worker-pool.js';
import { packPiece, rewritePiece, type Redirect } from './entries.js';
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
  close(reason?: unknown): Promise<void>;
}

/** `--jobs 1`: the pieces rewritten and compressed in this thread by its own engine: one core. */
export class LocalPieces implements PieceRunner {
  private readonly byId: Map<number, TocEntry>;
  constructor(
    private readonly rw: DumpRewriter,
    private readonly redirect: Redirect,
    toc: readonly TocEntry[],
  ) {
    this.byId = new Map(toc.map((e) => [e.dumpId, e]));
  }
  /** The piece's counts stay in this thread's engine, where the run's result reads them. */
  async run(job: PieceJob): Promise<PieceResult> {
    const { text, lines } = rewritePiece(this.rw, this.redirect, this.byId.get(job.dumpId)!, Buffer.from(job.data.buffer, job.data.byteOffset, job.data.byteLength), job.last);
    const { out, adler } = packPiece(text, job.pack, job.level);
    return { out, length: text.length, adler, lines, stats: [] };
  }
  async close(): Promise<void> {}
}
