/**
 * A worker thread for a plain dump's COPY rows (plain-pieces.ts): it reads the dump's schema once, as
 * the main thread did (every byte before the first COPY), then rewrites one piece at a time — the COPY
 * statement, whole rows, no `\.` — and returns the rows' output, their line count and the table's counts.
 */
import { workerData } from 'node:worker_threads';
import { DumpRewriter } from '../dump/rewriter.js';
import { compileRules, readRules } from './run.js';
import { ownBytes, serveJobs, type PieceResult } from './worker-pool.js';
import type { PlainPieceJob, PlainWorkerSetup } from './plain-pieces.js';

const setup = workerData as PlainWorkerSetup;
/** where the rewriter's output goes: nowhere (the schema, a piece's COPY statement), or into the piece's result */
let target: Buffer[] | null = null;

const ready = (async () => {
  const rules = compileRules(await readRules(setup.rules), setup.secret);
  const rw = new DumpRewriter({ rules, maxLineBytes: setup.maxLineBytes, maxValueBytes: setup.maxValueBytes }, (c) => target?.push(c));
  rw.write(Buffer.from(setup.schema.buffer, setup.schema.byteOffset, setup.schema.byteLength));
  rw.flushOutput();
  return rw;
})();

async function runPiece(job: PlainPieceJob): Promise<PieceResult> {
  const rw = await ready;
  rw.stats.clear();
  target = null;
  rw.write(Buffer.from(job.header.buffer, job.header.byteOffset, job.header.byteLength));
  rw.flushOutput();
  // a message's line counts from the piece's first row: the main thread adds where the piece began
  rw.line = 1;
  target = [];
  try {
    rw.write(Buffer.from(job.data.buffer, job.data.byteOffset, job.data.byteLength));
    rw.endPiece();
    const out = Buffer.concat(target);
    return { out: ownBytes(out), length: out.length, adler: 0, lines: rw.line - 1, stats: [...rw.stats.values()] };
  } finally {
    target = null;
  }
}

serveJobs(runPiece);
