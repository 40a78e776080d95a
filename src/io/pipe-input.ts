/**
 * Standard input when it is a pipe or a socket (`pg_dump | anonymise-dump`): read by libuv whenever the
 * pipe has data and the event loop turns, as process.stdin reads it, but into one buffer used again for
 * every read and copied into a pool's chunks (io/buffer-pool.ts). process.stdin gave each 64 KiB read a
 * fresh buffer: V8 counts their memory, and it set off 45 full collections (~0.38 s of this thread) over
 * a 1 GB dump, where a file read into pooled chunks sets off one.
 *
 * Reads from libuv's thread pool were tried before, and were slower: a read is then started only between
 * two chunks' work, and the writer (pg_dump) waited on a full pipe meanwhile (io/input.ts).
 */
import { Socket, type SocketConstructorOpts } from 'node:net';
import { AnonymiseError } from '../errors.js';
import { hold, release, type BufferPool } from './buffer-pool.js';

/** what a read takes at most: a pipe holds 64 KiB */
const READ_BYTES = 64 * 1024;
/** chunks filled and not yet taken before the reads pause (the pipe, and pg_dump, then wait) */
const READY_MAX = 4;

/**
 * The bytes of `fd` in chunks of the pool's size, each a pool's buffer (or its part) with one hold, the
 * caller's. A caller that asks when no chunk is full gets what has come so far (a slow pg_dump is not
 * waited for): a view with a hold of its own, while the reads go on into the rest of that buffer.
 * `close()` stops the reads (a signal): the chunks then end with an error, the input being cut off.
 */
export function readPipe(fd: number, pool: BufferPool): { chunks: AsyncGenerator<Buffer>; close: () => void } {
  const ready: Buffer[] = [];
  let chunk: Buffer | null = null;
  let filled = 0;
  /** where the part of `chunk` not yet handed out begins (what came before was handed out, with a hold of its own) */
  let from = 0;
  let ended = false;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  let stopped = false;
  const signal = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  // onread (a buffer of our own, used again) is a constructor option @types/node does not list
  const socket = new Socket({
    fd,
    readable: true,
    writable: false,
    onread: {
      buffer: Buffer.allocUnsafe(READ_BYTES),
      callback: (n: number, buf: Uint8Array) => {
        let at = 0;
        while (at < n) {
          chunk ??= pool.take();
          const k = Math.min(n - at, chunk.length - filled);
          chunk.set(buf.subarray(at, at + k), filled);
          filled += k;
          at += k;
          if (filled === chunk.length) {
            // the reader's hold goes with the chunk's last part
            ready.push(from === 0 ? chunk : chunk.subarray(from));
            chunk = null;
            filled = 0;
            from = 0;
          }
        }
        signal();
        // false stops the reads until the caller takes chunks (net.Socket's resume() starts them again)
        stopped = ready.length >= READY_MAX;
        return !stopped;
      },
    },
  } as SocketConstructorOpts);
  socket.on('end', () => {
    ended = true;
    signal();
  });
  socket.on('error', (e) => {
    failure = e;
    signal();
  });
  socket.on('close', () => {
    // closed without an end (a destroyed socket): the input is cut off, which must not pass as complete
    if (!ended && !failure) failure = new AnonymiseError('BAD_INPUT', 'input closed before its end');
    signal();
  });
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        if (ready.length > 0) {
          const next = ready.shift()!;
          if (stopped) {
            stopped = false;
            socket.resume();
          }
          yield next;
          continue;
        }
        if (filled > from) {
          // what has come so far, with a hold of its own: the next reads go on into the same chunk's rest.
          // (Into another chunk, a pipe's ~24-64 KiB reads each took a 256 KiB chunk, and where rows
          // are held for a worker's piece that was ~85 chunks a piece: fresh memory, and collections.)
          const part = chunk!.subarray(from, filled);
          hold(part);
          from = filled;
          yield part;
          continue;
        }
        if (failure) throw failure;
        if (ended) return;
        await new Promise<void>((r) => (wake = r));
      }
    } finally {
      socket.destroy();
      for (const c of ready.splice(0)) release(c);
      if (chunk) release(chunk);
      chunk = null;
    }
  }
  return { chunks: chunks(), close: () => socket.destroy() };
}
