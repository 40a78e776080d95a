/**
 * Atomic output: a file, directory or tar archive is written under a temporary name beside its target
 * (the same directory, so the rename is atomic), mode 0600 / 0700, and renamed onto the target only once
 * it is complete. On failure or signal the temporary is removed: nothing half-written is ever left
 * under the target's name, and nothing at all is left beside it. Used by run (plain and gzip), the
 * archive writer (custom, directory, tar) and forget.
 */
import { createWriteStream, existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { AnonymiseError } from '../errors.js';
import { tempBeside } from './input.js';

/** Temporaries not yet committed or discarded, removed if the process exits first. */
const pending = new Set<AtomicOutput>();
let exitHook = false;

export class AtomicOutput {
  private settled = false;
  /** files of a directory output still open (see `createFile`) */
  private readonly open_ = new Set<WriteStream>();

  private constructor(
    readonly target: string,
    /** the temporary name beside the target, where everything is written */
    readonly tmp: string,
  ) {
    pending.add(this);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const p of pending) p.discard();
      });
    }
  }

  /** A file: the caller opens `tmp` (or calls `open`). */
  static file(target: string): AtomicOutput {
    parentMustExist(target);
    return new AtomicOutput(target, tempBeside(target));
  }

  /** A directory, made now (0700). */
  static directory(target: string): AtomicOutput {
    parentMustExist(target);
    const a = new AtomicOutput(target, tempBeside(target));
    mkdirSync(a.tmp, { mode: 0o700 });
    return a;
  }

  /** Opens the temporary file for writing: created here and now (never an existing file), 0600. */
  open(): number {
    return openSync(this.tmp, 'wx', 0o600);
  }

  /**
   * A file inside a directory output, 0600. Tracked because a write stream opens on libuv's pool: a
   * failed run that removed the directory at once could see that open land after the removal began
   * (ENOTEMPTY, and a file left beside the target). `discardWhenClosed` waits for these.
   */
  createFile(path: string): WriteStream {
    const s = createWriteStream(path, { mode: 0o600, highWaterMark: 1 << 20 });
    this.open_.add(s);
    s.once('close', () => this.open_.delete(s));
    return s;
  }

  /** Failed: every file from `createFile` is destroyed and closed, then the temporary goes. */
  async discardWhenClosed(): Promise<void> {
    await Promise.all(
      [...this.open_].map((s) => {
        const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
        s.on('error', () => {}); // abandoned: its failure is not the run's
        s.destroy();
        return closed;
      }),
    );
    this.discard();
  }

  /** Complete: the temporary becomes the target. */
  commit(): void {
    if (this.settled) throw new Error('atomic output committed or discarded already');
    renameSync(this.tmp, this.target);
    this.settled = true;
    pending.delete(this);
  }

  /** Failed or interrupted: the temporary goes (safe to call twice, and after commit, when it does nothing). */
  discard(): void {
    if (this.settled) return;
    this.settled = true;
    pending.delete(this);
    // retried: a file some other writer still creates inside a directory makes one pass fail ENOTEMPTY
    rmSync(this.tmp, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
  }
}

function parentMustExist(target: string): void {
  const dir = dirname(target);
  if (!existsSync(dir)) throw new AnonymiseError('USAGE', `output directory does not exist: ${dir}`);
}

/** A small file (a report) written whole, atomically, mode 0600 — also over an existing file of another mode. */
export function writeSmallFileAtomically(target: string, text: string): void {
  const out = AtomicOutput.file(target);
  try {
    writeFileSync(out.tmp, text, { mode: 0o600, flag: 'wx' });
    out.commit();
  } catch (e) {
    out.discard();
    throw e;
  }
}

/**
 * Writes a file through `write` (optionally gzip-compressed at `gzipLevel`), atomically: the target
 * appears, complete, only if `write` succeeds; otherwise nothing is left.
 */
export async function writeFileAtomically<T>(target: string, gzipLevel: number | null, write: (sink: Writable) => Promise<T>): Promise<T> {
  const out = AtomicOutput.file(target);
  const file = createWriteStream('', { fd: out.open(), highWaterMark: 1 << 20 });
  const gz = gzipLevel !== null ? createGzip({ level: gzipLevel }) : null;
  if (gz) gz.pipe(file);
  try {
    const result = await write(gz ?? file);
    (gz ?? file).end();
    await once(file, 'close');
    out.commit();
    return result;
  } catch (e) {
    // abandoned: a write still in flight may now fail, and that is expected
    file.on('error', () => {});
    gz?.on('error', () => {});
    file.destroy();
    out.discard();
    throw e;
  }
}
