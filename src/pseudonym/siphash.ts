/**
 * SipHash-2-4 (Aumasson & Bernstein, https://www.aumasson.jp/siphash/siphash.pdf): a keyed
 * pseudo-random function, ~0.07 µs for a short value here where an HMAC costs ~5 µs. Every fake,
 * pseudonym and unique suffix is derived from it, so the same value and key give the same output in
 * every table and every run.
 *
 * It runs in WebAssembly (siphash.wat), whose 64-bit adds and rotations took 0.065 µs a value of up to
 * 50 bytes where JavaScript's pairs of 32-bit halves took 0.107 µs: ~4 million values of the 1 GB
 * bench dump. The JavaScript below stays for what WebAssembly does not take: a value past its one page
 * of memory, a big-endian machine, Node run without WebAssembly (--jitless).
 */
import { SIPHASH_WASM } from './siphash-wasm.js';

interface Wasm {
  hash: (len: number, k0l: number, k0h: number, k1l: number, k1h: number) => void;
  /** the message, from byte 16 */
  bytes: Uint8Array;
  /** the result: low, high */
  words: Uint32Array;
}

// what is used of the global WebAssembly (lib.dom's types, which @types/node 20 lacks); absent under --jitless
declare const WebAssembly:
  | {
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object) => { exports: Record<string, unknown> };
    }
  | undefined;

/** the longest message the module's one page holds after the result */
const WASM_MAX = 65536 - 16;

function instantiate(): Wasm | null {
  if (typeof WebAssembly === 'undefined' || new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) return null;
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(SIPHASH_WASM, 'base64')));
  const memory = exports.memory as { buffer: ArrayBuffer };
  return { hash: exports.hash as Wasm['hash'], bytes: new Uint8Array(memory.buffer), words: new Uint32Array(memory.buffer, 0, 2) };
}

const wasm = instantiate();
/** whether SipHash runs in WebAssembly here */
export const SIPHASH_IN_WASM = wasm !== null;

export class SipHash {
  // key words, little-endian halves: k0 = (k0h, k0l), k1 = (k1h, k1l)
  private readonly k0l: number;
  private readonly k0h: number;
  private readonly k1l: number;
  private readonly k1h: number;
  /** Result of the last `hash` call: high and low 32 bits (unsigned). */
  hi = 0;
  lo = 0;

  constructor(
    key: Buffer,
    /** false: the JavaScript, whatever the machine (tests hold the two side by side) */
    private readonly useWasm = true,
  ) {
    if (key.length < 16) throw new Error('SipHash key must be 16 bytes');
    // as int32s: what the module's parameters take, and V8's small integers
    this.k0l = key.readInt32LE(0);
    this.k0h = key.readInt32LE(4);
    this.k1l = key.readInt32LE(8);
    this.k1h = key.readInt32LE(12);
  }

  /** Hashes `data[start..end)`; the result is in `this.hi` / `this.lo`. */
  hash(data: Uint8Array, start = 0, end = data.length): void {
    const n = end - start;
    if (wasm === null || n > WASM_MAX || !this.useWasm) return this.hashJs(data, start, end);
    const mem = wasm.bytes;
    // a short value byte by byte: a view for set() costs more than the copy
    if (n <= 64) for (let i = 0; i < n; i++) mem[16 + i] = data[start + i]!;
    else mem.set(data.subarray(start, end), 16);
    wasm.hash(n, this.k0l, this.k0h, this.k1l, this.k1h);
    this.lo = wasm.words[0]!;
    this.hi = wasm.words[1]!;
  }

