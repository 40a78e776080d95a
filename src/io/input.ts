/**
 * Input sniffing: a plain dump passes as it is, gzip is inflated, and every other container is
 * refused with a message that says what to do instead.
 */
import { closeSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { setImmediate as turn } from 'node:timers/promises';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { AnonymiseError } from '../errors.js';
import { firstEvent } from './events.js';
import { release, type BufferPool } from './buffer-pool.js';

const ARCHIVE_ADVICE = 'convert it with `pg_restore -f - ARCHIVE | anonymise-dump …`';

/** Names the format of a non-plain input from its first bytes, or null when it may be a plain dump. */
export function sniff(head: Buffer): { gzip: true } | { refuse: string } | null {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return { gzip: true };
  if (head.subarray(0, 5).toString('latin1') === 'PGDMP')
    return { refuse: `input is a pg_dump custom-format archive, not a plain SQL dump: ${ARCHIVE_ADVICE}` };
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar')
    return { refuse: `input is a tar archive that is not a pg_dump -Ft archive, or comes on stdin: a pg_dump tar archive is read from its file (give its path), or ${ARCHIVE_ADVICE}` };
  const magic = head.subarray(0, 6).toString('hex');
  if (magic.startsWith('28b52ffd')) return { refuse: 'input is zstd-compressed: decompress it first (zstd -dc DUMP | anonymise-dump …)' };
  if (magic.startsWith('04224d18')) return { refuse: 'input is lz4-compressed: decompress it first (lz4 -dc DUMP | anonymise-dump …)' };
  if (magic.startsWith('425a68')) return { refuse: 'input is bzip2-compressed: decompress it first (bzip2 -dc DUMP | anonymise-dump …)' };
  if (magic === 'fd377a585a00') return { refuse: 'input is xz-compressed: decompress it first (xz -dc DUMP | anonymise-dump …)' };
  return null;
}

/**
 * Reads the first `n` bytes of `source` (fewer if it is shorter) and hands back the whole stream again,
 * those bytes included, so that a format can be told from its first bytes without losing them.
 */
export async function peek(source: AsyncIterable<Buffer>, n: number): Promise<{ head: Buffer; all: () => AsyncGenerator<Buffer> }> {
  const it = source[Symbol.asyncIterator]();
  const prefix: Buffer[] = [];
  let have = 0;
  let done = false;
  while (have < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    prefix.push(chunk);
    have += chunk.length;
  }
  const head = prefix.length === 1 ? prefix[0]! : Buffer.concat(prefix);
  async function* all(): AsyncGenerator<Buffer> {
    try {
      if (head.length) yield head;
      if (done) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    } finally {
      // a reader that stops early stops the source too (a pipe's reads end: a run that failed early
      // does not wait for pg_dump to finish writing)
      if (!done) await it.return?.(undefined);
    }
  }
  return { head, all };
}

/** Yields the plain dump bytes of `source`, inflating gzip and refusing archives. */
export async function* plainDump(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  // enough bytes to see a tar header's magic
  const { head, all: rest } = await peek(source, 512);
  const kind = sniff(head);
  if (kind && 'refuse' in kind) throw new AnonymiseError('NOT_PLAIN_DUMP', kind.refuse, { line: 1 });
  if (!kind) {
    yield* rest();
    return;
  }
  const gunzip = createGunzip({ chunkSize: 1 << 20 });
  const compressed = Readable.from(rest());
  compressed.on('error', (e) => gunzip.destroy(e));
  compressed.pipe(gunzip);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('Z_')) throw new AnonymiseError('BAD_INPUT', 'gzip input is corrupt or truncated');
    throw e;
  } finally {
    compressed.destroy();
  }
}

/**
 * A file's bytes in chunks, with the next reads already in flight in libuv's pool while the caller
 * works on the current one: a custom archive's 1 MiB chunks (three ahead), and a FIFO given by name
 * (one ahead). A read stream starts its next read only after the caller's synchronous work on a
 * chunk, so reading and rewriting took turns (~0.1 s idle per 100 MB). A plain dump file is read on
 * this thread instead (readFileChunks).
 */
export async function* readFileAhead(path: string, chunkSize = CHUNK, pool?: BufferPool, depth = 1): AsyncGenerator<Buffer> {
  const fh = await open(path, 'r');
  try {
    yield* readAhead((buf, off, len, at) => fh.read(buf, off, len, at).then((r) => r.bytesRead), chunkSize, pool, depth);
  } finally {
    await fh.close();
  }
}

/**
 * A regular file's bytes in chunks, each read on this thread when the caller asks for it. A read in
 * libuv's pool woke another thread and back (~30 µs a read on this VM) and left the bytes in the other
 * core's cache: reading here, into a buffer used again, made a keep-only pass over the 1 GB plain
 * bench dump 0.96 → 0.82 s and full rules on one thread ~0.17 s faster (medians of 10 pairs run side
 * by side; --jobs 2 the same). The kernel reads ahead of a file read in order. Between chunks the
 * event loop turns (setImmediate), so that workers' replies and finished writes are seen as they
 * come. A pool's chunks are held as readAhead's are.
 */
