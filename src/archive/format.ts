/**
 * pg_dump's archive format (custom `-Fc` and directory `-Fd`): the header and the table of contents,
 * read and written as pg_backup_archiver.c does. Integers are a sign byte and `intSize` little-endian
 * bytes; strings an integer length (-1: NULL) and the bytes; offsets a flag byte and `offSize` bytes.
 */
import { AnonymiseError } from '../errors.js';
import { redactLabel } from '../dump/statements.js';

export const MAGIC = Buffer.from('PGDMP', 'latin1');

/** archive versions (major, minor, rev) as one number, as pg_dump compares them */
export const version = (major: number, minor: number, rev = 0): number => (major * 256 + minor) * 256 + rev;
/** the oldest we read: pg_dump 9.0 and later write 1.12 or newer, and 13 writes 1.14 */
export const OLDEST = version(1, 12);
export const V1_14 = version(1, 14); // tableam
export const V1_15 = version(1, 15); // compression algorithm in the header
export const V1_16 = version(1, 16); // relkind; BLOB METADATA and several BLOBS entries
export const NEWEST = version(1, 16, 255);

/**
 * The format byte: 1 in a custom archive; a directory archive's toc.dat says 3 (pg_dump writes it with
 * the tar format's code, whose TOC has the same per-entry file name), and 5 is accepted as well.
 */
export const enum ArchiveFormat {
  Custom = 1,
  Directory = 3,
}

export type Compression = 'none' | 'gzip' | 'lz4' | 'zstd';
const ALGORITHMS: Compression[] = ['none', 'gzip', 'lz4', 'zstd'];

/** data offsets of a custom archive's TOC entries */
export const enum OffsetFlag {
  NotSet = 1,
  Set = 2,
  NoData = 3,
}

export interface ArchiveHeader {
  vmaj: number;
  vmin: number;
  vrev: number;
  version: number;
  intSize: number;
  offSize: number;
  format: ArchiveFormat;
  compression: Compression;
  /** the level stored by archives before 1.15 (-1: zlib's default) */
  level: number;
  /** the header's bytes after the compression field up to the TOC count: creation date, database, versions; written back as read */
  rest: Buffer;
  database: string | null;
  serverVersion: string | null;
  dumpVersion: string | null;
}

export interface TocEntry {
  dumpId: number;
  hadDumper: number;
  tableoid: string | null;
  oid: string | null;
  tag: string | null;
  desc: string | null;
  section: number;
  defn: string | null;
  dropStmt: string | null;
  copyStmt: string | null;
  namespace: string | null;
  tablespace: string | null;
  tableam: string | null;
  relkind: number;
  owner: string | null;
  withOids: string | null;
  deps: string[];
  /** custom: where its data block is; directory: the data file's name */
  dataState: OffsetFlag;
  offset: number;
  filename: string | null;
}

/** Raised by the cursor when the buffer ends before the field does: the caller reads more and tries again. */
export class NeedMore extends Error {
  constructor(readonly want: number) {
    super('need more bytes');
  }
}

