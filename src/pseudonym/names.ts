/**
 * Person names in free text — "Jane Smith wrote…", "Mr Patel called" — found with faker's first- and
 * last-name lists (English and British), and replaced by a keyed fake name of the same shape (a full
 * name for a full name, a surname after a title). Fakes carry the name mark (detectors.ts), so `scan`
 * does not count them. Only capitalised words count: many names are also words (will, may, green).
 * A value that is itself a first or last name is replaced whole, as scan counts it.
 */
import type { KeyRing } from './keys.js';
import { Prng } from './keys.js';
import { isMarkedName, nameMark } from './detectors.js';
import { withUtf8 } from '../text/encoding.js';

export interface NameLists {
  first: readonly string[];
  last: readonly string[];
  /** family names that count only after a first name (family-names.ts) */
  family?: ReadonlySet<string>;
}

const WORD = String.raw`\p{Lu}[\p{Ll}'\u2019\-]{1,30}`;
// a first and a last name, or a title and a surname
const PAIR = new RegExp(String.raw`(?<![\p{L}'\u2019\-])(?:(Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s{1,3}(${WORD})|(${WORD})\s{1,3}(${WORD}))(?![\p{L}'\u2019\-])`, 'gu');

/** Builds the scrubber for names: free text in, text with each name replaced. */
export function compileNameScrubber(lists: NameLists, keys: KeyRing): (text: string) => string {
  const first = new Set(lists.first.filter((n) => n.length >= 2));
  const last = new Set(lists.last.filter((n) => n.length >= 2));
  const markedFirst = lists.first.filter((n) => nameMark(n) === 0);
  const lastByMark: string[][] = Array.from({ length: 16 }, () => []);
  for (const l of lists.last) lastByMark[nameMark(l)]!.push(l);
  const sip = keys.sip('scrub\0name');
  const rng = new Prng();
  const seed = (text: string) => {
    withUtf8(text, (buf, end) => sip.hash(buf, 0, end));
    rng.seed(sip.hi, sip.lo);
  };
  return (text) => {
    if (!/\p{Lu}\p{Ll}/u.test(text)) return text;
    // a value that is a name on its own (a first name as a contact, a surname as a city's): what scan
    // counts as a name, scrub replaces, so that its output passes the gate
    const whole = text.trim();
    if (whole.length >= 3 && whole.length <= 40 && (first.has(whole) || last.has(whole)) && nameMark(whole) !== 0) {
      seed(whole);
      const pool = first.has(whole) ? markedFirst : lastByMark[0]!;
      return text.replace(whole, rng.pick(pool.length ? pool : first.has(whole) ? lists.first : lists.last));
    }
    return text.replace(PAIR, (m, title: string | undefined, surname: string | undefined, a: string | undefined, b: string | undefined) => {
      if (title !== undefined) {
        // Mr Patel: after a title any capitalised word is a surname (faker's lists miss many: Patel,
        // Khan, Nowak), replaced by a marked one. A real name that happens to carry the mark is replaced
        // too: the mark tells scan what may be ours, it never exempts a name here
        seed(surname!);
        return `${m.slice(0, m.length - surname!.length)}${rng.pick(lastByMark[0]!.length ? lastByMark[0]! : lists.last)}`;
      }
      // a known first name, then a known first or last name (the lists have Taylor and Wilson only as first names)
      // (or a family name of the people-names dictionary: Patel, Davies; two of them alone are not
      // enough, "Town Hall" would be one)
      if (!first.has(a!) || !(last.has(b!) || first.has(b!) || lists.family?.has(b!))) return m;
      seed(`${a} ${b}`);
      const f = rng.pick(markedFirst.length ? markedFirst : lists.first);
      const bucket = lastByMark[(16 - nameMark(f)) & 15]!;
      return `${f}${m.slice(a!.length, m.length - b!.length)}${rng.pick(bucket.length ? bucket : lists.last)}`;
    });
  };
}

/**
 * The person names in `text` as `scrub: [name]` finds them (a known first name then a known first, last
 * or family name; not a title's surname, which alone is too common to look for), our own marked fakes
 * left out: what the leak check looks for in the output when a rule scrubbed names.
 */
export function namePairs(text: string, lists: { first: ReadonlySet<string>; last: ReadonlySet<string>; family?: ReadonlySet<string> }, out: string[]): void {
  if (!/\p{Lu}\p{Ll}/u.test(text)) return;
  for (const m of text.matchAll(PAIR)) {
    const [, title, , a, b] = m;
    if (title !== undefined) continue;
    if (lists.first.has(a!) && (lists.last.has(b!) || lists.first.has(b!) || lists.family?.has(b!)) && !isMarkedName(`${a} ${b}`))
      out.push(`${a} ${b}`);
  }
}

/** Capitalised word pairs in `text` ("Olivia Smith"), normalised to one space: where the leak check looks for names. */
export function capitalisedPairs(text: string, out: string[]): void {
  if (!/\p{Lu}\p{Ll}/u.test(text)) return;
  for (const m of text.matchAll(CAPITALISED_PAIR)) out.push(`${m[1]} ${m[2]}`);
}
const CAPITALISED_PAIR = new RegExp(String.raw`(?<![\p{L}'\u2019\-])(${WORD})\s{1,3}(?=(${WORD})(?![\p{L}'\u2019\-]))`, 'gu');

