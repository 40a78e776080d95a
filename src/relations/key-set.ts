/**
 * A set of row keys (the text of a key's columns) in bounded memory. Each key is kept as a 64-bit keyed
 * SipHash (a key of the run, never written anywhere): first in an open-addressing table of two
 * Uint32Arrays filled to at most 1/2 (16 bytes a key); past `memoryBytes` (default 32 MiB: 2 million
 * keys) the table is sorted and written to a temporary file as a run, and cleared. A run stays on disk
 * with, in memory, a Bloom filter (10 bits a key: one lookup in 100 of a key it lacks reads the disk)
 * and every 512th hash (a lookup reads one 4 KiB block). So 10 million keys take 32 MiB of table plus
 * ~13 MiB, and 80 MB of disk.
 *
 * A key is never stored: the set can say whether it holds one, not list them. A key that shares a
 * 64-bit hash with one of the set is taken as found: keys × lookups / 2⁶⁴ in a run (1 in 180,000 for 10
 * million keys against 10 million rows); docs/gdpr.md says so.
 */
import type { RowAccess } from '../contract/plan.js';
import type { KeyForm } from '../dump/types.js';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AnonymiseError } from '../errors.js';
import { SipHash } from '../pseudonym/siphash.js';
import { privateDirectory } from '../io/temp-dir.js';

/** One key per run: the hashes mean nothing outside it. */
const SIP = new SipHash(randomBytes(16));
let scratch = Buffer.allocUnsafe(4096);

export const DEFAULT_KEY_MEMORY = 32 * 1024 * 1024;
/** hashes per block of a run: one read of 4 KiB finds a hash */
const BLOCK = 512;
const BLOOM_BITS_PER_KEY = 10;
const BLOOM_PROBES = 7;

/** A sorted run of hashes on disk, with its Bloom filter and sparse index in memory. */
class Run {
  private readonly bloom: Uint32Array;
  private readonly bloomBits: number;
  /** every BLOCK-th hash: the first of each block */
  private readonly index: BigUint64Array;
  private readonly block = new BigUint64Array(BLOCK);
  constructor(
    private readonly fd: number,
    private readonly offset: number,
    readonly count: number,
    sorted: BigUint64Array,
  ) {
    this.bloomBits = Math.max(64, count * BLOOM_BITS_PER_KEY);
    this.bloom = new Uint32Array(Math.ceil(this.bloomBits / 32));
    for (const h of sorted) this.bloomSet(h);
    this.index = new BigUint64Array(Math.ceil(count / BLOCK));
    for (let i = 0; i < this.index.length; i++) this.index[i] = sorted[i * BLOCK]!;
  }

  private bloomSet(h: bigint): void {
    const a = Number(h & 0xffffffffn);
    const b = Number(h >> 32n) | 1;
    for (let k = 0; k < BLOOM_PROBES; k++) {
      const bit = ((a + k * b) >>> 0) % this.bloomBits;
      this.bloom[bit >>> 5]! |= 1 << (bit & 31);
    }
  }

