/** Standard input as a pipe (io/pipe-input.ts), read from real pipes: a child's output, slow or fast, read slowly or fast. */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { readPipe } from '../src/io/pipe-input.js';
import { BufferPool, holders, release } from '../src/io/buffer-pool.js';
import { scratch } from './support/scratch.js';
import { BIN, SAMPLE } from './support/cli.js';

const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A FIFO that a child writes `file` into (in pieces of `piece` bytes, `pause` seconds apart), opened for reading. */
function fifoFrom(file: string, piece: number, pause: number): { fd: number; done: Promise<number | null> } {
  const dir = scratch('pipe-input');
  const fifo = join(dir, 'fifo');
  spawnSync('mkfifo', [fifo]);
  // split hands each piece to its filter, which writes it and pauses
  const writer = spawn('sh', ['-c', pause > 0 ? `split -b ${piece} --filter='cat; sleep ${pause}' "$0" > "$1"` : 'cat "$0" > "$1"', file, fifo]);
  const done = new Promise<number | null>((r) => writer.on('exit', r));
  // blocks until the writer opens its end
  return { fd: openSync(fifo, 'r'), done };
}

async function drain(chunks: AsyncGenerator<Buffer>, slow = 0): Promise<{ data: Buffer; sizes: number[] }> {
  const parts: Buffer[] = [];
  const sizes: number[] = [];
  for await (const c of chunks) {
    parts.push(Buffer.from(c));
    sizes.push(c.length);
    // the caller's hold goes back: the buffer is read into again
    release(c);
    if (slow && sizes.length % 8 === 0) await sleep(slow);
  }
  return { data: Buffer.concat(parts), sizes };
}

describe('readPipe', () => {
  it.each([
    ['a fast writer, a fast reader', 0, 0],
    ['a fast writer, a slow reader (the reads stop and start again)', 0, 15],
    ['a writer with pauses (what has come is handed on)', 0.05, 0],
  ])('%s: every byte, in order, in pool chunks', async (_, pause, slow) => {
    const file = join(scratch('pipe-input'), 'data');
    writeFileSync(file, randomBytes(pause > 0 ? 600_000 : 6_000_000));
    const { fd, done } = fifoFrom(file, 100_000, pause);
    const pool = new BufferPool(256 * 1024, { poison: true });
    const { data, sizes } = await drain(readPipe(fd, pool).chunks, slow);
    expect(await done).toBe(0);
    expect(digest(data)).toBe(digest(readFileSync(file)));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(256 * 1024);
    // chunks are the pool's, used again: no fresh buffer a read
    expect(pool.made).toBeLessThan(12);
    if (pause > 0) expect(sizes.some((n) => n < 256 * 1024 && n > 0)).toBe(true);
  });

  it('a writer with pauses, a caller that keeps every part (a worker\'s piece gathers rows): the parts share chunks', async () => {
    const file = join(scratch('pipe-input'), 'data');
    writeFileSync(file, randomBytes(1_000_000));
    const { fd, done } = fifoFrom(file, 50_000, 0.02);
    const pool = new BufferPool(256 * 1024, { poison: true });
    const kept: Buffer[] = [];
    for await (const c of readPipe(fd, pool).chunks) kept.push(c);
    expect(await done).toBe(0);
    // held to the end, and none written into since it was handed out (poison would show a reuse)
    expect(digest(Buffer.concat(kept))).toBe(digest(readFileSync(file)));
    expect(kept.length).toBeGreaterThanOrEqual(10);
    // one chunk per 256 KiB that came, not one per part (a part in a chunk of its own: ~20 chunks)
    expect(pool.made).toBeLessThanOrEqual(Math.ceil(1_000_000 / (256 * 1024)) + 1);
    for (const c of kept) expect(holders(c)).toBe(kept.filter((t) => t.buffer === c.buffer).length);
    for (const c of kept) release(c);
    for (const c of kept) expect(holders(c)).toBe(0);
  });

  it('close() while a read waits: the chunks end with an error (the input is cut off), and no buffer is held', async () => {
    const dir = scratch('pipe-input');
    const fifo = join(dir, 'fifo');
    spawnSync('mkfifo', [fifo]);
    // a writer that writes a little, then waits (pg_dump on a slow query)
    const writer = spawn('sh', ['-c', 'exec 3> "$0"; printf "first bytes" >&3; sleep 30', fifo]);
    const fd = openSync(fifo, 'r');
    const pool = new BufferPool(256 * 1024);
    const pipe = readPipe(fd, pool);
    const seen: Buffer[] = [];
    const run = (async () => {
      for await (const c of pipe.chunks) seen.push(Buffer.from(c));
    })();
    await sleep(200);
    pipe.close();
    await expect(run).rejects.toThrow(/input closed before its end/);
    expect(Buffer.concat(seen).toString()).toBe('first bytes');
    writer.kill();
    expect(pool.made).toBeLessThanOrEqual(1);
  });

  it('a caller that stops early gives back every chunk filled for it', async () => {
    const file = join(scratch('pipe-input'), 'data');
    writeFileSync(file, randomBytes(3_000_000));
    const { fd } = fifoFrom(file, 100_000, 0);
    const pool = new BufferPool(256 * 1024);
    const taken: Buffer[] = [];
    for await (const c of readPipe(fd, pool).chunks) {
      taken.push(c);
      if (taken.length === 2) break;
    }
    // the reads had filled more than the caller took; those went back to the pool: what holds a chunk
    // now is the caller's parts of it, one hold each
    for (const c of taken) expect(holders(c)).toBe(taken.filter((t) => t.buffer === c.buffer).length);
    try {
      closeSync(fd);
    } catch {
      // closed with the socket
    }
  });
});

