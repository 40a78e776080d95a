/**
 * The buffer pool: holds counted per buffer, a buffer back in its pool only when the last holder gives
 * it back, a release too many refused, poisoned buffers, and read-ahead that reads into what its
 * consumer gave back; an archive piece's text joined in memory used again.
 */
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PieceText } from '../src/archive/entries.js';
import { BufferPool, adopt, hold, holders, release } from '../src/io/buffer-pool.js';
import { readFileAhead } from '../src/io/input.js';
import { scratch } from './support/scratch.js';

describe('BufferPool', () => {
  it('gives a buffer back to its pool only when every holder has released it', () => {
    const pool = new BufferPool(1024);
    const a = pool.take();
    expect(a.length).toBe(1024);
    expect(holders(a)).toBe(1);
    const view = a.subarray(10, 20);
    hold(view);
    expect(holders(a)).toBe(2);
    release(a);
    // a view still holds it: the next buffer is another one
    const b = pool.take();
    expect(b.buffer).not.toBe(a.buffer);
    release(view);
    expect(holders(a)).toBe(0);
    const c = pool.take();
    expect(c.buffer).toBe(a.buffer);
    expect([pool.made, pool.reused]).toEqual([2, 1]);
  });

  it('refuses a release past the last hold', () => {
    const pool = new BufferPool(64);
    const a = pool.take();
    release(a);
    expect(() => release(a)).toThrow(/released more often than it was held/);
  });

  it.each([
    ['Buffer.alloc', () => Buffer.alloc(300)],
    ['Buffer.allocUnsafe (Node shared pool)', () => Buffer.allocUnsafe(10)],
    ['Buffer.from(string)', () => Buffer.from('not a pool buffer')],
  ])('ignores memory that is not a pool’s: %s', (_name, make) => {
    const b = make();
    expect(holders(b)).toBeNull();
    hold(b);
    release(b);
    release(b);
    expect(holders(b)).toBeNull();
  });

  it('keeps at most `keep` buffers, and poisons what it keeps', () => {
    const pool = new BufferPool(16, { keep: 2, poison: true });
    const bufs = [pool.take(), pool.take(), pool.take()];
    for (const b of bufs) b.fill(7);
    for (const b of bufs) release(b);
    const again = [pool.take(), pool.take(), pool.take()];
    expect(pool.reused).toBe(2);
    expect(pool.made).toBe(4);
    expect([...again[0]!].every((x) => x === 0xa5)).toBe(true);
    expect([...again[1]!].every((x) => x === 0xa5)).toBe(true);
    // the third was not kept: a dropped buffer's late release is ignored, not counted
    release(bufs[2]!);
  });
});

describe('adopt', () => {
  it('hands memory from elsewhere (a worker’s output) to `free` once its last holder releases it, once', () => {
    const freed: ArrayBuffer[] = [];
    const b = adopt(Buffer.from(new ArrayBuffer(4096), 0, 1000), (ab) => freed.push(ab));
    const view = b.subarray(0, 10);
    hold(view);
    release(b);
    expect(freed).toEqual([]);
    release(view);
    expect(freed).toEqual([b.buffer]);
    expect(() => release(b)).toThrow(/released more often/);
  });
});

describe('readFileAhead with a pool', () => {
  const dir = scratch('anonymise-dump-pool-');
  const data = Buffer.alloc(64 * 1024 + 123);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 255;
  const path = join(dir, 'data');
  writeFileSync(path, data);

  it.each([
    ['gives back each chunk', true],
    ['keeps every chunk', false],
  ])('a consumer that %s reads the file whole; only given-back chunks are read into again', async (_name, giveBack) => {
    const pool = new BufferPool(4096, { poison: true });
    const kept: Buffer[] = [];
    const copies: Buffer[] = [];
    for await (const c of readFileAhead(path, 4096, pool)) {
      copies.push(Buffer.from(c));
      if (giveBack) release(c);
      else kept.push(c);
    }
    expect(Buffer.concat(copies).equals(data)).toBe(true);
    if (giveBack) {
      // two reads in flight at most: the rest of the 17 chunks reuse them
      expect(pool.made).toBeLessThanOrEqual(3);
      expect(pool.reused).toBeGreaterThan(10);
    } else {
      expect(pool.reused).toBe(0);
      // what was never given back is intact
      expect(Buffer.concat(kept).equals(data)).toBe(true);
    }
  });

  it('refuses a pool whose buffers are not the chunk size', async () => {
    const it = readFileAhead(path, 4096, new BufferPool(1000));
    await expect(it.next()).rejects.toThrow(/pool of 1000-byte buffers for 4096-byte reads/);
  });
});

describe("a piece's text in memory used again (archive/entries.ts)", () => {
  it('joins any chunks as Buffer.concat does, growing as needed, in the same memory while it fits', () => {
    const text = new PieceText();
    let last: Buffer | null = null;
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (arrays) => {
        const chunks = arrays.map((a) => Buffer.from(a));
        const joined = text.join(chunks);
        expect(joined.equals(Buffer.concat(chunks))).toBe(true);
        // what fits goes where the one before went: the caller packs a piece before the next is joined
        if (last && joined.length > 0 && joined.length <= last.buffer.byteLength) expect(joined.buffer).toBe(last.buffer);
        if (joined.length > 0) last = joined;
      }),
      { numRuns: 2000 },
    );
  });
});
