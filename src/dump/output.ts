/**
 * Output batching: rows are assembled into one large buffer and handed on in big chunks; long runs
 * of untouched input (kept tables) are handed on as views of the input chunk, without a copy.
 *
 * Every chunk handed on comes with a hold on its memory (io/buffer-pool.ts), which the receiver gives
 * back once it is done with it, or never: a pool's input chunk or output buffer is used again only
 * after that. Views of input are handed on by the end of each input chunk (`flushIfFull` settles the
 * run in hand), so that the caller's own hold on the chunk can go then.
 */
import { ESCAPE_LETTER, escapeInto, escapedLength } from './copy-codec.js';
import type { TextCodec } from '../text/encoding.js';
import { BACKSLASH, copyBytes } from '../text/bytes.js';
import { encodeLiteralInto, literalRoom } from './sql-literal.js';
import { hold, release, type BufferPool } from '../io/buffer-pool.js';

/** values up to this many UTF-16 units are tried as printable ASCII first */
const SHORT = 64;
const DEFAULT_CAPACITY = 256 * 1024;
/** Runs at least this long are passed on as views rather than copied. */
const VIEW_THRESHOLD = 64 * 1024;
/** flushIfFull() hands on the buffer from this much on */
const FLUSH_AT = 64 * 1024;

/** Bytes a COPY value must escape: \\ \t \n \r \b \f \v */
const NEEDS_ESCAPE = /[\\\t\n\r\x08\x0c\x0b]/;

export class Output {
  private buf: Buffer;
  private len = 0;
  /** incremented by every flush, so a mark can tell whether its buffer is still current */
  generation = 0;

  private readonly capacity: number;

  constructor(
    private readonly sink: (chunk: Buffer) => void,
    capacity = DEFAULT_CAPACITY,
    /** where buffers come from (their holders give them back: see above); else each is fresh */
    private readonly pool?: BufferPool,
  ) {
    this.capacity = pool?.size ?? capacity;
    this.buf = this.fresh();
  }

  private fresh(): Buffer {
    return this.pool ? this.pool.take() : Buffer.allocUnsafe(this.capacity);
  }

  /** Ensures room for `n` more bytes; returns the buffer to write into at `this.offset`. */
  private room(n: number): void {
    if (this.runSrc !== null) this.settle();
    if (this.len + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) {
      // one value larger than a buffer: a buffer of its own, never a pool's
      release(this.buf);
      this.buf = Buffer.allocUnsafe(Math.max(n, this.capacity));
    }
  }

  /**
   * Copies `src[start..end)`, or passes a view of it when it is long and `src` will not change
   * (`stable`). Adjacent stable ranges of one buffer join into one run first, so a table kept
   * statement by statement (INSERT dumps) passes as views too.
   */
  bytes(src: Buffer, start: number, end: number, stable: boolean): void {
    if (end <= start) return;
    if (stable) {
      if (this.runSrc === src && this.runEnd === start) {
        this.runEnd = end;
        return;
      }
      this.settle();
      this.runSrc = src;
      this.runStart = start;
      this.runEnd = end;
      return;
    }
    this.settle();
    this.copy(src, start, end);
  }

  // a pending run of stable input, not yet copied or passed on
  private runSrc: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;

  private settle(): void {
    const src = this.runSrc;
    if (src === null) return;
    this.runSrc = null;
    if (this.runEnd - this.runStart >= VIEW_THRESHOLD) {
      this.flush();
      const view = src.subarray(this.runStart, this.runEnd);
      hold(view);
      this.sink(view);
    } else {
      this.copy(src, this.runStart, this.runEnd);
    }
  }