describe('standard input as a pipe, through the command line', () => {
  it('cat DUMP | anonymise-dump writes what it writes for the file, and a cut pipe fails as a cut dump', () => {
    const env = { ...process.env, ANONYMISE_DUMP_SECRET: 'pipe-input-test-secret-0123456789' };
    const rules = join(import.meta.dirname, '../rules/examples/council.yaml');
    const fromFile = spawnSync(process.execPath, [BIN, '-q', '-r', rules, SAMPLE], { env, maxBuffer: 1 << 28 });
    expect(fromFile.status).toBe(0);
    const fromPipe = spawnSync('sh', ['-c', `cat "$0" | "${process.execPath}" "${BIN}" -q -r "${rules}"`, SAMPLE], { env, maxBuffer: 1 << 28 });
    expect(fromPipe.status).toBe(0);
    expect(digest(fromPipe.stdout)).toBe(digest(fromFile.stdout));
    const half = Math.floor(readFileSync(SAMPLE).length / 2);
    const cut = spawnSync('sh', ['-c', `head -c ${half} "$0" | "${process.execPath}" "${BIN}" -q -r "${rules}"`, SAMPLE], { env, maxBuffer: 1 << 28 });
    expect(cut.status).not.toBe(0);
    expect(cut.stderr.toString()).toMatch(/truncated dump/);
  });

  it('a run that fails early stops reading and exits, while the writer is still there (pg_dump would wait on a full pipe)', () => {
    const env = { ...process.env, ANONYMISE_DUMP_SECRET: 'pipe-input-test-secret-0123456789' };
    const dir = scratch('pipe-input');
    const rules = join(dir, 'none.yaml');
    writeFileSync(rules, 'version: 1\nunknown: fail\ntables: {}\n');
    // the writer stays 20 s after the dump (in a FIFO, so that it can be stopped once the run is over); the
    // run fails at the first table no rule names
    const fifo = join(dir, 'fifo');
    spawnSync('mkfifo', [fifo]);
    const started = Date.now();
    const r = spawnSync('sh', ['-c', `(cat "$0"; exec sleep 20) > "$1" & w=$!; "${process.execPath}" "${BIN}" -q -r "${rules}" < "$1" > /dev/null; rc=$?; kill $w; echo "rc=$rc" >&2`, SAMPLE, fifo], { env, timeout: 60_000 });
    expect(r.stderr.toString()).toMatch(/not classified by the rules[\s\S]*rc=3/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
