/**
 * Rewriting an archive into an archive: the TOC through the policy, then every data entry through the
 * rules — in worker threads, one entry at a time each, where the input can be read at any place (a
 * directory archive, or a custom archive in a file with its data offsets), else in order in this thread.
 * Kept tables are copied as their compressed bytes. Nothing is written before the whole TOC has passed
 * and the rules have been checked against it; a custom archive written to a file gets its data
 * offsets, so that `pg_restore -j` and `-t` work on it.
 */
import { closeSync, copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { AnonymiseError } from '../errors.js';
import { DumpRewriter, type TableStats } from '../dump/rewriter.js';
import type { CompiledRules } from '../rules/rule-compiler.js';
import type { RulesSource, RewriteResult } from '../api.js';
import { globMatcher } from './glob.js';
import {
  ArchiveFormat,
  ArchiveWriter,
  BLK_BLOBS,
  OffsetFlag,
  entryName,
  entryTable,
  hasData,
  writeHeader,
  writeToc,
  type ArchiveHeader,
  type TocEntry,
} from './format.js';
import { ByteReader, customBlobs, dataFile, directoryBlobs, directoryData, customData, offsetsKnown, peekBlockId, rawBlock, supportedCompression, type Archive } from './reader.js';
import { Redirect, dataAction, rewrittenData, tocPass, write, writeCustomBlock, writeDataFile, type DataAction } from './entries.js';
import { WorkerPool } from './pool.js';

export interface ArchiveRunOptions {
  rules: CompiledRules;
  /** how workers compile the same rules */
  rulesSource: RulesSource;
  secret?: string;
  maxLineBytes?: number;
  maxValueBytes?: number;
  /** worker threads (default: the number of cores); 1 rewrites in this thread */
  jobs?: number;
  /** directory archives: rewrite only the data of these tables (globs on schema.table); the rest is not written */
  tables?: string[];
  format: 'custom' | 'directory';
  /** custom: a file, or null for `stdout`; directory: the directory to create */
  output: string | null;
  stdout?: Writable;
  signal?: AbortSignal;
  /** after each data entry (progress) */
  onEntry?: (done: number, total: number, name: string) => void;
}

/** Counts what it hands on (the position in a custom archive), keeping the destination's backpressure. */
class Counted extends Writable {
  count = 0;
  constructor(private readonly dest: Writable) {
    super({ highWaterMark: 1 << 20 });
    dest.on('error', (e) => this.destroy(e));
    // failures reach the writer through its write callbacks (a reader gone: EPIPE)
    this.on('error', () => {});
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    this.count += chunk.length;
    if (this.dest.write(chunk)) done();
    else this.dest.once('drain', () => done());
  }
  override _final(done: (e?: Error | null) => void): void {
    done();
  }
}

const SUFFIX = { none: '', gzip: '.gz', lz4: '.lz4', zstd: '.zst' } as const;

export async function rewriteArchive(a: Archive, o: ArchiveRunOptions): Promise<RewriteResult> {
  supportedCompression(a.header.compression, 'the archive');
  const outFormat = o.format === 'custom' ? ArchiveFormat.Custom : ArchiveFormat.Directory;
  if (o.tables?.length && (a.format !== ArchiveFormat.Directory || outFormat !== ArchiveFormat.Directory))
    throw new AnonymiseError('USAGE', '--tables works on directory archives written as directory archives (-Fd in, --format directory out)');
  if (outFormat === ArchiveFormat.Directory && !o.output) throw new AnonymiseError('USAGE', 'a directory archive needs -o DIR');
  const redirect = new Redirect();
  const rw = new DumpRewriter({ rules: o.rules, archive: true, maxLineBytes: o.maxLineBytes, maxValueBytes: o.maxValueBytes }, redirect.sink);
  // the whole TOC, and the rules against the whole schema, before a byte is written
  const { toc } = tocPass(rw, redirect, o.rules, a.toc, a.format);
  const same = outFormat === a.format;
  const chosen = o.tables?.length ? globMatcher(o.tables) : null;
  const data = toc.filter((e) => hasData(e, a.format));
  const selected = data.filter((e) => !chosen || chosen(e.desc === 'BLOBS' ? 'pg_catalog.pg_largeobject' : entryTable(e)));
  const actions = new Map<number, DataAction>(selected.map((e) => [e.dumpId, dataAction(rw, e, same)]));
  const outToc = toc.map((e) => outputEntry(e, a, outFormat));
  const outById = new Map(outToc.map((e) => [e.dumpId, e]));
  const sizes = entrySizes(a);
  const largestFirst = (x: TocEntry, y: TocEntry) => (sizes.get(y.dumpId) ?? 0) - (sizes.get(x.dumpId) ?? 0);

  const jobs = Math.max(1, o.jobs ?? availableParallelism());
  const parallel = jobs > 1 && actions.size > 1 && (a.format === ArchiveFormat.Directory || (a.path !== null && offsetsKnown(a)));
  const stats = new Map<string, TableStats>();
  let done = 0;
  const finished = (e: TocEntry) => o.onEntry?.(++done, actions.size, entryName(e));

  if (outFormat === ArchiveFormat.Directory) {
    const target = o.output!;
    if (existsSync(target)) throw new AnonymiseError('USAGE', `-o ${target} exists: a directory archive is written to a new directory`);
    if (!existsSync(dirname(target))) throw new AnonymiseError('USAGE', `output directory does not exist: ${dirname(target)}`);
    const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    mkdirSync(tmp, { mode: 0o700 });
    try {
      const pool = parallel ? new WorkerPool(jobs, workerSetup(a, o)) : null;
      // a signal stops the workers too (their jobs fail with it), so the temporary directory goes at once
      const onAbort = () => void pool?.close(o.signal!.reason);
      o.signal?.addEventListener('abort', onAbort);
      try {
        const pending: Promise<void>[] = [];
        const sorted = [...selected].sort(largestFirst);
        for (const e of parallel ? sorted : selected) {
          if (o.signal?.aborted) throw o.signal.reason;
          const act = actions.get(e.dumpId)!;
          const outName = outById.get(e.dumpId)!.filename!;
          const dest = join(tmp, outName + SUFFIX[a.header.compression]);
          if (act.kind === 'rewrite' && pool) {
            const input = a.format === ArchiveFormat.Directory ? { kind: 'directory' as const } : { kind: 'custom' as const, offset: e.offset };
            const job = pool.run({ dumpId: e.dumpId, input, output: { kind: 'file', path: dest } }).then((r) => {
              mergeStats(stats, r.stats);
              finished(e);
            });
            job.catch(() => {}); // awaited by settle(); a run that stops early leaves it
            pending.push(job);
            continue;
          }
          // a custom archive read in workers: this entry is read at its offset, not in file order
          const r = a.format === ArchiveFormat.Custom ? (parallel ? ByteReader.of(createReadStream(a.path!, { start: e.offset, highWaterMark: 1 << 20 }), e.offset) : a.reader) : null;
          await directoryEntry(a, r, e, act, dest, tmp, rw, redirect, o.signal);
          if (parallel) r?.close();
          finished(e);
        }
        await settle(pending);
      } finally {
        o.signal?.removeEventListener('abort', onAbort);
        await pool?.close();
      }
      const head = new ArchiveWriter(a.header.intSize, a.header.offSize);
      writeHeader(head, a.header, outFormat);
      writeFileSync(join(tmp, 'toc.dat'), Buffer.concat([head.take(), tocBytes(a.header, outToc, outFormat)]), { mode: 0o600 });
      const bytesOut = readdirSync(tmp).reduce((n, f) => n + statSync(join(tmp, f)).size, 0);
      renameSync(tmp, target);
      return result(rw, stats, bytesOut);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  // custom output: to a temporary file beside the target (offsets filled in at the end), or to stdout
  let fd: number | null = null;
  let tmp: string | null = null;
  if (o.output) {
    if (!existsSync(dirname(o.output))) throw new AnonymiseError('USAGE', `output directory does not exist: ${dirname(o.output)}`);
    tmp = join(dirname(o.output), `.${basename(o.output)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    fd = openSync(tmp, 'wx', 0o600);
  }
  const blockDir = parallel ? join(dirname(tmp ?? join(process.cwd(), 'x')), `.anonymise-dump-blocks.${process.pid}.${randomBytes(4).toString('hex')}`) : null;
  const raw = fd !== null ? createWriteStream('', { fd, autoClose: false, highWaterMark: 1 << 20 }) : o.stdout!;
  const dest = new Counted(raw);
  let wroteAny = false;
  try {
    const head = new ArchiveWriter(a.header.intSize, a.header.offSize);
    writeHeader(head, a.header, outFormat);
    const headerBytes = head.take();
    await write(dest, headerBytes);
    wroteAny = true;
    await write(dest, tocBytes(a.header, outToc, outFormat));
    const offsets = new Map<number, number>();
    if (parallel) {
      mkdirSync(blockDir!, { mode: 0o700 });
      const pool = new WorkerPool(jobs, workerSetup(a, o));
      const onAbort = () => void pool.close(o.signal!.reason);
      o.signal?.addEventListener('abort', onAbort);
      try {
        const work: Promise<void>[] = [];
        for (const e of [...selected].sort(largestFirst)) {
          if (actions.get(e.dumpId)!.kind !== 'rewrite') continue;
          const input = a.format === ArchiveFormat.Directory ? { kind: 'directory' as const } : { kind: 'custom' as const, offset: e.offset };
          const job = pool.run({ dumpId: e.dumpId, input, output: { kind: 'block', path: join(blockDir!, `${e.dumpId}.blk`) } }).then((r) => mergeStats(stats, r.stats));
          job.catch(() => {}); // awaited by settle()
          work.push(job);
        }
        await settle(work);
      } finally {
        o.signal?.removeEventListener('abort', onAbort);
        await pool.close();
      }
      for (const e of selected) {
        if (o.signal?.aborted) throw o.signal.reason;
        offsets.set(e.dumpId, dest.count);
        const act = actions.get(e.dumpId)!;
        if (act.kind === 'rewrite') {
          const file = join(blockDir!, `${e.dumpId}.blk`);
          for await (const c of createReadStream(file, { highWaterMark: 1 << 20 })) await write(dest, c as Buffer);
          rmSync(file);
        } else if (a.format === ArchiveFormat.Directory) {
          await customEntry(a, null, e, act, dest, rw, redirect, o.signal);
        } else {
          const r = ByteReader.of(createReadStream(a.path!, { start: e.offset, highWaterMark: 1 << 20 }), e.offset);
          await customEntry(a, r, e, act, dest, rw, redirect, o.signal);
          r.close();
        }
        finished(e);
      }
    } else if (a.format === ArchiveFormat.Custom) {
      const byId = new Map(selected.map((e) => [e.dumpId, e]));
      const r = a.reader!;
      for (;;) {
        if (o.signal?.aborted) throw o.signal.reason;
        const id = await peekBlockId(r, a.header);
        if (id === null) break;
        const e = byId.get(id);
        if (!e) throw new AnonymiseError('BAD_INPUT', `the archive holds a data block for entry ${id}, which its TOC does not list with data (corrupt archive?)`);
        if (offsets.has(id)) throw new AnonymiseError('BAD_INPUT', `the archive holds two data blocks for entry ${id} (corrupt archive?)`);
        offsets.set(id, dest.count);
        await customEntry(a, r, e, actions.get(id)!, dest, rw, redirect, o.signal);
        finished(e);
      }
      const missing = selected.find((e) => !offsets.has(e.dumpId));
      if (missing) throw new AnonymiseError('BAD_INPUT', "the archive ends before this entry's data block (truncated archive?)", { entry: entryName(missing) });
    } else {
      // directory in, custom out: entries in TOC order
      for (const e of selected) {
        if (o.signal?.aborted) throw o.signal.reason;
        offsets.set(e.dumpId, dest.count);
        await customEntry(a, null, e, actions.get(e.dumpId)!, dest, rw, redirect, o.signal);
        finished(e);
      }
    }
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
      const tocFinal = tocBytes(a.header, outToc, outFormat);
      writeSync(fd, tocFinal, 0, tocFinal.length, headerBytes.length);
      closeSync(fd);
      fd = null;
      renameSync(tmp!, o.output!);
      tmp = null;
    }
    return result(rw, stats, dest.count);
  } catch (e) {
    if (fd !== null) {
      raw.on('error', () => {});
      (raw as Writable).destroy();
      try {
        closeSync(fd);
      } catch {
        // closed already
      }
    }
    if (tmp) rmSync(tmp, { force: true });
    else if (wroteAny && !(e as { code?: string }).code?.startsWith?.('EPIPE')) {
      // on stdout: an unknown block type after the last whole block, so that pg_restore stops there
      // with an error instead of restoring a shorter archive as if it were whole
      await write(dest, Buffer.from([0xff])).catch(() => {});
    }
    throw e;
  } finally {
    if (blockDir) rmSync(blockDir, { recursive: true, force: true });
  }
}

/** Waits for every job; the first failure wins, after the others have stopped. */
async function settle(work: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(work);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

function mergeStats(into: Map<string, TableStats>, from: TableStats[]): void {
  for (const s of from) {
    const have = into.get(s.table);
    if (!have) {
      into.set(s.table, s);
      continue;
    }
    have.rowsIn += s.rowsIn;
    have.rowsOut += s.rowsOut;
    have.rowsDropped += s.rowsDropped;
    for (const [c, n] of Object.entries(s.changed)) have.changed[c] = (have.changed[c] ?? 0) + n;
  }
}

function result(rw: DumpRewriter, fromWorkers: Map<string, TableStats>, bytesOut: number): RewriteResult {
  const tables = new Map(rw.stats);
  mergeStats(tables, [...fromWorkers.values()]);
  return { tables: [...tables.values()], outside: { ...rw.outsideCounts }, bytesIn: rw.bytesIn, bytesOut, lines: 0 };
}

function tocBytes(h: ArchiveHeader, toc: TocEntry[], format: ArchiveFormat): Buffer {
  const w = new ArchiveWriter(h.intSize, h.offSize);
  writeToc(w, h, toc, format);
  return w.take();
}

/** An entry as the output format lists it: data offsets not yet known, or the data file's name. */
function outputEntry(e: TocEntry, a: Archive, format: ArchiveFormat): TocEntry {
  const data = hasData(e, a.format);
  if (format === ArchiveFormat.Custom) return { ...e, dataState: data ? OffsetFlag.NotSet : OffsetFlag.NoData, offset: 0, filename: null };
  if (a.format === ArchiveFormat.Directory) return { ...e };
  let filename = '';
  if (data) filename = e.desc === 'BLOBS' ? (a.header.vmin >= 16 ? `blobs_${e.dumpId}.toc` : 'blobs.toc') : `${e.dumpId}.dat`;
  return { ...e, filename, dataState: OffsetFlag.NoData, offset: 0 };
}

/** How large each entry's data is (file size, or the distance to the next block), to hand the largest to workers first. */
function entrySizes(a: Archive): Map<number, number> {
  const sizes = new Map<number, number>();
  if (a.format === ArchiveFormat.Directory) {
    for (const e of a.toc) {
      if (!hasData(e, a.format)) continue;
      try {
        sizes.set(e.dumpId, statSync(dataFile(a, e)).size);
      } catch {
        // a missing file is reported when its entry is read
      }
    }
    return sizes;
  }
  const placed = a.toc.filter((e) => e.dataState === OffsetFlag.Set).sort((x, y) => x.offset - y.offset);
  placed.forEach((e, i) => sizes.set(e.dumpId, i + 1 < placed.length ? placed[i + 1]!.offset - e.offset : Number.MAX_SAFE_INTEGER));
  return sizes;
}

/** One data entry of a directory archive written as a directory archive's file. */
async function directoryEntry(a: Archive, r: ByteReader | null, e: TocEntry, act: DataAction, dest: string, dir: string, rw: DumpRewriter, redirect: Redirect, signal?: AbortSignal): Promise<void> {
  if (act.kind === 'copy') {
    copyFileSync(dataFile(a, e), dest);
    return;
  }
  if (act.kind === 'blobs') {
    const list: string[] = [];
    if (act.keep) {
      for await (const b of r ? customBlobs(r, a.header, e) : directoryBlobs(a, e)) {
        const name = `blob_${b.oid}.dat`;
        await writeDataFile(createWriteStream(join(dir, name + SUFFIX[a.header.compression]), { mode: 0o600 }), a.header, (async function* () {
          yield b.data;
        })());
        list.push(`${b.oid} ${name}\n`);
      }
    }
    else if (r) for await (const _ of rawBlock(r, a.header, e)); // read past it
    writeFileSync(join(dir, basename(dest).replace(/\.(gz|lz4|zst)$/, '')), list.join(''), { mode: 0o600 });
    return;
  }
  const input = r ? customData(r, a.header, e) : directoryData(a, e);
  await writeDataFile(createWriteStream(dest, { mode: 0o600 }), a.header, rewrittenData(rw, redirect, e, input, signal));
}

/** One data entry written as a custom archive's data block. */
async function customEntry(a: Archive, r: ByteReader | null, e: TocEntry, act: DataAction, dest: Writable, rw: DumpRewriter, redirect: Redirect, signal?: AbortSignal): Promise<void> {
  if (act.kind === 'copy' || (act.kind === 'blobs' && act.keep && r)) {
    for await (const c of rawBlock(r!, a.header, e)) await write(dest, c);
    return;
  }
  if (act.kind === 'blobs') {
    if (r) for await (const _ of rawBlock(r, a.header, e)); // read past it
    const w = new ArchiveWriter(a.header.intSize, a.header.offSize).byte(BLK_BLOBS).int(e.dumpId);
    if (act.keep) {
      // directory in, custom out: each large object re-framed
      for await (const b of directoryBlobs(a, e)) {
        w.int(b.oid);
        await write(dest, w.take());
        await writeBlobData(dest, a.header, b.data);
      }
    }
    await write(dest, w.int(0).take());
    return;
  }
  const input = r ? customData(r, a.header, e) : directoryData(a, e);
  await writeCustomBlock(dest, a.header, e, rewrittenData(rw, redirect, e, input, signal));
}

/** One large object's data as custom-archive chunks (compressed as the archive is), ending with its end marker. */
async function writeBlobData(dest: Writable, h: ArchiveHeader, data: Buffer): Promise<void> {
  const { deflateSync } = await import('node:zlib');
  const body = h.compression === 'gzip' ? deflateSync(data) : data;
  const w = new ArchiveWriter(h.intSize, h.offSize);
  if (body.length) w.int(body.length).raw(body);
  await write(dest, w.int(0).take());
}

/** What a worker needs to build the same engine state: the archive, the rules, the key, the limits. */
function workerSetup(a: Archive, o: ArchiveRunOptions) {
  return {
    archive: { path: a.path!, format: a.format },
    rules: o.rulesSource,
    secret: o.secret,
    maxLineBytes: o.maxLineBytes,
    maxValueBytes: o.maxValueBytes,
  };
}

export type WorkerSetup = ReturnType<typeof workerSetup>;
