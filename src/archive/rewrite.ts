/**
 * Rewriting an archive into an archive: the TOC through the policy, then every data entry through the
 * rules. The input is read once, in order (a custom archive's blocks in file order, from a file or a
 * pipe; a directory archive's files in TOC order). With workers, a table's rows are cut into pieces of
 * whole rows that workers rewrite and compress while this thread reads on; the pieces are written back
 * in order (gzip members of one file for a directory archive, fragments of one zlib stream for a custom
 * archive), so one large table uses every core too. Kept tables are copied as their compressed bytes.
 * Nothing is written before the whole TOC has passed and the rules have been checked against it; a
 * custom archive written to a file gets its data offsets, so that `pg_restore -j` and `-t` work on it.
 */
import { closeSync, createWriteStream, existsSync, readdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { AnonymiseError } from '../errors.js';
import { DEFAULT_MAX_LINE_BYTES, DumpRewriter, countLf, type PlanOverlay, type RewriterOptions, type TableStats } from '../dump/rewriter.js';
import type { CompiledRules } from '../rules/rule-compiler.js';
import { OUTPUT_BUFFER_BYTES, type RulesSource, type RewriteResult } from '../engine/run.js';
import { globMatcher } from './glob.js';
import { ArchiveFormat, ArchiveWriter, BLK_DATA, OffsetFlag, entryName, entryTable, hasData, writeHeader, type TocEntry } from './format.js';
import { SUFFIX, directoryData, customData, peekBlockId, rawBlock, supportedCompression, type Archive } from './reader.js';
import { DEFAULT_LEVEL, Redirect, dataAction, tocPass, write, type DataAction } from './entries.js';
import { COLLECT_ABOVE, LocalPieces, WorkerPool, archiveWorkerFile, collectAfterPiece, type PieceJob, type PieceResult, type PieceRunner } from './pool.js';
import { adler32Combine } from './adler32.js';
import { statOrNull } from '../io/input.js';
import { AtomicOutput } from '../io/atomic.js';
import { BufferPool, release } from '../io/buffer-pool.js';
import { writeTar } from './tar.js';
import { Counted, Held, Ordered, writeHeld } from './ordering.js';
import { customEntry, directoryEntry, outputEntry, tarMemberOrder, tocBytes } from './entry-writers.js';
import { readSchemaFile } from './schema-file.js';

export interface ArchiveRunOptions {
  rules: CompiledRules;
  /** how workers compile the same rules (with the key `rules` were compiled with: CompiledRules.keyForWorkers) */
  rulesSource: RulesSource;
  maxLineBytes?: number;
  maxValueBytes?: number;
  /** worker threads (default: the number of cores); 1 rewrites in this thread */
  jobs?: number;
  /** zlib level (1–9) of the data this run compresses (default 1: see DEFAULT_LEVEL); kept tables' data is copied as it is */
  compressLevel?: number;
  /** directory archives: rewrite only the data of these tables (globs on schema.table); the rest is not written */
  tables?: string[];
  format: 'custom' | 'directory' | 'tar';
  /** custom: a file, or null for `stdout`; directory: the directory to create; tar: a file */
  output: string | null;
  stdout?: Writable;
  signal?: AbortSignal;
  /** rows handed to a worker at a time (default 2 MiB; tests make it small to cut every table) */
  pieceBytes?: number;
  /** after each data entry (progress) */
  onEntry?: (done: number, total: number, name: string) => void;
  /** forget and subsets: the rows to remove or change (dump/rewriter.ts); rewritten in this thread, which holds what they read */
  overlay?: PlanOverlay;
  outsideIdentifiers?: RewriterOptions['outsideIdentifiers'];
  /**
   * Who rewrites the pieces instead of this run's own workers (sharded runs: archive/shards.ts), given
   * the runner it would have used; `inner()` starts that runner only when called.
   */
  pieceRunner?: (inner: () => PieceRunner) => PieceRunner;
  /** only cut and hand out the COPY entries' pieces: nothing written, other entries not read (plan, shard) */
  piecesOnly?: boolean;
  /** a --data-only archive's schema: a pg_dump --schema-only of the same database (workers read it too) */
  schemaFile?: string;
}

/** Rows handed to a worker at a time: large enough that a message costs nothing, small enough to keep memory flat. */
// 2 MiB: at SCALE=10, 4 MiB pieces took 215–227 MiB with --jobs 2, 2 MiB 200 MiB, in the same time
const PIECE_BYTES = 2 * 1024 * 1024;
/** pg_dump ends COPY data with `\.` and two blank lines: a cut leaving fewer bytes than this could split them off */
const LAST_PIECE_TAIL = 8;


export async function rewriteArchive(a: Archive, o: ArchiveRunOptions): Promise<RewriteResult> {
  supportedCompression(a.header.compression, 'the archive');
  const outFormat = o.format === 'custom' ? ArchiveFormat.Custom : ArchiveFormat.Directory;
  // tar: the files of a directory archive, packed once they are all written
  const tarOut = o.format === 'tar';
  if (o.tables?.length && (a.format !== ArchiveFormat.Directory || a.members || o.format !== 'directory'))
    throw new AnonymiseError('USAGE', '--tables works on directory archives written as directory archives (-Fd in, --format directory out)');
  if (outFormat === ArchiveFormat.Directory && !o.output) throw new AnonymiseError('USAGE', tarOut ? 'a tar archive is written with -o FILE' : 'a directory archive needs -o DIR');
  // tar holds its data uncompressed: written from a tar archive, whose kept members are copied as they are
  if (tarOut && !a.members) throw new AnonymiseError('USAGE', '--format tar is written from a tar archive only (tar data is uncompressed): choose custom or directory');
  const h = a.header;
  const redirect = new Redirect();
  const schema = o.schemaFile ? await readSchemaFile(o.schemaFile) : undefined;
  const rw = new DumpRewriter({ rules: o.rules, archive: true, maxLineBytes: o.maxLineBytes, maxValueBytes: o.maxValueBytes, overlay: o.overlay, outsideIdentifiers: o.outsideIdentifiers, schema, outputPool: new BufferPool(OUTPUT_BUFFER_BYTES) }, redirect.sink);
  // the whole TOC, and the rules against the whole schema, before a byte is written
  const { toc } = tocPass(rw, redirect, o.rules, a.toc, a.format);
  const same = outFormat === a.format;
  const chosen = o.tables?.length ? globMatcher(o.tables) : null;
  const selected = toc.filter((e) => hasData(e, a.format) && (!chosen || chosen(e.desc === 'BLOBS' ? 'pg_catalog.pg_largeobject' : entryTable(e))));
  const actions = new Map<number, DataAction>(selected.map((e) => [e.dumpId, dataAction(rw, e, same)]));
  const outToc = toc.map((e) => outputEntry(e, a, outFormat, tarOut));
  const outById = new Map(outToc.map((e) => [e.dumpId, e]));

  const jobs = o.overlay ? 1 : Math.max(1, o.jobs ?? defaultJobs(a));
  // the same pieces, packed the same way, whoever rewrites them: the output does not depend on --jobs
  // (a runner that keeps each piece's result, a shard's, needs its counts with it: a worker's, never this thread's)
  const inWorkers = (jobs > 1 || o.pieceRunner !== undefined) && [...actions.values()].some((x) => x.kind === 'rewrite');
  const own = (): PieceRunner => (inWorkers ? new WorkerPool<PieceJob>(jobs, workerSetup(a, o), archiveWorkerFile()) : new LocalPieces(rw, redirect, toc));
  const pool: PieceRunner = o.pieceRunner ? o.pieceRunner(own) : own();
  // a signal stops the workers too (their pieces fail with it), so the temporary output goes at once
  const onAbort = () => void pool.close(o.signal!.reason);
  o.signal?.addEventListener('abort', onAbort);
  // pieces in flight: two per worker; more (and two pieces per worker at once) gained ~3 % for ~30 MiB
  const order = new Ordered(2 * jobs);
  const stats = new Map<string, TableStats>();
  let done = 0;
  const finished = (e: TocEntry) => o.onEntry?.(++done, actions.size, entryName(e));
  const input = (e: TocEntry) => (a.format === ArchiveFormat.Custom ? customData(a.reader!, h, e) : directoryData(a, e));
  const maxLine = o.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const level = o.compressLevel ?? DEFAULT_LEVEL;
  const pieceBytes = o.pieceBytes ?? PIECE_BYTES;

  /** A COPY-form entry's rows in pieces to the workers; each packed piece goes to `put`, in order. */
  const make = pool.pieceBuffer ? (n: number) => pool.pieceBuffer!(n) : undefined;
  const pieces = async (e: TocEntry, pack: 'gzip' | 'deflate' | 'none', put: (r: PieceResult) => Promise<void>) => {
    const held = new Held();
    // lines before the piece being written: a worker numbers its piece's lines from 1
    const copyStmt = Buffer.from(e.copyStmt!, 'latin1');
    let line = countLf(copyStmt, 0, copyStmt.length);
    let waiting = false;
    let index = 0;
    const send = async (data: Uint8Array, last: boolean) => {
      const job = pool.run({ dumpId: e.dumpId, index: index++, data, last, pack, level });
      job.catch(() => {}); // a failure is thrown by the step below, in its turn; until then it is not unhandled
      await order.then(async () => {
        let r: PieceResult;
        try {
          r = await job;
        } catch (err) {
          throw err instanceof AnonymiseError ? err.below(line) : err;
        }
        line += r.lines;
        mergeStats(stats, r.stats);
        await put(r);
        // a worker's output, moved here and written, dies here (LocalPieces collects after its own pieces)
        if (inWorkers) collectAfterPiece(COLLECT_ABOVE);
      });
    };
    // cut where the bytes say (the last row end before pieceBytes), never where a read happened to
    // end: the same input gives the same pieces, and the same output, from a file or a pipe
    for await (const chunk of input(e)) {
      if (o.signal?.aborted) throw o.signal.reason;
      held.push(chunk);
      // waiting for the end of a long row: nothing to cut until a chunk brings a newline
      if (held.size < pieceBytes || (waiting && chunk.indexOf(0x0a) === -1)) continue;
      waiting = false;
      for (;;) {
        let cut = held.lastLf(pieceBytes) + 1;
        // a row longer than a piece: it goes whole, once its end is in hand (the rewriter bounds its length)
        if (cut === 0) cut = held.nextLf(pieceBytes) + 1;
        // the `\.` line and what follows it (a few newlines) stay in the last piece: never cut that close to the end
        while (cut > 0 && held.size - cut < LAST_PIECE_TAIL) cut = cut >= 2 ? held.lastLf(cut - 1) + 1 : 0;
        if (cut === 0) {
          if (held.size > maxLine + pieceBytes) throw new AnonymiseError('LIMIT', `a line is longer than ${maxLine} bytes (--max-line-bytes)`, { entry: entryName(e), table: entryTable(e) });
          waiting = true;
          break;
        }
        await send(held.take(cut, make), false);
        if (held.size < pieceBytes) break;
      }
    }
    await send(held.take(held.size, make), true);
  };

  try {
    if (o.piecesOnly) {
      const pack = h.compression !== 'gzip' ? 'none' : outFormat === ArchiveFormat.Directory ? 'gzip' : 'deflate';
      for await (const e of inOrder(a, selected)) {
        if (o.signal?.aborted) throw o.signal.reason;
        const act = actions.get(e.dumpId)!;
        if (act.kind === 'rewrite' && e.copyStmt) {
          await pieces(e, pack, async () => {});
          await order.then(() => finished(e));
        } else if (a.format === ArchiveFormat.Custom) {
          // a custom archive is read in order: the block is passed over
          for await (const c of rawBlock(a.reader!, h, e)) release(c);
        }
      }
      await order.drain();
      return result(rw, stats, 0, a);
    }
    if (outFormat === ArchiveFormat.Directory) {
      const target = o.output!;
      if (tarOut ? statOrNull(target)?.isDirectory() : existsSync(target))
        throw new AnonymiseError('USAGE', tarOut ? `-o ${target} is a directory: a tar archive is written to a file` : `-o ${target} exists: a directory archive is written to a new directory`);
      // a tar archive is packed from a directory archive built beside it first
      const built = AtomicOutput.directory(target);
      const tmp = built.tmp;
      try {
        for await (const e of inOrder(a, selected)) {
          if (o.signal?.aborted) throw o.signal.reason;
          const act = actions.get(e.dumpId)!;
          const dest = join(tmp, outById.get(e.dumpId)!.filename! + SUFFIX[h.compression]);
          if (act.kind === 'rewrite' && e.copyStmt) {
            // the file is a series of gzip members, one per piece (pg_restore reads them through gzread)
            const file = built.createFile(dest);
            file.on('error', () => {}); // reported through the write callbacks
            await pieces(e, h.compression === 'gzip' ? 'gzip' : 'none', (r) => write(file, Buffer.from(r.out.buffer, r.out.byteOffset, r.out.byteLength)));
            await order.then(() => new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve()))).then(() => finished(e)));
            continue;
          }
          await directoryEntry(a, a.format === ArchiveFormat.Custom ? a.reader : null, e, act, dest, built, rw, redirect, level, tarOut, o.signal);
          finished(e);
        }
        await order.drain();
        const head = new ArchiveWriter(h.intSize, h.offSize);
        writeHeader(head, h, outFormat);
        writeFileSync(join(tmp, 'toc.dat'), Buffer.concat([head.take(), tocBytes(h, outToc, outFormat)]), { mode: 0o600 });
        if (tarOut) {
          const packed = AtomicOutput.file(target);
          try {
            const bytesOut = await writeTar(tmp, tarMemberOrder(tmp, outToc, h), packed.tmp, o.signal);
            if (o.signal?.aborted) throw o.signal.reason;
            packed.commit();
            built.discard();
            return result(rw, stats, bytesOut, a);
          } catch (e) {
            packed.discard();
            throw e;
          }
        }
        const bytesOut = readdirSync(tmp).reduce((n, f) => n + statSync(join(tmp, f)).size, 0);
        built.commit();
        return result(rw, stats, bytesOut, a);
      } catch (e) {
        await order.drain().catch(() => {});
        await built.discardWhenClosed();
        throw e;
      }
    }

    // custom output: to a temporary file beside the target (offsets filled in at the end), or to stdout
    let fd: number | null = null;
    const file = o.output ? AtomicOutput.file(o.output) : null;
    if (file) fd = file.open();
    const raw = fd !== null ? createWriteStream('', { fd, autoClose: false, highWaterMark: 1 << 20 }) : o.stdout!;
    const dest = new Counted(raw, fd !== null);
    let wroteAny = false;
    try {
      const head = new ArchiveWriter(h.intSize, h.offSize);
      writeHeader(head, h, outFormat);
      const headerBytes = head.take();
      await write(dest, headerBytes);
      wroteAny = true;
      await write(dest, tocBytes(h, outToc, outFormat));
      const offsets = new Map<number, number>();
      const w = () => new ArchiveWriter(h.intSize, h.offSize);
      for await (const e of inOrder(a, selected)) {
        if (o.signal?.aborted) throw o.signal.reason;
        const act = actions.get(e.dumpId)!;
        if (act.kind === 'rewrite' && e.copyStmt) {
          // one zlib stream across the pieces: its header, each worker's fragment (ending on a full
          // flush), then the final block and the Adler-32 of the whole, combined from the pieces'
          let adler = 1;
          await order.then(async () => {
            offsets.set(e.dumpId, dest.count);
            const start = w().byte(BLK_DATA).int(e.dumpId);
            if (h.compression === 'gzip') start.int(2).raw(Buffer.from([0x78, 0x9c]));
            await write(dest, start.take());
          });
          await pieces(e, h.compression === 'gzip' ? 'deflate' : 'none', async (r) => {
            adler = adler32Combine(adler, r.adler, r.length);
            if (r.out.byteLength > 0) await write(dest, Buffer.concat([w().int(r.out.byteLength).take(), r.out]));
          });
          await order.then(async () => {
            const end = w();
            if (h.compression === 'gzip') {
              const tail = Buffer.from([0x03, 0x00, 0, 0, 0, 0]);
              tail.writeUInt32BE(adler, 2);
              end.int(tail.length).raw(tail);
            }
            await write(dest, end.int(0).take());
            finished(e);
          });
          continue;
        }
        if (act.kind === 'copy' || (act.kind === 'blobs' && act.keep && a.reader && !act.scrub)) {
          // a kept block's bytes join the ordered steps as they are read, so the workers' pieces before
          // it keep going out meanwhile (no drain), and memory stays bounded by the pending steps
          await order.then(() => void offsets.set(e.dumpId, dest.count));
          // each view comes with a hold on its chunk, given back once written (io/buffer-pool.ts)
          for await (const c of rawBlock(a.reader!, h, e)) await order.then(() => writeHeld(dest, c));
          await order.then(() => finished(e));
          continue;
        }
        // this thread writes the entry itself: whatever the workers still hold goes out first
        await order.drain();
        offsets.set(e.dumpId, dest.count);
        await customEntry(a, a.format === ArchiveFormat.Custom ? a.reader : null, e, act, dest, rw, redirect, level, o.signal);
        finished(e);
      }
      await order.drain();
      await new Promise<void>((resolve, reject) => dest.end((err?: Error | null) => (err ? reject(err) : resolve())));
      if (fd !== null) {
        await new Promise<void>((resolve, reject) => (raw as ReturnType<typeof createWriteStream>).end((err?: Error | null) => (err ? reject(err) : resolve())));
        // the TOC again, now with each data block's offset (same length: flag and offset have fixed sizes)
        for (const e of outToc) {
          const at = offsets.get(e.dumpId);
          if (at !== undefined) {
            e.dataState = OffsetFlag.Set;
            e.offset = at;
          }
        }
        const tocFinal = tocBytes(h, outToc, outFormat);
        writeSync(fd, tocFinal, 0, tocFinal.length, headerBytes.length);
        closeSync(fd);
        fd = null;
        file!.commit();
      }
      return result(rw, stats, dest.count, a);
    } catch (e) {
      await order.drain().catch(() => {});
      if (fd !== null) {
        raw.on('error', () => {});
        (raw as Writable).destroy();
        try {
          closeSync(fd);
        } catch {
          // closed already
        }
      }
      if (file) file.discard();
      else if (wroteAny && !(e as { code?: string }).code?.startsWith?.('EPIPE')) {
        // on stdout: an unknown block type after the last whole block, so that pg_restore stops there
        // with an error instead of restoring a shorter archive as if it were whole
        await write(dest, Buffer.from([0xff])).catch(() => {});
      }
      throw e;
    }
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    await pool.close();
  }
}