export async function* readFileChunks(path: string, chunkSize = CHUNK, pool?: BufferPool): AsyncGenerator<Buffer> {
  const fd = openSync(path, 'r');
  try {
    yield* readChunks(fd, chunkSize, pool);
  } finally {
    closeSync(fd);
  }
}

/** Standard input when it is a file (`< dump.sql`), the same way, from where its offset stands. */
export function readStdinChunks(chunkSize = CHUNK, pool?: BufferPool): AsyncGenerator<Buffer> {
  return readChunks(0, chunkSize, pool);
}

async function* readChunks(fd: number, chunkSize: number, pool?: BufferPool): AsyncGenerator<Buffer> {
  if (pool && pool.size !== chunkSize) throw new Error(`a pool of ${pool.size}-byte buffers for ${chunkSize}-byte reads`);
  for (;;) {
    const buf = pool ? pool.take() : Buffer.allocUnsafe(chunkSize);
    let n = 0;
    try {
      while (n < chunkSize) {
        const got = readSync(fd, buf, n, chunkSize - n, null);
        if (got === 0) break;
        n += got;
      }
    } catch (e) {
      if (pool) release(buf);
      throw e;
    }
    if (n === 0) {
      if (pool) release(buf);
      return;
    }
    yield n === chunkSize ? buf : buf.subarray(0, n);
    await turn();
  }
}

const CHUNK = 256 * 1024;

/**
 * With a `pool` (of `chunkSize` buffers), each chunk is a pool's buffer held once, by the consumer: a
 * consumer that releases it (io/buffer-pool.ts) has it read into again; one that does not leaves it to
 * the collector, as without a pool.
 *
 * `depth` reads are in flight at once, each at its own offset (`readInto`'s `at`; null, the file's
 * own position, with one read at a time — the only way to read a pipe). One read at a time left this
 * thread waiting ~0.15 ms a chunk wherever it had little to do with it (a kept table): ~0.55 s of a
 * 1 GB plain dump whose tables are half kept, when plain files were read here.
 */
export async function* readAhead(
  readInto: (buf: Buffer, off: number, len: number, at: number | null) => Promise<number>,
  chunkSize: number,
  pool?: BufferPool,
  depth = 1,
): AsyncGenerator<Buffer> {
  if (pool && pool.size !== chunkSize) throw new Error(`a pool of ${pool.size}-byte buffers for ${chunkSize}-byte reads`);
  const fill = async (from: number | null): Promise<Buffer> => {
    const buf = pool ? pool.take() : Buffer.allocUnsafe(chunkSize);
    let n = 0;
    while (n < chunkSize) {
      const got = await readInto(buf, n, chunkSize - n, from === null ? null : from + n);
      if (got === 0) break;
      n += got;
    }
    return n === chunkSize ? buf : buf.subarray(0, n);
  };
  let next = 0;
  // a read that fails while the caller is still busy must not count as an unhandled rejection: it is
  // awaited, and thrown, at its chunk
  const start = () => {
    const p = fill(depth > 1 ? next : null);
    next += chunkSize;
    p.catch(() => {});
    return p;
  };
  const reads: Promise<Buffer>[] = [];
  while (reads.length < depth) reads.push(start());
  try {
    for (;;) {
      const chunk: Buffer = await reads.shift()!;
      if (chunk.length === 0) {
        if (pool) release(chunk);
        return;
      }
      // the next reads run while the caller works on this chunk
      reads.push(start());
      yield chunk;
    }
  } finally {
    // a consumer that stops early, or the end: let the reads in flight finish before the file closes
    for (const p of reads) {
      const c = await p.catch(() => null);
      if (c && pool) release(c);
    }
  }
}

/**
 * A readable's data in as few chunks as it holds: whatever it has buffered comes as one chunk. A pipe
 * from pg_dump delivers 8-18 KiB at a time, and every chunk has a fixed cost downstream.
 */
export async function* coalesce(stream: Readable): AsyncGenerator<Buffer> {
  for (;;) {
    const chunk = stream.read() as Buffer | null;
    if (chunk !== null) {
      yield chunk;
      continue;
    }
    if (stream.readableEnded) return;
    if (stream.errored) throw stream.errored;
    // closed without an end (a destroyed socket): the input is cut off, which must not pass as complete
    if (stream.destroyed) throw new AnonymiseError('BAD_INPUT', 'input closed before its end');
    await firstEvent(stream, { readable: null, end: null, close: null, error: (e) => e as Error });
  }
}

/** The first `n` bytes of a file (fewer if it is shorter). */
export function readHead(path: string, n: number): Buffer {
  const head = Buffer.alloc(n);
  const fd = openSync(path, 'r');
  try {
    return head.subarray(0, readSync(fd, head, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/** A fresh temporary name beside `target`, in its directory (so that a rename onto it is atomic). */
export function tempBeside(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** A path's stat, or null when nothing is there. */
export function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}
