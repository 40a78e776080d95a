/** Input readers: read-ahead from files, coalescing of small pipe chunks. */
import { writeFileSync } from 'node:fs';
import { scratch } from './support/scratch.js';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { coalesce, readAhead, readFileAhead } from '../src/io/input.js';

const dir = scratch('anonymise-dump-input-');

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return out;
}

describe('readFileAhead', () => {
  it.each([0, 1, 4095, 4096, 4097, 3 * 4096, 100_000])('reads a %i-byte file whole, in chunks of at most the chunk size', async (size) => {
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 7 + 3) & 255;
    const path = join(dir, `f${size}`);
    writeFileSync(path, data);
    const chunks = await collect(readFileAhead(path, 4096));
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

describe('readAhead', () => {
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
