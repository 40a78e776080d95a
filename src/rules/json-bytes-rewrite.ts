/**
 * A json rule over the value's UTF-8 bytes: the same walk as json-rewrite.ts, for the common case,
 * without a JavaScript string for the document. Kept bytes are copied as they are; a string a rule
 * reads is decoded alone (or not at all: fakes and hashes read its bytes); a replacement is written
 * as JSON.stringify would write it. The output is byte for byte the text walk's. Whatever this walk
 * does not handle — a syntax error, a key no rule classifies, nesting past the limit — returns null,
 * and the caller runs the text walk, which names the error.
 */
import type { RowAccess } from '../contract/plan.js';
import type { JsonTrie, ValueFn } from './kinds/kind.js';
import { JsonByteCursor, JsonBytesError } from '../text/json-bytes.js';
import { copyBytes } from '../text/bytes.js';
import { ByteDraft } from '../text/byte-draft.js';

/**
 * A trie node's children as bytes, for matching keys where the document holds them (few keys: a scan).
 * Only keys without `"` or `\`: a document holds those only with an escape, and they are compared decoded.
 */
interface ByteKey {
  bytes: Buffer;
  child: JsonTrie;
}
const MAX_SCANNED_KEYS = 16;
/** JSON.stringify writes these characters as they are: printable ASCII but `"` and `\` */
const PLAIN_JSON = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** strings shorter than this are checked and copied by one loop (the two cost the same at ~30 characters) */
const LOOP_MAX = 32;

export class JsonBytesRewrite {
  private readonly cursor = new JsonByteCursor();
  private out = Buffer.allocUnsafe(4096);
  private len = 0;
  private src: Buffer = Buffer.alloc(0);
  private copied = 0; // src before this offset is in `out`
  private row!: RowAccess;
  private readonly keyLists = new Map<JsonTrie, ByteKey[] | null>();
  /** where a rule that writes bytes (DraftWriter) writes a leaf's new text */
  private readonly draft = new ByteDraft();

  /** whether the last apply() wrote only printable ASCII but `\` (no JSON escape, nothing COPY escapes) */
  wroteNoEscape = true;

  constructor(private readonly trie: JsonTrie) {}

  /**
   * The rewritten document `src[start..end)`, or null when the text walk must decide. The result is a
   * view of the input or of this walk's buffer, valid until the next call. `noBackslash`: the document
   * holds none (a COPY field as it is: RowAccess.span), so none is looked for past it.
   */
  apply(src: Buffer, row: RowAccess, start = 0, end = src.length, noBackslash = false): Buffer | null {
    this.wroteNoEscape = true;
    this.src = src;
    this.row = row;
    this.len = 0;
    this.copied = start;
    const c = this.cursor;
    c.reset(src, start, end, noBackslash);
    try {
      this.visit(this.trie, this.trie.star!, 0);
      c.finish();
    } catch (e) {
      if (e instanceof JsonBytesError) return null;
      throw e;
    }
    if (this.copied === start) return start === 0 && end === src.length ? src : src.subarray(start, end);
    this.copy(end);
    return this.out.subarray(0, this.len);
  }

  private visit(node: JsonTrie, inherited: ValueFn, depth: number): void {
    if (node.leaf) return this.leaf(node.leaf, depth);
    const dflt = node.star ?? inherited;
    const c = this.cursor;
    if (depth > JsonByteCursor.MAX_DEPTH) c.fail();
    const ch = c.peek();
    if (ch === 0x5b) {
      if (!c.open(0x5d)) return;
      do this.visit(node, inherited, depth + 1);
      while (c.more(0x5d));
    } else if (ch === 0x7b) {
      if (!c.open(0x7d)) return;
      do {
        if (c.peek() !== 0x22) c.fail();
        const child = this.key(node);
        c.expect(0x3a);
        if (child) this.visit(child, dflt, depth + 1);
        else this.leaf(dflt, depth + 1);
      } while (c.more(0x7d));
    } else this.leaf(dflt, depth);
  }

