/**
 * Reading archives: the header and TOC of a custom archive (from a file or a pipe) or of a directory
 * archive's toc.dat, and the data behind each entry — a custom archive's data blocks, read in file
 * order as pg_restore reads a pipe or at their offsets, and a directory archive's data files.
 */
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';
import { AnonymiseError } from '../errors.js';
import { hold, release } from '../io/buffer-pool.js';
import { memberStream, readMember, tarMembers } from './tar.js';
import {
  ArchiveFormat,
  BLK_BLOBS,
  BLK_DATA,
  Cursor,
  NeedMore,
  badArchive,
  entryName,
  isDataFileName,
  readHeader,
  readToc,
  type ArchiveHeader,
  type Compression,
  type TocEntry,
} from './format.js';

/** Buffered sequential reads from a byte stream, with the absolute offset of the next byte. */
export class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  pos = 0;
  /** file offset of buf[0] */
  private base = 0;
  private done = false;
  constructor(
    private readonly it: AsyncIterator<Buffer>,
    start = 0,
  ) {
    this.base = start;
  }
  static of(source: AsyncIterable<Buffer>, start = 0): ByteReader {
    return new ByteReader(source[Symbol.asyncIterator](), start);
  }
  get offset(): number {
    return this.base + this.pos;
  }
  get available(): number {
    return this.buf.length - this.pos;
  }
  /** The bytes in hand from the current position (a view, to be read at once: its buffer may be read into again after the next fill). */
  view(): Buffer {
    return this.buf.subarray(this.pos);
  }
  /** Reads until `n` bytes are in hand; false when the input ends first. */
  async fill(n: number): Promise<boolean> {
    while (this.buf.length - this.pos < n && !this.done) {
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        break;
      }
      const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      // the bytes read so far leave the buffer now: a recording keeps them, as views with a hold each
      if (this.rec && this.pos > this.recFrom) this.keepRecorded(this.buf.subarray(this.recFrom, this.pos));
      this.recFrom = 0;
      this.base += this.pos;
      const old = this.buf;
      this.buf = this.pos >= this.buf.length ? chunk : Buffer.concat([this.buf.subarray(this.pos), chunk]);
      // this reader's own holds (io/buffer-pool.ts): on the buffer it leaves, and on a chunk it copied
      if (this.buf !== chunk) release(chunk);
      release(old);
      this.pos = 0;
    }
    return this.buf.length - this.pos >= n;
  }
  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }
  /** Runs a synchronous parse over the bytes in hand, reading more while it asks for more. */
  async parse<T>(f: (c: Cursor) => T, intSize = 4, offSize = 8): Promise<T> {
    for (;;) {
      const c = new Cursor(this.buf, this.pos, intSize, offSize);
      try {
        const v = f(c);
        this.pos = c.pos;
        return v;
      } catch (e) {
        if (!(e instanceof NeedMore)) throw e;
        const want = e.want - this.pos;
        // grow by at least the size in hand, so that a long TOC is parsed a few times, not once per chunk
        if (!(await this.fill(Math.max(want, 2 * this.available)))) {
          if (this.available < want) throw new NeedMore(want);
        }
      }
    }
  }
  skip(n: number): void {
    this.pos += n;
  }
  /** Copies the next `n` bytes in hand to `target[at..]` and moves past them. */
  copyTo(target: Buffer, at: number, n: number): void {
    this.buf.copy(target, at, this.pos, this.pos + n);
    this.pos += n;
  }
  /** An archive integer (sign byte, then `intSize` little-endian bytes) if it is wholly in hand, else null. */
  intNow(intSize: number): number | null {
    if (this.buf.length - this.pos < 1 + intSize) return null;
    const b = this.buf;
    const at = this.pos;
    let v = 0;
    for (let i = 0; i < intSize; i++) v += b[at + 1 + i]! * 2 ** (8 * i);
    this.pos += 1 + intSize;
    return b[at] ? -v : v;
  }
  private rec: Buffer[] | null = null;
  private recFrom = 0;
  private recBytes = 0;
  /** Starts keeping every byte read from here on (see recorded()). */
  record(): void {
    this.rec = [];
    this.recFrom = this.pos;
    this.recBytes = 0;
  }
  get recordedBytes(): number {
    return this.recBytes + this.pos - this.recFrom;
  }
  private keepRecorded(view: Buffer): void {
    hold(view);
    this.rec!.push(view);
    this.recBytes += view.length;
  }
  /**
   * The bytes read since record() or the last call, as they were: views of the chunks read, each with a
   * hold on its memory that the caller gives back (`release`) once done with it, or never.
   */
  recorded(): Buffer[] {
    this.rec ??= [];
    if (this.pos > this.recFrom) this.keepRecorded(this.buf.subarray(this.recFrom, this.pos));
    const out = this.rec;
    this.rec = [];
    this.recFrom = this.pos;
    this.recBytes = 0;
    return out;
  }
  stopRecording(): void {
    this.rec = null;
  }
  close(): void {
    void this.it.return?.();
  }
}

