/**
 * COPY text format codec (https://www.postgresql.org/docs/current/sql-copy.html, "Text Format").
 *
 * Works on bytes in the dump's encoding: every byte this format gives meaning to is ASCII, and every
 * server encoding keeps ASCII bytes single, so escapes can be handled without decoding text.
 */
import { BACKSLASH, CR, LF, TAB } from '../text/bytes.js';
import { AnonymiseError } from '../errors.js';

const BS = 0x08; // \b
const FF = 0x0c; // \f
const VT = 0x0b; // \v
const N_UPPER = 0x4e; // N

/** The field `\N`: SQL NULL. */
export const NULL_FIELD = Buffer.from('\\N');

/** A line that may be the end-of-data marker (`\.`) begins after this: COPY escapes every backslash in the data. */
export const END_CANDIDATE = Buffer.from('\n\\.', 'latin1');

/**
 * Where the COPY rows of `buf[from..to)` (`from` at a line's start) end: after the line feed before the
 * first line that begins with `\.`, or `to`. Past it lie other statements and tables' rows.
 */
export function rowsEnd(buf: Buffer, from: number, to: number): number {
  const marker = buf.indexOf(END_CANDIDATE, from > 0 ? from - 1 : from);
  return marker === -1 || marker >= to ? to : marker + 1;
}

export function isNullField(src: Buffer, start: number, end: number): boolean {
  return end - start === 2 && src[start] === BACKSLASH && src[start + 1] === N_UPPER;
}

function octal(b: number): boolean {
  return b >= 0x30 && b <= 0x37;
}
/** The value of a hex digit byte, or -1. */
export function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}

/** The offset of the first backslash in `src[start..end)`, or `end`: a field with none needs no decoding. */
/** Length of the character at `buf[i]` in an encoding whose multi-byte characters may hold a `\` byte. */
export type CharLength = (buf: Buffer, i: number) => number;

export function firstBackslash(src: Buffer, start: number, end: number, charLength?: CharLength): number {
  // a plain loop: Buffer#indexOf would search on past `end`, through the rest of the chunk
  let i = start;
  if (charLength) {
    while (i < end && src[i] !== BACKSLASH) i += src[i]! < 0x80 ? 1 : charLength(src, i);
    return Math.min(i, end);
  }
  while (i < end && src[i] !== BACKSLASH) i++;
  return i;
}

/**
 * The raw bytes of one field (`src[start..end)`, no tab or newline inside), or null for `\N`.
 * Returns a view of `src` when the field holds no escape. Throws on a lone trailing backslash, which
 * COPY would read as an escaped delimiter — something pg_dump never writes.
 */
export function unescapeField(src: Buffer, start: number, end: number, charLength?: CharLength, first = firstBackslash(src, start, end, charLength)): Buffer | null {
  if (first === end) return src.subarray(start, end);
  if (isNullField(src, start, end)) return null;
  const out = Buffer.allocUnsafe(end - start);
  let o = src.copy(out, 0, start, first);
  let i = first;
  while (i < end) {
    const b = src[i]!;
    if (b !== BACKSLASH) {
      // a whole character: its trail byte may be 0x5c, which is no escape (as PostgreSQL reads it)
      const n = charLength && b >= 0x80 ? Math.min(charLength(src, i), end - i) : 1;
      for (let k = 0; k < n; k++) out[o++] = src[i + k]!;
      i += n;
      continue;
    }
    if (i + 1 >= end) throw new AnonymiseError('BAD_INPUT', 'invalid COPY escape: backslash at end of field');
    if (src[i + 1] === 0x76) { // \v: COPY's own; in E'' strings it is a plain v
      out[o++] = VT;
      i += 2;
      continue;
    }
    decodeEscape(src, i + 1, end, out, o);
    i = escapeCursor.i;
    o = escapeCursor.o;
  }
  return out.subarray(0, o);
}

/** Where decodeEscape stopped: the next byte to read and the next to write. */
export const escapeCursor = { i: 0, o: 0 };