  private copy(src: Buffer, start: number, end: number): void {
    this.room(end - start);
    this.len += copyBytes(src, start, end, this.buf, this.len);
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.len++] = b;
  }

  /** Writes text as-is (ASCII or already-valid SQL) in UTF-8. */
  ascii(text: string): void {
    this.room(text.length * 3);
    this.len += this.buf.write(text, this.len, 'utf8');
  }

  /** Writes a value as a COPY text field in the dump's encoding. Returns the byte range written. */
  copyValue(text: string, codec: TextCodec): void {
    if (codec.isUtf8 && text.length <= SHORT && this.shortAscii(text)) return;
    if (codec.isUtf8 && !NEEDS_ESCAPE.test(text)) {
      this.room(text.length * 3);
      this.len += this.buf.write(text, this.len, 'utf8');
      return;
    }
    const raw = codec.encode(text);
    const n = escapedLength(raw, codec.charLength);
    this.room(n);
    this.len = escapeInto(raw, this.buf, this.len, codec.charLength);
  }

  /** copyValue for a value given as UTF-8 bytes. */
  copyValueBytes(bytes: Buffer, codec: TextCodec): void {
    if (!codec.isUtf8) return this.copyValue(bytes.toString('utf8'), codec);
    // the escapes are ASCII and no UTF-8 sequence holds an ASCII byte: the bytes as Latin-1 tell, and a
    // regular expression finds none far faster than a loop over the bytes
    if (!NEEDS_ESCAPE.test(bytes.toString('latin1'))) return this.copy(bytes, 0, bytes.length);
    this.room(bytes.length * 2);
    this.len = escapeInto(bytes, this.buf, this.len);
  }

  /** literal for a value given as UTF-8 bytes. */
  literalBytes(bytes: Buffer, codec: TextCodec, standardConformingStrings: boolean): void {
    if (!codec.isUtf8) return this.literal(bytes.toString('utf8'), codec, standardConformingStrings);
    this.room(literalRoom(bytes.length));
    this.len = encodeLiteralInto(bytes, standardConformingStrings, this.buf, this.len);
  }

  /**
   * A short ASCII value (most fakes, hashes, templates, short scrubbed text) written and escaped with a
   * loop: no regular expression, no encoded copy of the text, no second pass to size it. False, with
   * nothing written, at the first character past ASCII.
   */
  private shortAscii(text: string): boolean {
    const n = text.length;
    this.room(n * 2);
    const buf = this.buf;
    let o = this.len;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) return false;
      const letter = ESCAPE_LETTER[c]!;
      if (letter === 0) buf[o++] = c;
      else {
        buf[o++] = BACKSLASH;
        buf[o++] = letter;
      }
    }
    this.len = o;
    return true;
  }

  /** Writes a value as an SQL string constant in the dump's encoding. */
  literal(text: string, codec: TextCodec, standardConformingStrings: boolean): void {
    // the common case: UTF-8, nothing to double
    if (codec.isUtf8 && !text.includes("'") && (standardConformingStrings || !text.includes('\\'))) {
      this.room(text.length * 3 + 2);
      this.buf[this.len++] = 0x27;
      this.len += this.buf.write(text, this.len, 'utf8');
      this.buf[this.len++] = 0x27;
      return;
    }
    const bytes = codec.encode(text);
    this.room(literalRoom(bytes.length));
    this.len = encodeLiteralInto(bytes, standardConformingStrings, this.buf, this.len);
  }

  /** Current write offset (for comparing what was just written). */
  /**
   * Makes room for `n` more bytes now, flushing what is there first if need be: a value written after
   * this reaches the buffer whole, so that `sameSince` can compare it (a flush in the middle of a value
   * made it count as changed, once every buffer's worth of output). Past the buffer's capacity nothing
   * is reserved: the buffer does not grow for one huge value, which may then count as changed.
   */
  reserve(n: number): void {
    if (n <= this.capacity) this.room(n);
  }

  get mark(): number {
    this.settle();
    return this.len;
  }
  /** True when the bytes written since `mark` equal `src[start..end)`. */
  sameSince(mark: number, generation: number, src: Buffer, start: number, end: number): boolean {
    // a flush in between (no room was reserved): the bytes are gone, count the value as changed
    this.settle();
    if (generation !== this.generation) return false;
    const n = end - start;
    if (this.len - mark !== n) return false;
    if (n > SHORT) return this.buf.compare(src, start, end, mark, this.len) === 0;
    const buf = this.buf;
    for (let i = 0; i < n; i++) if (buf[mark + i] !== src[start + i]) return false;
    return true;
  }

  /** Flushes when a good part of the buffer is used; what is left waits for more, or for flush(). */
  flushIfFull(): void {
    this.settle();
    if (this.len >= FLUSH_AT) this.flush();
  }

  /** Drops what was written and not handed on yet (a run that stops where an earlier piece was to go). */
  discard(): void {
    this.runSrc = null;
    this.len = 0;
    this.generation++;
  }

  flush(): void {
    this.settle();
    if (this.len === 0) return;
    // hand over the filled part, with a hold of its own, and go on in the rest or in another buffer
    const chunk = this.buf.subarray(0, this.len);
    hold(chunk);
    const rest = this.buf.length - this.len;
    if (rest >= 64 * 1024) this.buf = this.buf.subarray(this.len);
    else {
      release(this.buf);
      this.buf = this.fresh();
    }
    this.len = 0;
    this.generation++;
    this.sink(chunk);
  }
}

/**
 * What ends the output of a run that stopped: a statement that makes a restore fail, and a comment that
 * tells a reader why. Inside COPY data, first a row with one field too many, which fails the COPY
 * whatever the table (`ncols`: the table's columns); COPY data is always cut at a row boundary, while SQL
 * text may stop right after a `;`.
 */
export function abortTrailer(inCopy: boolean, ncols: number, reason: string): Buffer {
  const lines: string[] = [];
  if (inCopy) lines.push('\\N\t'.repeat(Math.max(1, ncols)) + '\\N');
  lines.push("DO $anonymise_dump$ BEGIN RAISE EXCEPTION 'anonymise-dump aborted: this dump is incomplete'; END $anonymise_dump$;");
  lines.push(`-- anonymise-dump: ABORTED: ${reason.replace(/[\r\n]+/g, ' ')}`);
  return Buffer.from(`${inCopy ? '' : '\n'}${lines.join('\n')}\n`, 'utf8');
}
