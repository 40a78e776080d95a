import type { ColumnRule } from '../../contract/rules-model.js';
import type { RuleKind } from './kind.js';

type Mask = Extract<ColumnRule, { kind: 'mask' }>;

/** The number of code points in `s` (a surrogate pair is one). */
function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++, n++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) i++;
  }
  return n;
}

/** The UTF-16 offset of code point `k` of `s`. */
function codePointOffset(s: string, k: number): number {
  let i = 0;
  for (let n = 0; n < k && i < s.length; n++, i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) i++;
  }
  return i;
}

export const mask: RuleKind<Mask> = {
  key: 'mask',
  doc: 'every character but the kept ends replaced by `char` (`keep_start`, `keep_end`, `char: "*"`); a value too short to keep both ends is masked whole',
  options: ['nulls'],
  parse: (node, api) => {
    let keepStart = 0;
    let keepEnd = 0;
    let char = '*';
    if (!api.isNull(node)) {
      for (const o of api.options(node, 'mask', ['keep_start', 'keep_end', 'char'])) {
        if (o.key === 'keep_start') keepStart = api.int(o.value, 'keep_start', 0, 1000);
        if (o.key === 'keep_end') keepEnd = api.int(o.value, 'keep_end', 0, 1000);
        if (o.key === 'char') {
          char = api.string(o.value, 'char');
          if ([...char].length !== 1) api.fail(o.node, 'mask char must be one character');
        }
      }
    }
    return { kind: 'mask', keepStart, keepEnd, char, nulls: api.nulls, where: api.where };
  },
  compile: ({ keepStart, keepEnd, char, nulls }) => ({
    kind: 'text',
    nulls,
    fn: (s) => {
      // by code point, without an array of them (a value may be many megabytes)
      const n = codePoints(s);
      // too short to keep both ends without revealing it all: mask everything
      if (n <= keepStart + keepEnd) return char.repeat(n);
      return s.slice(0, codePointOffset(s, keepStart)) + char.repeat(n - keepStart - keepEnd) + s.slice(codePointOffset(s, n - keepEnd));
    },
  }),
  fits: (_rule, cls) => cls === 'text' || cls === 'other',
  length: () => -1, // the value's own number of characters
  unique: () => false, // masking collapses values
  leaks: 'whole',
  protection: 'generalised',
};
