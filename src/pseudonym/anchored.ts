/**
 * Replacing a detector's matches while trying its pattern only near a part every match holds (its
 * anchor), not at every place of the text: what `text.replace(re, fn)` does, the same matches at the
 * same offsets, for a fraction of the searches. Most free text holds no anchor at all.
 */

export type Anchor =
  /** every match holds `re` (global, no lookbehind) at most `reach` UTF-16 units after its start */
  | { re: RegExp; reach: number }
  /** `start`: the only place at or after `from` where a match holding the anchor found at `at` can begin; -1 for none */
  | { re: RegExp; start: (text: string, at: number, from: number) => number };

type Replace = (match: string, ...rest: unknown[]) => string;

/**
 * `re.exec(text)` from `from` for the `re` whose every match holds an anchor, `sticky` being its pattern
 * with the y flag: the pattern is tried only where the anchor says. None begins anywhere else (it would
 * hold an earlier anchor), so the match is the one the global search finds.
 */
export function anchoredExec(text: string, sticky: RegExp, anchor: Anchor, from: number): RegExpExecArray | null {
  const re = anchor.re;
  while (from <= text.length) {
    re.lastIndex = from;
    const a = re.exec(text);
    if (a === null) return null;
    if ('start' in anchor) {
      const at = anchor.start(text, a.index, from);
      if (at >= 0) {
        sticky.lastIndex = at;
        const m = sticky.exec(text);
        if (m !== null) return m;
      }
    } else {
      for (let at = Math.max(from, a.index - anchor.reach); at <= a.index; at++) {
        sticky.lastIndex = at;
        const m = sticky.exec(text);
        if (m !== null) return m;
      }
    }
    from = a.index + 1;
  }
  return null;
}

/** `text.replace(re, replace)` for such a `re` (anchoredExec): a text without an anchor is returned as it is. */
export function anchoredReplace(text: string, sticky: RegExp, anchor: Anchor, replace: Replace): string {
  let out: string | null = null;
  let done = 0; // text before this is in `out`
  for (let m = anchoredExec(text, sticky, anchor, 0); m !== null; m = anchoredExec(text, sticky, anchor, m[0].length === 0 ? done + 1 : done)) {
    out = (out ?? '') + text.slice(done, m.index) + replace(m[0], ...m.slice(1), m.index, text);
    done = m.index + m[0].length;
  }
  return out === null ? text : out + text.slice(done);
}

/** `[\p{L}\p{N}._%+'\-]` below 0x80: the characters of an unquoted local part */
const LOCAL_ASCII = new Uint8Array(128);
for (let c = 0; c < 128; c++) LOCAL_ASCII[c] = /[A-Za-z0-9._%+'\-]/.test(String.fromCharCode(c)) ? 1 : 0;
const LOCAL_OTHER = /^[\p{L}\p{N}]$/u;
const QUOTE = 0x22;

/**
 * Where an e-mail address whose `@` is at `at` begins (the EMAIL pattern of detectors.ts: a local part
 * of 1 to 256 such characters, or quoted). Every match holds the first `@` after its start, so only the
 * local part before that `@` can begin one: a quoted one at its opening quote (the one before the quote
 * right before the `@`); an unquoted one anywhere along the run of local-part characters that ends at
 * the `@`, and there it matches at every place or at none (what follows the `@` decides), so its
 * leftmost place (256 code points back at most) is the one to try. Searching the whole text tried the
 * pattern at every place before the `@`, backtracking through each word: ~14 µs more for a 130-character
 * text holding an address when it also holds a character past Latin-1 (V8's two-byte strings), ~1.6 µs
 * when not.
 */
export function emailStart(text: string, at: number, from: number): number {
  if (at <= from) return -1;
  if (text.charCodeAt(at - 1) === QUOTE) {
    const q = text.lastIndexOf('"', at - 2);
    return q >= from ? q : -1;
  }
  let p = at;
  for (let n = 0; n < 256 && p > from; n++) {
    const c = text.charCodeAt(p - 1);
    if (c < 0x80) {
      if (LOCAL_ASCII[c] === 0) break;
      p--;
      continue;
    }
    // one code point back: a surrogate pair is one letter or number to the pattern's u flag
    const pair = (c & 0xfc00) === 0xdc00 && p - 2 >= from && (text.charCodeAt(p - 2) & 0xfc00) === 0xd800;
    const q = pair ? p - 2 : p - 1;
    if (!LOCAL_OTHER.test(text.slice(q, p))) break;
    p = q;
  }
  return p < at ? p : -1;
}
