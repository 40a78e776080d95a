/**
 * A worker thread of the archive pool: the same engine state as the main thread (the archive's TOC,
 * handed over, through the same rules and key), then one piece of a table's rows at a time, rewritten
 * and packed for the output.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { AnonymiseError } from '../errors.js';
import { DumpRewriter } from '../dump/rewriter.js';
import { compileRules, readRules } from '../engine/run.js';
import { Redirect, packPiece, rewritePiece, tocPass } from './entries.js';
import { readSchemaFile } from './schema-file.js';
import type { PieceJob, WorkerReply } from './pool.js';
import type { WorkerSetup } from './rewrite.js';

const setup = workerData as WorkerSetup;

const ready = (async () => {
  const rules = compileRules(await readRules(setup.rules), setup.secret);
  const redirect = new Redirect();
  const schema = setup.schemaFile ? await readSchemaFile(setup.schemaFile) : undefined;
  const rw = new DumpRewriter({ rules, archive: true, maxLineBytes: setup.maxLineBytes, maxValueBytes: setup.maxValueBytes, schema }, redirect.sink);
  tocPass(rw, redirect, rules, setup.toc, setup.format);
  return { rw, redirect, byId: new Map(setup.toc.map((e) => [e.dumpId, e])) };
})();

async function runPiece(job: PieceJob): Promise<Omit<Extract<WorkerReply, { ok: true }>, 'id'>> {
  const { rw, redirect, byId } = await ready;
  rw.stats.clear();
  const data = Buffer.from(job.data.buffer, job.data.byteOffset, job.data.byteLength);
  const { text, lines } = rewritePiece(rw, redirect, byId.get(job.dumpId)!, data, job.last);
  const { out, adler } = packPiece(text, job.pack, job.level);
  return { ok: true, out: own(out), length: text.length, adler, lines, stats: [...rw.stats.values()] };
}

/** Bytes in an ArrayBuffer of their own: a small Buffer lives in Node's shared pool, which must not be moved to another thread. */
function own(b: Buffer): Uint8Array {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b;
  const c = new Uint8Array(b.byteLength);
  c.set(b);
  return c;
}

parentPort!.on('message', (m: { id: number; job: PieceJob }) => {
  runPiece(m.job).then(
    (r) => parentPort!.postMessage({ ...r, id: m.id }, [r.out.buffer as ArrayBuffer]),
    (err: unknown) => {
      const error =
        err instanceof AnonymiseError
          ? { code: err.code, detail: err.detail, position: err.position }
          : {
              internal: (err as Error)?.name ?? 'Error',
              code: (err as NodeJS.ErrnoException)?.code,
              syscall: (err as NodeJS.ErrnoException)?.syscall,
              stack: process.env.ANONYMISE_DUMP_DEBUG ? (err as Error)?.stack : undefined,
            };
      parentPort!.postMessage({ id: m.id, ok: false, error } satisfies WorkerReply);
    },
  );
});
