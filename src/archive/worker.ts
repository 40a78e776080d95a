/**
 * A worker thread of the archive pool: the same engine state as the main thread (the archive's TOC,
 * handed over, through the same rules and key), then one piece of a table's rows at a time, rewritten
 * and packed for the output.
 */
import { getHeapStatistics } from 'node:v8';
import { workerData } from 'node:worker_threads';
import { DumpRewriter } from '../dump/rewriter.js';
import { OUTPUT_BUFFER_BYTES, compileRules, readRules } from '../engine/run.js';
import { BufferPool } from '../io/buffer-pool.js';
import { PieceText, Redirect, tocPass } from './entries.js';
import { readSchemaFile } from './schema-file.js';
import { rewriteAndPack, type PieceJob } from './pool.js';
import { ownBytes, serveJobs, type PieceResult } from '../engine/worker-pool.js';
import type { WorkerSetup } from './rewrite.js';

const setup = workerData as WorkerSetup;

const ready = (async () => {
  const rules = compileRules(await readRules(setup.rules), Buffer.from(setup.key));
  const redirect = new Redirect();
  const schema = setup.schemaFile ? await readSchemaFile(setup.schemaFile) : undefined;
  const rw = new DumpRewriter({ rules, archive: true, maxLineBytes: setup.maxLineBytes, maxValueBytes: setup.maxValueBytes, schema, outputPool: new BufferPool(OUTPUT_BUFFER_BYTES) }, redirect.sink);
  tocPass(rw, redirect, rules, setup.toc, setup.format);
  return { rw, redirect, byId: new Map(setup.toc.map((e) => [e.dumpId, e])) };
})();

/**
 * Memory outside the heap past which a young-generation collection follows a piece: its compressed
 * chunks and their join, fresh from zlib, die with the piece, but V8 frees them only in a collection,
 * and rules that allocate less (values written as bytes) left them to pile up between collections:
 * -Fc --jobs 2 peaked at 267-290 MiB instead of 232. After a piece past 16 MiB: 236-245 MiB, for no time
 * a run shows (3 pairs); lower limits kept no less, and a limit on the growth since the last collection
 * (which the main thread's larger baseline would need) kept more.
 */
const COLLECT_ABOVE = 16 * 1024 * 1024;
const collect = (globalThis as { gc?: (o: { type: 'minor' }) => void }).gc;

async function runPiece(job: PieceJob): Promise<PieceResult> {
  const { rw, redirect, byId } = await ready;
  rw.stats.clear();
  const r = rewriteAndPack(rw, redirect, byId.get(job.dumpId)!, job, pieceText);
  if (collect && getHeapStatistics().external_memory > COLLECT_ABOVE) collect({ type: 'minor' });
  return { ...r, out: ownBytes(r.out), stats: [...rw.stats.values()] };
}

const pieceText = new PieceText();

serveJobs(runPiece, ready);