/** A reading position in a buffer holding (a prefix of) an archive. */
export class Cursor {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start = 0,
    public intSize = 4,
    public offSize = 8,
    private readonly end = buf.length,
  ) {
    this.pos = start;
  }
  need(n: number): void {
    if (this.pos + n > this.end) throw new NeedMore(this.pos + n);
  }
  byte(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  int(): number {
    this.need(1 + this.intSize);
    const sign = this.buf[this.pos++]!;
    let v = 0;
    for (let i = 0; i < this.intSize; i++) v += this.buf[this.pos++]! * 2 ** (8 * i);
    return sign ? -v : v;
  }
  str(): string | null {
    const n = this.int();
    if (n < 0) return null;
    this.need(n);
    // latin1: byte for byte, whatever the dump's encoding (text() decodes names for display)
    const s = this.buf.toString('latin1', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  offset(): { flag: number; offset: number } {
    const flag = this.byte();
    this.need(this.offSize);
    let v = 0;
    for (let i = 0; i < this.offSize; i++) v += this.buf[this.pos++]! * 2 ** (8 * i);
    return { flag, offset: v };
  }
}

export function badArchive(detail: string, entry?: string): AnonymiseError {
  return new AnonymiseError('BAD_INPUT', detail, entry ? { entry } : {});
}

/** Reads the header; throws NeedMore when `buf` is too short. */
export function readHeader(c: Cursor): ArchiveHeader {
  c.need(5);
  if (!c.buf.subarray(c.pos, c.pos + 5).equals(MAGIC)) throw new AnonymiseError('NOT_PLAIN_DUMP', 'not a pg_dump archive (no PGDMP signature)');
  c.pos += 5;
  const vmaj = c.byte();
  const vmin = c.byte();
  const vrev = c.byte();
  const v = version(vmaj, vmin, vrev);
  if (v < OLDEST || v > NEWEST)
    throw new AnonymiseError('UNSUPPORTED', `archive version ${vmaj}.${vmin}.${vrev} is not supported (1.12 to 1.16: pg_dump 9.0 to 18)`);
  const intSize = c.byte();
  const offSize = c.byte();
  if (intSize < 1 || intSize > 8 || offSize < 1 || offSize > 8) throw badArchive('the archive header is corrupt (integer sizes)');
  c.intSize = intSize;
  c.offSize = offSize;
  const code = c.byte();
  if (code !== 1 && code !== 3 && code !== 5) throw badArchive(`the archive header is corrupt (format ${code})`);
  const format = code === 1 ? ArchiveFormat.Custom : ArchiveFormat.Directory;
  let compression: Compression;
  let level = 0;
  if (v >= V1_15) {
    const a = c.byte();
    const alg = ALGORITHMS[a];
    if (!alg) throw badArchive(`the archive header is corrupt (compression ${a})`);
    compression = alg;
  } else {
    level = c.int();
    compression = level === 0 ? 'none' : 'gzip';
  }
  const restStart = c.pos;
  for (let i = 0; i < 7; i++) c.int(); // creation date
  const database = c.str();
  const serverVersion = c.str();
  const dumpVersion = c.str();
  return {
    vmaj,
    vmin,
    vrev,
    version: v,
    intSize,
    offSize,
    format,
    compression,
    level,
    rest: Buffer.from(c.buf.subarray(restStart, c.pos)),
    database,
    serverVersion,
    dumpVersion,
  };
}

/** Reads the TOC that follows the header. */
export function readToc(c: Cursor, h: ArchiveHeader): TocEntry[] {
  const count = c.int();
  if (count < 0 || count > 100_000_000) throw badArchive('the archive TOC is corrupt (entry count)');
  const entries: TocEntry[] = [];
  for (let i = 0; i < count; i++) {
    const dumpId = c.int();
    if (dumpId <= 0) throw badArchive(`the archive TOC is corrupt (entry ${i + 1} of ${count} has ID ${dumpId})`);
    const e: TocEntry = {
      dumpId,
      hadDumper: c.int(),
      tableoid: c.str(),
      oid: c.str(),
      tag: c.str(),
      desc: c.str(),
      section: c.int(),
      defn: c.str(),
      dropStmt: c.str(),
      copyStmt: c.str(),
      namespace: c.str(),
      tablespace: c.str(),
      tableam: h.version >= V1_14 ? c.str() : null,
      relkind: h.version >= V1_16 ? c.int() : 0,
      owner: c.str(),
      withOids: c.str(),
      deps: [],
      dataState: OffsetFlag.NoData,
      offset: 0,
      filename: null,
    };
    for (let d = c.str(); d !== null; d = c.str()) e.deps.push(d);
    if (h.format === ArchiveFormat.Custom) {
      const o = c.offset();
      e.dataState = o.flag as OffsetFlag;
      e.offset = o.offset;
    } else if (h.format === ArchiveFormat.Directory) {
      e.filename = c.str();
      if (e.filename && !isDataFileName(e.filename)) throw badArchive('its data file name is not one pg_dump writes (a corrupt or crafted archive)', entryName(e));
    }
    entries.push(e);
  }
  return entries;
}

/** Writes archive integers, strings and offsets into a growing buffer. */
export class ArchiveWriter {
  private chunks: Buffer[] = [];
  private cur = Buffer.allocUnsafe(64 * 1024);
  private len = 0;
  constructor(
    readonly intSize: number,
    readonly offSize: number,
  ) {}
  private room(n: number): void {
    if (this.len + n <= this.cur.length) return;
    this.chunks.push(this.cur.subarray(0, this.len));
    this.cur = Buffer.allocUnsafe(Math.max(64 * 1024, n));
    this.len = 0;
  }
  raw(b: Buffer): this {
    this.room(b.length);
    b.copy(this.cur, this.len);
    this.len += b.length;
    return this;
  }
  byte(v: number): this {
    this.room(1);
    this.cur[this.len++] = v;
    return this;
  }
  int(v: number): this {
    this.room(1 + this.intSize);
    this.cur[this.len++] = v < 0 ? 1 : 0;
    let a = Math.abs(v);
    for (let i = 0; i < this.intSize; i++) {
      this.cur[this.len++] = a % 256;
      a = Math.floor(a / 256);
    }
    return this;
  }
  str(s: string | null): this {
    if (s === null) return this.int(-1);
    const b = Buffer.from(s, 'latin1');
    this.int(b.length);
    return this.raw(b);
  }
  offset(flag: number, offset: number): this {
    this.room(1 + this.offSize);
    this.cur[this.len++] = flag;
    let a = offset;
    for (let i = 0; i < this.offSize; i++) {
      this.cur[this.len++] = a % 256;
      a = Math.floor(a / 256);
    }
    return this;
  }
  get length(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0) + this.len;
  }
  take(): Buffer {
    const all = Buffer.concat([...this.chunks, this.cur.subarray(0, this.len)]);
    this.chunks = [];
    this.len = 0;
    return all;
  }
}

export function writeHeader(w: ArchiveWriter, h: ArchiveHeader, format: ArchiveFormat): void {
  w.raw(MAGIC).byte(h.vmaj).byte(h.vmin).byte(h.vrev).byte(h.intSize).byte(h.offSize).byte(format);
  if (h.version >= V1_15) w.byte(ALGORITHMS.indexOf(h.compression));
  else w.int(h.level);
  w.raw(h.rest);
}

export function writeToc(w: ArchiveWriter, h: ArchiveHeader, entries: readonly TocEntry[], format: ArchiveFormat): void {
  w.int(entries.length);
  for (const e of entries) {
    w.int(e.dumpId).int(e.hadDumper).str(e.tableoid).str(e.oid).str(e.tag).str(e.desc).int(e.section);
    w.str(e.defn).str(e.dropStmt).str(e.copyStmt).str(e.namespace).str(e.tablespace);
    if (h.version >= V1_14) w.str(e.tableam);
    if (h.version >= V1_16) w.int(e.relkind);
    w.str(e.owner).str(e.withOids);
    for (const d of e.deps) w.str(d);
    w.str(null);
    if (format === ArchiveFormat.Custom) w.offset(e.dataState, e.offset);
    else if (format === ArchiveFormat.Directory) w.str(e.filename);
  }
}

/**
 * The names pg_dump gives a directory archive's files (`3340.dat`, `blobs.toc`, `blobs_3342.toc`,
 * `blob_24665.dat`): a name from the archive is joined to a directory, so nothing else (`../x`, a path)
 * is read or written.
 */
export function isDataFileName(name: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}$/.test(name) && !name.includes('..');
}