/**
 * The selected data entries in the order the input holds them: a custom archive's blocks as they come
 * (a block the TOC does not list, or listed twice, is a corrupt archive), a directory archive's in TOC order.
 */
async function* inOrder(a: Archive, selected: TocEntry[]): AsyncGenerator<TocEntry> {
  if (a.format === ArchiveFormat.Directory) {
    yield* selected;
    return;
  }
  const byId = new Map(selected.map((e) => [e.dumpId, e]));
  const seen = new Set<number>();
  for (;;) {
    const id = await peekBlockId(a.reader!, a.header);
    if (id === null) break;
    const e = byId.get(id);
    if (!e) throw new AnonymiseError('BAD_INPUT', `the archive holds a data block for entry ${id}, which its TOC does not list with data (corrupt archive?)`);
    if (seen.has(id)) throw new AnonymiseError('BAD_INPUT', `the archive holds two data blocks for entry ${id} (corrupt archive?)`);
    seen.add(id);
    yield e;
  }
  const missing = selected.find((e) => !seen.has(e.dumpId));
  if (missing) throw new AnonymiseError('BAD_INPUT', "the archive ends before this entry's data block (truncated archive?)", { entry: entryName(missing) });
}

/**
 * Workers by default: one per core, except for an archive small enough that starting them (each reads
 * the TOC and compiles the rules: ~0.5 s of CPU) costs as much as they save — on the 30 MB corpus
 * archive, full rules, two workers and none both took 2.2 s (median of 5; the second worker saves more
 * since compression moved into the job's thread). A pipe's size is unknown: cores.
 */
