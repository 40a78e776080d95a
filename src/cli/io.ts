/**
 * The command line's side of the world: standard streams, input files, signals, exit statuses, and
 * how a system error is told (never with a value).
 */
import { existsSync, readFileSync, readlinkSync, fstatSync, type Stats } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { Readable, type Writable } from 'node:stream';
import { AnonymiseError } from '../errors.js';
import { readFileAhead, readStdinChunks, statOrNull } from '../io/input.js';
import { readPipe } from '../io/pipe-input.js';
import { BufferPool } from '../io/buffer-pool.js';
import { isatty } from 'node:tty';
import { PLAIN_CHUNK, openPath, openStream, plainBytes, type DumpSource } from '../archive/open.js';
import { openDirectory } from '../archive/reader.js';
import { isS3Url, listObjects, objectSize, parseS3Url, readObject } from '../io/s3.js';
import { stageObjects } from '../io/s3-staging.js';
import { FdWriter } from '../io/fd-writer.js';

export interface Io {
  stdin: Readable;
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: Record<string, string | undefined>;
}

export const DEFAULT_SECRET_ENV = 'ANONYMISE_DUMP_SECRET';

/**
 * The input named on the command line (stdin when absent). `tap` sees every byte of a stream input
 * (stdin, a FIFO, s3://) as it is read, in order: what --evidence digests, since a stream cannot be read twice.
 */
export async function openInput(path: string | undefined, io: Io, tap?: (chunk: Buffer) => void): Promise<DumpSource> {
  if (path === undefined || path === '-') {
    // a terminal: the dump is expected from a pipe or a file, and a silent wait would look like a hang
    if (io === process ? isatty(0) : (io.stdin as { isTTY?: boolean }).isTTY)
      io.stderr.write('anonymise-dump: reading the dump from the terminal: pipe pg_dump into it, or give a file (Ctrl-D ends the input)\n');
    // a file on stdin (`< dump.sql`) is read as a file given by name is, and its size known (--jobs, progress)
    const st = ownFd(io, 0);
    if (st?.isFile()) return openStream(tapped(readStdinChunks(PLAIN_CHUNK, new BufferPool(PLAIN_CHUNK)), tap), 'stdin', st.size);
    // a pipe into pooled chunks (process.stdin, never touched then, would read it too)
    if (st?.isFIFO() || st?.isSocket()) {
      const pipe = readPipe(0, new BufferPool(PLAIN_CHUNK));
      stdinReleases.set(io, pipe.close);
      return openStream(tapped(pipe.chunks, tap), 'stdin');
    }
    stdinReleases.set(io, () => {
      if (io.stdin instanceof Readable) io.stdin.destroy();
    });
    return openStream(tapped(io.stdin, tap), 'stdin');
  }
  if (isS3Url(path)) return openObject(path, io, tap);
  if (!existsSync(path)) throw new AnonymiseError('USAGE', `no such input file: ${path}`);
  const st = statOrNull(path);
  if (tap && st && !st.isFile() && !st.isDirectory()) return openStream(tapped(readFileAhead(path), tap), path);
  return openPath(path);
}

function tapped(source: AsyncIterable<Buffer> | Readable, tap: ((chunk: Buffer) => void) | undefined): AsyncIterable<Buffer> | Readable {
  if (!tap) return source;
  return (async function* () {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      tap(chunk);
      yield chunk;
    }
  })();
}

/**
 * An input in object storage: one object (plain, gzip, custom archive) read in ranges as a stream; or,
 * when no object has that name, the directory archive under it as a prefix (toc.dat and its data files),
 * copied to a private temporary directory first (a directory archive is read by entry, out of order).
 */