  private hashJs(data: Uint8Array, start: number, end: number): void {
    let v0l = this.k0l ^ 0x70736575, v0h = this.k0h ^ 0x736f6d65;
    let v1l = this.k1l ^ 0x6e646f6d, v1h = this.k1h ^ 0x646f7261;
    let v2l = this.k0l ^ 0x6e657261, v2h = this.k0h ^ 0x6c796765;
    let v3l = this.k1l ^ 0x79746573, v3h = this.k1h ^ 0x74656462;
    const len = end - start;
    const nBlocks = len >>> 3;
    let ml = 0, mh = 0;
    let i = start;
    // every full 8-byte block, then one last block: the remaining bytes and length mod 256 in the top byte
    for (let blk = 0; blk <= nBlocks; blk++) {
      if (blk < nBlocks) {
        ml = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
        mh = data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24);
        i += 8;
      } else {
        ml = 0;
        mh = (len & 0xff) << 24;
        for (let j = 0; i + j < end; j++) {
          if (j < 4) ml |= data[i + j]! << (8 * j);
          else mh |= data[i + j]! << (8 * (j - 4));
        }
      }
      v3l ^= ml; v3h ^= mh;
      for (let r = 0; r < 2; r++) {
        let t: number, s: number;
        // v0 += v1; v1 = rotl(v1, 13) ^ v0; v0 = rotl(v0, 32)
        t = (v0l >>> 0) + (v1l >>> 0); v0h = (v0h + v1h + (t / 0x100000000 | 0)) | 0; v0l = t | 0;
        t = (v1l << 13) | (v1h >>> 19); s = (v1h << 13) | (v1l >>> 19); v1l = t ^ v0l; v1h = s ^ v0h;
        t = v0l; v0l = v0h; v0h = t;
        // v2 += v3; v3 = rotl(v3, 16) ^ v2
        t = (v2l >>> 0) + (v3l >>> 0); v2h = (v2h + v3h + (t / 0x100000000 | 0)) | 0; v2l = t | 0;
        t = (v3l << 16) | (v3h >>> 16); s = (v3h << 16) | (v3l >>> 16); v3l = t ^ v2l; v3h = s ^ v2h;
        // v0 += v3; v3 = rotl(v3, 21) ^ v0
        t = (v0l >>> 0) + (v3l >>> 0); v0h = (v0h + v3h + (t / 0x100000000 | 0)) | 0; v0l = t | 0;
        t = (v3l << 21) | (v3h >>> 11); s = (v3h << 21) | (v3l >>> 11); v3l = t ^ v0l; v3h = s ^ v0h;
        // v2 += v1; v1 = rotl(v1, 17) ^ v2; v2 = rotl(v2, 32)
        t = (v2l >>> 0) + (v1l >>> 0); v2h = (v2h + v1h + (t / 0x100000000 | 0)) | 0; v2l = t | 0;
        t = (v1l << 17) | (v1h >>> 15); s = (v1h << 17) | (v1l >>> 15); v1l = t ^ v2l; v1h = s ^ v2h;
        t = v2l; v2l = v2h; v2h = t;
      }
      v0l ^= ml; v0h ^= mh;
    }
    v2l ^= 0xff;
    // finalisation: the same SipRound as above, four times (kept apart from the per-block loop, which
    // then stays a fixed two rounds)
    for (let r = 0; r < 4; r++) {
      let t: number, s: number;
      t = (v0l >>> 0) + (v1l >>> 0); v0h = (v0h + v1h + (t / 0x100000000 | 0)) | 0; v0l = t | 0;
      t = (v1l << 13) | (v1h >>> 19); s = (v1h << 13) | (v1l >>> 19); v1l = t ^ v0l; v1h = s ^ v0h;
      t = v0l; v0l = v0h; v0h = t;
      t = (v2l >>> 0) + (v3l >>> 0); v2h = (v2h + v3h + (t / 0x100000000 | 0)) | 0; v2l = t | 0;
      t = (v3l << 16) | (v3h >>> 16); s = (v3h << 16) | (v3l >>> 16); v3l = t ^ v2l; v3h = s ^ v2h;
      t = (v0l >>> 0) + (v3l >>> 0); v0h = (v0h + v3h + (t / 0x100000000 | 0)) | 0; v0l = t | 0;
      t = (v3l << 21) | (v3h >>> 11); s = (v3h << 21) | (v3l >>> 11); v3l = t ^ v0l; v3h = s ^ v0h;
      t = (v2l >>> 0) + (v1l >>> 0); v2h = (v2h + v1h + (t / 0x100000000 | 0)) | 0; v2l = t | 0;
      t = (v1l << 17) | (v1h >>> 15); s = (v1h << 17) | (v1l >>> 15); v1l = t ^ v2l; v1h = s ^ v2h;
      t = v2l; v2l = v2h; v2h = t;
    }
    this.lo = (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
    this.hi = (v0h ^ v1h ^ v2h ^ v3h) >>> 0;
  }
}
