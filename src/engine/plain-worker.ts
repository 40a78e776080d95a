/**
 * A worker thread for a plain dump's rows (plain-pieces.ts): it reads the dump's schema once, as the main
 * thread did (every byte before the first COPY or INSERT), then rewrites one piece at a time — the COPY
 * statement and whole rows, no `\.`; or whole INSERT statements — and returns the output, its line count
 * and the table's counts.
 */
import { workerData } from 'node:worker_threads';
import { DumpRewriter } from '../dump/rewriter.js';
import { OUTPUT_BUFFER_BYTES, compileRules, readRules } from './run.js';
import { serveJobs, type PieceResult } from './worker-pool.js';
import { BufferPool, SpareBuffers, release } from '../io/buffer-pool.js';
import { PIECE_BYTES, PIECE_SLACK, SPARE_BUFFERS, type PlainPieceJob, type PlainWorkerSetup } from './plain-pieces.js';
import { concatInto } from '../text/bytes.js';

const setup = workerData as PlainWorkerSetup;
/** where the rewriter's output goes: nowhere (the schema, a piece's COPY statement), or into the piece's result */
let target: Buffer[] | null = null;
/**
 * The rewriter's output buffers, used again once a piece's output is joined (io/buffer-pool.ts) instead
 * of fresh memory per 256 KiB (page faults, full collections). Each chunk comes with a hold, given back here.
 */
const outputPool = new BufferPool(OUTPUT_BUFFER_BYTES);

const ready = (async () => {
  const rules = compileRules(await readRules(setup.rules), Buffer.from(setup.key));
  const rw = new DumpRewriter({ rules, maxLineBytes: setup.maxLineBytes, maxValueBytes: setup.maxValueBytes, outputPool }, (c) => (target ? target.push(c) : release(c)));
  rw.write(Buffer.from(setup.schema.buffer, setup.schema.byteOffset, setup.schema.byteLength));
  rw.flushOutput();
  return rw;
})();

/** buffers the main thread gave back (outputs it has written), for the next outputs */
const gifts = new SpareBuffers(SPARE_BUFFERS);
/** an output buffer made here has room for a piece's output a little larger than a full piece */
const OUTPUT_ROOM = PIECE_BYTES + 2 * PIECE_SLACK;

async function runPiece(job: PlainPieceJob): Promise<PieceResult> {
  for (const ab of job.gifts ?? []) gifts.put(ab);
  const rw = await ready;
  rw.stats.clear();
  target = null;
  if (job.inserts) rw.beginInserts(job.inserts.dataFor);
  else rw.write(Buffer.from(job.header.buffer, job.header.byteOffset, job.header.byteLength));
  rw.flushOutput();
  // a message's line counts from the piece's first row: the main thread adds where the piece began
  rw.line = 1;
  target = [];
  try {
    const data = Buffer.from(job.data.buffer, job.data.byteOffset, job.data.byteLength);
    if (job.inserts) rw.insertStatements(data, job.inserts.ends);
    else {
      rw.write(data);
      rw.endPiece();
    }
    // one copy, into a buffer of its own that moves to the main thread: one it gave back if one is large enough
    const length = target.reduce((n, c) => n + c.length, 0);
    const out = Buffer.from(gifts.take(length, OUTPUT_ROOM), 0, length);
    concatInto(target, out);
    // nothing here keeps a view of the piece (its output is copied): its buffer goes back for the next one
    return { out, length, adler: 0, lines: rw.line - 1, stats: [...rw.stats.values()], give: [job.data.buffer as ArrayBuffer] };
  } finally {
    for (const c of target ?? []) release(c);
    target = null;
  }
}

serveJobs(runPiece, ready);