export interface Archive {
  header: ArchiveHeader;
  toc: TocEntry[];
  format: ArchiveFormat;
  /** custom archive: the reader, positioned at the first data block; null once handed on */
  reader: ByteReader | null;
  /** custom archive read from a file, or a directory archive: where it is (workers open it again) */
  path: string | null;
  /** a custom archive: the offset of its first data block */
  dataStart: number;
  /**
   * A tar archive (pg_dump -Ft): a directory archive whose files are the members of the tar file at
   * `path` — where each one's bytes lie in it. Read, never written.
   */
  members?: ReadonlyMap<string, { offset: number; size: number }>;
}

/** A directory archive's data file suffix, by its compression. */
export const SUFFIX: Record<Compression, string> = { none: '', gzip: '.gz', lz4: '.lz4', zstd: '.zst' };

/** Refuses what Node cannot decompress, naming the method. */
export function supportedCompression(c: Compression, what: string): void {
  if (c === 'lz4' || c === 'zstd')
    throw new AnonymiseError(
      'UNSUPPORTED',
      `${what} is compressed with ${c}, which this version cannot read or write: dump with -Z gzip (or -Z 0), or convert it with \`pg_restore -f - ARCHIVE | anonymise-dump …\``,
    );
}

async function headerAndToc(r: ByteReader, where: string): Promise<{ header: ArchiveHeader; toc: TocEntry[] }> {
  try {
    const header = await r.parse((c) => readHeader(c));
    const toc = await r.parse((c) => readToc(c, header), header.intSize, header.offSize);
    return { header, toc };
  } catch (e) {
    if (e instanceof NeedMore) throw badArchive(`${where} ends inside its header or table of contents (truncated archive?)`);
    throw e;
  }
}

/** Opens a custom archive read from `source` (its first bytes already sniffed as PGDMP). */
export async function openCustom(source: AsyncIterable<Buffer>, path: string | null): Promise<Archive> {
  const r = ByteReader.of(source);
  const { header, toc } = await headerAndToc(r, 'the archive');
  if (header.format !== ArchiveFormat.Custom) throw badArchive('the archive says it is not a custom-format archive (a toc.dat given alone? give its directory)');
  return { header, toc, format: ArchiveFormat.Custom, reader: r, path, dataStart: r.offset };
}

/** Opens a directory archive: its toc.dat. */
export async function openDirectory(dir: string): Promise<Archive> {
  const tocPath = join(dir, 'toc.dat');
  if (!existsSync(tocPath)) throw new AnonymiseError('NOT_PLAIN_DUMP', `${dir} is a directory without a toc.dat: not a pg_dump directory-format archive`);
  const r = ByteReader.of(Readable.from([readFileSync(tocPath)]));
  const { header, toc } = await headerAndToc(r, 'toc.dat');
  if (header.format !== ArchiveFormat.Directory) throw badArchive('toc.dat says the archive is not in directory format');
  return { header, toc, format: ArchiveFormat.Directory, reader: null, path: dir, dataStart: 0 };
}

/** Opens a tar archive (pg_dump -Ft) from a file: its members found, then its toc.dat read. */
export async function openTar(path: string): Promise<Archive> {
  const members = tarMembers(path);
  const toc = members.get('toc.dat');
  if (!toc) throw new AnonymiseError('NOT_PLAIN_DUMP', `${path} is a tar archive without a toc.dat: not a pg_dump tar-format archive`);
  const r = ByteReader.of(Readable.from([readMember(path, toc)]));
  const { header, toc: entries } = await headerAndToc(r, 'toc.dat');
  if (header.format !== ArchiveFormat.Directory) throw badArchive('toc.dat says the archive is not in tar format');
  // as a custom archive's unlisted data block is: a member pg_dump would not have written is never passed
  // over unread — the archive is refused (its name is not printed: it is text from outside)
  const known = new Set(entries.flatMap((e) => (e.filename ? [e.filename] : [])));
  const expected = (name: string) => known.has(name) || name === 'toc.dat' || name === 'restore.sql' || /^blobs(?:_\d+)?\.toc$|^blob_\d+\.dat$/.test(name);
  if ([...members.keys()].some((name) => !expected(name))) throw badArchive('the tar archive holds a member pg_dump does not write (not a pg_dump tar archive, or altered)');
  return { header, toc: entries, format: ArchiveFormat.Directory, reader: null, path, dataStart: 0, members };
}

/** The file holding a directory archive entry's data (a tar archive's members are read through fileStream). */
export function dataFile(a: Archive, e: TocEntry): string {
  return join(a.path!, dataName(a, e));
}

