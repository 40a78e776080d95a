/**
 * A JSON cursor for `json` rules. Rules rewrite a document in one pass: the cursor walks it, the
 * rule walk replaces the spans of the values it changes, and every other byte is copied as written.
 * So a kept number keeps its exact text (12345678901234567890 stays as written), a json (not jsonb)
 * value keeps its key order, repeated keys and spacing, and no tree is built per row.
 */
export class JsonSyntaxError extends Error {}

const MAX_DEPTH = 512;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * What the text cursor and the bytes cursor (json-bytes.ts) share: the punctuation between values, read
 * through each one's own `peek` (a character code of a string, or a byte) and `fail`.
 */
export abstract class JsonPunctuation {
  i = 0;

  /** Skips white space; returns the next character code or byte (NaN or -1 at the end). */
  abstract peek(): number;
  abstract fail(): never;

  /** Consumes `c` (after white space) or fails. */
  expect(c: number): void {
    if (this.peek() !== c) this.fail();
    this.i++;
  }

  /** After an item of an object or array: true if another follows (`,`), false at `close`. */
  more(close: number): boolean {
    const c = this.peek();
    this.i++;
    if (c === 0x2c) return true;
    if (c !== close) this.fail();
    return false;
  }

  /** At `{` or `[` (after peek): consumes it; false if the container is empty (and consumes its end). */
  open(close: number): boolean {
    this.i++;
    if (this.peek() === close) {
      this.i++;
      return false;
    }
    return true;
  }
}

export class JsonCursor extends JsonPunctuation {
  private nextBackslash = -2; // -1: none left; below the cursor: not looked for yet
  constructor(readonly text: string) {
    super();
  }

  fail(): never {
    throw new JsonSyntaxError(`invalid JSON at character ${this.i + 1}`);
  }

  peek(): number {
    const text = this.text;
    let i = this.i;
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else {
        this.i = i;
        return c;
      }
    }
  }

  /** Reads a string at `"` (after peek) and returns its value. */
  string(): string {
    const text = this.text;
    const start = ++this.i;
    const q = text.indexOf('"', start);
    if (q === -1) this.fail();
    // where the next backslash is, found again only once the cursor has passed it: searching from each
    // string's start made a long document without backslashes quadratic (1.5 MB: 1.1 s)
    if (this.nextBackslash !== -1 && this.nextBackslash < start) this.nextBackslash = text.indexOf('\\', start);
    const bs = this.nextBackslash;
    if (bs === -1 || bs > q) {
      // no escapes (PostgreSQL checked the value's syntax when it stored it)
      this.i = q + 1;
      return text.slice(start, q);
    }
    let j = start;
    for (;;) {
      const c = text.charCodeAt(j);
      if (Number.isNaN(c)) { this.i = j; this.fail(); }
      if (c === 0x5c) { j += 2; continue; }
      if (c === 0x22) break;
      j++;
    }
    this.i = j + 1;
    try {
      // JSON.parse decodes (and checks) the escapes of this one string
      return JSON.parse(text.slice(start - 1, j + 1)) as string;
    } catch {
      this.i = start - 1;
      return this.fail();
    }
  }

  /** Consumes a number, true, false or null (after peek) and returns its text. */
  scalar(): string {
    const text = this.text;
    const i = this.i;
    if (text.startsWith('true', i)) { this.i += 4; return 'true'; }
    if (text.startsWith('false', i)) { this.i += 5; return 'false'; }
    if (text.startsWith('null', i)) { this.i += 4; return 'null'; }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) this.fail();
    this.i += m[0].length;
    return m[0];
  }

  /** Consumes one value of any kind, checking its syntax. */
  skip(depth: number): void {
    if (depth > MAX_DEPTH) this.tooDeep();
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
  end(): void {
    this.peek();
    if (this.i !== this.text.length) this.fail();
  }

  static readonly MAX_DEPTH = MAX_DEPTH;

  /** Nesting past MAX_DEPTH (PostgreSQL accepts deeper): refused, never a stack overflow. */
  tooDeep(): never {
    throw new JsonSyntaxError(`JSON nested deeper than ${MAX_DEPTH} levels, which json rules do not read`);
  }
}
