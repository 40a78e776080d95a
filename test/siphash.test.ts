/** SipHash-2-4: the paper's vectors, and the WebAssembly and the JavaScript hashing every input alike. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SIPHASH_IN_WASM, SipHash } from '../src/pseudonym/siphash.js';

const ROOT = join(import.meta.dirname, '..');

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
  it.each(VECTORS.flatMap(([n, hex]) => [[n, hex, 'WebAssembly'] as const, [n, hex, 'JavaScript'] as const]))('message of %i bytes (%s, %s)', (n, hex, how) => {
    const h = new SipHash(Buffer.from([...Array(16).keys()]), how === 'WebAssembly');
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

  it('the WebAssembly hashes every key, value and slice as the JavaScript does (lengths across the 8-byte blocks, the byte-by-byte copy and the page)', () => {
    const lengths = fc.oneof(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 60, max: 4096 }), fc.constantFrom(65519, 65520, 65521, 70000));
    expect(SIPHASH_IN_WASM).toBe(true);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), lengths, fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 }), fc.integer(), (key, n, before, after, seed) => {
        const data = Buffer.alloc(before + n + after);
        for (let i = 0; i < data.length; i++) data[i] = (seed + i * 131 + (i >> 3) * 7) & 255;
        const wasm = new SipHash(Buffer.from(key));
        const js = new SipHash(Buffer.from(key), false);
        wasm.hash(data, before, before + n);
        js.hash(data, before, before + n);
        expect([wasm.hi, wasm.lo]).toEqual([js.hi, js.lo]);
      }),
      { numRuns: 2000 },
    );
  });

  it('siphash-wasm.ts is siphash.wat as it compiles now (npm run wasm)', async () => {
    const script = (await import(pathToFileURL(join(ROOT, 'scripts/siphash-wasm.mjs')).href)) as { compileSipHashWat: () => Promise<Buffer>; moduleText: (b: Buffer) => string };
    expect(readFileSync(join(ROOT, 'src/pseudonym/siphash-wasm.ts'), 'utf8')).toBe(script.moduleText(await script.compileSipHashWat()));
  });
});
