/** The ASCII bytes the dump formats give meaning to (the same single bytes in every encoding we rewrite). */
export const TAB = 0x09;
export const LF = 0x0a;
export const CR = 0x0d;
export const DQUOTE = 0x22; // "
export const DOLLAR = 0x24; // $
export const SQUOTE = 0x27; // '
export const LPAREN = 0x28; // (
export const RPAREN = 0x29; // )
export const STAR = 0x2a; // *
export const COMMA = 0x2c; // ,
export const DASH = 0x2d; // -
export const DOT = 0x2e; // .
export const SLASH = 0x2f; // /
export const SEMI = 0x3b; // ;
export const BACKSLASH = 0x5c; // \

/**
 * Copies `src[start, end)` to `dst` at `at`; returns the bytes copied. Short runs (the bytes between
 * two rewritten values) are copied a byte at a time: Buffer#copy's own overhead is larger than theirs.
 */
export function copyBytes(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number): number {
  const n = end - start;
  if (n < 48) for (let i = start; i < end; i++) dst[at++] = src[i]!;
  else dst.set(src.subarray(start, end), at);
  return n;
}

/** `parts`, one after another, into `dst` from its start (a buffer sized for them); returns the bytes copied. */
export function concatInto(parts: readonly Uint8Array[], dst: Uint8Array): number {
  let at = 0;
  for (const p of parts) {
    dst.set(p, at);
    at += p.length;
  }
  return at;
}
