/**
 * Character encodings of a dump. pg_dump writes the database encoding and says so in
 * `SET client_encoding = '...'`; fields that a rule reads are decoded in that encoding and rewritten
 * values are encoded back into it. Bytes that no rule touches are never decoded at all.
 */
import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import type iconvLite from 'iconv-lite';

// loaded for the first dump not in UTF-8 (few are): its tables cost every other run ~4 ms to start
let iconvModule: typeof iconvLite | null = null;
function iconv(): typeof iconvLite {
  return (iconvModule ??= createRequire(import.meta.url)('iconv-lite') as typeof iconvLite);
}

export interface TextCodec {
  /** PostgreSQL's name, upper case (UTF8, LATIN1, …). */
  readonly name: string;
  readonly isUtf8: boolean;
  decode(buf: Buffer): string;
  encode(text: string): Buffer;
  /** false when `buf` is not a valid byte sequence in this encoding. */
  valid(buf: Buffer): boolean;
  /**
   * For client encodings whose multi-byte characters may contain ASCII bytes (`\` in SJIS, BIG5, GBK,
   * UHC, GB18030): the length of the character starting at `buf[i]`, so that escapes are read by
   * character, as PostgreSQL reads them. Absent where every byte above 0x7f belongs to a character.
   */
  charLength?: (buf: Buffer, i: number) => number;
}

const utf8: TextCodec = {
  name: 'UTF8',
  isUtf8: true,
  decode: (buf) => buf.toString('utf8'),
  encode: (text) => Buffer.from(text, 'utf8'),
  valid: (buf) => isUtf8(buf),
};

// SQL_ASCII means "no encoding": bytes above 0x7f are uninterpreted. latin1 maps every byte to one
// code point and back, so such bytes survive a decode/encode round trip unchanged.
const sqlAscii: TextCodec = {
  name: 'SQL_ASCII',
  isUtf8: false,
  decode: (buf) => buf.toString('latin1'),
  encode: (text) => Buffer.from(text, 'latin1'),
  valid: () => true,
};

/** PostgreSQL server encodings → iconv-lite names. All are ASCII-safe: tab, LF, `\` and `'` are single bytes. */
const SERVER_ENCODINGS: Record<string, string> = {
  LATIN1: 'iso-8859-1', LATIN2: 'iso-8859-2', LATIN3: 'iso-8859-3', LATIN4: 'iso-8859-4',
  LATIN5: 'iso-8859-9', LATIN6: 'iso-8859-10', LATIN7: 'iso-8859-13', LATIN8: 'iso-8859-14',
  LATIN9: 'iso-8859-15', LATIN10: 'iso-8859-16',
  ISO_8859_5: 'iso-8859-5', ISO_8859_6: 'iso-8859-6', ISO_8859_7: 'iso-8859-7', ISO_8859_8: 'iso-8859-8',
  WIN866: 'cp866', WIN874: 'windows-874', WIN1250: 'windows-1250', WIN1251: 'windows-1251',
  WIN1252: 'windows-1252', WIN1253: 'windows-1253', WIN1254: 'windows-1254', WIN1255: 'windows-1255',
  WIN1256: 'windows-1256', WIN1257: 'windows-1257', WIN1258: 'windows-1258',
  KOI8R: 'koi8-r', KOI8U: 'koi8-u', EUC_JP: 'euc-jp', EUC_CN: 'gb2312', EUC_KR: 'euc-kr',
};

/**
 * Client-only encodings whose multi-byte characters may contain the byte 0x5c (`\`) — never a quote,
 * tab or newline: their trail bytes are 0x30 and above. They are read by character (charLength).
 * JOHAB's trail bytes reach down to 0x31 and iconv-lite has no table for it: it stays refused.
 */