/**
 * The backslash escapes COPY text and E'' strings share: \b \f \n \r \t, \xH(H), octal \o(o)(o);
 * any other character stands for itself. `src[i]` is the character after the backslash; the value
 * goes to `out[o]`, and the offsets after it to escapeCursor (no allocation per escape).
 */
export function decodeEscape(src: Buffer, i: number, end: number, out: Buffer, o: number): void {
  const c = src[i++]!;
  switch (c) {
    case 0x62: out[o++] = BS; break; // \b
    case 0x66: out[o++] = FF; break; // \f
    case 0x6e: out[o++] = LF; break; // \n
    case 0x72: out[o++] = CR; break; // \r
    case 0x74: out[o++] = TAB; break; // \t
    case 0x78: { // \xH or \xHH
      const h1 = i < end ? hexValue(src[i]!) : -1;
      if (h1 < 0) { out[o++] = c; break; }
      i++;
      const h2 = i < end ? hexValue(src[i]!) : -1;
      if (h2 < 0) { out[o++] = h1; break; }
      i++;
      out[o++] = (h1 << 4) | h2;
      break;
    }
    default:
      if (octal(c)) { // \o, \oo or \ooo
        let v = c - 0x30;
        if (i < end && octal(src[i]!)) { v = (v << 3) | (src[i]! - 0x30); i++; }
        if (i < end && octal(src[i]!)) { v = (v << 3) | (src[i]! - 0x30); i++; }
        out[o++] = v & 0xff;
      } else {
        out[o++] = c; // "any other character ... will be taken to represent that character"
      }
  }
  escapeCursor.i = i;
  escapeCursor.o = o;
}

/** Bytes that COPY TO escapes, mapped to the letter after the backslash (0 = no escape). */
export const ESCAPE_LETTER = new Uint8Array(256);
ESCAPE_LETTER[BACKSLASH] = BACKSLASH;
ESCAPE_LETTER[TAB] = 0x74;
ESCAPE_LETTER[LF] = 0x6e;
ESCAPE_LETTER[CR] = 0x72;
ESCAPE_LETTER[BS] = 0x62;
ESCAPE_LETTER[FF] = 0x66;
ESCAPE_LETTER[VT] = 0x76;

/** Escaped length of `bytes` (equal to its length when nothing needs escaping). */
export function escapedLength(bytes: Buffer, charLength?: CharLength): number {
  let n = bytes.length;
  for (let i = 0; i < bytes.length; i++) {
    if (charLength && bytes[i]! >= 0x80) i += charLength(bytes, i) - 1;
    else if (ESCAPE_LETTER[bytes[i]!] !== 0) n++;
  }
  return n;
}

/** Writes the escaped form of `bytes` into `out` at `at`; returns the new offset. */
export function escapeInto(bytes: Buffer, out: Buffer, at: number, charLength?: CharLength): number {
  let o = at;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (charLength && b >= 0x80) {
      // a multi-byte character is copied whole: a 0x5c inside it is not a backslash
      const n = Math.min(charLength(bytes, i), bytes.length - i);
      for (let k = 0; k < n; k++) out[o++] = bytes[i + k]!;
      i += n - 1;
      continue;
    }
    const letter = ESCAPE_LETTER[b]!;
    if (letter === 0) out[o++] = b;
    else {
      out[o++] = BACKSLASH;
      out[o++] = letter;
    }
  }
  return o;
}

/** String-level helpers (UTF-8), for tests and for callers outside the hot path. */
export function encodeField(value: string | null): string {
  if (value === null) return '\\N';
  const bytes = Buffer.from(value, 'utf8');
  const out = Buffer.allocUnsafe(escapedLength(bytes));
  escapeInto(bytes, out, 0);
  return out.toString('utf8');
}

export function decodeField(field: string): string | null {
  const buf = Buffer.from(field, 'utf8');
  const raw = unescapeField(buf, 0, buf.length);
  return raw === null ? null : raw.toString('utf8');
}