async function openObject(url: string, io: Io, tap?: (chunk: Buffer) => void): Promise<DumpSource> {
  const loc = parseS3Url(url);
  const size = loc.key === '' || loc.key.endsWith('/') ? null : await objectSize(loc, io.env);
  if (size !== null) return openStream(tapped(readObject(loc, size, io.env), tap), url, size);
  const prefix = loc.key === '' || loc.key.endsWith('/') ? loc.key : `${loc.key}/`;
  const files = (await listObjects({ ...loc, key: prefix }, io.env)).filter((o) => !o.key.slice(prefix.length).includes('/'));
  if (!files.some((o) => o.key === `${prefix}toc.dat`))
    throw new AnonymiseError('STORAGE', `${url}: no such object, and no directory archive (toc.dat) under it as a prefix`);
  if (tap) throw new AnonymiseError('USAGE', `${url}: --evidence digests its input as read, and a directory archive in object storage is read out of order: download it first (aws s3 cp --recursive)`);
  const dir = await stageObjects(loc, files, prefix, io.env);
  return { kind: 'archive', archive: await openDirectory(dir), size: files.reduce((n, o) => n + o.size, 0), name: url };
}

/** The input as plain dump bytes (an archive as pg_restore prints it, every entry included): what check, scan and init read. */
export async function openPlain(path: string | undefined, io: Io): Promise<{ stream: AsyncIterable<Buffer>; name: string }> {
  const src = await openInput(path, io);
  return { stream: plainBytes(src, { everything: true }), name: src.name };
}

/**
 * A progress line on stderr for commands that read a whole dump (init, scan): bytes read, rate and the
 * table in hand, at most five times a second; `done()` clears it. Nothing when `on` is false.
 */
export function progressLine(io: Io, on: boolean): { update: (bytesIn: number, table: string | null) => void; done: () => void } {
  if (!on) return { update: () => {}, done: () => {} };
  const started = Date.now();
  let last = 0;
  return {
    update: (bytesIn, table) => {
      const now = Date.now();
      if (now - last < 200) return;
      last = now;
      const secs = (now - started) / 1000;
      io.stderr.write(`\r\x1b[K${(bytesIn / 1e6).toFixed(1)} MB  ${secs > 0 ? (bytesIn / 1e6 / secs).toFixed(0) : 0} MB/s${table ? `  ${table}` : ''}`);
    },
    done: () => void io.stderr.write('\r\x1b[K'),
  };
}

export function watchSignals(stop: () => void, last: () => void = () => {}): { signal: AbortSignal; signalled: () => NodeJS.Signals | null; dispose: () => void } {
  const interrupt = new AbortController();
  let signalled: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) return;
    signalled = sig;
    stop();
    interrupt.abort(new AnonymiseError('INTERRUPTED', `interrupted by ${sig}`));
    setTimeout(() => {
      last();
      process.exit(signalStatus(sig));
    }, 5000).unref();
  };
  for (const sig of SIGNALS) process.on(sig, onSignal);
  return { signal: interrupt.signal, signalled: () => signalled, dispose: () => SIGNALS.forEach((sig) => process.off(sig, onSignal)) };
}

/** How openInput's reader of standard input lets go of it (a file read by this thread has nothing to let go). */
const stdinReleases = new WeakMap<Io, () => void>();

/** A pipe still open (pg_dump writing on) must not keep the process alive once the run has ended. */
export function releaseStdin(input: string | undefined, io: Io): void {
  if (input === undefined || input === '-') stdinReleases.get(io)?.();
}

/** A finished run: the JSON report if asked for, and the summary on stderr. */
export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Signals that end a run: each leaves no -o file, and marks stdout output ABORTED. */
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** The exit status of a run a signal ended: 128 + its number, as a shell reports it. */
export function signalStatus(sig: NodeJS.Signals): number {
  return 128 + (osConstants.signals[sig] ?? 15);
}

/** A failed system call (disk full, a closed file) in one line: what failed and its code, no path. */
export function systemError(e: NodeJS.ErrnoException): string {
  const what = e.syscall === 'write' || e.syscall === 'writev' ? 'write the output' : e.syscall;
  return `cannot ${what} (${e.code}${e.code === 'ENOSPC' ? ': no space left on the device' : ''})`;
}

/**
 * Why a pseudonym key is too weak, or null. Short keys, repeated patterns, few distinct characters and
 * a word followed by a number (council2024) fall to a word list tried against one known pair.
 */
