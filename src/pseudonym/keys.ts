/**
 * Key material. One secret per run (from the environment, never the command line); every rule gets
 * its own SipHash key derived from the secret and the rule's canonical text, so two columns share
 * pseudonyms exactly when their rules are the same.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { SipHash } from './siphash.js';

export class KeyRing {
  private readonly secret: Buffer;
  constructor(secret?: string | Buffer) {
    this.secret = secret === undefined || secret.length === 0 ? randomBytes(32) : Buffer.from(secret);
  }
  /** 32 bytes bound to `label`. */
  derive(label: string): Buffer {
    return createHmac('sha256', this.secret).update(label).digest();
  }
  sip(label: string): SipHash {
    return new SipHash(this.derive(label));
  }
  /** A copy of the key, for a worker thread that must derive the same keys (a random key included); never printed. */
  copyForWorker(): Uint8Array {
    return Uint8Array.from(this.secret);
  }
}

/**
 * A small fast generator (sfc32) seeded from a 64-bit hash: picks for one value come from it, so a
 * value's fake depends on nothing but the value and the rule's key.
 */
export class Prng {
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;
  seed(hi: number, lo: number): void {
    this.a = lo | 0;
    this.b = hi | 0;
    this.c = (lo ^ 0x9e3779b9) | 0;
    this.d = 1;
    for (let i = 0; i < 8; i++) this.nextU32();
  }
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** [0, 1) */
  next(): number {
    return this.nextU32() / 4294967296;
  }
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(arr: readonly T[]): T {
    return arr[this.below(arr.length)]!;
  }
}

const BASE32 = Uint8Array.from('abcdefghijklmnopqrstuvwxyz234567', (c) => c.charCodeAt(0));
/**
 * 12 lower-case base32 characters (60 bits) of a 64-bit hash: the part that makes `unique` fakes
 * distinct. Made in one string at once: twelve concatenations cost ~0.1 µs more a value.
 */
export function uniqueToken(hi: number, lo: number): string {
  // the low 30 bits of each half
  const x = hi >>> 0;
  const y = lo >>> 0;
  const b = BASE32;
  return String.fromCharCode(
    b[x & 31]!, b[(x >>> 5) & 31]!, b[(x >>> 10) & 31]!, b[(x >>> 15) & 31]!, b[(x >>> 20) & 31]!, b[(x >>> 25) & 31]!,
    b[y & 31]!, b[(y >>> 5) & 31]!, b[(y >>> 10) & 31]!, b[(y >>> 15) & 31]!, b[(y >>> 20) & 31]!, b[(y >>> 25) & 31]!,
  );
}

/** uniqueToken's 12 characters, as bytes into `out`. */
export function tokenInto(out: Uint8Array, hi: number, lo: number): void {
  for (let i = 0; i < 6; i++) {
    out[i] = BASE32[(hi >>> (5 * i)) & 31]!;
    out[6 + i] = BASE32[(lo >>> (5 * i)) & 31]!;
  }
}
