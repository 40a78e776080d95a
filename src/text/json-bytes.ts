/**
 * The JSON cursor of json-text.ts over UTF-8 bytes: a json rule walks the value as the row holds it,
 * without decoding the document into a string and encoding it again. It accepts no document the text
 * cursor refuses (every refusal here sends the value back to the text walk, which names the error), and
 * it never decodes a string the rules do not read: a string is its byte range, and whether it holds an
 * escape.
 */
import { JsonPunctuation } from './json-text.js';

export class JsonBytesError extends Error {}

const MAX_DEPTH = 512;

export class JsonByteCursor extends JsonPunctuation {
  /** the last string read: `buf[strStart..strEnd)` between its quotes, and whether it holds a `\` */
  strStart = 0;
  strEnd = 0;
  strEscaped = false;
  /** the value of the last string read, when it holds an escape (decoded to check it) */
  private escapedValue = '';
  private nextBackslash = -2; // -1: none left; below the cursor: not looked for yet
  buf: Buffer = Buffer.alloc(0);
  end = 0;

  /**
   * Ready for the document `buf[start..end)`; `noBackslash`: the caller knows it holds none (a search
   * for one would otherwise run past `end`, through the rest of a large buffer, for every document).
   */
  reset(buf: Buffer, start: number, end: number, noBackslash = false): void {
    this.buf = buf;
    this.i = start;
    this.end = end;
    this.nextBackslash = noBackslash ? -1 : -2;
  }

  fail(): never {
    throw new JsonBytesError('not JSON');
  }

  peek(): number {
    const buf = this.buf;
    const end = this.end;
    let i = this.i;
    while (i < end) {
      const c = buf[i]!;
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else {
        this.i = i;
        return c;
      }
    }
    this.i = i;
    return -1;
  }

  /** Reads a string at `"` (after peek): its range is in strStart/strEnd; escapes are checked by decoding them. */
  string(): void {
    const buf = this.buf;
    const end = this.end;
    const start = ++this.i;
    const q = buf.indexOf(0x22, start);
    if (q === -1 || q >= end) this.fail();
    if (this.nextBackslash !== -1 && this.nextBackslash < start) {
      const b = buf.indexOf(0x5c, start);
      this.nextBackslash = b === -1 || b >= end ? -1 : b;
    }
    const bs = this.nextBackslash;
    if (bs === -1 || bs > q) {
      this.i = q + 1;
      this.strStart = start;
      this.strEnd = q;
      this.strEscaped = false;
      return;
    }
    let j = start;
    for (;;) {
      if (j >= end) this.fail();
      const c = buf[j]!;
      if (c === 0x5c) { j += 2; continue; }
      if (c === 0x22) break;
      j++;
    }
    this.i = j + 1;
    this.strStart = start;
    this.strEnd = j;
    this.strEscaped = true;
    // JSON.parse checks and decodes the escapes of this one string, as the text cursor does
    try {
      this.escapedValue = JSON.parse(buf.toString('utf8', start - 1, j + 1)) as string;
    } catch {
      this.fail();
    }
  }

  /**
   * At a `"` (after peek): consumes the string and returns true when it is exactly `key`, whose bytes
   * hold no `"` or `\` (so the quote after them ends it); else leaves the cursor where it was. An
   * object's keys are mostly the rules' own: this spares a native search for each one's end.
   */
  stringIs(key: Uint8Array): boolean {
    const buf = this.buf;
    const n = key.length;
    const s = this.i + 1;
    if (s + n >= this.end || buf[s + n] !== 0x22) return false;
    for (let j = 0; j < n; j++) if (buf[s + j] !== key[j]) return false;
    this.strStart = s;
    this.strEnd = s + n;
    this.strEscaped = false;
    this.i = s + n + 1;
    return true;
  }

  /** The value of the last string read. */
  decoded(): string {
    return this.strEscaped ? this.escapedValue : this.buf.toString('utf8', this.strStart, this.strEnd);
  }

  /** Consumes a number, true, false or null (after peek); its text is `buf[from..i)`, ASCII. */
  scalar(): void {
    const buf = this.buf;
    const end = this.end;
    let i = this.i;
    const c = buf[i];
    if (c === 0x74 && this.word(i, 'true')) { this.i = i + 4; return; }
    if (c === 0x66 && this.word(i, 'false')) { this.i = i + 5; return; }
    if (c === 0x6e && this.word(i, 'null')) { this.i = i + 4; return; }
    // -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?, the longest prefix that matches (as the text cursor's sticky regex)
    if (c === 0x2d) i++;
    const d = i < end ? buf[i]! : -1;
    if (d === 0x30) i++;
    else if (d >= 0x31 && d <= 0x39) while (i < end && isDigit(buf[i]!)) i++;
    else this.fail();
    if (i + 1 < end && buf[i] === 0x2e && isDigit(buf[i + 1]!)) {
      i += 2;
      while (i < end && isDigit(buf[i]!)) i++;
    }
    if (i < end && (buf[i] === 0x65 || buf[i] === 0x45)) {
      let k = i + 1;
      if (k < end && (buf[k] === 0x2b || buf[k] === 0x2d)) k++;
      if (k < end && isDigit(buf[k]!)) {
        k++;
        while (k < end && isDigit(buf[k]!)) k++;
        i = k;
      }
    }
    this.i = i;
  }

  private word(i: number, w: string): boolean {
    if (i + w.length > this.end) return false;
    for (let k = 1; k < w.length; k++) if (this.buf[i + k] !== w.charCodeAt(k)) return false;
    return true;
  }

  /** Consumes one value of any kind, checking its syntax. */
  skip(depth: number): void {
    if (depth > MAX_DEPTH) this.fail();
    const c = this.peek();
    if (c === 0x7b) {
      if (!this.open(0x7d)) return;
      do {
        if (this.peek() !== 0x22) this.fail();
        this.string();
        this.expect(0x3a);
        this.skip(depth + 1);
      } while (this.more(0x7d));
    } else if (c === 0x5b) {
      if (!this.open(0x5d)) return;
      do this.skip(depth + 1);
      while (this.more(0x5d));
    } else if (c === 0x22) this.string();
    else this.scalar();
  }

  /** After the top-level value: only white space may follow. */
  finish(): void {
    if (this.peek() !== -1) this.fail();
  }

  static readonly MAX_DEPTH = MAX_DEPTH;
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}
