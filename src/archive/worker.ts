/**
 * A worker thread of the archive pool: the same engine state as the main thread (the archive's TOC
 * through the same rules and key), then one data entry at a time, read where it lies and written to
 * its own file.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createReadStream, createWriteStream } from 'node:fs';
import { AnonymiseError } from '../errors.js';
import { DumpRewriter } from '../dump/rewriter.js';
import { compileRules, readRules } from '../api.js';
import { ArchiveFormat } from './format.js';
import { ByteReader, customData, directoryData, openCustom, openDirectory } from './reader.js';
import { Redirect, rewrittenData, tocPass, writeCustomBlock, writeDataFile } from './entries.js';
import type { Job, WorkerReply } from './pool.js';
import type { WorkerSetup } from './rewrite.js';

const setup = workerData as WorkerSetup;

const ready = (async () => {
  const a = setup.archive.format === ArchiveFormat.Custom ? await openCustom(createReadStream(setup.archive.path), setup.archive.path) : await openDirectory(setup.archive.path);
  a.reader?.close();
  const rules = compileRules(await readRules(setup.rules), setup.secret);
  const redirect = new Redirect();
  const rw = new DumpRewriter({ rules, archive: true, maxLineBytes: setup.maxLineBytes, maxValueBytes: setup.maxValueBytes }, redirect.sink);
  tocPass(rw, redirect, rules, a.toc, a.format);
  return { a, rw, redirect, byId: new Map(a.toc.map((e) => [e.dumpId, e])) };
})();

async function runJob(job: Job): Promise<WorkerReply & { ok: true }> {
  const { a, rw, redirect, byId } = await ready;
  const e = byId.get(job.dumpId)!;
  rw.stats.clear();
  let input: AsyncIterable<Buffer>;
  let reader: ByteReader | null = null;
  if (job.input.kind === 'custom') {
    reader = ByteReader.of(createReadStream(setup.archive.path, { start: job.input.offset, highWaterMark: 1 << 20 }), job.input.offset);
    input = customData(reader, a.header, e);
  } else input = directoryData(a, e);
  try {
    const data = rewrittenData(rw, redirect, e, input);
    const out = createWriteStream(job.output.path, { mode: 0o600, highWaterMark: 1 << 20 });
    if (job.output.kind === 'file') await writeDataFile(out, a.header, data);
    else {
      await writeCustomBlock(out, a.header, e, data);
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    }
  } finally {
    reader?.close();
  }
  return { id: 0, ok: true, stats: [...rw.stats.values()] };
}

parentPort!.on('message', (m: { id: number; job: Job }) => {
  runJob(m.job).then(
    (r) => parentPort!.postMessage({ ...r, id: m.id }),
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
