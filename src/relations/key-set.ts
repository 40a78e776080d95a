/**
 * A set of row keys (the text of a key's columns) in little memory: each key is kept as a 64-bit keyed
 * SipHash in an open-addressing table of two Uint32Arrays, filled to at most 1/2 — 16 bytes a key, so
 * 10 million keys (a 10-million-row users table, all of it kept by a subset) take 256 MiB at the table's
 * next power of two, 2 million 32 MiB. A key is never stored: the set can say whether it holds one,
 * not list them. Two keys with the same hash are one key (about 1 in 3·10⁶ for a set of 10 million
 * against a table of 10 million), so a row may be taken for another with that chance; the README says so.
 *
 * Past `maxBytes` the set stops the run with a message rather than grow without bound.
 */
import { randomBytes } from 'node:crypto';
import { AnonymiseError } from '../errors.js';
import { SipHash } from '../pseudonym/siphash.js';

/** One key per run: the hashes mean nothing outside it. */
const SIP = new SipHash(randomBytes(16));
const SCRATCH_SIZE = 4096;
let scratch = Buffer.allocUnsafe(SCRATCH_SIZE);

export const DEFAULT_MAX_KEY_BYTES = 512 * 1024 * 1024;

export class KeySet {
  private hi: Uint32Array;
  private lo: Uint32Array;
  private mask: number;
  size = 0;

  constructor(
    /** what the keys are, for the message when the set is full: `public.users_user (id)` */
    readonly what: string,
    private readonly maxBytes = DEFAULT_MAX_KEY_BYTES,
  ) {
    this.hi = new Uint32Array(1024);
    this.lo = new Uint32Array(1024);
    this.mask = 1023;
  }

  get bytes(): number {
    return this.hi.byteLength + this.lo.byteLength;
  }

  /** Adds a key; true when it was not there. */
  add(key: string): boolean {
    hashKey(key);
    return this.addHash(SIP.hi, SIP.lo);
  }

  has(key: string): boolean {
    if (this.size === 0) return false;
    hashKey(key);
    return this.hasHash(SIP.hi, SIP.lo);
  }

  private addHash(h: number, l: number): boolean {
    if (h === 0 && l === 0) l = 1; // 0,0 marks an empty slot
    let i = (l ^ h) & this.mask;
    for (;;) {
      const sh = this.hi[i]!;
      const sl = this.lo[i]!;
      if (sh === 0 && sl === 0) break;
      if (sh === h && sl === l) return false;
      i = (i + 1) & this.mask;
    }
    this.hi[i] = h;
    this.lo[i] = l;
    this.size++;
    if (this.size * 2 > this.hi.length) this.grow();
    return true;
  }

  private hasHash(h: number, l: number): boolean {
    if (h === 0 && l === 0) l = 1;
    let i = (l ^ h) & this.mask;
    for (;;) {
      const sh = this.hi[i]!;
      const sl = this.lo[i]!;
      if (sh === 0 && sl === 0) return false;
      if (sh === h && sl === l) return true;
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const n = this.hi.length * 2;
    if (n * 8 > this.maxBytes)
      throw new AnonymiseError('LIMIT', `the set of keys of ${this.what} needs more than ${Math.round(this.maxBytes / 1048576)} MiB (--max-key-memory): ${this.size} keys so far`);
    const oh = this.hi;
    const ol = this.lo;
    this.hi = new Uint32Array(n);
    this.lo = new Uint32Array(n);
    this.mask = n - 1;
    this.size = 0;
    for (let i = 0; i < oh.length; i++) if (oh[i] !== 0 || ol[i] !== 0) this.addHash(oh[i]!, ol[i]!);
  }
}

function hashKey(key: string): void {
  // keys are short (ids, codes): written into one reused buffer, not a Buffer each
  if (key.length * 3 > scratch.length) scratch = Buffer.allocUnsafe(key.length * 3);
  const n = scratch.write(key, 0, 'utf8');
  SIP.hash(scratch, 0, n);
}

/** The key of a row for some columns: their texts, NULL marked apart from any text. Null when a column is NULL (a NULL refers to nothing). */
export function rowKey(texts: readonly (string | null)[]): string | null {
  if (texts.length === 1) return texts[0]!;
  for (const t of texts) if (t === null) return null;
  return texts.join('\u0000');
}
