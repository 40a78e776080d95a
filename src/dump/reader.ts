/**
 * The reader: turns a dump's bytes into units and hands each to the engine (a UnitSink), deciding
 * nothing about them.
 *
 *   SQL text ──(a COPY … FROM stdin; statement)──▶ rest of its line ──▶ COPY rows ──(\.)──▶ SQL text
 *
 * SQL text is cut into statements and meta-commands by the quote-aware scanner; COPY data is handed on
 * as runs of bytes, which the table's handler reads line by line until it meets `\.` and says so
 * (`endCopy`). A unit that spans chunks is gathered in a carry; everything else is read in place. The
 * reader owns the position (line, input offset) and the checks that need only bytes: NUL bytes, the
 * longest unit, an input cut inside a statement or COPY data, pg_dump's header and "dump complete".
 */
import { BACKSLASH, LF, SEMI } from '../text/bytes.js';
import { AnonymiseError } from '../errors.js';
import { StatementScanner, UnitKind, skipBlank } from './sql-lexer.js';

export const DEFAULT_MAX_LINE_BYTES = 256 * 1024 * 1024;

const enum State {
  Sql,
  CopyHeaderTail, // the rest of the COPY statement's line, before the first row
  CopyData,
}

/** What the engine does with each unit the reader finds. */
export interface UnitSink {
  /**
   * A complete statement or meta-command `buf[start..end)`, at the reader's line. Returns true when it
   * opened COPY data (a `COPY … FROM stdin;`): the rest of its line and then rows follow.
   */
  statement(buf: Buffer, start: number, end: number, kind: UnitKind, stable: boolean): boolean;
  /** Bytes that go out as they are: the rest of a COPY statement's line, the text after the last statement. */
  verbatim(buf: Buffer, start: number, end: number, stable: boolean): void;
  /**
   * COPY data lines from `pos`: the table's handler reads whole lines, counts them (`reader.line`), and
   * calls `reader.endCopy()` at `\.`. Returns where it stopped: after `\.`, or at the first incomplete line.
   */
  rows(buf: Buffer, pos: number, end: number, stable: boolean): number;
  /** The table whose data is being read, for messages. */
  tableInHand(): string | undefined;
}

/** A growable buffer for a unit that spans chunks (node-postgres' mergeBuffer, in spirit). */
class Carry {
  buf = Buffer.allocUnsafe(0);
  len = 0;
  append(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (this.len + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(64 * 1024, (this.len + n) * 2));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    src.copy(this.buf, this.len, start, end);
    this.len += n;
  }
  /**
   * The filled part only: the scanner's Buffer#indexOf searches to the end of the buffer it is given,
   * and through the spare capacity of a large carry that made a long statement quadratic.
   */
  filled(): Buffer {
    return this.buf.subarray(0, this.len);
  }
  /** Keeps `buf[from..len)` and moves it to the front. */
  keepFrom(from: number): void {
    if (from === 0) return; // nothing used (a unit still incomplete): no move of the whole carry
    this.buf.copyWithin(0, from, this.len);
    this.len -= from;
    // after one huge line, give the memory back
    if (this.len === 0 && this.buf.length > 4 * 1024 * 1024) this.buf = Buffer.allocUnsafe(0);
  }
}

export interface ReaderOptions {
  /** largest statement or COPY line accepted (memory bound) */
  maxLineBytes: number;
  /** archive mode: text comes one TOC entry at a time; no plain dump header or footer is looked for */
  archive: boolean;
  /** pieces of a dump (find/forget passes): pg_dump's "dump complete" footer is not looked for */
  fragment: boolean;
}

export class DumpReader {
  /** 1-based line of the next byte to be read */
  line = 1;
  bytesIn = 0;
  /** the input offset of byte 0 of the buffer being read (a chunk, or the carry) */
  base = 0;
  readonly scanner = new StatementScanner();
  private state = State.Sql;
  private readonly carry = new Carry();
  /** the input offset of the carry's byte 0 */
  private carryBase = 0;
  /** the first and last bytes of the input: is pg_dump's header there, and its "dump complete" footer? */
  private head: Buffer = Buffer.alloc(0);
  private tail: Buffer = Buffer.alloc(0);
  private ended = false;
  /** statements read so far: none, and no header, means the input was never a dump */
  private statements = 0;

  constructor(
    private readonly sink: UnitSink,
    private readonly options: ReaderOptions,
  ) {
    this.scanner.begin(true);
  }

  /** Inside COPY data (its header's line, or rows): an abort must end the COPY before its trailer. */
  get inCopy(): boolean {
    return this.state !== State.Sql;
  }

  /** The table's handler met `\.`: SQL text resumes. */
  endCopy(): void {
    this.state = State.Sql;
    this.scanner.begin(true);
  }