/** Whether a directory or tar archive holds the file `name` (relative: `3345.dat.gz`, `blobs.toc`). */
function hasFile(a: Archive, name: string): boolean {
  return a.members ? a.members.has(name) : existsSync(join(a.path!, name));
}

/**
 * The file listing a BLOBS entry's large objects: the entry's own file name in a directory archive; in a
 * tar archive (whose entries name `ID.dat` files) `blobs_ID.toc` from archive 1.16 on, else `blobs.toc`.
 */
function blobList(a: Archive, e: TocEntry): string {
  if (!a.members) return e.filename!;
  return a.members.has(`blobs_${e.dumpId}.toc`) ? `blobs_${e.dumpId}.toc` : 'blobs.toc';
}

/** A file of a directory or tar archive, read whole (small files: lists, large objects). */
function readFile(a: Archive, name: string): Buffer {
  return a.members ? readMember(a.path!, a.members.get(name)!) : readFileSync(join(a.path!, name));
}

/** A file of a directory or tar archive as a stream of its bytes. */
export function fileStream(a: Archive, name: string): AsyncIterable<Buffer> {
  const m = a.members?.get(name);
  if (m) return memberStream(a.path!, m);
  return createReadStream(join(a.path!, name), { highWaterMark: 1 << 20 });
}

/** The name of the file holding entry `e`'s data within its directory or tar archive. */
export function dataName(a: Archive, e: TocEntry): string {
  return e.filename! + SUFFIX[a.header.compression];
}

/**
 * The raw bytes of one custom-archive data block, from its type byte to its end, as they are (for
 * copying a kept table without decompressing). Reads them from `r`, which must be at the block.
 */
export async function* rawBlock(r: ByteReader, h: ArchiveHeader, e: TocEntry): AsyncGenerator<Buffer> {
  const isz = h.intSize;
  r.record();
  try {
    const blobs = (await blockHead(r, h, e)) === BLK_BLOBS;
    for (;;) {
      if (blobs && (await readInt(r, isz, e)) === 0) break;
      for (;;) {
        // an uncompressed archive has a chunk per row: those wholly in hand are walked without waiting
        const len = r.intNow(isz) ?? (await readInt(r, isz, e));
        if (len === 0) break;
        if (len < 0) throw badArchive('a data chunk has a negative length (corrupt archive)', entryName(e));
        if (r.available >= len) r.skip(len);
        else await skipBytes(r, len, e);
        if (r.recordedBytes >= 1 << 20) yield* r.recorded();
      }
      if (!blobs) break;
    }
    yield* r.recorded();
  } finally {
    r.stopRecording();
  }
}

async function skipBytes(r: ByteReader, n: number, e: TocEntry): Promise<void> {
  let left = n;
  while (left > r.available) {
    left -= r.available;
    r.skip(r.available);
    if (!(await r.fill(1))) throw badArchive('the archive ends inside a data block (truncated archive?)', entryName(e));
  }
  r.skip(left);
}

async function readInt(r: ByteReader, intSize: number, e: TocEntry): Promise<number> {
  const now = r.intNow(intSize);
  if (now !== null) return now;
  if (!(await r.fill(1 + intSize))) throw badArchive('the archive ends inside a data block (truncated archive?)', entryName(e));
  return r.intNow(intSize)!;
}

/** Reads a block's type byte and ID, checking that it is the block of entry `e`. */
async function blockHead(r: ByteReader, h: ArchiveHeader, e: TocEntry): Promise<number> {
  if (!(await r.fill(1))) throw badArchive('the archive ends before this entry\'s data block (truncated archive?)', entryName(e));
  const type = r.view()[0]!;
  r.skip(1);
  if (type !== BLK_DATA && type !== BLK_BLOBS) throw badArchive(`unknown data block type ${type} (corrupt archive)`, entryName(e));
  const id = await readInt(r, h.intSize, e);
  if (id !== e.dumpId) throw badArchive(`the next data block belongs to entry ${id}, not this one (blocks out of order, or a corrupt archive)`, entryName(e));
  return type;
}

/** The ID of the data block `r` is at, without reading past it; null at the end of the archive. */
export async function peekBlockId(r: ByteReader, h: ArchiveHeader): Promise<number | null> {
  if (!(await r.fill(1))) return null;
  if (!(await r.fill(2 + h.intSize))) throw badArchive('the archive ends inside a data block header (truncated archive?)');
  const b = r.view();
  let v = 0;
  for (let i = 0; i < h.intSize; i++) v += b[2 + i]! * 2 ** (8 * i);
  return b[1] ? -v : v;
}

/**
 * The payload of a data block (the compressed or plain bytes its chunks carry), gathered into large
 * buffers: an uncompressed archive holds one chunk per row, too small to hand on one by one.
 * For a BLOBS block, `onBlob` is called at each large object's start and the payload is its data.
 */
