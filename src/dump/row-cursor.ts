/**
 * The row being rewritten, as rules see it: each field is only a byte range of the input (greenmask's
 * pgcopy row in spirit) until a rule asks for it; then it is unescaped (COPY text format, or an SQL
 * literal of an INSERT), checked in the dump's encoding, decoded, and cached for the rest of the row.
 * One cursor is reused for every row; a generation counter invalidates the caches in O(1).
 */
import { isUtf8 } from 'node:buffer';
import { rowsEnd, unescapeField } from './copy-codec.js';
import { UTF8_CODEC, type TextCodec } from '../text/encoding.js';
import { AnonymiseError, type Position } from '../errors.js';
import { LF, TAB } from '../text/bytes.js';
import { decodeLiteral, type LitKind } from './sql-literal.js';
import type { InsertValues } from './insert-parser.js';
import type { ColumnAction, RowAccess, TablePlan } from '../contract/plan.js';

type RewritePlan = Extract<TablePlan, { mode: 'rewrite' }>;
/** the longest field span() checks byte by byte (past it, one native check of the whole batch of rows is cheaper) */
const SPAN_MAX = 96;

export class RowCursor implements RowAccess {
  /** fields of the current row: `buf[starts[c]..ends[c])` */
  starts = new Int32Array(16);
  ends = new Int32Array(16);
  buf: Buffer = Buffer.alloc(0);
  codec: TextCodec = UTF8_CODEC;
  /** the literal kind of each field while the row comes from an INSERT; null for COPY */
  private kinds: Uint8Array | null = null;
  private kindsScratch = new Uint8Array(16);
  private columns: string[] = [];
  private actions: (ColumnAction | null)[] = [];
  private gen = 0;
  private cacheGen = new Int32Array(16);
  private bytesCache: (Buffer | null)[] = [];
  private textGen = new Int32Array(16);
  private textCache: (string | null)[] = [];
  private outGen = new Int32Array(16);
  private outCache: (string | null)[] = [];
  private outBytesGen = new Int32Array(16);
  private outBytesCache: (Buffer | null)[] = [];
  private computing = new Int32Array(16);

  /** set by span() */
  spanStart = 0;
  spanEnd = 0;

  /** the first backslash in `buf` at or after `scannedFrom` (-1: not looked for) */
  private backslash = -1;
  private scannedFrom = 0;

  constructor(
    private readonly maxValueBytes: number,
    /** where the engine is, for errors: the input line and the table */
    private readonly where: () => Position,
  ) {}

  get ncols(): number {
    return this.columns.length;
  }

  /** Ready for the rows of a table rewritten under `plan`. */
  prepare(plan: RewritePlan): void {
    const n = plan.columns.length;
    this.columns = plan.columns;
    this.actions = plan.actions;
    if (this.starts.length < n + 1) {
      const size = n + 16;
      this.starts = new Int32Array(size);
      this.ends = new Int32Array(size);
      this.cacheGen = new Int32Array(size);
      this.textGen = new Int32Array(size);
      this.outGen = new Int32Array(size);
      this.outBytesGen = new Int32Array(size);
      this.computing = new Int32Array(size);
      this.kindsScratch = new Uint8Array(size);
    }
    this.bytesCache = new Array<Buffer | null>(n).fill(null);
    this.textCache = new Array<string | null>(n).fill(null);
    this.outCache = new Array<string | null>(n).fill(null);
    this.outBytesCache = new Array<Buffer | null>(n).fill(null);
    this.cacheGen.fill(0);
    this.textGen.fill(0);
    this.outGen.fill(0);
    this.outBytesGen.fill(0);
    this.computing.fill(0);
    this.gen = 0;
  }

  /** A COPY row `buf[start..stop)`: its fields at the tabs. Returns how many fields it has. */
  copyRow(buf: Buffer, start: number, stop: number): number {
    const n = this.columns.length;
    const starts = this.starts;
    const ends = this.ends;
    let f = 0;
    let p = start;
    for (;;) {
      const tab = buf.indexOf(TAB, p);
      if (tab === -1 || tab >= stop) {
        if (f < n) { starts[f] = p; ends[f] = stop; }
        f++;
        break;
      }
      if (f < n) { starts[f] = p; ends[f] = tab; }
      f++;
      p = tab + 1;
    }
    if (buf !== this.buf && buf !== this.batch) this.newBytes();
    this.buf = buf;
    this.kinds = null;
    this.gen++;
    return f;
  }

