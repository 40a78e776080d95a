/**
 * What keeps an archive's output in order while workers run ahead: a byte counter for a custom
 * archive's offsets, the ordered chain of steps, and the bytes read and not yet sent.
 */
import { Writable } from 'node:stream';
import { hold, release } from '../io/buffer-pool.js';
import { write } from './entries.js';


/**
 * Counts what it hands on (the position in a custom archive), keeping the destination's backpressure.
 * The destination's failure (a full disk, a reader gone) is the failure of the write in hand or the
 * next one, by its own code: process.stdout that fails neither drains nor closes, so a write waiting
 * for 'drain' would wait for ever.
 */
export class Counted extends Writable {
  count = 0;
  private failure: Error | null = null;
  private waiting: ((e?: Error | null) => void) | null = null;
  constructor(
    private readonly dest: Writable,
    /**
     * `dest` is done with a chunk at its write callback (a file): each chunk is held until then
     * (io/buffer-pool.ts), so that its writer may give back its own hold as soon as this write returns
     */
    readonly recycles = false,
  ) {
    super({ highWaterMark: 1 << 20 });
    dest.on('error', (e) => {
      this.failure ??= e;
      const done = this.waiting;
      this.waiting = null;
      done?.(e);
    });
    dest.on('drain', () => {
      const done = this.waiting;
      this.waiting = null;
      done?.();
    });
    // failures reach the writer through its write callbacks
    this.on('error', () => {});
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    if (this.failure) return done(this.failure);
    this.count += chunk.length;
    let ready: boolean;
    if (this.recycles) {
      hold(chunk);
      ready = this.dest.write(chunk, () => release(chunk));
    } else ready = this.dest.write(chunk);
    if (ready) done();
    else this.waiting = done;
  }
  override _final(done: (e?: Error | null) => void): void {
    done(this.failure);
  }
}

/**
 * Writes `c`, a view that comes with a hold of the caller's (ByteReader.recorded), and gives that hold
 * up: at once when `dest` holds the chunk itself until written, else never (a stream that keeps chunks
 * in a buffer of its own, as a PassThrough does, could still read it after its callback).
 */
export async function writeHeld(dest: Counted, c: Buffer): Promise<void> {
  await write(dest, c);
  if (dest.recycles) release(c);
}

/**
 * Steps that must reach the output in order (a table's pieces, block headers and ends), run one after
 * another while the work they wait on (a worker's piece) runs ahead; at most `limit` are pending, which
 * bounds the pieces in memory. A failed step fails every later one and `drain()`.
 */
export class Ordered {
  private chain: Promise<void> = Promise.resolve();
  private readonly pending: Promise<void>[] = [];
  failed: unknown = null;
  constructor(private readonly limit: number) {}
  async then(step: () => Promise<void> | void): Promise<void> {
    while (this.pending.length >= this.limit) await this.pending.shift()!.catch(() => {});
    if (this.failed) throw this.failed;
    const p = this.chain.then(step);
    p.catch((e) => (this.failed ??= e));
    this.chain = p;
    this.pending.push(p);
  }
  async drain(): Promise<void> {
    await this.chain;
    this.pending.length = 0;
  }
}

/**
 * The bytes read and not yet sent, as the chunks they came in: a piece is copied once, from them into
 * the buffer that moves to its worker (joining them first, then copying, cost the main thread twice).
 */
export class Held {
  private chunks: Buffer[] = [];
  size = 0;
  push(c: Buffer): void {
    if (c.length === 0) return;
    this.chunks.push(c);
    this.size += c.length;
  }
  /** The position of the last newline before `before`, or -1. */
  lastLf(before: number): number {
    let end = this.size;
    for (let i = this.chunks.length - 1; i >= 0; i--) {
      const c = this.chunks[i]!;
      const start = end - c.length;
      if (start < before) {
        const at = c.lastIndexOf(0x0a, Math.min(c.length, before - start) - 1);
        if (at !== -1) return start + at;
      }
      end = start;
    }
    return -1;
  }
  /** The position of the first newline at or after `from`, or -1. */
  nextLf(from: number): number {
    let start = 0;
    for (const c of this.chunks) {
      const end = start + c.length;
      if (end > from) {
        const at = c.indexOf(0x0a, Math.max(0, from - start));
        if (at !== -1) return start + at;
      }
      start = end;
    }
    return -1;
  }
  /**
   * The first `n` bytes, in an ArrayBuffer of their own (it is moved to a worker), or in memory `make`
   * gives (a runner that takes it back); the rest stay.
   */
  take(n: number, make: (n: number) => Uint8Array = (k) => new Uint8Array(k)): Uint8Array {
    const out = make(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - at);
      out.set(k === c.length ? c : c.subarray(0, k), at);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.size -= n;
    return out;
  }
}