async function* payload(r: ByteReader, h: ArchiveHeader, e: TocEntry, onBlob?: (oid: number) => void): AsyncGenerator<Buffer> {
  const isz = h.intSize;
  const type = await blockHead(r, h, e);
  const blobs = type === BLK_BLOBS;
  let batch = Buffer.allocUnsafe(256 * 1024);
  let n = 0;
  const flush = function* () {
    if (n > 0) {
      yield batch.subarray(0, n);
      batch = Buffer.allocUnsafe(256 * 1024);
      n = 0;
    }
  };
  for (;;) {
    if (blobs) {
      const oid = await readInt(r, isz, e);
      yield* flush();
      if (oid === 0) return;
      onBlob?.(oid);
    }
    for (;;) {
      const len = r.intNow(isz) ?? (await readInt(r, isz, e));
      if (len === 0) break;
      if (len < 0) throw badArchive('a data chunk has a negative length (corrupt archive)', entryName(e));
      let left = len;
      while (left > 0) {
        if (r.available === 0 && !(await r.fill(1))) throw badArchive('the archive ends inside a data block (truncated archive?)', entryName(e));
        const take = Math.min(left, r.available, batch.length - n);
        r.copyTo(batch, n, take);
        n += take;
        left -= take;
        if (n === batch.length) yield* flush();
      }
    }
    yield* flush();
    if (!blobs) return;
    // each large object's data ends here: an empty buffer marks it for the caller
    yield Buffer.alloc(0);
  }
}

/** Inflates zlib (custom) or gzip (directory) data, refusing corrupt input with the entry's name. */
async function* inflate(source: AsyncIterable<Buffer>, gzip: boolean, e: TocEntry): AsyncGenerator<Buffer> {
  const z = gzip ? createGunzip({ chunkSize: 1 << 20 }) : createInflate({ chunkSize: 1 << 20 });
  const input = Readable.from(source);
  input.on('error', (err) => z.destroy(err));
  input.pipe(z);
  try {
    for await (const c of z) yield c as Buffer;
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('Z_')) throw badArchive('compressed data is corrupt or cut short', entryName(e));
    throw err;
  } finally {
    input.destroy();
  }
}

/** The plain bytes of a TABLE DATA entry of a custom archive, from `r` (at its block). */
export function customData(r: ByteReader, h: ArchiveHeader, e: TocEntry): AsyncIterable<Buffer> {
  const p = payload(r, h, e);
  return h.compression === 'none' ? p : inflate(p, false, e);
}

/** Large objects of a BLOBS entry of a custom archive, each with its data (small objects; read whole). */
export async function* customBlobs(r: ByteReader, h: ArchiveHeader, e: TocEntry): AsyncGenerator<{ oid: number; data: Buffer }> {
  let oid = 0;
  let parts: Buffer[] = [];
  for await (const b of payload(r, h, e, (o) => (oid = o))) {
    if (b.length > 0) {
      parts.push(Buffer.from(b));
      continue;
    }
    const raw = Buffer.concat(parts);
    parts = [];
    yield { oid, data: h.compression === 'none' ? raw : await inflateAll(raw, false, e) };
  }
}

async function inflateAll(raw: Buffer, gzip: boolean, e: TocEntry): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of inflate(Readable.from([raw]), gzip, e)) out.push(c);
  return Buffer.concat(out);
}

/** The plain bytes of a directory archive's data file. */
export function directoryData(a: Archive, e: TocEntry): AsyncIterable<Buffer> {
  const name = dataName(a, e);
  if (!hasFile(a, name)) throw badArchive(`its data file is missing from the archive ${a.members ? '(tar)' : 'directory'}`, entryName(e));
  const raw = fileStream(a, name);
  return a.header.compression === 'none' ? raw : inflate(raw, true, e);
}

/** Large objects of a directory archive's BLOBS entry: its blobs TOC file names each one's file. */
export async function* directoryBlobs(a: Archive, e: TocEntry): AsyncGenerator<{ oid: number; data: Buffer }> {
  const list = blobList(a, e);
  if (!hasFile(a, list)) throw badArchive('its large-object list is missing from the archive', entryName(e));
  for (const line of readFile(a, list).toString('utf8').split('\n')) {
    if (!line.trim()) continue;
    const m = /^(\d+) (\S+)$/.exec(line);
    if (!m || !isDataFileName(m[2]!)) throw badArchive('its large-object list is corrupt', entryName(e));
    const file = m[2]! + SUFFIX[a.header.compression];
    if (!hasFile(a, file)) throw badArchive('a large-object file it lists is missing from the archive', entryName(e));
    const raw = readFile(a, file);
    yield { oid: Number(m[1]), data: a.header.compression === 'none' ? raw : await inflateAll(raw, true, e) };
  }
}