  write(chunk: Buffer): void {
    if (this.ended) throw new Error('write after end');
    if (chunk.length === 0) return;
    const nul = chunk.indexOf(0);
    if (nul !== -1) {
      // what comes before the NUL is read first, so that an earlier error wins whatever the chunking
      if (nul > 0) this.write(chunk.subarray(0, nul));
      // `line` counts units already read; the carry holds the rest, from the start of the unit in hand
      const line = this.line + countLf(this.carry.buf, 0, this.carry.len);
      throw new AnonymiseError('NOT_PLAIN_DUMP', 'input holds a NUL byte: this is not a plain-text SQL dump', { line });
    }
    if (this.head.length < 512) this.head = Buffer.concat([this.head, chunk.subarray(0, 512)]).subarray(0, 512);
    this.bytesIn += chunk.length;
    this.keepTail(chunk);
    let from = 0;
    // the next `;` at or after `from` (-1: none in this chunk), found again only once passed: looking
    // for it from every line made a long multi-line statement across a chunk boundary quadratic
    let semi = -2;
    // finish the unit left over from the last chunk first: in COPY data that is one line, so only the
    // bytes up to the next newline go through the carry and the rest is read in place
    while (this.carry.len > 0 && from < chunk.length) {
      // in SQL text a statement can only end at a `;` (or a meta-command at a newline): grow the
      // carry to the next one and let the scanner resume; bytes past the unit are read in place
      const nl = chunk.indexOf(LF, from);
      if (nl === -1 && this.state !== State.Sql) {
        // a COPY line still without its end: reading the carry again for every chunk of a long line
        // would be quadratic
        this.carry.append(chunk, from, chunk.length);
        from = chunk.length;
        break;
      }
      let cut = nl === -1 ? chunk.length : nl + 1;
      if (this.state === State.Sql) {
        if (semi !== -1 && semi < from) semi = chunk.indexOf(SEMI, from);
        if (semi !== -1 && semi < cut) cut = semi + 1;
      }
      this.carry.append(chunk, from, cut);
      from = cut;
      this.base = this.carryBase;
      const used = this.process(this.carry.filled(), 0, this.carry.len, false);
      this.carry.keepFrom(used);
      this.carryBase += used;
    }
    if (from < chunk.length) {
      const chunkBase = this.bytesIn - chunk.length;
      this.base = chunkBase;
      const used = this.process(chunk, from, chunk.length, true);
      if (used < chunk.length) {
        if (this.carry.len === 0) this.carryBase = chunkBase + used;
        this.carry.append(chunk, used, chunk.length);
      }
    }
    if (this.carry.len > this.options.maxLineBytes) {
      throw this.notPgDump() ?? new AnonymiseError(
        'LIMIT',
        `a ${this.state === State.Sql ? 'statement' : 'line'} is longer than ${this.options.maxLineBytes} bytes (--max-line-bytes)`,
        { line: this.line, table: this.state === State.Sql ? undefined : this.sink.tableInHand() },
      );
    }
  }

  private keepTail(chunk: Buffer): void {
    const keep = 1024;
    // a copy, so that the tail does not pin a whole input chunk in memory
    this.tail = Buffer.from(chunk.length >= keep ? chunk.subarray(chunk.length - keep) : Buffer.concat([this.tail, chunk]).subarray(-keep));
  }

  /** The input ends: it must end where a statement ends, and hold pg_dump's footer if it has its header. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.bytesIn === 0) throw new AnonymiseError('BAD_INPUT', 'input is empty: no dump to read', { line: 1 });
    if (this.state !== State.Sql) {
      throw new AnonymiseError('BAD_INPUT', 'input ends inside COPY data (truncated dump?)', { line: this.line, table: this.sink.tableInHand() });
    }
    this.endText();
    const head = /^--\s*\n-- PostgreSQL database (cluster )?dump\b/.exec(this.head.toString('latin1'));
    // a pg_dumpall dump that stopped at a later database still holds an earlier one's "dump complete":
    // only the cluster's own footer says it is whole
    const footer = head?.[1] ? 'database cluster dump complete' : 'dump complete';
    if (head && !this.options.fragment && !this.tail.toString('latin1').includes(footer)) {
      throw new AnonymiseError('BAD_INPUT', `input ends before ${head[1] ? "pg_dumpall's" : "pg_dump's"} "${footer}" line (truncated dump?)`, { line: this.line });
    }
  }

  /** Archive mode: the entry's text has all been written; it must end where a statement ends. */
  endEntry(): void {
    if (this.state !== State.Sql)
      throw new AnonymiseError('BAD_INPUT', 'the data ends inside COPY data, without its \\. line (truncated or corrupt archive)', { line: this.line, table: this.sink.tableInHand() });
    this.endText();
    this.scanner.begin(true);
  }

  /** Archive mode: a piece of COPY data has been written; it must end at a row boundary. */
  endPiece(): void {
    if (this.state !== State.CopyData || this.carry.len > 0)
      throw new AnonymiseError('BAD_INPUT', 'a piece of COPY data does not end at a row boundary', { line: this.line, table: this.sink.tableInHand() });
  }