  /** Row `t` of an INSERT's VALUES. */
  insertRow(buf: Buffer, values: InsertValues, t: number): void {
    const first = values.tupleFirst[t]!;
    const n = this.columns.length;
    for (let c = 0; c < n; c++) {
      this.starts[c] = values.starts[first + c]!;
      this.ends[c] = values.ends[first + c]!;
      this.kindsScratch[c] = values.kinds[first + c]!;
    }
    this.buf = buf;
    this.kinds = this.kindsScratch;
    this.gen++;
  }

  /** The row's bytes as the dump writes them, first field to last (a view, valid until the next row). */
  rawSpan(): Buffer {
    const n = this.columns.length;
    return n === 0 ? this.buf.subarray(0, 0) : this.buf.subarray(this.starts[0]!, this.ends[n - 1]!);
  }

  bytes(col: number): Buffer | null {
    if (this.cacheGen[col] === this.gen) return this.bytesCache[col]!;
    if (this.ends[col]! - this.starts[col]! > this.maxValueBytes) throw this.tooLarge(col);
    let raw: Buffer | null;
    try {
      raw = this.kinds
        ? decodeLiteral(this.buf, this.starts[col]!, this.ends[col]!, this.kinds[col]! as LitKind)
        : unescapeField(this.buf, this.starts[col]!, this.ends[col]!, this.codec.charLength, this.codec.charLength ? undefined : this.firstBackslash(col));
    } catch (e) {
      if (!(e instanceof AnonymiseError)) throw e;
      throw e.at({ ...this.where(), column: this.columns[col] });
    }
    let value: Buffer | null = raw;
    if (raw !== null) {
      if (this.codec.isUtf8) {
        if (!isUtf8(raw)) throw this.error('BAD_INPUT', `invalid byte sequence for encoding ${this.codec.name}`, col);
      } else {
        if (!this.codec.valid(raw)) throw this.error('BAD_INPUT', `invalid byte sequence for encoding ${this.codec.name}`, col);
        value = Buffer.from(this.codec.decode(raw), 'utf8');
      }
    }
    this.bytesCache[col] = value;
    this.cacheGen[col] = this.gen;
    return value;
  }

  /**
   * A COPY field of a UTF-8 dump with no escape is its own value, where its bytes are valid: a short
   * one when a loop finds only ASCII bytes in it (less than a view and a native isUtf8 call cost), a
   * long one when its batch of rows was checked whole (checked()). Anything else (escapes, short ones
   * past ASCII, long ones in a batch with an invalid byte, INSERT literals, other encodings) goes to
   * bytes().
   */
  span(col: number): Buffer | null {
    if (this.kinds !== null || !this.codec.isUtf8) return null;
    const start = this.starts[col]!;
    const end = this.ends[col]!;
    if (end - start > this.maxValueBytes || this.firstBackslash(col) !== end) return null;
    const buf = this.buf;
    if (end - start > SPAN_MAX) {
      if (!this.checked(end)) return null;
    } else for (let i = start; i < end; i++) if (buf[i]! >= 0x80) return null;
    this.spanStart = start;
    this.spanEnd = end;
    return buf;
  }

  keptSpan(col: number): Buffer | null {
    return this.actions[col] ? null : this.span(col);
  }

  asIs(col: number): boolean {
    return this.kinds === null && this.codec.isUtf8 && this.firstBackslash(col) === this.ends[col];
  }

  text(col: number): string | null {
    if (this.textGen[col] === this.gen) return this.textCache[col]!;
    if (this.ends[col]! - this.starts[col]! > this.maxValueBytes) throw this.tooLarge(col);
    let t: string | null = null;
    if (this.kinds === null && this.codec.isUtf8 && this.firstBackslash(col) === this.ends[col]) t = plainCopyText(this.buf, this.starts[col]!, this.ends[col]!);
    if (t === null) {
      const b = this.bytes(col);
      t = b === null ? null : b.toString('utf8');
    }
    this.textCache[col] = t;
    this.textGen[col] = this.gen;
    return t;
  }

  output(col: number): string | null {
    const action = this.actions[col] ?? null;
    if (action === null) return this.text(col);
    if (this.outGen[col] === this.gen) return this.outCache[col]!;
    if (this.outBytesGen[col] === this.gen) {
      const b = this.outBytesCache[col]!;
      return b === null ? null : b.toString('utf8');
    }
    if (this.computing[col] === this.gen) throw new AnonymiseError('RULES', 'template cycle', { table: this.where().table });
    this.computing[col] = this.gen;
    const v = action(this, col);
    this.outCache[col] = v;
    this.outGen[col] = this.gen;
    return v;
  }

