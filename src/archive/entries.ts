/**
 * The engine's work on an archive, shared by the main thread and the workers: the TOC pass (every
 * entry's SQL through the same statement classifier, schema model and policy as a plain dump) and the
 * rewrite of one data entry into the output's framing and compression.
 */
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createDeflate, createGzip, deflateRawSync, gzipSync } from 'node:zlib';
import { adler32 } from './adler32.js';
import { release } from '../io/buffer-pool.js';
import { concatInto } from '../text/bytes.js';
import { AnonymiseError } from '../errors.js';
import type { DumpRewriter } from '../dump/rewriter.js';
import type { CompiledRules } from '../rules/rule-compiler.js';
import { ArchiveFormat, ArchiveWriter, BLK_DATA, definitionSql, entryName, entryTable, hasData, ownerStatement, text, type ArchiveHeader, type TocEntry } from './format.js';

/** The rewriter's output goes wherever the archive code points it: an entry's new text, its data, or nowhere. */
export class Redirect {
  target: Buffer[] | null = null;
  readonly sink = (chunk: Buffer): void => {
    // a chunk comes with a hold on its memory (dump/output.ts): one that goes nowhere goes back now
    if (this.target) this.target.push(chunk);
    else release(chunk);
  };
  take(): Buffer[] {
    const t = this.target ?? [];
    this.target = [];
    return t;
  }
}

function tocHeader(e: TocEntry): { name: string; type: string; schema: string } {
  return { name: text(e.tag), type: text(e.desc), schema: e.namespace ? text(e.namespace) : '-' };
}

/** One TOC string through the engine: the policy's text for it (as read when nothing changes). */
function entryText(rw: DumpRewriter, out: Redirect, e: TocEntry, sql: string): string {
  out.target = [];
  rw.beginEntry(tocHeader(e));
  rw.write(Buffer.from(sql, 'latin1'));
  rw.endEntry();
  const written = Buffer.concat(out.take()).toString('latin1');
  out.target = null;
  return written;
}

/**
 * A BLOB METADATA entry (archive 1.16) judged as the `lo_create` statements pg_restore writes from it:
 * kept as its list of OIDs when the policy lets them through as they are, emptied when it removes them;
 * any other change has no form in such an entry, so the run stops.
 */
function blobMetadata(rw: DumpRewriter, out: Redirect, e: TocEntry, byId: ReadonlyMap<number, TocEntry>): string | null {
  const sql = definitionSql(e, byId) ?? '';
  const judged = entryText(rw, out, e, sql);
  if (judged === sql) return e.defn;
  if (!judged.trim()) return '';
  throw new AnonymiseError('UNSUPPORTED', 'the policy would change the creation of these large objects, which a BLOB METADATA entry cannot hold', { entry: entryName(e) });
}

export interface TocResult {
  /** the TOC to write: entries the policy emptied are gone, the rest with their new text */
  toc: TocEntry[];
  /** entries the policy removed (comments dropped, statistics stripped) */
  removed: number;
}

/**
 * Every entry's definition, drop statement and COPY statement through the engine, in TOC order, then
 * the rules checked against the whole schema — all before a byte of output. Returns the TOC to write.
 */
export function tocPass(rw: DumpRewriter, out: Redirect, rules: CompiledRules, toc: readonly TocEntry[], format: ArchiveFormat): TocResult {
  const byId = new Map(toc.map((e) => [e.dumpId, e]));
  for (const e of toc) if (e.desc === 'TABLE DATA') rw.willFill(entryTable(e));
  const pseudonymise = rules.data.outside.roles === 'pseudonymise';
  const result: TocEntry[] = [];
  let removed = 0;
  for (const e of toc) {
    const at = (err: unknown) => (err instanceof AnonymiseError ? err.at({ entry: entryName(e) }) : err);
    try {
      const next: TocEntry = { ...e };
      if (e.desc === 'BLOB METADATA') next.defn = blobMetadata(rw, out, e, byId);
      else if (e.defn) next.defn = entryText(rw, out, e, e.defn);
      if (e.dropStmt) next.dropStmt = entryText(rw, out, e, e.dropStmt);
      // the owner is judged as the ALTER … OWNER TO pg_restore writes from it: a name that looks like an
      // e-mail address stops the run as in a plain dump, an object the policy drops loses its owner
      const owner = ownerStatement(e);
      if (owner && !entryText(rw, out, e, owner).trim()) next.owner = '';
      else if (pseudonymise && e.owner) next.owner = Buffer.from(rules.rolePseudonym(text(e.owner)), 'utf8').toString('latin1');
      // an entry whose only content the policy removed goes, as pg_dump would not have written it
      if (e.defn?.trim() && !next.defn?.trim() && !hasData(e, format)) {
        removed++;
        continue;
      }
      result.push(next);
    } catch (err) {
      throw at(err);
    }
  }
  rw.schemaComplete();
  if (toc.some((e) => e.desc === 'BLOBS')) rw.largeObjectRule();
  return { toc: result, removed };
}