export function weakKey(key: string): string | null {
  if (Buffer.byteLength(key) < 16) return 'shorter than 16 bytes';
  if (/^(.+?)\1+$/s.test(key)) return 'a repeated pattern';
  if (new Set(key).size < 8) return 'fewer than 8 distinct characters';
  if (/^[A-Za-z]+[-_ .]?[0-9]*[!?.]*$/.test(key) && key.length < 24) return 'a word and a number';
  return null;
}

/**
 * fstat of fd 0 or 1 when `io` is this process (not a test's streams); null otherwise. Not through
 * process.stdout: reading that getter makes a pipe on fd 1 non-blocking.
 */
function ownFd(io: Io, fd: 0 | 1): Stats | null {
  if ((io as unknown) !== process) return null;
  try {
    return fstatSync(fd);
  } catch {
    return null;
  }
}

/** Our own stream on fd 1 when it is a file or a pipe (see fd-writer.ts); process.stdout otherwise. */
export function asyncStdout(io: Io): Writable | null {
  const st = ownFd(io, 1);
  return st && (st.isFile() || st.isFIFO()) ? new FdWriter(1) : null;
}


/**
 * True when this process was started with fd 1 closed (`>&-`). Node reopens a closed standard fd onto
 * /dev/null read-write before any of our code runs, so a closed stdout looks like `> /dev/null`; the
 * shell opens that write-only, which is what tells them apart (Linux's /proc; elsewhere, false).
 */
export function stdoutClosed(io: Io): boolean {
  if (!ownFd(io, 1)?.isCharacterDevice()) return false;
  try {
    if (readlinkSync('/proc/self/fd/1') !== '/dev/null') return false;
    const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/fdinfo/1', 'latin1'));
    return flags !== null && (parseInt(flags[1]!, 8) & 3) === 2; // O_ACCMODE == O_RDWR
  } catch {
    return false;
  }
}

/** Refuses to write a command's product where no one can read it: a closed stdout. */
export function requireStdout(io: Io, what: string, orOutput: boolean): void {
  if (stdoutClosed(io))
    throw new AnonymiseError('USAGE', `standard output is closed: ${what} would be lost; ${orOutput ? 'give -o FILE, or ' : ''}redirect stdout to a file (> /dev/null discards it)`);
}

/**
 * Writes a command's text to stdout and waits until it is written: a full disk or a closed file is the
 * command's failure (one line, exit 3), never an unhandled stream error; a reader gone (| head) is not.
 */
export async function writeOut(io: Io, text: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const fail = (e: Error) => (isEpipe(e) ? resolve() : reject(e));
    io.stdout.once('error', fail); // a file's stream also emits what it passes to the callback
    io.stdout.write(text, (e) => {
      if (e) fail(e);
      else {
        io.stdout.off('error', fail);
        resolve();
      }
    });
  });
}

export function isEpipe(e: unknown): boolean {
  return (e as { code?: string } | null)?.code === 'EPIPE' || (e as { code?: string } | null)?.code === 'ERR_STREAM_DESTROYED';
}

/**
 * The pseudonym key from the environment variable `name` (--secret-env). A name that is not a variable's
 * name is refused without repeating it (it may be the key itself, pasted); a variable named on the
 * command line that is unset or empty is an error, never a silent random key; the default one unset
 * means a random key for this run, said on stderr even under -q. A weak key is refused.
 */
export function secretFrom(name: string, io: Io, what: string): string | undefined {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    throw new AnonymiseError('USAGE', '--secret-env takes the name of an environment variable (letters, digits, _), not the key itself: put the key in a variable and name that');
  const secret = io.env[name];
  if (!secret) {
    if (name !== DEFAULT_SECRET_ENV) throw new AnonymiseError('USAGE', `$${name} (--secret-env) is not set, or empty: set it to the key, or leave --secret-env out for a random key`);
    io.stderr.write(`anonymise-dump: note: $${name} is not set; ${what} use a random key and are consistent within this run only\n`);
    return undefined;
  }
  const weak = weakKey(secret);
  if (weak) throw new AnonymiseError('USAGE', `the key in $${name} is too weak (${weak}): anyone holding one original value and its pseudonym could find it by trying; make one with \`openssl rand -base64 32\``);
  return secret;
}