  /**
   * The value this row will carry, as the writer wants it: UTF-8 bytes where the column's action
   * computes them (json rules), else text. Either form is computed once a row.
   */
  outputValue(col: number): string | Buffer | null {
    const bytes = this.actions[col]?.bytes;
    if (bytes === undefined || this.outGen[col] === this.gen) return this.output(col);
    if (this.outBytesGen[col] === this.gen) return this.outBytesCache[col]!;
    if (this.computing[col] === this.gen) throw new AnonymiseError('RULES', 'template cycle', { table: this.where().table });
    this.computing[col] = this.gen;
    const v = bytes(this, col);
    if (v === undefined) {
      this.computing[col] = 0;
      return this.output(col);
    }
    this.outBytesCache[col] = v;
    this.outBytesGen[col] = this.gen;
    return v;
  }

  /**
   * Where COPY field `col`'s first backslash is, or its end. One indexOf finds the next backslash of the
   * buffer, and serves the rows after it until they pass it: a search bounded to the row cost a Buffer
   * view a row, and a loop over the field's bytes cost more than the rule on some tables. A backslash
   * found past the bytes the rows hold (stale bytes of a buffer used again) only says "none before".
   */
  private firstBackslash(col: number): number {
    const start = this.starts[col]!;
    const end = this.ends[col]!;
    // an earlier field than the search began at (a template reads an earlier column): its own bytes
    if (start < this.scannedFrom) {
      const i = this.buf.subarray(start, end).indexOf(0x5c);
      return i === -1 ? end : start + i;
    }
    if (this.backslash < start) {
      const i = this.buf.indexOf(0x5c, start);
      this.scannedFrom = start;
      this.backslash = i === -1 ? this.buf.length : i;
    }
    return this.backslash < end ? this.backslash : end;
  }

  /**
   * The next rows are read from `buf[from..to)` (whole lines; none given: rows one at a time), whose
   * bytes may differ from the last rows' buffer where those were not read (a buffer used again): the
   * backslash search starts over, and whether these bytes are valid UTF-8 is not known yet.
   */
  newBytes(buf: Buffer | null = null, from = 0, to = 0): void {
    this.backslash = -1;
    this.scannedFrom = 0;
    this.batch = buf;
    this.batchFrom = from;
    this.batchTo = to;
    this.batchValid = 0;
  }

  /**
   * Rows read from one buffer at a time (a chunk's whole lines), and whether those bytes, up to the
   * block's end, are valid UTF-8 (1 yes, -1 no, 0 not looked at yet). One native check of a chunk's rows
   * when a long field is first read, instead of a Buffer view and a check per field (a json document a
   * row: ~0.2 µs); a batch with an invalid byte anywhere leaves each field to its own check, as before.
   */
  private batch: Buffer | null = null;
  private batchFrom = 0;
  private batchTo = 0;
  private batchValid = 0;

  /** Whether the current row's field ending at `end` lies in bytes of its batch known to be valid UTF-8. */
  private checked(end: number): boolean {
    if (this.buf !== this.batch || this.starts[0]! < this.batchFrom || end > this.batchTo) return false;
    if (this.batchValid === 0) {
      // up to the block's end (what follows it is other statements and tables, whatever they hold), or
      // to the last whole line (a chunk may end inside a character of the next one)
      const block = rowsEnd(this.buf, this.batchFrom, this.batchTo);
      this.batchTo = block < this.batchTo ? block : this.buf.lastIndexOf(LF, this.batchTo - 1) + 1;
      this.batchValid = isUtf8(this.buf.subarray(this.batchFrom, this.batchTo)) ? 1 : -1;
    }
    return this.batchValid === 1 && end <= this.batchTo;
  }

  /** A value a rule would read, too large to hold decoded within the memory bound. */
  private tooLarge(col: number): AnonymiseError {
    return this.error('LIMIT', `a value larger than ${this.maxValueBytes} bytes, which a rule would read (--max-value-bytes; kept columns have no such limit)`, col);
  }

  private error(code: 'LIMIT' | 'BAD_INPUT', detail: string, col: number): AnonymiseError {
    return new AnonymiseError(code, detail, { ...this.where(), column: this.columns[col] });
  }
}

/**
 * A UTF-8 COPY field without escapes (the caller checked), decoded straight from the row (no view, no
 * separate validation pass); null when the text holds a U+FFFD, which invalid bytes decode to (and
 * which bytes() then tells apart from a real U+FFFD).
 */
function plainCopyText(buf: Buffer, start: number, end: number): string | null {
  const t = buf.toString('utf8', start, end);
  return t.includes('\uFFFD') ? null : t;
}
