/**
 * A worker thread of the archive pool: the same engine state as the main thread (the archive's TOC,
 * handed over, through the same rules and key), then one piece of a table's rows at a time, rewritten
 * and packed for the output.
 */
import { workerData } from 'node:worker_threads';
import { DumpRewriter } from '../dump/rewriter.js';
import { OUTPUT_BUFFER_BYTES, compileRules, readRules } from '../engine/run.js';
import { BufferPool } from '../io/buffer-pool.js';
import { PieceText, Redirect, tocPass } from './entries.js';
import { readSchemaFile } from './schema-file.js';
import { COLLECT_ABOVE, collectAfterPiece, rewriteAndPack, type PieceJob } from './pool.js';
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

async function runPiece(job: PieceJob): Promise<PieceResult> {
  const { rw, redirect, byId } = await ready;
  rw.stats.clear();
  const r = rewriteAndPack(rw, redirect, byId.get(job.dumpId)!, job, pieceText);
  collectAfterPiece(COLLECT_ABOVE);
  return { ...r, out: ownBytes(r.out), stats: [...rw.stats.values()] };
}

const pieceText = new PieceText();

serveJobs(runPiece, ready);
