/**
 * Standard output as a stream that writes from libuv's thread pool. process.stdout writes files and
 * pipes synchronously, so every write's system time (~2.5 s per GB to a file here) stopped the
 * rewriting; fs.WriteStream cannot be used either once anything has touched process.stdout, which
 * makes a pipe non-blocking, and a full pipe then fails a write with EAGAIN. Here partial writes
 * are finished and EAGAIN waits for the reader.
 */
import { writev } from 'node:fs';
import { Writable } from 'node:stream';

export class FdWriter extends Writable {
  constructor(private readonly fd: number) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (e?: Error | null) => void): void {
    this.writeAll([chunk], done);
  }

  override _writev(chunks: { chunk: Buffer }[], done: (e?: Error | null) => void): void {
    this.writeAll(
      chunks.map((c) => c.chunk),
      done,
    );
  }

  private writeAll(bufs: Buffer[], done: (e?: Error | null) => void): void {
    const step = () => {
      writev(this.fd, bufs, null, (err, written) => {
        if (err) {
          // a non-blocking pipe whose reader is behind: try again shortly
          if (err.code === 'EAGAIN') setTimeout(step, 2);
          else done(err);
          return;
        }
        let n = written;
        while (n > 0 && bufs.length > 0) {
          const b = bufs[0]!;
          if (b.length <= n) {
            n -= b.length;
            bufs.shift();
          } else {
            bufs[0] = b.subarray(n);
            n = 0;
          }
        }
        if (bufs.length === 0) done();
        else step();
      });
    };
    step();
  }
}