  /** Reads a key (at its `"`): the child of `node` it names, if any. */
  private key(node: JsonTrie): JsonTrie | undefined {
    const c = this.cursor;
    if (node.children.size === 0) {
      c.string();
      return undefined;
    }
    let list = this.keyLists.get(node);
    if (list === undefined) {
      list = node.children.size > MAX_SCANNED_KEYS ? null : [...node.children].filter(([k]) => !/["\\]/.test(k)).map(([k, child]) => ({ bytes: Buffer.from(k, 'utf8'), child }));
      this.keyLists.set(node, list);
    }
    if (list !== null) for (const k of list) if (c.stringIs(k.bytes)) return k.child;
    c.string();
    // a key with an escape is compared decoded; else it is none of the keys just tried (and a key that
    // holds `"` or `\` is written with an escape)
    if (list === null || c.strEscaped) return node.children.get(c.decoded());
    return undefined;
  }

  private leaf(fn: ValueFn, depth: number): void {
    const c = this.cursor;
    switch (fn.kind) {
      case 'keep': return c.skip(depth);
      case 'null':
      case 'const': {
        c.peek();
        const from = c.i;
        c.skip(depth);
        const v = fn.kind === 'null' ? null : fn.value;
        this.replaceWith(from, c.i);
        return v === null ? this.ascii('null') : this.json(v);
      }
      case 'fail': return c.fail();
      case 'json':
        return this.visit(fn.trie, fn.trie.star ?? { kind: 'fail' }, depth);
      case 'text': {
        if (depth > JsonByteCursor.MAX_DEPTH) c.fail();
        const ch = c.peek();
        if (ch === 0x7b) {
          if (!c.open(0x7d)) return;
          do {
            if (c.peek() !== 0x22) c.fail();
            c.string();
            c.expect(0x3a);
            this.leaf(fn, depth + 1);
          } while (c.more(0x7d));
          return;
        }
        if (ch === 0x5b) {
          if (!c.open(0x5d)) return;
          do this.leaf(fn, depth + 1);
          while (c.more(0x5d));
          return;
        }
        const from = c.i;
        const src = this.src;
        if (ch !== 0x22) {
          c.scalar();
          const s = src.toString('latin1', from, c.i);
          if (ch === 0x6e && s === 'null') {
            if (fn.nulls === 'replace') {
              this.replaceWith(from, c.i);
              this.json(fn.fn('', this.row));
            }
            return;
          }
          this.replaceWith(from, c.i);
          return this.json(fn.fn(s, this.row));
        }
        c.string();
        if (!c.strEscaped && fn.draft && c.strEnd > c.strStart && fn.draft.ready()) {
          fn.draft.into(this.draft, src, c.strStart, c.strEnd);
          this.replaceWith(from, c.i);
          return this.jsonDraft(this.draft);
        }
        if (!c.strEscaped && fn.bytes) {
          const v = fn.bytes(src, c.strStart, c.strEnd, this.row);
          this.replaceWith(from, c.i);
          return this.json(v);
        }
        // kept as it is undecoded (scrub: no character a match holds), as below when unchanged
        if (!c.strEscaped && fn.leaves?.(src, c.strStart, c.strEnd)) return;
        const s = c.decoded();
        const v = fn.fn(s, this.row);
        // unchanged, and written as JSON.stringify writes it (no escape, no control character): kept as it is
        if (v === s && !c.strEscaped && !hasControl(src, c.strStart, c.strEnd)) return;
        this.replaceWith(from, c.i);
        return this.json(v);
      }
    }
  }

  /** The value at `src[from..to)` is replaced by what is written next. */
  private replaceWith(from: number, to: number): void {
    this.copy(from);
    this.copied = to;
  }

  private copy(upTo: number): void {
    const n = upTo - this.copied;
    if (n <= 0) return;
    this.room(n);
    this.len += copyBytes(this.src, this.copied, upTo, this.out, this.len);
  }

  private room(n: number): void {
    if (this.len + n <= this.out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.len + n));
    this.out.copy(bigger, 0, 0, this.len);
    this.out = bigger;
  }

  private ascii(s: string): void {
    this.room(s.length);
    this.len += this.out.write(s, this.len, 'latin1');
  }

  /**
   * `JSON.stringify(s)` in UTF-8; printable ASCII without `"` or `\` (most fakes, most scrubbed text)
   * without building it: a short string copied by a loop, a longer one checked by one expression and
   * written natively (118 characters: ~150 ns against ~370 for the loop).
   */
  private json(s: string): void {
    const n = s.length;
    this.room(n + 2);
    const out = this.out;
    let o = this.len;
    if (n >= LOOP_MAX) {
      if (!PLAIN_JSON.test(s)) return this.jsonSlow(s);
      out[o++] = 0x22;
      o += out.write(s, o, 'latin1');
      out[o++] = 0x22;
      this.len = o;
      return;
    }
    out[o++] = 0x22;
    for (let i = 0; i < n; i++) {
      const ch = s.charCodeAt(i);
      if (ch < 0x20 || ch > 0x7e || ch === 0x22 || ch === 0x5c) return this.jsonSlow(s);
      out[o++] = ch;
    }
    out[o++] = 0x22;
    this.len = o;
  }

  /** json() of the draft's text, from its bytes: printable ASCII but `"` and `\` copied, anything else as json() writes it. */
  private jsonDraft(d: ByteDraft): void {
    const n = d.len;
    const b = d.bytes;
    this.room(n + 2);
    const out = this.out;
    let o = this.len;
    out[o++] = 0x22;
    for (let i = 0; i < n; i++) {
      const ch = b[i]!;
      if (ch < 0x20 || ch > 0x7e || ch === 0x22 || ch === 0x5c) return this.jsonSlow(d.text());
      out[o++] = ch;
    }
    out[o++] = 0x22;
    this.len = o;
  }

  private jsonSlow(s: string): void {
    this.wroteNoEscape = false;
    const j = JSON.stringify(s);
    this.room(j.length * 3);
    this.len += this.out.write(j, this.len, 'utf8');
  }
}

function hasControl(src: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (src[i]! < 0x20) return true;
  return false;
}

export { JsonBytesError };