  private bloomHas(h: bigint): boolean {
    const a = Number(h & 0xffffffffn);
    const b = Number(h >> 32n) | 1;
    for (let k = 0; k < BLOOM_PROBES; k++) {
      const bit = ((a + k * b) >>> 0) % this.bloomBits;
      if ((this.bloom[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  has(h: bigint): boolean {
    if (!this.bloomHas(h)) return false;
    // the last block whose first hash is at most h
    let lo = 0;
    let hi = this.index.length - 1;
    if (this.index[0]! > h) return false;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.index[mid]! <= h) lo = mid;
      else hi = mid - 1;
    }
    const n = Math.min(BLOCK, this.count - lo * BLOCK);
    const bytes = Buffer.from(this.block.buffer, 0, n * 8);
    readSync(this.fd, bytes, 0, n * 8, this.offset + lo * BLOCK * 8);
    let a = 0;
    let b = n - 1;
    while (a <= b) {
      const m = (a + b) >>> 1;
      const v = this.block[m]!;
      if (v === h) return true;
      if (v < h) a = m + 1;
      else b = m - 1;
    }
    return false;
  }
}

export class KeySet {
  private hi: Uint32Array;
  private lo: Uint32Array;
  private mask: number;
  /** keys in the table (not on disk) */
  private inTable = 0;
  private readonly runs: Run[] = [];
  private spill: { dir: string; fd: number; bytes: number } | null = null;
  size = 0;

  constructor(
    /** what the keys are, for messages: `public.users_user (id)` */
    readonly what: string,
    /** the table's largest size before it is written to disk */
    private readonly memoryBytes = DEFAULT_KEY_MEMORY,
  ) {
    this.hi = new Uint32Array(1024);
    this.lo = new Uint32Array(1024);
    this.mask = 1023;
  }

  /** Memory held: the table, and each run's filter and index. */
  get bytes(): number {
    return this.hi.byteLength + this.lo.byteLength + this.runs.reduce((n, r) => n + Math.ceil(r.count * BLOOM_BITS_PER_KEY / 8) + Math.ceil(r.count / BLOCK) * 8, 0);
  }

  /** Keys written to disk. */
  get spilled(): number {
    return this.runs.reduce((n, r) => n + r.count, 0);
  }

  /** Adds a key; true when it was not there. */
  add(key: string): boolean {
    hashKey(key);
    let h = SIP.hi >>> 0;
    let l = SIP.lo >>> 0;
    if (h === 0 && l === 0) l = 1; // 0,0 marks an empty slot
    if (this.tableHas(h, l) || this.runsHave(h, l)) return false;
    this.insert(h, l);
    this.size++;
    if (this.inTable * 2 > this.hi.length) this.grow();
    return true;
  }

  has(key: string): boolean {
    if (this.size === 0) return false;
    hashKey(key);
    let h = SIP.hi >>> 0;
    let l = SIP.lo >>> 0;
    if (h === 0 && l === 0) l = 1;
    return this.tableHas(h, l) || this.runsHave(h, l);
  }

  /** Removes the temporary files (the set is empty and usable again). */
  close(): void {
    if (this.spill) {
      closeSync(this.spill.fd);
      rmSync(this.spill.dir, { recursive: true, force: true });
      this.spill = null;
    }
    this.runs.length = 0;
    this.hi = new Uint32Array(1024);
    this.lo = new Uint32Array(1024);
    this.mask = 1023;
    this.inTable = 0;
    this.size = 0;
  }

  private tableHas(h: number, l: number): boolean {
    let i = (l ^ h) & this.mask;
    for (;;) {
      const sh = this.hi[i]!;
      const sl = this.lo[i]!;
      if (sh === 0 && sl === 0) return false;
      if (sh === h && sl === l) return true;
      i = (i + 1) & this.mask;
    }
  }

  private runsHave(h: number, l: number): boolean {
    if (this.runs.length === 0) return false;
    const v = (BigInt(h) << 32n) | BigInt(l);
    for (const r of this.runs) if (r.has(v)) return true;
    return false;
  }

  private insert(h: number, l: number): void {
    let i = (l ^ h) & this.mask;
    while (this.hi[i] !== 0 || this.lo[i] !== 0) i = (i + 1) & this.mask;
    this.hi[i] = h;
    this.lo[i] = l;
    this.inTable++;
  }

  private grow(): void {
    const n = this.hi.length * 2;
    if (n * 8 > this.memoryBytes) return this.spillTable();
    const oh = this.hi;
    const ol = this.lo;
    this.hi = new Uint32Array(n);
    this.lo = new Uint32Array(n);
    this.mask = n - 1;
    this.inTable = 0;
    for (let i = 0; i < oh.length; i++) if (oh[i] !== 0 || ol[i] !== 0) this.insert(oh[i]!, ol[i]!);
  }

  /** The table, sorted, becomes a run on disk; the table is cleared (its size kept). */
  private spillTable(): void {
    const sorted = new BigUint64Array(this.inTable);
    let j = 0;
    for (let i = 0; i < this.hi.length; i++) if (this.hi[i] !== 0 || this.lo[i] !== 0) sorted[j++] = (BigInt(this.hi[i]!) << 32n) | BigInt(this.lo[i]!);
    sorted.sort();
    try {
      if (!this.spill) {
        const dir = privateDirectory('anonymise-dump-keys-');
        this.spill = { dir, fd: openSync(join(dir, 'runs'), 'w+', 0o600), bytes: 0 };
      }
      const bytes = Buffer.from(sorted.buffer, sorted.byteOffset, sorted.byteLength);
      let off = 0;
      while (off < bytes.length) off += writeSync(this.spill.fd, bytes, off, bytes.length - off, this.spill.bytes + off);
    } catch (e) {
      throw new AnonymiseError('LIMIT', `the set of keys of ${this.what} (${this.size} keys) could not be written to a temporary file (${(e as NodeJS.ErrnoException).code ?? 'error'}); set TMPDIR, or --max-key-memory higher`);
    }
    this.runs.push(new Run(this.spill.fd, this.spill.bytes, sorted.length, sorted));
    this.spill.bytes += sorted.byteLength;
    this.hi.fill(0);
    this.lo.fill(0);
    this.inTable = 0;
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

/**
 * A row's key over `cols`, each value in the form its type compares in (`forms[i]`, null: as written):
 * a citext key in another case, or a numeric at another scale, is the same key, as PostgreSQL has it.
 */
export function typedRowKey(row: RowAccess, cols: readonly number[], forms: readonly (KeyForm | null)[]): string | null {
  const at = (i: number) => {
    const v = row.text(cols[i]!);
    const form = forms[i];
    return v === null || !form ? v : form(v);
  };
  return cols.length === 1 ? at(0) : rowKey(cols.map((_, i) => at(i)));
}