/** What happens to a data entry. */
export type DataAction = { kind: 'rewrite' } | { kind: 'copy' } | { kind: 'blobs'; keep: boolean; scrub: ((data: Buffer) => Buffer) | null };

/** Decides, from the rules alone, whether an entry's data can be copied as it is. */
export function dataAction(rw: DumpRewriter, e: TocEntry, sameFormat: boolean): DataAction {
  try {
    // forget reads kept large objects for the person's identifiers; otherwise their bytes are copied
    if (e.desc === 'BLOBS') return { kind: 'blobs', keep: rw.largeObjectRule() === 'keep', scrub: rw.scrubsLargeObjects ? (d) => rw.scrubbedLargeObject(d) : null };
    if (e.desc !== 'TABLE DATA')
      throw new AnonymiseError('UNSUPPORTED', `an entry of type ${text(e.desc)} with data of its own is not known to this version`);
    // INSERT form: the table is the entry's (its statements may name the partition root instead)
    const { table, plan } = e.copyStmt ? rw.copyPlan(Buffer.from(e.copyStmt, 'latin1')) : { table: entryTable(e), plan: rw.tablePlan(entryTable(e)) };
    if (plan?.mode === 'keep' && sameFormat) {
      rw.copiedWhole(table, plan);
      return { kind: 'copy' };
    }
    return { kind: 'rewrite' };
  } catch (err) {
    throw err instanceof AnonymiseError ? err.at({ entry: entryName(e) }) : err;
  }
}

/** The rewritten data of entry `e`: its COPY statement read (not written), then its rows through the rules. */
export async function* rewrittenData(rw: DumpRewriter, out: Redirect, e: TocEntry, input: AsyncIterable<Buffer>, signal?: AbortSignal): AsyncGenerator<Buffer> {
  try {
    out.target = null;
    rw.beginEntry(tocHeader(e));
    if (e.copyStmt) {
      rw.write(Buffer.from(e.copyStmt, 'latin1'));
      rw.flushOutput();
    }
    out.target = [];
    for await (const chunk of input) {
      if (signal?.aborted) throw signal.reason;
      rw.write(chunk);
      const ready = out.take();
      for (const c of ready) yield c;
    }
    rw.endEntry();
    for (const c of out.take()) yield c;
  } catch (err) {
    throw err instanceof AnonymiseError ? err.at({ entry: entryName(e) }) : err;
  } finally {
    out.target = null;
  }
}

/**
 * One piece of a COPY-form entry's data (whole rows; `last`: the piece that holds the `\.` line)
 * through the rules, as a worker rewrites it: the entry's COPY statement is read first, so the piece is
 * read as that table's rows. Its lines are numbered from 1 (messages are moved to the entry's line by
 * whoever knows how many lines came before: counting them here is free, before the cut it was not).
 * Returns the rewritten bytes and the number of lines read.
 */
