/**
 * A person's identifiers (their e-mail address, user name…) looked for in every other row's text: the
 * bytes of a COPY line or INSERT are searched for all of them at once (Aho–Corasick over ASCII-folded
 * bytes, one table lookup a byte, whatever their number), and only a row with a hit is decoded and its
 * text columns scrubbed. Each identifier is searched as it may be written: as is, lower-cased (the
 * search folds ASCII case), an address without its `+tag`, JSON-escaped (`\u00e9`), COPY-escaped and
 * SQL-quoted.
 */
import type { SipHash } from '../pseudonym/siphash.js';

/** Shortest identifier looked for: shorter values (initials, ids) match too much of everyone else's text. */
export const MIN_IDENTIFIER_LENGTH = 4;

/** The forms an identifier's text may take in other values (decoded column text: JSON escapes, an address's +tag). */
export function textForms(id: string): string[] {
  const forms = new Set<string>([id]);
  const at = id.indexOf('@');
  if (at > 0) {
    const plus = id.indexOf('+');
    if (plus > 0 && plus < at) forms.add(id.slice(0, plus) + id.slice(at));
  }
  for (const f of [...forms]) {
    // eslint-disable-next-line no-control-regex
    const json = f.replace(/[\u0000-\u001f"\\\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    if (json !== f) forms.add(json);
  }
  return [...forms];
}

/** The byte forms of one text form in a dump line: as UTF-8, COPY-escaped, SQL-quoted. */
export function byteForms(form: string): string[] {
  const forms = new Set<string>([form]);
  const copy = form.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
  forms.add(copy);
  if (form.includes("'")) forms.add(form.replace(/'/g, "''"));
  return [...forms];
}

/** Folds ASCII upper case to lower: the search and the scrub ignore ASCII case. */
function fold(b: number): number {
  return b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
}

/**
 * Many byte strings found at once: an Aho–Corasick automaton turned into a full transition table, one
 * load a byte. Its rows are indexed by byte when the table stays small (a few people's identifiers);
 * past that, by byte class (each byte some needle holds, folded; every other byte one class), which
 * costs a second load a byte. A transition into a state where a needle ends is stored negative, so the
 * loop tests one value a byte.
 */
export class NeedleSearch {
  private readonly classOf = new Uint8Array(256);
  /** row width: 256 (by byte) or the number of classes */
  private readonly stride: number;
  private readonly delta: Int32Array;
  /** few needles, none short: Wu–Manber skipping (most bytes never read) */
  private readonly few: WuManber | null;
  readonly count: number;

  constructor(needles: readonly string[]) {
    const bytes = [...new Set(needles.filter((n) => n.length > 0))].map((n) => Buffer.from(n, 'utf8').map(fold));
    this.count = bytes.length;
    this.few = bytes.length > 0 && bytes.length <= WuManber.MAX_NEEDLES && Math.min(...bytes.map((b) => b.length)) >= WuManber.MIN_LENGTH ? new WuManber(bytes) : null;
    let classes = 1;
    for (const n of bytes) for (const b of n) if (this.classOf[b] === 0) this.classOf[b] = classes++;
    for (let b = 0x41; b <= 0x5a; b++) this.classOf[b] = this.classOf[b | 0x20]!;
    // the trie, then failure links turned into a full transition table (breadth first)
    const children: Map<number, number>[] = [new Map()];
    const accept: number[] = [0];
    for (const n of bytes) {
      let s = 0;
      for (const b of n) {
        const c = this.classOf[b]!;
        let next = children[s]!.get(c);
        if (next === undefined) {
          next = children.length;
          children.push(new Map());
          accept.push(0);
          children[s]!.set(c, next);
        }
        s = next;
      }
      accept[s] = 1;
    }
    const states = children.length;
    const byClass = new Int32Array(states * classes);
    const fail = new Int32Array(states);
    const acc = Uint8Array.from(accept);
    const queue: number[] = [];
    for (let c = 1; c < classes; c++) {
      const next = children[0]!.get(c);
      if (next !== undefined) {
        byClass[c] = next;
        queue.push(next);
      }
    }
    for (let q = 0; q < queue.length; q++) {
      const s = queue[q]!;
      if (acc[fail[s]!]) acc[s] = 1;
      for (let c = 0; c < classes; c++) {
        const next = c === 0 ? undefined : children[s]!.get(c);
        if (next !== undefined) {
          fail[next] = byClass[fail[s]! * classes + c]!;
          byClass[s * classes + c] = next;
          queue.push(next);
        } else byClass[s * classes + c] = byClass[fail[s]! * classes + c]!;
      }
    }
    this.stride = states * 256 <= 1 << 22 ? 256 : classes;
    const stride = this.stride;
    this.delta = new Int32Array(states * stride);
    for (let s = 0; s < states; s++)
      for (let k = 0; k < stride; k++) {
        const next = byClass[s * classes + (stride === 256 ? this.classOf[k]! : k)]!;
        this.delta[s * stride + k] = acc[next] ? -1 : next * stride;
      }
  }

  /**
   * -1 when no needle occurs in `buf[from..end)`; else an offset inside an occurrence, before which
   * none ends — so the line that holds it is the first line with one (needles hold no newline).
   */
  find(buf: Uint8Array, from: number, end: number): number {
    if (this.count === 0) return -1;
    return this.few ? this.few.find(buf, from, end) : this.findEnd(buf, from, end);
  }

  /** The offset of the last byte of the first needle to end in `buf[from..end)`, or -1. */
  private findEnd(buf: Uint8Array, from: number, end: number): number {
    const delta = this.delta;
    let s = 0;
    if (this.stride === 256) {
      for (let i = from; i < end; i++) {
        s = delta[s + buf[i]!]!;
        if (s < 0) return i;
      }
      return -1;
    }
    const classOf = this.classOf;
    for (let i = from; i < end; i++) {
      s = delta[s + classOf[buf[i]!]!]!;
      if (s < 0) return i;
    }
    return -1;
  }
}

const FOLD = Uint8Array.from({ length: 256 }, (_, b) => fold(b));

function matchesAt(buf: Uint8Array, at: number, needle: Uint8Array): boolean {
  for (let k = 0; k < needle.length; k++) if (FOLD[buf[at + k]!] !== needle[k]) return false;
  return true;
}

/**
 * Wu–Manber (1994) over folded byte pairs: the window of the shortest needle's length slides by as much
 * as its last two bytes allow (most pairs begin no needle: a whole window), and only windows ending in
 * a pair some needle ends its first window with are compared. Windows slide left to right, so the first
 * match found is the leftmost.
 */
class WuManber {
  static readonly MAX_NEEDLES = 64;
  static readonly MIN_LENGTH = 4;
  private readonly m: number;
  private readonly shift: Uint8Array;
  private readonly candidates = new Map<number, Uint8Array[]>();

  constructor(needles: Uint8Array[]) {
    const m = Math.min(255, ...needles.map((n) => n.length));
    this.m = m;
    this.shift = new Uint8Array(65536).fill(m - 1);
    for (const n of needles) {
      for (let q = 1; q < m; q++) {
        const block = n[q - 1]! | (n[q]! << 8);
        const sh = m - 1 - q;
        if (sh < this.shift[block]!) this.shift[block] = sh;
      }
      const last = n[m - 2]! | (n[m - 1]! << 8);
      const list = this.candidates.get(last) ?? [];
      list.push(n);
      this.candidates.set(last, list);
    }
  }

  find(buf: Uint8Array, from: number, end: number): number {
    const m = this.m;
    const shift = this.shift;
    let i = from + m - 1;
    while (i < end) {
      const block = FOLD[buf[i - 1]!]! | (FOLD[buf[i]!]! << 8);
      const sh = shift[block]!;
      if (sh > 0) {
        i += sh;
        continue;
      }
      const start = i - m + 1;
      for (const n of this.candidates.get(block)!) if (start + n.length <= end && matchesAt(buf, start, n)) return start;
      i++;
    }
    return -1;
  }
}

export interface Identifiers {
  /** the identifiers, as found in the person's rows (never printed) */
  values: string[];
  /** the raw search over dump lines */
  search: NeedleSearch;
  /** what it searches for (every byte form) */
  needles: string[];
  /** scrubs every form of every identifier from a decoded value; `hits` counts replacements */
  scrub(text: string): { text: string; hits: number };
  /**
   * The same inside a bytea value as PostgreSQL writes it (`\\x` and hex): the bytes are searched as
   * text (ASCII case folded), replaced, and written back as hex. Other forms come back as they are.
   */
  scrubBytea(value: string): { text: string; hits: number };
  /** The same in raw bytes (a large object's contents): null when none is found. */
  scrubBytes(data: Buffer): { data: Buffer; hits: number } | null;
}

/**
 * The search and scrub for a set of identifiers. An identifier is replaced by hex digits of a keyed
 * hash of it (as long as it, at most 16): the same identifier gives the same text everywhere in a run,
 * two give two, and a value never grows past its column's length. An e-mail address stays one (hex
 * at a reserved `.invalid` domain) where it is long enough to, so that a column or domain that checks
 * for an address still takes it.
 */
export function identifiers(values: Iterable<string>, sip: SipHash): Identifiers {
  const list = [...new Set([...values].filter((v) => v.length >= MIN_IDENTIFIER_LENGTH))];
  const replacement = new Map<string, string>();
  const texts: string[] = [];
  for (const v of list) {
    const h = hexOf(v.toLowerCase(), sip, Math.min(16, v.length));
    for (const f of textForms(v)) {
      texts.push(f);
      replacement.set(f.toLowerCase(), replacementFor(f, h));
    }
  }
  // in a bytea column an identifier is hex: its bytes as written, and lower-cased
  const hex = texts.flatMap((t) => [...new Set([t, t.toLowerCase()])].map((f) => Buffer.from(f, 'utf8').toString('hex')));
  const needles = [...texts.flatMap(byteForms), ...hex];
  // longest first: an address is replaced whole before a user name inside it
  texts.sort((a, b) => b.length - a.length);
  // whole identifiers only: user1@example.org is not inside auser1@example.org or user1@example.org.uk,
  // nor a user name inside a longer one
  const re = texts.length ? new RegExp(`(?<![\\p{L}\\p{N}._%+-])(?:${texts.map(escapeRegExp).join('|')})(?![\\p{L}\\p{N}_-]|\\.[\\p{L}\\p{N}])`, 'giu') : null;
  // in bytes read as latin1 a byte over 0x7f is no letter of a word: only ASCII ones bound an identifier
  const reBytes = texts.length ? new RegExp(`(?<![A-Za-z0-9._%+-])(?:${texts.map(escapeRegExp).join('|')})(?![A-Za-z0-9_-]|\\.[A-Za-z0-9])`, 'gi') : null;
  const scrubWith = (pattern: RegExp | null, text: string) => {
    if (!pattern) return { text, hits: 0 };
    let hits = 0;
    const out = text.replace(pattern, (m) => {
      hits++;
      return replacement.get(m.toLowerCase()) ?? '0'.repeat(m.length);
    });
    return { text: out, hits };
  };
  const search = new NeedleSearch(needles);
  return {
    values: list,
    search,
    needles,
    scrub: (text) => scrubWith(re, text),
    scrubBytea(value) {
      if (!reBytes || !/^\\x(?:[0-9a-fA-F]{2})*$/.test(value)) return { text: value, hits: 0 };
      // latin1: one character a byte, so an ASCII identifier reads as itself and the bytes come back whole
      const r = scrubWith(reBytes, Buffer.from(value.slice(2), 'hex').toString('latin1'));
      return r.hits ? { text: `\\x${Buffer.from(r.text, 'latin1').toString('hex')}`, hits: r.hits } : { text: value, hits: 0 };
    },
    scrubBytes(data) {
      if (!reBytes || search.find(data, 0, data.length) === -1) return null;
      const r = scrubWith(reBytes, data.toString('latin1'));
      return r.hits ? { data: Buffer.from(r.text, 'latin1'), hits: r.hits } : null;
    },
  };
}

/** An address's stand-in: hex (the keyed hash) at a reserved domain, never longer than the address. */
const ADDRESS_DOMAIN = '@a.invalid';
const ADDRESS = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

function replacementFor(form: string, hex: string): string {
  if (ADDRESS.test(form) && form.length > ADDRESS_DOMAIN.length) return hex.slice(0, Math.min(hex.length, form.length - ADDRESS_DOMAIN.length)) + ADDRESS_DOMAIN;
  return form.length >= hex.length ? hex : hex.slice(0, form.length);
}

function hexOf(text: string, sip: SipHash, length: number): string {
  sip.hash(Buffer.from(text, 'utf8'));
  return ((sip.hi >>> 0).toString(16).padStart(8, '0') + (sip.lo >>> 0).toString(16).padStart(8, '0')).slice(0, length);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
