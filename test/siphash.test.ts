import { describe, expect, it } from 'vitest';
import { SipHash } from '../src/pseudonym/siphash.js';

// reference vectors from the SipHash paper's implementation: key 00..0f, message 00..(n-1)
const VECTORS: [number, string][] = [
  [0, '310e0edd47db6f72'],
  [1, 'fd67dc93c539f874'],
  [7, '37d1018bf50002ab'],
  [8, '6224939a79f5f593'],
  [15, 'e545be4961ca29a1'],
  [63, '724506eb4c328a95'],
];

describe('SipHash-2-4', () => {
  it.each(VECTORS)('message of %i bytes', (n, hex) => {
    const h = new SipHash(Buffer.from([...Array(16).keys()]));
    h.hash(Buffer.from([...Array(n).keys()]));
    const out = Buffer.alloc(8);
    out.writeUInt32LE(h.lo, 0);
    out.writeUInt32LE(h.hi, 4);
    expect(out.toString('hex')).toBe(hex);
  });

  it('hashes a slice as it hashes a copy of it', () => {
    const h = new SipHash(Buffer.alloc(16, 7));
    const big = Buffer.from('xxhello worldyy');
    h.hash(big, 2, 13);
    const a = [h.hi, h.lo];
    h.hash(Buffer.from('hello world'));
    expect([h.hi, h.lo]).toEqual(a);
  });
});
