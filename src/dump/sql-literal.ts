/**
 * SQL literal codec for INSERT-form dumps (https://www.postgresql.org/docs/current/sql-syntax-lexical.html#SQL-SYNTAX-CONSTANTS).
 * Works on bytes in the dump's encoding: quotes and backslashes are single ASCII bytes in every
 * encoding we rewrite.
 */
import { BACKSLASH, SQUOTE, copyBytes } from '../text/bytes.js';
import { AnonymiseError } from '../errors.js';
import { decodeEscape, escapeCursor, hexValue } from './copy-codec.js';


/** Kinds of value pg_dump writes in VALUES lists. */
export const enum LitKind {
  Null, // NULL
  Bare, // a number, true/false, or other unquoted token: its text is the value
  String, // '…' (standard_conforming_strings on): '' is a quote
  EString, // E'…', or '…' with standard_conforming_strings off: backslash escapes too
  BitString, // B'…' or X'…': the text between the quotes
}


function pushCodePoint(out: Buffer, o: number, cp: number): number {
  return o + out.write(String.fromCodePoint(cp), o, 'utf8');
}

/**
 * The value of a literal `src[start..end)` as raw bytes (null for NULL): the whole token, with any
 * E/B/X prefix, up to and including the closing quote.
 */
export function decodeLiteral(src: Buffer, start: number, end: number, kind: LitKind): Buffer | null {
  if (kind !== LitKind.Bare && kind !== LitKind.Null && src[start] !== SQUOTE) start++; // the prefix letter
  switch (kind) {
    case LitKind.Null:
      return null;
    case LitKind.Bare:
      return src.subarray(start, end);
    case LitKind.BitString:
      return src.subarray(start + 1, end - 1);
    case LitKind.String: {
      const body0 = start + 1;
      const body1 = end - 1;
      const q = src.indexOf(SQUOTE, body0);
      if (q === -1 || q >= body1) return src.subarray(body0, body1);
      const out = Buffer.allocUnsafe(body1 - body0);
      let o = 0;
      let i = body0;
      while (i < body1) {
        const b = src[i]!;
        out[o++] = b;
        i += b === SQUOTE ? 2 : 1; // '' → '
      }
      return out.subarray(0, o);
    }
    case LitKind.EString: {
      const body0 = start + 1;
      const body1 = end - 1;
      const out = Buffer.allocUnsafe((body1 - body0) * 2 + 4);
      let o = 0;
      let i = body0;
      while (i < body1) {
        const b = src[i]!;
        if (b === SQUOTE) { out[o++] = SQUOTE; i += 2; continue; }
        if (b !== BACKSLASH) { out[o++] = b; i++; continue; }
        const c = src[i + 1]!;
        if (c === 0x75 || c === 0x55) { // \uXXXX, \UXXXXXXXX: E'' strings' own
          const n = c === 0x75 ? 4 : 8;
          let cp = 0;
          for (let k = 0; k < n; k++) {
            const h = i + 2 + k < body1 ? hexValue(src[i + 2 + k]!) : -1;
            if (h < 0) throw new AnonymiseError('BAD_INPUT', 'invalid Unicode escape in a string constant');
            cp = cp * 16 + h;
          }
          if (cp > 0x10ffff) throw new AnonymiseError('BAD_INPUT', 'invalid Unicode escape in a string constant');
          i += 2 + n;
          o = pushCodePoint(out, o, cp);
          continue;
        }
        decodeEscape(src, i + 1, body1, out, o);
        i = escapeCursor.i;
        o = escapeCursor.o;
      }
      return out.subarray(0, o);
    }
  }
}

/**
 * A string constant holding `bytes`. With standard_conforming_strings on, only quotes are doubled;
 * off, a value with a backslash is written as E'…' with backslashes doubled (as pg_dump does).
 */
export function encodeLiteral(bytes: Buffer, standardConformingStrings: boolean): Buffer {
  const out = Buffer.allocUnsafe(literalRoom(bytes.length));
  return out.subarray(0, encodeLiteralInto(bytes, standardConformingStrings, out, 0));
}

/** The most bytes the literal of `n` bytes takes (encodeLiteralInto): each byte doubled, E and two quotes. */
export function literalRoom(n: number): number {
  return 2 * n + 3;
}

/**
 * encodeLiteral written into `out` at `at` (literalRoom bytes free there); returns where it ends. The
 * runs between the bytes to double are found with indexOf and copied whole: a byte loop over every
 * value (a JSON document is hundreds of bytes) cost a rewritten --inserts dump ~5 % of its time.
 */
export function encodeLiteralInto(bytes: Buffer, standardConformingStrings: boolean, out: Buffer, at: number): number {
  let bs = standardConformingStrings ? -1 : bytes.indexOf(BACKSLASH);
  if (bs !== -1) out[at++] = 0x45; // E
  out[at++] = SQUOTE;
  let q = bytes.indexOf(SQUOTE);
  let from = 0;
  while (q !== -1 || bs !== -1) {
    const next = q === -1 ? bs : bs === -1 ? q : Math.min(q, bs);
    at += copyBytes(bytes, from, next + 1, out, at);
    out[at++] = bytes[next]!;
    from = next + 1;
    if (next === q) q = bytes.indexOf(SQUOTE, from);
    else bs = bytes.indexOf(BACKSLASH, from);
  }
  at += copyBytes(bytes, from, bytes.length, out, at);
  out[at++] = SQUOTE;
  return at;
}

/** String-level helpers (UTF-8), for tests. */
export function literalOf(value: string | null, standardConformingStrings = true): string {
  return value === null ? 'NULL' : encodeLiteral(Buffer.from(value, 'utf8'), standardConformingStrings).toString('utf8');
}
