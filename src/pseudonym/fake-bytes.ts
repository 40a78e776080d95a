/**
 * The fast fakes of the columns that hold a distinct value a row (e-mail addresses, user names, phone
 * numbers) and of names, written as UTF-8 bytes into a draft (text/byte-draft.ts): the word lists' items
 * as bytes, picked and copied. Their text is the draft read once; a COPY writer or a json walk copies the
 * bytes instead (a string of picks took ~0.15 µs more to write than its bytes).
 *
 * Each generator draws from the value's generator exactly as the text it stands for always did: the same
 * picks in the same order, so a fake is the same whichever form is written.
 */
import type { ByteDraft } from '../text/byte-draft.js';
import { passesAsFake } from './detectors.js';
import type { Prng } from './keys.js';

/** Writes a fake into `d`; `token`: the 12 bytes of a `unique` fake's suffix, or null. */
export type ByteGen = (rng: Prng, token: Uint8Array | null, d: ByteDraft) => void;

export interface FakeLists {
  first: string[];
  markedFirst: string[];
  markedLast: string[];
  markedMiddle: string[];
  /** last names by their mark (detectors.ts' nameMark), and each first name's mark */
  lastByMark: string[][];
  firstMarks: number[];
  firstSlugs: string[];
  lastSlugs: string[];
  domains: string[];
  phoneFormats: { pattern: string; searched: boolean }[];
}

const HASH = 0x23;
const BANG = 0x21;
const QUERY = 0x3f;
const STAR = 0x2a;
const SPACE = 0x20;
const DOT = 0x2e;
const AT = 0x40;
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const X_SUFFIX = utf8(' x');
const DRAMA = utf8('07700 900');

/**
 * Whether every byte the generators may write is one that COPY text and JSON strings take as it is
 * (no control character, no backslash): their bytes then go out unescaped.
 */
export function listsArePlain(lists: FakeLists): boolean {
  const plain = (s: string) => !/[\x00-\x1f\\]/.test(s);
  return [lists.first, lists.markedFirst, lists.markedLast, lists.markedMiddle, ...lists.lastByMark, lists.firstSlugs, lists.lastSlugs, lists.domains]
    .every((l) => l.every(plain)) && lists.phoneFormats.every((f) => plain(f.pattern));
}

/**
 * A faker pattern's UTF-8 bytes filled into `d`: `#` a digit, `!` a digit 2-9 (no leading 0 or 1 in a
 * North American area code), `?` a capital letter, `*` either, drawn in the pattern's order as faker's
 * own fill draws; every other byte as it is (the wildcards are ASCII, never part of a longer character).
 */
export function patternInto(pattern: Buffer, rng: Prng, d: ByteDraft): void {
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === HASH) d.byte(0x30 + rng.below(10));
    else if (ch === BANG) d.byte(0x32 + rng.below(8));
    else if (ch === QUERY) d.byte(0x41 + rng.below(26));
    else if (ch === STAR) d.byte(rng.below(36) < 10 ? 0x30 + rng.below(10) : 0x41 + rng.below(26));
    else d.byte(ch);
  }
}

function suffix(d: ByteDraft, sep: Buffer | number, token: Uint8Array | null): void {
  if (token === null) return;
  if (typeof sep === 'number') d.byte(sep);
  else d.put(sep);
  d.put(token);
}

export function byteGenerators(lists: FakeLists): Record<string, ByteGen> {
  const first = lists.first.map(utf8);
  const markedFirst = lists.markedFirst.map(utf8);
  const markedLast = lists.markedLast.map(utf8);
  const markedMiddle = lists.markedMiddle.map(utf8);
  const lastByMark = lists.lastByMark.map((b) => b.map(utf8));
  const firstSlugs = lists.firstSlugs.map(utf8);
  const lastSlugs = lists.lastSlugs.map(utf8);
  const domains = lists.domains.map(utf8);
  const formats = lists.phoneFormats.map((f) => ({ pattern: utf8(f.pattern), searched: f.searched }));
  const pickInto = (rng: Prng, list: Buffer[], d: ByteDraft) => d.put(list[rng.below(list.length)]!);

  const localPart = (rng: Prng, token: Uint8Array | null, d: ByteDraft) => {
    pickInto(rng, firstSlugs, d);
    d.byte(DOT);
    pickInto(rng, lastSlugs, d);
    if (token === null) d.decimal(rng.below(100));
    else {
      d.byte(DOT);
      d.put(token);
    }
  };
  const email: ByteGen = (rng, token, d) => {
    localPart(rng, token, d);
    d.byte(AT);
    pickInto(rng, domains, d);
  };
  const phone: ByteGen = (rng, token, d) => {
    const from = d.len;
    const format = formats[rng.below(formats.length)]!;
    patternInto(format.pattern, rng, d);
    // a number the detectors would take for a real one: one of Ofcom's drama numbers instead
    if (format.searched && !passesAsFake('phone', d.text(from))) {
      d.len = from;
      d.put(DRAMA);
      const n = rng.below(1000);
      if (n < 100) d.byte(0x30);
      if (n < 10) d.byte(0x30);
      d.decimal(n);
    }
    suffix(d, X_SUFFIX, token);
  };
  const fullName: ByteGen = (rng, token, d) => {
    const f = rng.below(first.length);
    const bucket = lastByMark[(16 - lists.firstMarks[f]!) & 15]!;
    // a short list may leave a bucket empty: then both words marked (their sum is too)
    if (bucket.length > 0) {
      d.put(first[f]!);
      d.byte(SPACE);
      pickInto(rng, bucket, d);
    } else {
      pickInto(rng, markedFirst, d);
      d.byte(SPACE);
      pickInto(rng, markedLast, d);
    }
    suffix(d, SPACE, token);
  };
  const oneOf = (list: Buffer[]): ByteGen => (rng, token, d) => {
    pickInto(rng, list, d);
    suffix(d, SPACE, token);
  };
  return {
    'person.firstName': oneOf(markedFirst),
    'person.lastName': oneOf(markedLast),
    'person.middleName': oneOf(markedMiddle),
    'person.fullName': fullName,
    'internet.email': email,
    'internet.exampleEmail': email,
    'internet.username': localPart,
    'internet.userName': localPart,
    'phone.number': phone,
  };
}