function defaultJobs(a: Archive): number {
  if (a.path === null) return availableParallelism();
  let size = 0;
  try {
    if (a.format === ArchiveFormat.Custom || a.members) size = statSync(a.path).size;
    else for (const f of readdirSync(a.path)) size += statSync(join(a.path, f)).size;
  } catch {
    return availableParallelism();
  }
  return size < SMALL_ARCHIVE_BYTES ? 1 : availableParallelism();
}
const SMALL_ARCHIVE_BYTES = 32 * 1024 * 1024;


/** What a worker needs to build the same engine state: the archive's TOC, the rules, the key, the limits. */
function workerSetup(a: Archive, o: ArchiveRunOptions) {
  return {
    toc: a.toc,
    format: a.format,
    rules: o.rulesSource,
    key: o.rules.keyForWorkers(),
    maxLineBytes: o.maxLineBytes,
    maxValueBytes: o.maxValueBytes,
    schemaFile: o.schemaFile,
  };
}

export type WorkerSetup = ReturnType<typeof workerSetup>;

function mergeStats(into: Map<string, TableStats>, from: TableStats[]): void {
  for (const s of from) {
    const have = into.get(s.table);
    if (!have) {
      // a copy: the piece's own counts stay as they were (a shard writes them to its part)
      into.set(s.table, { ...s, changed: { ...s.changed } });
      continue;
    }
    have.rowsIn += s.rowsIn;
    have.rowsOut += s.rowsOut;
    have.rowsDropped += s.rowsDropped;
    for (const [c, n] of Object.entries(s.changed)) have.changed[c] = (have.changed[c] ?? 0) + n;
  }
}

function result(rw: DumpRewriter, fromWorkers: Map<string, TableStats>, bytesOut: number, a?: Archive): RewriteResult {
  const tables = new Map(rw.stats);
  mergeStats(tables, [...fromWorkers.values()]);
  return { tables: [...tables.values()], outside: { ...rw.outsideCounts }, bytesIn: a ? archiveBytes(a, rw.bytesIn) : rw.bytesIn, bytesOut, lines: 0 };
}

/**
 * The archive's bytes as stored, as `bytesOut` counts the output's: a custom or tar file's size, a
 * directory's files' sizes; a custom archive from stdin, as far as it was read.
 */
function archiveBytes(a: Archive, read: number): number {
  if (!a.path) return a.reader?.offset ?? read;
  const st = statSync(a.path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(a.path).reduce((n, f) => n + statSync(join(a.path!, f)).size, 0);
}
