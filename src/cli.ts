/**
 * The command line: parses options, opens files, wires streams. Everything else is in the library.
 */
import { createWriteStream, existsSync, readFileSync, fstatSync, type Stats, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { createGzip } from 'node:zlib';
import { once } from 'node:events';
import { Readable, type Writable } from 'node:stream';
import { Command, CommanderError, Option } from 'commander';
import { checkDump, compileRules, readRules, rewriteStream } from './engine/run.js';
import type { RulesData } from './contract/rules-model.js';
import { AnonymiseError, EXIT } from './errors.js';
import { buildReport, humanSummary } from './commands/summary.js';
import { DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_VALUE_BYTES, type DumpRewriter, type PlanOverlay } from './dump/rewriter.js';
import { PII_KINDS, foundAny, formatScan, scanDump, type PiiKind } from './commands/scan.js';
import { draftRules } from './commands/init.js';
import { readStdinAhead, statOrNull } from './io/input.js';
import { AtomicOutput } from './io/atomic.js';
import { openPath, openStream, plainBytes, type DumpSource } from './archive/open.js';
import { rewriteArchive } from './archive/rewrite.js';
import { DEFAULT_LEVEL } from './archive/entries.js';
import { ArchiveFormat } from './archive/format.js';
import { FdWriter } from './io/fd-writer.js';

export interface Io {
  stdin: Readable;
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: Record<string, string | undefined>;
}

const DEFAULT_SECRET_ENV = 'ANONYMISE_DUMP_SECRET';

async function openInput(path: string | undefined, io: Io): Promise<DumpSource> {
  if (path === undefined || path === '-') return openStream(stdinIsFile(io) ? readStdinAhead() : io.stdin, 'stdin');
  if (!existsSync(path)) throw new AnonymiseError('USAGE', `no such input file: ${path}`);
  return openPath(path);
}

/** The input as plain dump bytes (an archive as pg_restore prints it, every entry included): what check, scan and init read. */
async function openPlain(path: string | undefined, io: Io): Promise<{ stream: AsyncIterable<Buffer>; name: string }> {
  const src = await openInput(path, io);
  return { stream: plainBytes(src, { everything: true }), name: src.name };
}

interface RunFlags {
  rules?: string[];
  output?: string;
  gzip?: boolean;
  secretEnv: string;
  report?: string;
  quiet?: boolean;
  progress?: boolean;
  maxLineBytes: number;
  maxValueBytes: number;
  format?: 'plain' | 'custom' | 'directory' | 'tar';
  jobs?: number;
  compressLevel?: number;
  tables?: string[];
}

function progressLine(rw: DumpRewriter, started: number, size: number | undefined): string {
  const secs = (Date.now() - started) / 1000;
  const mb = rw.bytesIn / 1e6;
  const rate = secs > 0 ? mb / secs : 0;
  let s = `${mb.toFixed(1)} MB`;
  if (size) {
    const pct = Math.min(100, (100 * rw.bytesIn) / size);
    const eta = rate > 0 ? (size / 1e6 - mb) / rate : 0;
    s += ` / ${(size / 1e6).toFixed(1)} MB (${pct.toFixed(0)}%, ETA ${eta.toFixed(0)} s)`;
  }
  s += `  ${rate.toFixed(0)} MB/s`;
  if (rw.currentTable) s += `  ${rw.currentTable}`;
  return s;
}

async function run(input: string | undefined, flags: RunFlags, io: Io): Promise<number> {
  if (!flags.rules?.length) throw new AnonymiseError('USAGE', 'no rules: give at least one -r RULES.yaml (see `anonymise-dump init` for a draft)');
  const data = await readRules({ files: flags.rules });
  const secret = io.env[flags.secretEnv];
  if (secret) {
    const weak = weakKey(secret);
    if (weak)
      throw new AnonymiseError('USAGE', `the key in $${flags.secretEnv} is too weak (${weak}): anyone holding one original value and its pseudonym could find it by trying; make one with \`openssl rand -base64 32\``);
  }
  const rules = compileRules(data, secret || undefined);
  if (!secret && !flags.quiet)
    io.stderr.write(`anonymise-dump: note: $${flags.secretEnv} is not set; pseudonyms use a random key and are consistent within this run only\n`);
  const overlay = data.subset?.length ? await subsetOverlay(input, data, rules, secret, flags, io) : undefined;
  const source = await openInput(input, io);
  const format = flags.format ?? (source.kind === 'plain' ? 'plain' : source.archive.members ? 'tar' : source.archive.format === ArchiveFormat.Custom ? 'custom' : 'directory');
  if (source.kind === 'plain' && format !== 'plain')
    throw new AnonymiseError('USAGE', `--format ${format} needs an archive as input (pg_dump -Fc or -Fd); a plain dump is written as a plain dump`);
  if (flags.tables?.length && format === 'plain') throw new AnonymiseError('USAGE', '--tables works on directory archives (pg_dump -Fd)');
  if (source.kind === 'archive' && format !== 'plain') return runArchive(input, source, format, flags, secret || undefined, rules, io, overlay);
  if (flags.compressLevel !== undefined && !flags.gzip) throw new AnonymiseError('USAGE', '--compress-level sets the level of --gzip output or of an archive\'s data: this plain output is not compressed');
  const src = { stream: plainBytes(source), size: source.size, name: source.name };

  let target: AtomicOutput | null = null;
  let fileOut: Writable | null = null;
  // handlers first: a signal that arrives once the temporary file exists must find them in place
  const cleanup = () => target?.discard();
  // a signal ends the run as any failure does: no -o file, and on stdout the ABORTED trailer after the
  // rows already written
  const signals = watchSignals(() => {
    cleanup();
    releaseStdin(input, io);
  }, cleanup);

  if (flags.output) {
    const existing = statOrNull(flags.output);
    if (existing && !existing.isFile()) throw new AnonymiseError('USAGE', `-o ${flags.output} is not a regular file (a directory or device): give a file path, or leave -o out for stdout`);
    target = AtomicOutput.file(flags.output);
    fileOut = createWriteStream('', { fd: target.open(), highWaterMark: 1024 * 1024 });
  }
  const stdoutOut = fileOut ? null : asyncStdout(io);
  const finalOut: Writable = fileOut ?? stdoutOut ?? io.stdout;
  const gzip = flags.gzip ? createGzip({ level: flags.compressLevel ?? DEFAULT_LEVEL }) : null;
  if (gzip) {
    gzip.pipe(finalOut);
    finalOut.on('error', (e) => gzip.destroy(e)); // e.g. EPIPE on stdout reaches us through gzip
  }
  const sink: Writable = gzip ?? finalOut;

  const started = Date.now();
  const showProgress = flags.progress ?? Boolean(io.stderr.isTTY);
  let lastDraw = 0;
  const handle = rewriteStream(src.stream, sink, {
    rules,
    overlay,
    signal: signals.signal,
    maxLineBytes: flags.maxLineBytes,
    maxValueBytes: flags.maxValueBytes,
    onChunk: showProgress
      ? (rw) => {
          const now = Date.now();
          if (now - lastDraw < 200) return;
          lastDraw = now;
          io.stderr.write(`\r\x1b[K${progressLine(rw, started, src.size)}`);
        }
      : undefined,
  });
  try {
    const result = await handle.done;
    if (gzip) {
      gzip.end();
      await once(finalOut, 'finish');
    } else if (fileOut ?? stdoutOut) {
      (fileOut ?? stdoutOut)!.end();
      await once((fileOut ?? stdoutOut)!, 'finish');
    }
    if (fileOut) await once(fileOut, 'close').catch(() => {});
    if (showProgress) io.stderr.write('\r\x1b[K');
    target?.commit();
    return reportRun(result, src.name, started, secret, flags, io);
  } catch (e) {
    if (showProgress) io.stderr.write('\r\x1b[K');
    if (isEpipe(e)) {
      // the reader went away (`| head`): not our error
      cleanup();
      return EXIT.ok;
    }
    // (the library has already ended the output with the ABORTED marker when it had begun)
    if (fileOut) {
      // abandoned: a write still in flight may now fail, and that is expected
      fileOut.on('error', () => {});
      gzip?.on('error', () => {});
      fileOut.destroy();
      cleanup();
    } else if (gzip && handle.rewriter.started) {
      gzip.end();
      await once(finalOut, 'finish').catch(() => {});
    } else if (stdoutOut) {
      // the ABORTED trailer must reach the reader before we exit
      stdoutOut.end();
      await once(stdoutOut, 'finish').catch(() => {});
    }
    const sig = signals.signalled();
    if (sig) {
      io.stderr.write(`anonymise-dump: interrupted by ${sig}${flags.output ? '; no output file written' : '; the output ends with the ABORTED marker'}\n`);
      return signalStatus(sig);
    }
    throw e;
  } finally {
    signals.dispose();
  }
}

/**
 * An archive written as an archive: custom to a file (offsets filled in) or to stdout, directory to a
 * new directory; both through a temporary name beside the target, renamed on success.
 */
async function runArchive(
  input: string | undefined,
  source: Extract<DumpSource, { kind: 'archive' }>,
  format: 'custom' | 'directory' | 'tar',
  flags: RunFlags,
  secret: string | undefined,
  rules: ReturnType<typeof compileRules>,
  io: Io,
  overlay?: PlanOverlay,
): Promise<number> {
  if (flags.gzip) throw new AnonymiseError('USAGE', '--gzip is for plain output: an archive keeps its own compression');
  if (format === 'directory' && !flags.output) throw new AnonymiseError('USAGE', 'a directory archive is written with -o DIR');
  if (format === 'tar' && !flags.output) throw new AnonymiseError('USAGE', 'a tar archive is written with -o FILE (its members are packed once written)');
  if (flags.compressLevel !== undefined && (format === 'tar' || source.archive.header.compression === 'none'))
    throw new AnonymiseError('USAGE', '--compress-level sets the level of an archive\'s compressed data: this archive\'s data is not compressed (tar, or dumped with -Z 0)');
  if (flags.output && format === 'custom') {
    const existing = statOrNull(flags.output);
    if (existing && !existing.isFile()) throw new AnonymiseError('USAGE', `-o ${flags.output} is not a regular file (a directory or device): give a file path, or leave -o out for stdout`);
  }
  // the temporary output is the library's to remove when the run stops; a read waiting on a pipe is released
  const signals = watchSignals(() => releaseStdin(input, io));
  const started = Date.now();
  const showProgress = flags.progress ?? Boolean(io.stderr.isTTY);
  const stdoutOut = flags.output ? null : (asyncStdout(io) ?? io.stdout);
  try {
    const result = await rewriteArchive(source.archive, {
      rules,
      rulesSource: { files: flags.rules },
      secret,
      maxLineBytes: flags.maxLineBytes,
      maxValueBytes: flags.maxValueBytes,
      jobs: flags.jobs,
      compressLevel: flags.compressLevel,
      tables: flags.tables,
      format,
      output: flags.output ?? null,
      stdout: stdoutOut ?? undefined,
      signal: signals.signal,
      onEntry: showProgress ? (done, total, name) => io.stderr.write(`\r\x1b[K${done}/${total} data entries  ${name}`) : undefined,
      overlay,
    });
    if (stdoutOut && stdoutOut !== io.stdout) {
      stdoutOut.end();
      await once(stdoutOut, 'finish');
    }
    if (showProgress) io.stderr.write('\r\x1b[K');
    return reportRun(result, source.name, started, secret, flags, io);
  } catch (e) {
    if (showProgress) io.stderr.write('\r\x1b[K');
    if (isEpipe(e)) return EXIT.ok;
    if (stdoutOut && stdoutOut !== io.stdout) {
      stdoutOut.end();
      await once(stdoutOut, 'finish').catch(() => {});
    }
    const sig = signals.signalled();
    if (sig) {
      io.stderr.write(`anonymise-dump: interrupted by ${sig}${flags.output ? '; no output written' : '; the archive on stdout is cut short and will not restore'}\n`);
      return signalStatus(sig);
    }
    throw e;
  } finally {
    signals.dispose();
  }
}

/**
 * Signals (SIGINT, SIGTERM, SIGHUP, SIGQUIT) end a run as any failure does: `stop` runs at once, the
 * returned signal aborts the run, and if the run has not ended 5 s later (an output that cannot take
 * even its trailer), `last` runs and the process exits.
 */
function watchSignals(stop: () => void, last: () => void = () => {}): { signal: AbortSignal; signalled: () => NodeJS.Signals | null; dispose: () => void } {
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

/** A pipe still open (pg_dump writing on) must not keep the process alive once the run has ended. */
function releaseStdin(input: string | undefined, io: Io): void {
  if ((input === undefined || input === '-') && io.stdin instanceof Readable) io.stdin.destroy();
}

/** A finished run: the JSON report if asked for, and the summary on stderr. */
function reportRun(result: Awaited<ReturnType<typeof rewriteArchive>>, name: string, started: number, secret: string | undefined, flags: RunFlags, io: Io): number {
  const report = buildReport(result, name, (Date.now() - started) / 1000, secret ? flags.secretEnv : 'random');
  if (flags.report) writeFileSync(flags.report, JSON.stringify(report, null, 2) + '\n', { mode: 0o600 });
  if (!flags.quiet) io.stderr.write(humanSummary(report));
  return EXIT.ok;
}

interface PeopleFlags {
  where?: string[];
  people?: string;
  rules?: string[];
  secretEnv: string;
  maxKeyMemory: number;
  quiet?: boolean;
}

/** The conditions and rules of find / forget. Two or more passes read each input: a pipe cannot be read twice. */
async function peopleRequest(inputs: string[], flags: PeopleFlags, io: Io): Promise<import('./commands/people.js').PeopleRequest> {
  const { parseCondition } = await import('./relations/people.js');
  if (inputs.length === 0 || inputs.includes('-'))
    throw new AnonymiseError('USAGE', 'find and forget read a dump two or more times (its foreign keys come after its data): give a file, not stdin (save the pipe to a file first)');
  const conditions = (flags.where ?? []).map((w, i) => parseCondition(w, `--where ${i + 1}`));
  if (flags.people) {
    if (!existsSync(flags.people)) throw new AnonymiseError('USAGE', `no such file: ${flags.people}`);
    readFileSync(flags.people, 'utf8')
      .split(/\r?\n/)
      .forEach((line, i) => {
        if (line.trim() === '' || line.trimStart().startsWith('#')) return;
        conditions.push(parseCondition(line.trim(), `${flags.people} line ${i + 1}`));
      });
  }
  if (conditions.length === 0) throw new AnonymiseError('USAGE', 'say whose rows: --where schema.table.column=value, or --people FILE');
  const rules = flags.rules?.length ? compileRules(await readRules({ files: flags.rules })) : undefined;
  const secret = io.env[flags.secretEnv] || undefined;
  const progress = !flags.quiet && Boolean(io.stderr.isTTY);
  return {
    conditions,
    rules,
    secret,
    maxKeyBytes: flags.maxKeyMemory * 1024 * 1024,
    onPass: progress ? (n, tables) => io.stderr.write(`\r\x1b[Kpass ${n}: ${tables === 'all' ? 'every table' : `${tables} table${tables === 1 ? '' : 's'}`}`) : undefined,
  };
}

/**
 * A subset in the rules: the rows to keep, found in passes over the input before the run writes a byte.
 * A pipe cannot be read twice.
 */
async function subsetOverlay(input: string | undefined, data: RulesData, rules: ReturnType<typeof compileRules>, secret: string | undefined, flags: RunFlags, io: Io): Promise<PlanOverlay> {
  if (input === undefined || input === '-')
    throw new AnonymiseError('USAGE', 'the rules ask for a subset, which reads the dump two or more times (its foreign keys come after its data): give a file, not stdin');
  if (!existsSync(input)) throw new AnonymiseError('USAGE', `no such input file: ${input}`);
  if (!secret && !flags.quiet) io.stderr.write(`anonymise-dump: note: without $${flags.secretEnv} the subset's sample is not the same from one run to the next\n`);
  const { Subset } = await import('./relations/subset.js');
  const { KeyRing } = await import('./pseudonym/keys.js');
  const progress = flags.progress ?? Boolean(io.stderr.isTTY);
  const { passSource } = await import('./commands/people.js');
  const subset = new Subset(
    passSource(input),
    {
      seeds: data.subset!,
      follow: data.subsetFollow ?? 'parents',
      rules,
      sip: new KeyRing(secret).sip('subset-sample'),
      onPass: progress ? (n, t) => io.stderr.write(`\r\x1b[Ksubset pass ${n}: ${t === 'all' ? 'every table' : `${t} table${t === 1 ? '' : 's'}`}`) : undefined,
    },
  );
  await subset.resolve();
  if (progress) io.stderr.write('\r\x1b[K');
  return subset.overlay();
}

/** The package's version, read once from package.json beside dist/. */
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Signals that end a run: each leaves no -o file, and marks stdout output ABORTED. */
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** The exit status of a run a signal ended: 128 + its number, as a shell reports it. */
function signalStatus(sig: NodeJS.Signals): number {
  return 128 + (osConstants.signals[sig] ?? 15);
}

/** A failed system call (disk full, a closed file) in one line: what failed and its code, no path. */
function systemError(e: NodeJS.ErrnoException): string {
  const what = e.syscall === 'write' || e.syscall === 'writev' ? 'write the output' : e.syscall;
  return `cannot ${what} (${e.code}${e.code === 'ENOSPC' ? ': no space left on the device' : ''})`;
}

/**
 * Why a pseudonym key is too weak, or null. Short keys, repeated patterns, few distinct characters and
 * a word followed by a number (council2024) fall to a word list tried against one known pair.
 */
function weakKey(key: string): string | null {
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
function asyncStdout(io: Io): Writable | null {
  const st = ownFd(io, 1);
  return st && (st.isFile() || st.isFIFO()) ? new FdWriter(1) : null;
}

/**
 * True when standard input is a regular file (`< dump.sql`). A pipe stays with process.stdin: reads
 * from the thread pool fill only between two chunks' work, which left the writer blocked on a full
 * 64 KiB pipe for longer (cat | ours: 1.3 s -> 2.0-2.8 s per GB).
 */
function stdinIsFile(io: Io): boolean {
  return ownFd(io, 0)?.isFile() ?? false;
}

function isEpipe(e: unknown): boolean {
  return (e as { code?: string } | null)?.code === 'EPIPE' || (e as { code?: string } | null)?.code === 'ERR_STREAM_DESTROYED';
}

async function check(input: string | undefined, flags: { rules?: string[] }, io: Io): Promise<number> {
  if (!flags.rules?.length) throw new AnonymiseError('USAGE', 'no rules: give at least one -r RULES.yaml');
  const rules = compileRules(await readRules({ files: flags.rules }), 'check');
  const src = await openPlain(input, io);
  const res = await checkDump(src.stream, rules);
  const out: string[] = [];
  const policy = rules.unknown;
  for (const g of res.gaps)
    out.push(`unclassified ${g.column ? 'column' : 'table '} ${g.column ? `${g.table}.${g.column}` : g.table}  (input line ${g.line})`);
  for (const e of res.ruleErrors) out.push(`rule error: ${e}`);
  for (const f of res.outside) out.push(`outside the rows: ${f.object || 'a statement'} (input line ${f.line}): ${f.message}`);
  for (const p of res.restore) out.push(`restore ${p.severity}: ${p.column ? `${p.table}.${p.column}` : p.table}: ${p.message}`);
  for (const u of res.unused) out.push(`warning: rule ${u} names nothing in this dump`);
  const tables = res.gaps.filter((g) => !g.column).length;
  const cols = res.gaps.length - tables;
  out.push(
    `${res.tables} tables checked: ${tables} unclassified table(s), ${cols} unclassified column(s)` +
      (res.gaps.length && policy !== 'fail' ? ` (unknown: ${policy} applies to them)` : ''),
  );
  io.stdout.write(out.join('\n') + '\n');
  if (res.ruleErrors.length) return EXIT.usage;
  return (res.gaps.length > 0 && policy === 'fail') || res.outside.length > 0 || res.restore.some((p) => p.severity === 'error') ? EXIT.gaps : EXIT.ok;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

function levelInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new AnonymiseError('USAGE', '--compress-level must be an integer from 1 to 9');
  return n;
}

function positiveInt(flag: string, min = 1): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new AnonymiseError('USAGE', min === 1 ? `${flag} must be a positive integer` : `${flag} must be an integer ≥ ${min}`);
    return n;
  };
}

interface ScanFlags {
  json?: boolean;
  failOnPii?: string | boolean;
  sampleRows?: number;
  against?: string;
  rules?: string[];
  strict?: boolean;
}

/** `scan --against URL -r RULES`: are original values of rewritten columns anywhere in the dump? */
async function leaks(input: string | undefined, flags: ScanFlags, io: Io): Promise<number> {
  if (!flags.rules?.length) throw new AnonymiseError('USAGE', 'scan --against needs the rules the dump was made with (-r RULES.yaml)');
  const rules = compileRules(await readRules({ files: flags.rules }), 'leak-check');
  // a fake name can equal a real one by chance: names from faker's lists are not counted as leaks
  const fake = await import('./pseudonym/fake.js');
  await fake.loadLocales(['en', 'en_GB']);
  const ignore = new Set<string>();
  for (const loc of ['en', 'en_GB']) for (const n of Object.values(fake.personNames(loc)).flat()) ignore.add(n);
  const src = await openPlain(input, io);
  const { leakCheck } = await import('./commands/leak-check.js');
  const report = await leakCheck(src.stream, rules, flags.against!, { ignore });
  const cols = Object.entries(report.columns);
  const leaked = cols.filter(([, r]) => r.found > 0 || (flags.strict && r.possible > 0));
  if (flags.json) io.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else {
    for (const [col, r] of cols) {
      if (r.found > 0) io.stdout.write(`LEAK ${col}: ${r.found} of ${r.originals} original values appear in the dump\n`);
      if (r.possible > 0)
        io.stdout.write(`${flags.strict ? 'LEAK' : 'possible'} ${col}: ${r.possible} low-entropy original values (postcodes, phone numbers, short values) appear in the dump${flags.strict ? '' : ': may be chance, such as a venue\'s postcode (--strict counts them)'}\n`);
    }
    const total = cols.reduce((n, [, r]) => n + r.originals, 0);
    io.stdout.write(`checked ${report.valuesChecked} values of the dump against ${total} original values of ${cols.length} rewritten or dropped columns: ${leaked.length ? 'LEAKS FOUND' : 'no leak found'}\n`);
  }
  return leaked.length ? EXIT.gaps : EXIT.ok;
}

async function scan(input: string | undefined, flags: ScanFlags, io: Io): Promise<number> {
  if (flags.against) return leaks(input, flags, io);
  let gate: PiiKind[] = [];
  if (flags.failOnPii !== undefined && flags.failOnPii !== false) {
    gate = flags.failOnPii === true ? [...PII_KINDS] : (flags.failOnPii.split(',').map((k) => k.trim()) as PiiKind[]);
    const bad = gate.filter((k) => !PII_KINDS.includes(k));
    if (bad.length) throw new AnonymiseError('USAGE', `--fail-on-pii: unknown kind ${bad[0]} (expected ${PII_KINDS.join(', ')})`);
  }
  const src = await openPlain(input, io);
  const res = await scanDump(src.stream, { sampleRows: flags.sampleRows });
  if (flags.json) io.stdout.write(JSON.stringify(res, null, 2) + '\n');
  else io.stdout.write(formatScan(res));
  if (gate.length && foundAny(res, gate)) {
    io.stderr.write(`anonymise-dump: scan found personal data (${gate.filter((k) => foundAny(res, [k])).join(', ')})\n`);
    return EXIT.gaps;
  }
  return EXIT.ok;
}

export async function main(argv: string[], io: Io = process as unknown as Io): Promise<number> {
  const say = (s: string) => io.stderr.write(s);
  // the key must never be typed where ps, shell history and CI logs can see it
  if (argv.some((a) => a === '--secret' || a.startsWith('--secret='))) {
    say(`anonymise-dump: --secret is not accepted: put the key in $${DEFAULT_SECRET_ENV} (or name another variable with --secret-env)\n`);
    return EXIT.usage;
  }
  let code: number = EXIT.ok;
  const program = new Command('anonymise-dump')
    .description('Anonymise a PostgreSQL plain-format dump as a stream: pg_dump DB | anonymise-dump -r rules.yaml > safe.sql')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => say(s) })
    .showHelpAfterError('(run anonymise-dump --help for usage)');

  program
    .command('run', { isDefault: true })
    .description('rewrite a dump by the rules (the default command)')
    .argument('[input]', 'pg_dump output: plain (or gzip), a custom archive, or a directory archive; - or absent for stdin')
    .option('-r, --rules <file>', 'rules file (YAML); repeatable, later files win', collect)
    .option('-o, --output <file>', 'write here (atomically, mode 0600) instead of stdout')
    .option('--gzip', 'gzip the output')
    .option('--secret-env <name>', 'environment variable holding the pseudonym key', DEFAULT_SECRET_ENV)
    .option('--report <file>', 'write a JSON report per table')
    .option('-q, --quiet', 'no summary on stderr')
    .addOption(new Option('--progress', 'show a progress line on stderr (default: when stderr is a terminal)'))
    .addOption(new Option('--no-progress', 'never show the progress line'))
    .addOption(
      new Option('--max-line-bytes <n>', 'longest statement or COPY line accepted').default(DEFAULT_MAX_LINE_BYTES).argParser(positiveInt('--max-line-bytes', 1024)),
    )
    .addOption(
      new Option('--max-value-bytes <n>', 'largest value a rule may read').default(DEFAULT_MAX_VALUE_BYTES).argParser(positiveInt('--max-value-bytes', 1024)),
    )
    .addOption(new Option('--format <format>', 'output format (default: the input\'s)').choices(['plain', 'custom', 'directory', 'tar']))
    .addOption(new Option('--jobs <n>', 'worker threads for an archive\'s tables (default: the number of cores)').argParser(positiveInt('--jobs')))
    .addOption(
      new Option('--compress-level <n>', 'zlib level (1-9) of what this run compresses: --gzip output, an archive\'s rewritten data (default: 1, fast; 6 is pg_dump\'s)').argParser(levelInt),
    )
    .option('--tables <glob>', 'directory archives: rewrite only these tables\' data (schema.table, * and ?); repeatable', collect)
    .action(async (input: string | undefined, flags: RunFlags) => {
      code = await run(input, flags, io);
    });

  program
    .command('check')
    .description('list tables and columns of a dump that no rule classifies, and rules that name nothing')
    .argument('[input]', 'pg_dump output: plain (or gzip), a custom archive, or a directory archive; - or absent for stdin')
    .option('-r, --rules <file>', 'rules file (YAML); repeatable', collect)
    .action(async (input: string | undefined, flags: { rules?: string[] }) => {
      code = await check(input, flags, io);
    });

  program
    .command('scan')
    .description('count values that look like personal data, per table and column (never shows a value)')
    .argument('[input]', 'pg_dump output: plain (or gzip), a custom archive, or a directory archive; - or absent for stdin')
    .option('--json', 'the full counts as JSON')
    .option('--against <url>', 'leak check: look for the original values of rewritten columns, read from this source database')
    .option('-r, --rules <file>', 'with --against: the rules the dump was made with', collect)
    .option('--strict', 'with --against: count low-entropy matches (postcodes, phone numbers) as leaks too')
    .option('--fail-on-pii [kinds]', `exit 1 if any is found; kinds: ${PII_KINDS.join(',')} (default: all)`)
    .option('--sample-rows <n>', 'read at most n rows of each table', positiveInt('--sample-rows'))
    .action(async (input: string | undefined, flags: ScanFlags) => {
      code = await scan(input, flags, io);
    });

  program
    .command('init')
    .description('write a draft rules file for a dump to stdout: every table and column, with suggestions')
    .argument('[input]', 'pg_dump output: plain (or gzip), a custom archive, or a directory archive; - or absent for stdin')
    .option('--sample-rows <n>', 'read at most n rows of each table (default: every row of a dump; 1000 with --db)', positiveInt('--sample-rows'))
    .option('--db <url>', 'read a live database instead of a dump: its catalog, and a sample of each table')
    .action(async (input: string | undefined, flags: { sampleRows?: number; db?: string }) => {
      if (flags.db) {
        if (input !== undefined) throw new AnonymiseError('USAGE', 'init takes a dump or --db, not both');
        const sampleRows = flags.sampleRows ?? 1000;
        const { sampleDatabase } = await import('./commands/db-sample.js');
        const res = await sampleDatabase(flags.db, { sampleRows });
        // never echo the URL: it may hold a password
        io.stdout.write(draftRules(res, { source: 'a live database (--db)', sampleRows }));
      } else {
        // the whole table, not its first rows: personal data past row 1,000 counts too
        const sampleRows = flags.sampleRows ?? Infinity;
        const src = await openPlain(input, io);
        const res = await scanDump(src.stream, { sampleRows, jsonKeys: true });
        io.stdout.write(draftRules(res, { source: src.name, sampleRows }));
      }
      code = EXIT.ok;
    });

  const peopleOptions = (c: Command) =>
    c
      .option('--where <condition>', 'schema.table.column=value: the person\'s rows (repeatable)', collect)
      .option('--people <file>', 'one condition per line (blank lines and # comments skipped)')
      .option('-r, --rules <file>', 'rules file (YAML): its relations: (references the schema does not declare, on_forget) and which columns hold personal data; repeatable', collect)
      .option('--secret-env <name>', 'environment variable holding the key for the identifiers\' replacements', DEFAULT_SECRET_ENV)
      .addOption(new Option('--max-key-memory <MiB>', 'memory for one set of row keys before it spills to a temporary file').default(32).argParser(positiveInt('--max-key-memory')))
      .option('-q, --quiet', 'no progress or summary on stderr');

  peopleOptions(
    program
      .command('find')
      .description('count one person\'s rows (matching, and referring to them through foreign keys), and their identifiers elsewhere; never shows a value')
      .argument('<input>', 'a dump file: plain (or gzip), a custom archive, or a directory archive (two or more passes: not stdin)'),
  )
    .option('--export <dir>', 'write their rows per table as CSV and JSON (a subject access request: personal data, mode 0600)')
    .option('--json', 'the counts as JSON')
    .action(async (input: string, flags: PeopleFlags & { export?: string; json?: boolean }) => {
      const { findPeople, formatFind } = await import('./commands/people.js');
      const req = await peopleRequest(input === '-' ? [] : [input], flags, io);
      const res = await findPeople(input, { ...req, exportDir: flags.export });
      if (req.onPass) say('\r\x1b[K');
      io.stdout.write(flags.json ? JSON.stringify(res, null, 2) + '\n' : formatFind(res));
      code = EXIT.ok;
    });

  peopleOptions(
    program
      .command('forget')
      .description('write dumps without one person: their rows, the rows that cascade from them, their identifiers in other rows')
      .argument('<inputs...>', 'dump files: plain (or gzip), custom archives, directory archives (two or more passes: not stdin)'),
  )
    .requiredOption('-o, --output <path>', 'the output file (one input), or a directory for many; each written atomically in the input\'s format')
    .option('--cascade', 'references with ON DELETE NO ACTION / RESTRICT that no rule decides remove the rows that use them')
    .option('--report <file>', 'write a JSON report per dump')
    .action(async (inputs: string[], flags: PeopleFlags & { output: string; cascade?: boolean; report?: string }) => {
      const { forgetDump, formatForget } = await import('./commands/people.js');
      const req = await peopleRequest(inputs, flags, io);
      const many = inputs.length > 1 || statOrNull(flags.output)?.isDirectory();
      if (inputs.length > 1 && !statOrNull(flags.output)?.isDirectory()) throw new AnonymiseError('USAGE', `-o ${flags.output}: with several dumps, -o names an existing directory`);
      const outputs = inputs.map((i) => (many ? join(flags.output, basename(i.replace(/\/+$/, ''))) : flags.output));
      if (new Set(outputs).size !== outputs.length) throw new AnonymiseError('USAGE', 'two inputs have the same file name: their outputs would collide in -o DIR');
      for (let i = 0; i < inputs.length; i++)
        if (statOrNull(outputs[i]!) && statOrNull(inputs[i]!) && statSync(outputs[i]!).ino === statSync(inputs[i]!).ino)
          throw new AnonymiseError('USAGE', `-o would overwrite the input ${inputs[i]}`);
      const signals = watchSignals(() => {});
      const reports = [];
      try {
        for (let i = 0; i < inputs.length; i++) {
          const rep = await forgetDump(inputs[i]!, outputs[i]!, { ...req, cascade: flags.cascade, signal: signals.signal });
          reports.push(rep);
          if (req.onPass) say('\r\x1b[K');
          if (!flags.quiet) say(formatForget(rep));
        }
      } catch (e) {
        const sig = signals.signalled();
        if (sig) {
          say(`anonymise-dump: interrupted by ${sig}; ${reports.length} of ${inputs.length} dumps written, no partial output\n`);
          return void (code = signalStatus(sig));
        }
        throw e;
      } finally {
        signals.dispose();
        if (flags.report) writeFileSync(flags.report, JSON.stringify({ version: 1, tool: 'anonymise-dump', command: 'forget', dumps: reports }, null, 2) + '\n', { mode: 0o600 });
      }
      code = EXIT.ok;
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (e instanceof AnonymiseError) {
      say(`anonymise-dump: ${e.message}\n`);
      return e.exitCode;
    }
    // the output could not be written (disk full, a closed file): one line, and the output is not complete
    const sys = e as NodeJS.ErrnoException | null;
    if (typeof sys?.code === 'string' && /^E[A-Z]+$/.test(sys.code) && sys.syscall) {
      say(`anonymise-dump: ${systemError(sys)}\n`);
      return EXIT.input;
    }
    // a bug: say so without echoing anything that could hold data
    say(`anonymise-dump: internal error (${(e as Error)?.name ?? 'unknown'}); set ANONYMISE_DUMP_DEBUG=1 for a stack trace\n`);
    if (io.env.ANONYMISE_DUMP_DEBUG) say(`${(e as Error)?.stack}\n`);
    return EXIT.input;
  }
}
