/**
 * A value written as bytes, for rules that make their output from pieces (a fake's picks from word
 * lists, a template's text and fields): the pieces are copied into one buffer used again for every
 * value, and the writer copies the result out. A string built from the same pieces was a tree of
 * concatenations that V8 made flat when it was first read (~60 ns for an e-mail address), and each of its
 * characters was then read back one by one to be written (~90 ns).
 *
 * `view()` is valid until the draft's next `reset()`; views of each length are made once and kept, so a
 * value costs no allocation.
 */
import { copyBytes } from './bytes.js';

const VIEWS_KEPT = 256;
const HEX_DIGITS = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

export class ByteDraft {
  private buf = Buffer.allocUnsafe(256);
  len = 0;
  private views: (Buffer | undefined)[] = [];

  reset(): void {
    this.len = 0;
  }

  private grow(n: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
    this.views = [];
  }

  byte(b: number): void {
    if (this.len === this.buf.length) this.grow(1);
    this.buf[this.len++] = b;
  }

  /** Bytes `src[start..end)` (all of it by default). */
  put(src: Uint8Array, start = 0, end = src.length): void {
    const n = end - start;
    if (this.len + n > this.buf.length) this.grow(n);
    this.len += copyBytes(src, start, end, this.buf, this.len);
  }

  /**
   * Bytes `src[start..end)` that hold no control character (below 0x20): false, with the draft then
   * to be dropped, at the first one (a writer would escape it, or it needs a look of its own).
   */
  putPlain(src: Uint8Array, start: number, end: number): boolean {
    const n = end - start;
    if (this.len + n > this.buf.length) this.grow(n);
    const buf = this.buf;
    let o = this.len;
    for (let i = start; i < end; i++) {
      const b = src[i]!;
      if (b < 0x20) return false;
      buf[o++] = b;
    }
    this.len = o;
    return true;
  }

  /** A non-negative integer's decimal digits, as String(n) writes them. */
  decimal(n: number): void {
    if (n < 10) return this.byte(0x30 + n);
    this.decimal(Math.floor(n / 10));
    this.byte(0x30 + (n % 10));
  }

  /** Whether the bytes written are those of `src[start..end)`. */
  equals(src: Uint8Array, start: number, end: number): boolean {
    const n = this.len;
    if (end - start !== n) return false;
    const buf = this.buf;
    for (let i = 0; i < n; i++) if (buf[i] !== src[start + i]) return false;
    return true;
  }

  /** The bytes written, as a view (see above). */
  view(): Buffer {
    const n = this.len;
    if (n >= VIEWS_KEPT) return this.buf.subarray(0, n);
    return (this.views[n] ??= this.buf.subarray(0, n));
  }

  /** The 8 lower-case hex digits of the 32-bit `n`. */
  hex32(n: number): void {
    if (this.len + 8 > this.buf.length) this.grow(8);
    const buf = this.buf;
    let o = this.len;
    for (let shift = 28; shift >= 0; shift -= 4) buf[o++] = HEX_DIGITS[(n >>> shift) & 15]!;
    this.len = o;
  }

  /** The buffer written into, its first `len` bytes the value (for a writer's own copy). */
  get bytes(): Buffer {
    return this.buf;
  }

  /** The bytes written (from `from` on), read as UTF-8: one flat string. */
  text(from = 0): string {
    return this.buf.toString('utf8', from, this.len);
  }
}

/**
 * A rule's function of a value's UTF-8 bytes (a fake, a hash) that can also write its text into a draft
 * as bytes: the same text, byte for byte.
 */
export interface DraftWriter {
  /** whether `into` takes values now (a fake answers repeated names from its table, as text) */
  ready(): boolean;
  /** writes the text for `value[start..end)` into `d`, from its start */
  into(d: ByteDraft, value: Uint8Array, start: number, end: number): void;
  /** whether what `into` writes never holds a byte that COPY text or a JSON string escapes (a control character, a backslash) */
  plain: boolean;
}

/** The text for the UTF-8 bytes `value[start..end)` (default: all of it), and maybe its writer as bytes. */
export type RangeText = ((value: Buffer, start?: number, end?: number) => string) & { draft?: DraftWriter };