  /**
   * Whole statements that another reader cut (a worker's piece of INSERT statements: `ends` are where
   * each ends in `buf`), handed on as units without scanning them again.
   */
  statementsCut(buf: Buffer, ends: ArrayLike<number>): void {
    if (this.state !== State.Sql || this.carry.len > 0) throw new Error('statements cut elsewhere arrive between statements');
    let pos = 0;
    for (let k = 0; k < ends.length; k++) {
      const end = ends[k]!;
      try {
        if (this.sink.statement(buf, pos, end, UnitKind.Statement, true)) throw new Error('a statement cut elsewhere opened COPY data');
      } catch (e) {
        throw positioned(e, this.line + countLf(buf, pos, skipBlank(buf, pos, end)), undefined);
      }
      this.line += countLf(buf, pos, end);
      pos = end;
    }
  }

  /** Archive mode: the next entry's lines count from 1. */
  beginEntry(): void {
    this.line = 1;
  }

  /**
   * Input with no pg_dump header in which no statement has ended is not a dump that was cut, but no
   * dump at all (a JSON export, a CSV, psql's table output): said as such, by its shape, never its text.
   */
  private notPgDump(): AnonymiseError | null {
    if (this.options.archive || this.options.fragment || this.statements > 0) return null;
    const head = this.head.toString('latin1');
    if (/^--\s*\n-- PostgreSQL database/.test(head)) return null;
    const text = head.trimStart();
    const first = text.split('\n', 1)[0]!;
    const shape = /^[[{]/.test(text)
      ? 'it reads as JSON'
      : /^[^\n]*\|[^\n]*\n[-+]+\r?\n/.test(text)
        ? "it reads as psql's table output"
        : /[,\t;]/.test(first) && !/;\s*$/.test(first)
          ? 'it reads as CSV'
          : 'no SQL statement ends in it';
    return new AnonymiseError('BAD_INPUT', `input does not look like pg_dump output (${shape}): give pg_dump's plain output, an archive (-Fc, -Fd, -Ft), or either gzipped`, { line: 1 });
  }

  /** The text ends: what is left in the carry must be blank, comments, or a last meta-command. */
  private endText(): void {
    if (this.carry.len === 0) return;
    const buf = this.carry.filled();
    const n = this.carry.len;
    if (this.scanner.kind === UnitKind.Meta || !this.scanner.onlyBlank) {
      // a meta-command on the last line without a newline is complete; anything else is cut off
      const start = skipBlank(buf, 0, n);
      if (buf[start] === BACKSLASH && buf.indexOf(LF, start) === -1) this.sink.verbatim(buf, 0, n, false);
      else {
        const archive = this.options.archive;
        throw this.notPgDump() ?? new AnonymiseError('BAD_INPUT', `${archive ? 'the text' : 'input'} ends inside a statement (truncated ${archive ? 'archive' : 'dump'}?)`, { line: this.line });
      }
    } else {
      this.sink.verbatim(buf, 0, n, false);
    }
    this.carry.len = 0;
  }

  /** Reads whole units in `buf[start..end)`; returns where the first incomplete unit begins. */
  private process(buf: Buffer, start: number, end: number, stable: boolean): number {
    let pos = start;
    while (pos < end) {
      if (this.state === State.CopyData) {
        pos = this.sink.rows(buf, pos, end, stable);
        if (this.state === State.CopyData) return pos; // needs more bytes
        continue;
      }
      if (this.state === State.CopyHeaderTail) {
        const nl = buf.indexOf(LF, pos);
        if (nl === -1 || nl >= end) return pos;
        this.sink.verbatim(buf, pos, nl + 1, stable);
        this.line++;
        pos = nl + 1;
        this.state = State.CopyData;
        continue;
      }
      const unitEnd = this.scanner.scan(buf, pos, end);
      if (unitEnd === -1) return pos;
      const kind = this.scanner.kind;
      let opensCopy: boolean;
      try {
        opensCopy = this.sink.statement(buf, pos, unitEnd, kind, stable);
      } catch (e) {
        throw positioned(e, this.line + countLf(buf, pos, skipBlank(buf, pos, unitEnd)), undefined);
      }
      this.statements++;
      this.line += countLf(buf, pos, unitEnd);
      pos = unitEnd;
      if (opensCopy) this.state = State.CopyHeaderTail;
      this.scanner.begin(kind === UnitKind.Meta);
    }
    return pos;
  }
}

/** An error from a part that knows no position, placed where the engine is. */
export function positioned(e: unknown, line: number, table: string | undefined): unknown {
  return e instanceof AnonymiseError && e.position.line === undefined ? e.at({ line, table }) : e;
}

/** Newlines in `buf[start..end)`. */
export function countLf(buf: Buffer, start: number, end: number): number {
  let n = 0;
  let i = buf.indexOf(LF, start);
  while (i !== -1 && i < end) {
    n++;
    i = buf.indexOf(LF, i + 1);
  }
  return n;
}