/** Object types pg_restore gives an `ALTER … OWNER TO` (pg_backup_archiver.c, _printTocEntry). */
const OWNED = new Set([
  'AGGREGATE', 'BLOB', 'COLLATION', 'CONVERSION', 'DATABASE', 'DOMAIN', 'EVENT TRIGGER', 'FOREIGN DATA WRAPPER', 'FOREIGN TABLE',
  'FUNCTION', 'MATERIALIZED VIEW', 'OPERATOR', 'OPERATOR CLASS', 'OPERATOR FAMILY', 'PROCEDURE', 'PROCEDURAL LANGUAGE', 'PUBLICATION',
  'SCHEMA', 'SEQUENCE', 'SERVER', 'STATISTICS', 'SUBSCRIPTION', 'TABLE', 'TEXT SEARCH CONFIGURATION', 'TEXT SEARCH DICTIONARY', 'TYPE', 'VIEW',
]);

/**
 * The `ALTER … OWNER TO owner;` pg_restore writes after an entry (held byte for byte), or null: the owner
 * is text of the dump like any other, so the engine judges it as this statement, in a plain dump's place.
 * The object is named as pg_restore names it: from the drop statement (`DROP FUNCTION public.f(integer);`).
 */
export function ownerStatement(e: TocEntry): string | null {
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  // archive 1.16: one entry for many large objects, one ALTER for each (IssueCommandPerBlob)
  if (e.desc === 'BLOB METADATA') return e.owner && e.dropStmt ? perBlob(e, 'ALTER LARGE OBJECT ', ` OWNER TO ${quote(e.owner)}`) : null;
  if (!e.owner || !e.desc || !OWNED.has(e.desc) || !e.dropStmt) return null;
  let object: string | null;
  if (e.desc === 'BLOB') object = `LARGE OBJECT ${e.tag}`;
  else object = /^DROP\s+(.*?);?\s*$/s.exec(e.dropStmt)?.[1]?.replace(/\bIF\s+EXISTS\s+/i, '') ?? null;
  if (!object) return null;
  return `ALTER ${object.replace(/\s+CASCADE$/i, '')} OWNER TO ${quote(e.owner)};\n`;
}

