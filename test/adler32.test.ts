import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adler32, adler32Combine } from '../src/archive/adler32.js';

/** zlib's own Adler-32: the last four bytes of a zlib stream, big-endian */
const zlibAdler = (b: Uint8Array) => deflateSync(b).readUInt32BE(deflateSync(b).length - 4);

describe('adler32', () => {
  it('equals zlib\'s for any bytes, long runs of 0xff included (the overflow case)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 20000 }), (b) => adler32(b) === zlibAdler(b)));
    expect(adler32(new Uint8Array(100_000).fill(0xff))).toBe(zlibAdler(new Uint8Array(100_000).fill(0xff)));
  });

  it('combines: the checksum of A then B from theirs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 70000 }), (a, b) => {
        const ab = new Uint8Array(a.length + b.length);
        ab.set(a);
        ab.set(b, a.length);
        return adler32Combine(adler32(a), adler32(b), b.length) === adler32(ab);
      }),
      { numRuns: 200 },
    );
  });
});