const TWO_BYTE_LEAD = (lo: number, hi: number, lo2 = lo, hi2 = hi) => (buf: Buffer, i: number) => {
  const c = buf[i]!;
  return (c >= lo && c <= hi) || (c >= lo2 && c <= hi2) ? 2 : 1;
};
const ASCII_EMBEDDING: Record<string, { iconv: string; charLength: (buf: Buffer, i: number) => number }> = {
  SJIS: { iconv: 'shiftjis', charLength: TWO_BYTE_LEAD(0x81, 0x9f, 0xe0, 0xfc) },
  SHIFT_JIS_2004: { iconv: 'shiftjis', charLength: TWO_BYTE_LEAD(0x81, 0x9f, 0xe0, 0xfc) },
  BIG5: { iconv: 'big5', charLength: TWO_BYTE_LEAD(0x81, 0xfe) },
  GBK: { iconv: 'gbk', charLength: TWO_BYTE_LEAD(0x81, 0xfe) },
  UHC: { iconv: 'cp949', charLength: TWO_BYTE_LEAD(0x81, 0xfe) },
  GB18030: {
    iconv: 'gb18030',
    // four bytes when the second is a digit
    charLength: (buf, i) => (buf[i]! >= 0x81 && buf[i]! <= 0xfe ? (buf[i + 1]! >= 0x30 && buf[i + 1]! <= 0x39 ? 4 : 2) : 1),
  },
};
const UNSAFE_CLIENT_ENCODINGS = new Set(['JOHAB']);

const ALIASES: Record<string, string> = {
  UTF8: 'UTF8', UNICODE: 'UTF8', 'UTF-8': 'UTF8', SQL_ASCII: 'SQL_ASCII', LATIN1: 'LATIN1',
  ISO88591: 'LATIN1', 'ISO-8859-1': 'LATIN1', ISO_8859_1: 'LATIN1',
  WIN: 'WIN1251', ALT: 'WIN866', KOI8: 'KOI8R', WIN1252: 'WIN1252',
};

export function normaliseEncodingName(raw: string): string {
  const up = raw.trim().toUpperCase();
  return ALIASES[up] ?? up.replace(/-/g, '_');
}

export function codecFor(rawName: string): TextCodec | { unsupported: string } {
  const name = normaliseEncodingName(rawName);
  if (name === 'UTF8') return utf8;
  if (name === 'SQL_ASCII') return sqlAscii;
  if (UNSAFE_CLIENT_ENCODINGS.has(name)) return { unsupported: name };
  const embedding = ASCII_EMBEDDING[name];
  if (embedding) {
    return {
      name,
      isUtf8: false,
      decode: (buf) => iconv().decode(buf, embedding.iconv),
      encode: (text) => iconv().encode(text, embedding.iconv),
      valid: (buf) => !iconv().decode(buf, embedding.iconv).includes('\uFFFD'),
      charLength: embedding.charLength,
    };
  }
  const iconvName = SERVER_ENCODINGS[name];
  if (!iconvName || !iconv().encodingExists(iconvName)) return { unsupported: name };
  // Single-byte tables cover every byte; for the EUC family a replacement character marks bad input.
  const multiByte = name.startsWith('EUC_');
  return {
    name,
    isUtf8: false,
    decode: (buf) => iconv().decode(buf, iconvName),
    encode: (text) => iconv().encode(text, iconvName),
    valid: multiByte ? (buf) => !iconv().decode(buf, iconvName).includes('\uFFFD') : () => true,
  };
}

export const UTF8_CODEC = utf8;

const SCRATCH = Buffer.allocUnsafe(64 * 1024);

/**
 * Calls `use` with the UTF-8 of `s` as `buf[0..end)`, from a scratch buffer rather than a new Buffer
 * per value (values to hash: fakes, hashes, scrubbed matches). `use` must not keep `buf`.
 */
export function withUtf8<T>(s: string, use: (buf: Buffer, end: number) => T): T {
  if (s.length * 3 > SCRATCH.length) {
    const b = Buffer.from(s, 'utf8');
    return use(b, b.length);
  }
  return use(SCRATCH, SCRATCH.write(s, 0, 'utf8'));
}