/**
 * The large objects a BLOB METADATA entry (archive 1.16, pg_dump 17+) stands for: its definition is
 * their OIDs, one a line, not SQL. Anything else there is refused (it would be passed on unexamined).
 */
export function blobOids(e: TocEntry): string[] {
  const defn = e.defn ?? '';
  if (!/^(?:\d+\n)*$/.test(defn)) throw new AnonymiseError('BAD_INPUT', 'a BLOB METADATA entry whose definition is not a list of large-object OIDs (corrupt archive?)', { entry: entryName(e) });
  return defn.split('\n').filter((o) => o);
}

/** `begin` OID `end`; for each large object of a BLOB METADATA entry, then a blank line (pg_backup_db.c, IssueCommandPerBlob). */
function perBlob(e: TocEntry, begin: string, end: string): string {
  return blobOids(e).map((oid) => `${begin}${oid}${end};\n`).join('') + '\n';
}

/**
 * The SQL pg_restore writes for an entry's definition (held byte for byte), or null when it writes none:
 * the definition itself, except for archive 1.16's large objects — a BLOB METADATA entry becomes one
 * `lo_create` per large object, and a `LARGE OBJECTS` ACL entry's commands (written for the group's first
 * object) are repeated for each object of the BLOB METADATA entry it depends on (IssueACLPerBlob).
 */
export function definitionSql(e: TocEntry, byId: ReadonlyMap<number, TocEntry>): string | null {
  if (e.desc === 'BLOB METADATA') return perBlob(e, "SELECT pg_catalog.lo_create('", "')");
  if (e.desc === 'ACL' && e.tag?.startsWith('LARGE OBJECTS') && e.defn) {
    const blobs = byId.get(Number(e.deps[0]));
    if (!blobs || blobs.desc !== 'BLOB METADATA') throw new AnonymiseError('BAD_INPUT', 'a LARGE OBJECTS ACL entry that depends on no BLOB METADATA entry (corrupt archive?)', { entry: entryName(e) });
    let out = '';
    // each command split around the OID after "LARGE OBJECT " (double-quoted role names skipped), then repeated per object
    const command = /((?:[^";]|"[^"]*")*?LARGE OBJECT )\d+((?:[^";]|"[^"]*")*);\s*/gy;
    let m: RegExpExecArray | null;
    let at = 0;
    while ((m = command.exec(e.defn)) !== null) {
      out += perBlob(blobs, m[1]!, m[2]!);
      at = command.lastIndex;
    }
    if (at !== e.defn.length) throw new AnonymiseError('BAD_INPUT', 'a LARGE OBJECTS ACL entry whose commands are not the ones pg_dump writes (corrupt archive?)', { entry: entryName(e) });
    return out;
  }
  return e.defn && e.defn.length > 0 ? e.defn : null;
}

/** A TOC string (held byte for byte) as text, for names and messages. */
export function text(s: string | null): string {
  return s === null ? '' : Buffer.from(s, 'latin1').toString('utf8');
}

/** How messages name a TOC entry: `TOC entry 3340 (TABLE DATA public t)`. */
export function entryName(e: TocEntry): string {
  return `TOC entry ${e.dumpId} (${redactLabel([e.desc, e.namespace, e.tag].filter((s) => s).map(text).join(' '))})`;
}

/** The table a TABLE DATA entry fills, as the schema model names it. */
export function entryTable(e: TocEntry): string {
  return `${text(e.namespace) || 'public'}.${text(e.tag)}`;
}

/** Entries that carry data of their own: TABLE DATA and large objects (BLOBS). */
export function hasData(e: TocEntry, format: ArchiveFormat): boolean {
  if (format === ArchiveFormat.Directory) return e.filename !== null && e.filename !== '';
  return e.dataState !== OffsetFlag.NoData;
}

/** Restore passes, as pg_restore orders them: ACLs after everything else, then event triggers and matview data. */
export function restorePass(e: TocEntry): 0 | 1 | 2 {
  if (e.desc === 'ACL' || e.desc === 'ACL LANGUAGE' || e.desc === 'DEFAULT ACL') return 1;
  if (e.desc === 'EVENT TRIGGER' || e.desc === 'MATERIALIZED VIEW DATA') return 2;
  return 0;
}

/** Block types of a custom archive's data section */
export const BLK_DATA = 1;
export const BLK_BLOBS = 3;