export function rewritePiece(rw: DumpRewriter, out: Redirect, e: TocEntry, data: Buffer, last: boolean, into?: PieceText): { text: Buffer; lines: number } {
  try {
    out.target = null;
    rw.beginEntry(tocHeader(e));
    rw.write(Buffer.from(e.copyStmt!, 'latin1'));
    rw.flushOutput();
    rw.line = 1;
    out.target = [];
    rw.write(data);
    if (last) rw.endEntry();
    else rw.endPiece();
    const chunks = out.take();
    const text = into ? into.join(chunks) : Buffer.concat(chunks);
    // copied: the output's buffers go back to its pool for the next piece
    for (const c of chunks) release(c);
    return { text, lines: rw.line - 1 };
  } catch (err) {
    throw err instanceof AnonymiseError ? err.at({ entry: entryName(e) }) : err;
  } finally {
    out.target = null;
  }
}

/**
 * A piece's rewritten text in memory used again for the next piece, where the piece is packed
 * (compressed) before the next one is rewritten: ~2 MiB less fresh memory a piece, which V8 counts
 * and frees only in a full collection (an -Fc archive at `--jobs 1` peaked at 135–160 MiB).
 */
export class PieceText {
  private buf = Buffer.alloc(0);
  join(chunks: readonly Buffer[]): Buffer {
    let n = 0;
    for (const c of chunks) n += c.length;
    if (n > this.buf.length) this.buf = Buffer.allocUnsafeSlow(Math.max(n, 2 * this.buf.length));
    return this.buf.subarray(0, concatInto(chunks, this.buf));
  }
}

/**
 * A rewritten piece packed for the output: a whole gzip member (a directory archive's file is a series
 * of them), a raw deflate fragment that ends on a full flush and is not final (a custom archive's block
 * is one zlib stream: the fragments are joined, and the Adler-32 of the whole combined from each one's),
 * or the bytes as they are. Compressed in the calling thread: compression is part of a job's work, so
 * `--jobs N` uses N cores and `--jobs 1` one (libuv's pool would add cores behind the user's back).
 */
export function packPiece(text: Buffer, pack: 'gzip' | 'deflate' | 'none', level: number): { out: Buffer; adler: number } {
  if (pack === 'gzip') return { out: gzipSync(text, { level }), adler: 0 };
  if (pack === 'deflate') return { out: deflateRawSync(text, { level, finishFlush: constants.Z_FULL_FLUSH }), adler: adler32(text) };
  return { out: text, adler: 0 };
}

/**
 * zlib's level for the data we compress: 1 unless told. On the corpus text, level 1 deflates at ~115 MB/s
 * against level 6's ~38 MB/s (pg_dump's default), and the corpus archive rewritten with full rules is
 * 5.5 % larger (bench/profile.md); kept tables' blocks are copied as pg_dump compressed them.
 */
export const DEFAULT_LEVEL = 1;

/**
 * Writes `data` as entry `e`'s data block of a custom archive to `dest` (left open): block header,
 * chunks (compressed as the archive is), end marker.
 */
export async function writeCustomBlock(dest: Writable, h: ArchiveHeader, e: TocEntry, data: AsyncIterable<Buffer>, level: number): Promise<void> {
  await write(dest, new ArchiveWriter(h.intSize, h.offSize).byte(BLK_DATA).int(e.dumpId).take());
  const framed = async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) if (c.length > 0) await write(dest, Buffer.concat([new ArchiveWriter(h.intSize, h.offSize).int(c.length).take(), c]));
  };
  // the destination is shared by every block: written through callbacks, never piped (and never ended) here
  if (h.compression === 'gzip') await pipeline(Readable.from(data), createDeflate({ level, chunkSize: 64 * 1024 }), framed);
  else await framed(data);
  await write(dest, new ArchiveWriter(h.intSize, h.offSize).int(0).take());
}

/** Writes `data` as a directory archive's data file (compressed as the archive is); `dest` is ended. */
export async function writeDataFile(dest: Writable, h: ArchiveHeader, data: AsyncIterable<Buffer>, level: number): Promise<void> {
  const stages: (NodeJS.ReadableStream | NodeJS.ReadWriteStream)[] = [Readable.from(data)];
  if (h.compression === 'gzip') stages.push(createGzip({ level, chunkSize: 64 * 1024 }));
  await (pipeline as unknown as (s: unknown[]) => Promise<void>)([...stages, dest]);
}

export function write(dest: Writable, b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    dest.write(b, (err) => (err ? reject(err) : resolve()));
  });
}
