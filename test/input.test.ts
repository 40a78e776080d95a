/** Input readers: files read on this thread or ahead, coalescing of small pipe chunks. */
import { writeFileSync } from 'node:fs';
import { scratch } from './support/scratch.js';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { coalesce, readAhead, readFileAhead, readFileChunks } from '../src/io/input.js';
import { BufferPool, release } from '../src/io/buffer-pool.js';

const dir = scratch('anonymise-dump-input-');

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return out;
}

describe('readFileAhead', () => {
  const SIZES = [0, 1, 4095, 4096, 4097, 3 * 4096, 100_000];
  it.each(SIZES.flatMap((size) => [1, 2, 3, 5].map((depth) => [size, depth])))('reads a %i-byte file whole, in order, in chunks of at most the chunk size, %i read(s) in flight', async (size, depth) => {
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 7 + 3) & 255;
    const path = join(dir, `f${size}`);
    writeFileSync(path, data);
    const chunks = await collect(readFileAhead(path, 4096, undefined, depth));
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(chunks.every((c) => c.length > 0 && c.length <= 4096)).toBe(true);
    expect(chunks.length).toBe(Math.ceil(size / 4096));
  });

  it('stops early without leaving the file open or a read failing', async () => {
    const path = join(dir, 'early');
    writeFileSync(path, Buffer.alloc(64 * 1024, 1));
    for await (const c of readFileAhead(path, 1024)) {
      expect(c.length).toBe(1024);
      break;
    }
  });

  it('fails on a missing file', async () => {
    await expect(collect(readFileAhead(join(dir, 'missing')))).rejects.toThrow(/ENOENT/);
  });
});

describe('readFileChunks', () => {
  it.each([0, 1, 4095, 4096, 4097, 3 * 4096, 100_000])('reads a %i-byte file whole, in order, in full chunks but the last', async (size) => {
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 7 + 3) & 255;
    const path = join(dir, `c${size}`);
    writeFileSync(path, data);
    const chunks = await collect(readFileChunks(path, 4096, new BufferPool(4096)));
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(chunks.slice(0, -1).every((c) => c.length === 4096)).toBe(true);
    expect(chunks.length).toBe(Math.ceil(size / 4096));
  });

  it('reads into the buffers the consumer gives back, and every buffer comes back when it stops early', async () => {
    const path = join(dir, 'reused');
    writeFileSync(path, Buffer.alloc(64 * 1024, 3));
    const pool = new BufferPool(1024);
    let n = 0;
    for await (const c of readFileChunks(path, 1024, pool)) {
      expect(c.equals(Buffer.alloc(1024, 3))).toBe(true);
      release(c);
      if (++n === 10) break;
    }
    expect(pool.made).toBe(1);
    expect(pool.reused).toBe(9);
  });

  it('lets the event loop turn between chunks: what a worker or a write answers is seen while the file is read', async () => {
    const path = join(dir, 'turns');
    writeFileSync(path, Buffer.alloc(16 * 1024, 4));
    let answered = 0;
    const seen: number[] = [];
    for await (const c of readFileChunks(path, 1024)) {
      void c;
      setImmediate(() => answered++);
      seen.push(answered);
    }
    // each chunk after the first comes after the event loop ran what the chunk before scheduled
    expect(seen).toEqual(Array.from({ length: 16 }, (_, i) => i));
  });

  it('fails on a missing file', async () => {
    await expect(collect(readFileChunks(join(dir, 'missing')))).rejects.toThrow(/ENOENT/);
  });
});

describe('readAhead', () => {
  it.each([2, 3, 4])('with %i reads in flight, each reads at its own offset and the chunks come in order, whichever read ends first', async (depth) => {
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 13) & 255));
    const offsets: (number | null)[] = [];
    // the earlier a read starts, the later it ends
    let started = 0;
    const readInto = async (buf: Buffer, off: number, len: number, at: number | null) => {
      offsets.push(at);
      await new Promise((r) => setTimeout(r, Math.max(0, 12 - 3 * started++)));
      const n = Math.max(0, Math.min(len, data.length - at!));
      if (n > 0) data.copy(buf, off, at!, at! + n);
      return n;
    };
    const chunks = await collect(readAhead(readInto, 64, undefined, depth));
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(chunks.slice(0, -1).every((c) => c.length === 64)).toBe(true);
    expect(offsets.slice(0, 16)).toEqual(Array.from({ length: 16 }, (_, i) => i * 64));
  });

  it('one read at a time reads from the position the file is at (null): a pipe has no offsets', async () => {
    const offsets: (number | null)[] = [];
    let left = 100;
    const readInto = async (buf: Buffer, off: number, len: number, at: number | null) => {
      offsets.push(at);
      const n = Math.min(len, left);
      left -= n;
      return n;
    };
    await collect(readAhead(readInto, 32));
    expect(offsets.every((o) => o === null)).toBe(true);
  });

  it.each([1, 3])('a consumer that stops early, with %i read(s) in flight, gets every buffer of the pool back', async (depth) => {
    const path = join(dir, 'pooled');
    writeFileSync(path, Buffer.alloc(64 * 1024, 2));
    const pool = new BufferPool(1024);
    for await (const c of readFileAhead(path, 1024, pool, depth)) {
      release(c);
      break;
    }
    const made = pool.made;
    expect(made).toBe(depth + 1);
    for (let i = 0; i < made; i++) pool.take();
    expect(pool.made).toBe(made);
  });

  it('hands a read error of the chunk read ahead to the caller at that chunk, not as an unhandled rejection', async () => {
    let calls = 0;
    const readInto = async (buf: Buffer, off: number, len: number) => {
      if (++calls === 1) {
        buf.fill(7, off, off + len);
        return len;
      }
      throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    };
    const it = readAhead(readInto, 16)[Symbol.asyncIterator]();
    expect((await it.next()).value).toEqual(Buffer.alloc(16, 7));
    await new Promise((r) => setTimeout(r, 20)); // the caller is busy; the read ahead fails meanwhile
    await expect(it.next()).rejects.toThrow('EIO');
  });
});

describe('coalesce', () => {
  it('hands on everything a stream has buffered as one chunk, and every byte in order', async () => {
    const s = new PassThrough();
    const parts = Array.from({ length: 10 }, (_, i) => Buffer.from(`part ${i};`));
    for (const p of parts) s.write(p);
    const it = coalesce(s)[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.value.toString()).toBe(Buffer.concat(parts).toString());
    setTimeout(() => {
      s.write('late');
      s.end();
    }, 5);
    const rest: Buffer[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
    expect(Buffer.concat(rest).toString()).toBe('late');
  });

  it('ends on an empty stream and passes a stream error on', async () => {
    const empty = new PassThrough();
    empty.end();
    expect(await collect(coalesce(empty))).toEqual([]);
    const bad = new PassThrough();
    setTimeout(() => bad.destroy(new Error('boom')), 5);
    await expect(collect(coalesce(bad))).rejects.toThrow('boom');
    const cut = new PassThrough();
    cut.write('half a dump');
    setTimeout(() => cut.destroy(), 5);
    await expect(collect(coalesce(cut))).rejects.toThrow('input closed before its end');
  });
});
