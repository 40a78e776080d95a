/**
 * The fakes of values met lately, by their bytes. A fake is a function of the rule's key and the value
 * alone, and many columns repeat their values: a few hundred first and last names cover most people,
 * and a form's `name` field holds the same full names again and again. A repeat then costs a byte
 * hash and a comparison (~30 ns for a name) instead of SipHash and the generator (~150–250 ns), and
 * its fake is a string already written once (flat, not the concatenation the generator returned).
 *
 * The table is two-way set-associative and bounded (SLOTS values of at most KEY_MAX bytes: ~0.3 MiB with
 * its fakes), so memory stays flat however many values there are. A column of distinct values (e-mail
 * addresses, phone numbers) finds few repeats: once a window of lookups hits less than MIN_HITS of the
 * time, the table is dropped and passed by for a while, then tried again, so such a column pays a
 * counter a value and holds no memory meanwhile (every thread has a table for each fake method).
 */
import type { DraftWriter, RangeText } from '../text/byte-draft.js';

export type RangeFn = (value: Buffer, start?: number, end?: number) => string;

const SLOTS = 1 << 13;
/** longer values are not kept: names fit, and longer values seldom repeat */
export const KEY_MAX = 32;
/** lookups per window, and the hits a window needs for the table to stay in use */
export const WINDOW = 4096;
const MIN_HITS = WINDOW / 8;
/** windows passed by before the table is tried again */
export const REST = 16;

class Table {
  readonly keys = new Uint8Array(SLOTS * KEY_MAX);
  /** per slot: the key's length plus one (0: empty) */
  readonly lengths = new Uint8Array(SLOTS);
  readonly fakes: string[] = new Array<string>(SLOTS).fill('');
  /** per set of two slots: the way used last */
  readonly lastUsed = new Uint8Array(SLOTS / 2);
}

export class FakeMemo {
  private table: Table | null = null;
  private lookups = 0;
  private hits = 0;
  /** lookups left to pass by (0: in use) */
  private resting = 0;

  /**
   * `bytes`: the same fakes written as bytes (fake.ts), taken while the table is passed by, when `get`
   * would call `fn` for every value; while the table is in use, values are left to `get`.
   */
  constructor(
    private readonly fn: RangeFn,
    bytes?: Pick<DraftWriter, 'into' | 'plain'>,
  ) {
    if (!bytes) return;
    this.get.draft = {
      ready: () => this.resting > 0,
      into: (d, value, start, end) => {
        // a value passed by counts as `get` counts it
        if (this.resting > 0 && --this.resting === 0) this.lookups = this.hits = 0;
        bytes.into(d, value, start, end);
      },
      plain: bytes.plain,
    };
  }

  /** `fn(value, start, end)`, from the table when the same bytes were met lately. */
  readonly get: RangeText = (value, start = 0, end = value.length) => {
    const n = end - start;
    if (this.resting > 0) {
      if (--this.resting === 0) this.lookups = this.hits = 0;
      return this.fn(value, start, end);
    }
    if (n > KEY_MAX) return this.fn(value, start, end);
    if (++this.lookups === WINDOW) {
      const few = this.hits < MIN_HITS;
      this.lookups = this.hits = 0;
      if (few) {
        this.resting = REST * WINDOW;
        this.table = null;
        return this.fn(value, start, end);
      }
    }
    const t = (this.table ??= new Table());
    // FNV-1a over the bytes
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ value[i]!, 0x01000193);
    const set = (h ^ (h >>> 13)) & (SLOTS - 2);
    const keys = t.keys;
    // two ways a set: a value whose set is shared keeps its place while it is used (the other way is replaced)
    for (let way = 0; way < 2; way++) {
      const slot = set + way;
      if (t.lengths[slot] !== n + 1) continue;
      const at = slot * KEY_MAX;
      let i = 0;
      while (i < n && keys[at + i] === value[start + i]) i++;
      if (i === n) {
        this.hits++;
        t.lastUsed[set >>> 1] = way;
        return t.fakes[slot]!;
      }
    }
    const way = t.lastUsed[set >>> 1]! ^ 1;
    const slot = set + way;
    const at = slot * KEY_MAX;
    const fake = this.fn(value, start, end);
    for (let i = 0; i < n; i++) keys[at + i] = value[start + i]!;
    t.lengths[slot] = n + 1;
    t.fakes[slot] = fake;
    t.lastUsed[set >>> 1] = way;
    return fake;
  };
}
