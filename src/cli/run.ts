/**
 * `run`: a dump rewritten by the rules, to a file (atomically) or stdout, plain or gzip or as an
 * archive, with progress, the summary and the report.
 */
import { availableParallelism } from 'node:os';
import { createWriteStream, existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createGzip } from 'node:zlib';
import { once } from 'node:events';
import { type Readable, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { compileRules, readRules, rewriteStream, rulesDigest, type RewriteResult, type RulesSource } from '../engine/run.js';
import type { RulesData } from '../contract/rules-model.js';
import { AnonymiseError, EXIT } from '../errors.js';
import { buildReport, humanSummary } from '../commands/summary.js';
import { type DumpRewriter, type PlanOverlay } from '../dump/rewriter.js';
import { statOrNull } from '../io/input.js';
import { AtomicOutput, writeSmallFileAtomically } from '../io/atomic.js';
import { plainBytes, type DumpSource } from '../archive/open.js';
import { rewriteArchive } from '../archive/rewrite.js';
import { DEFAULT_LEVEL } from '../archive/entries.js';
import { ArchiveFormat } from '../archive/format.js';
import { readSchemaFile } from '../archive/schema-file.js';
import { isS3Url, parseS3Url, uploadObject, type ObjectUpload } from '../io/s3.js';
import { stagingDirectory, uploadStaged } from '../io/s3-staging.js';
import { VERSION, asyncStdout, isEpipe, requireStdout, openInput, releaseStdin, secretFrom, signalStatus, watchSignals, type Io } from './io.js';
import { planEvidence, writeEvidence, type EvidencePlan } from './run-evidence.js';
import { subjectsOf, type LeakVerdict, type Subject } from '../commands/evidence.js';

export interface RunFlags {
  rules?: string[];
  /** a --data-only dump's schema: a pg_dump --schema-only of the same database */
  schema?: string;
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
  /** js rules run the team's code: only when the command line says so */
  allowJs?: boolean;
  /** a signed statement of the run (commands/evidence.ts) */
  evidence?: string;
  signKey?: string;
  /** the leak check on the output once written, against the source database */
  against?: string;
  /** a sharded run: the plan, and which of its shards this is (cli/shards.ts) */
  plan?: string;
  shard?: number;
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

/**
 * --jobs left out, for a plain dump: a file, every core (once its rows are worth the workers' start:
 * LOCAL_FIRST_BYTES); a pipe, every core but two, which its producer wants (pg_dump and the server,
 * often on this machine: ~5 CPU-s per GB between them, a core each at their pace). On 2 cores a pipe
 * with a worker ran as fast as without (9.94 s against 9.95 s, full rules on the 1 GB bench dump).
 */
export function defaultPlainJobs(file: boolean, cores = availableParallelism()): number {
  return file ? cores : Math.max(1, cores - 2);
}

/**
 * With --jobs left to its default, rows rewritten in this thread before a worker starts. A worker costs
 * ~0.3 CPU-s to start and warm up (modules, faker, rules, the schema, V8 compiling the hot loops again);
 * on the bench's 104 MB dump (38 MB of rows rewritten) one worker made the run 1.23 s against 1.02 s.
 */
const LOCAL_FIRST_BYTES = 64 * 1024 * 1024;

export async function run(input: string | undefined, flags: RunFlags, io: Io): Promise<number> {
  // (a shard may take its rules from the plan)
  if (!flags.rules?.length && !flags.plan) throw new AnonymiseError('USAGE', 'no rules: give at least one -r RULES.yaml (see `anonymise-dump init` for a draft)');
  if (flags.plan) {
    // a shard writes a part, not an output: what is about an output belongs to assemble
    const other = (['evidence', 'against', 'gzip', 'format', 'tables', 'report', 'schema'] as const).find((f) => flags[f] !== undefined && flags[f] !== false);
    if (other) throw new AnonymiseError('USAGE', `--${other.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is not for a shard (--plan), which writes a part: give it to assemble, or run on one machine`);
    const { runShard } = await import('./shards.js');
    return runShard(input, { ...flags, plan: flags.plan }, io);
  }
  if (flags.shard !== undefined) throw new AnonymiseError('USAGE', '--shard is one shard of a plan: give --plan plan.json too');
  const data = await readRules({ files: flags.rules, js: flags.allowJs ? 'run' : 'refuse' });
  // workers read the rules again: from the same bytes, or they stop
  const rulesSource: RulesSource = { files: flags.rules, js: flags.allowJs ? 'run' : 'refuse', digest: rulesDigest(data) };
  if (flags.output && isS3Url(flags.output)) parseS3Url(flags.output);
  // the production dump itself must never be what a run replaces (forget refuses this too)
  if (flags.output && input !== undefined && input !== '-' && isTheInput(input, flags.output))
    throw new AnonymiseError('USAGE', `-o ${flags.output} is the input: it would be replaced by its own anonymised copy; write the output elsewhere`);
  if (!flags.output) requireStdout(io, 'the anonymised dump', true);
  const evidence = planEvidence(flags, input);
  if (flags.against && (!flags.output || isS3Url(flags.output)))
    throw new AnonymiseError('USAGE', '--against runs the leak check on the output once written: give -o FILE or -o DIR (a local file or directory)');
  const secret = secretFrom(flags.secretEnv, io, 'pseudonyms');
  // without a key, a random one for the run (KeyRing's): workers take the key the rules were compiled
  // with, so a value gets one pseudonym in every piece of every table
  const rules = compileRules(data, secret);
  const overlay = data.subset?.length ? await subsetOverlay(input, data, rules, secret, flags, io) : undefined;
  const schema = flags.schema ? await readSchemaFile(flags.schema) : undefined;
  const source = await openInput(input, io, evidence?.streamed ? (c) => evidence.streamed!.update(c) : undefined);
  if (schema && source.kind === 'archive' && source.archive.toc.some((e) => e.desc === 'TABLE'))
    throw new AnonymiseError('USAGE', '--schema is for a --data-only dump: this archive holds its schema (its CREATE TABLEs)');
  const format = flags.format ?? (source.kind === 'plain' ? 'plain' : source.archive.members ? 'tar' : source.archive.format === ArchiveFormat.Custom ? 'custom' : 'directory');
  if (source.kind === 'plain' && format !== 'plain')
    throw new AnonymiseError('USAGE', `--format ${format} needs an archive as input (pg_dump -Fc or -Fd); a plain dump is written as a plain dump`);
  if (flags.tables?.length && format === 'plain') throw new AnonymiseError('USAGE', '--tables works on directory archives (pg_dump -Fd)');
  const finish = (result: RewriteResult, name: string, started: number, subjects?: Subject[]) => reportRun(result, name, started, { input, data, secret, evidence, subjects }, flags, io);
  if (source.kind === 'archive' && format !== 'plain') return runArchive(input, source, format, flags, rules, rulesSource, io, finish, overlay);
  if (flags.output && /\.gz$/i.test(flags.output) && !flags.gzip)
    throw new AnonymiseError('USAGE', `-o ${flags.output} ends in .gz, and the output is plain SQL: give --gzip to write it compressed, or name it without .gz`);
  if (flags.compressLevel !== undefined && !flags.gzip) throw new AnonymiseError('USAGE', '--compress-level sets the level of --gzip output or of an archive\'s data: this plain output is not compressed');
  // the report counts the files' bytes: a gzipped input's compressed bytes, as read
  let bytesRead = 0;
  const counted = async function* (it: AsyncIterable<Buffer>) {
    for await (const c of it) {
      bytesRead += c.length;
      yield c;
    }
  };
  const src = { stream: source.size !== undefined ? plainBytes(source) : counted(plainBytes(source)), size: source.size, name: source.name };

  let target: AtomicOutput | null = null;
  let upload: ObjectUpload | null = null;
  let fileOut: Writable | null = null;
  // handlers first: a signal that arrives once the temporary file exists must find them in place
  const cleanup = () => {
    target?.discard();
    void upload?.abort();
  };
  // a signal ends the run as any failure does: no -o file, and on stdout the ABORTED trailer after the
  // rows already written
  const signals = watchSignals(() => {
    cleanup();
    releaseStdin(input, io);
  }, cleanup);

  if (flags.output && isS3Url(flags.output)) {
    upload = await uploadObject(parseS3Url(flags.output), io.env);
    fileOut = upload.sink;
  } else if (flags.output) {
    const existing = statOrNull(flags.output);
    if (existing && !existing.isFile()) throw new AnonymiseError('USAGE', `-o ${flags.output} is not a regular file (a directory or device): give a file path, or leave -o out for stdout`);
    target = AtomicOutput.file(flags.output);
    fileOut = createWriteStream('', { fd: target.open(), highWaterMark: 1024 * 1024 });
  }
  const stdoutOut = fileOut ? null : asyncStdout(io);
  const finalOut: Writable = fileOut ?? stdoutOut ?? io.stdout;
  const gzip = flags.gzip ? createGzip({ level: flags.compressLevel ?? DEFAULT_LEVEL }) : null;
  let gzipped = 0;
  if (gzip) {
    gzip.pipe(finalOut);
    gzip.on('data', (c: Buffer) => void (gzipped += c.length));
    finalOut.on('error', (e) => gzip.destroy(e)); // e.g. EPIPE on stdout reaches us through gzip
  }
  const sink: Writable = gzip ?? finalOut;

  const started = Date.now();
  const showProgress = flags.progress ?? Boolean(io.stderr.isTTY);
  let lastDraw = 0;
  const handle = rewriteStream(src.stream, sink, {
    rules,
    jobs: flags.jobs ?? defaultPlainJobs(source.size !== undefined),
    localFirstBytes: flags.jobs === undefined ? LOCAL_FIRST_BYTES : 0,
    rulesSource,
    schema,
    overlay,
    signal: signals.signal,
    maxLineBytes: flags.maxLineBytes,
    maxValueBytes: flags.maxValueBytes,
    // zlib, a file and stdout by fd are done with a chunk at its write callback; an upload's stream is not
    recycle: gzip !== null || (fileOut !== null && upload === null) || stdoutOut !== null,
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
      await outputDone(finalOut, gzip, io);
    } else if (fileOut ?? stdoutOut) {
      (fileOut ?? stdoutOut)!.end();
      await once((fileOut ?? stdoutOut)!, 'finish');
    }
    if (upload) await upload.complete();
    else if (fileOut) await once(fileOut, 'close').catch(() => {});
    if (showProgress) io.stderr.write('\r\x1b[K');
    target?.commit();
    return await finish({ ...result, bytesIn: source.size ?? bytesRead, bytesOut: gzip ? gzipped : result.bytesOut }, src.name, started, upload ? [objectSubject(flags.output!, upload)] : undefined);
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
      await upload?.abort();
    } else if (gzip && handle.rewriter.started && !gzip.destroyed && !finalOut.errored) {
      // (an output that failed destroyed gzip, and process.stdout never says it failed: nothing to end)
      gzip.end();
      await outputDone(finalOut, gzip, io).catch(() => {});
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

/** Whether `output` names the input itself: the same object address, or the same file (device and inode). */
function isTheInput(input: string, output: string): boolean {
  if (isS3Url(output)) return output === input;
  const from = statOrNull(input);
  const to = statOrNull(output);
  return Boolean(from && to && from.dev === to.dev && from.ino === to.ino);
}

/**
 * The output written to its end, or the error that stopped it. process.stdout that failed (disk full)
 * neither finishes nor closes, so an output already failed is not waited for.
 */
async function outputDone(out: Writable, from: Readable, io: Io): Promise<void> {
  if (out === io.stdout) {
    // process.stdout is never ended by a pipe (and never says 'finish'): the output is done once gzip
    // has handed over its last byte and stdout has written it (a socket as stdout, as spawn gives)
    await finished(from, { writable: false });
    await new Promise<void>((resolve, reject) => io.stdout.write(Buffer.alloc(0), (e) => (e ? reject(e) : resolve())));
    return;
  }
  if (out.errored) return Promise.reject(out.errored);
  return new Promise((resolve, reject) => {
    out.once('finish', resolve);
    out.once('error', reject);
  });
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
  rules: ReturnType<typeof compileRules>,
  rulesSource: RulesSource,
  io: Io,
  finish: (result: RewriteResult, name: string, started: number, subjects?: Subject[]) => Promise<number>,
  overlay?: PlanOverlay,
): Promise<number> {
  if (flags.gzip) throw new AnonymiseError('USAGE', '--gzip is for plain output: an archive keeps its own compression');
  if (format === 'directory' && !flags.output) throw new AnonymiseError('USAGE', 'a directory archive is written with -o DIR');
  if (format === 'tar' && !flags.output) throw new AnonymiseError('USAGE', 'a tar archive is written with -o FILE (its members are packed once written)');
  if (flags.compressLevel !== undefined && (format === 'tar' || source.archive.header.compression === 'none'))
    throw new AnonymiseError('USAGE', '--compress-level sets the level of an archive\'s compressed data: this archive\'s data is not compressed (tar, or dumped with -Z 0)');
  if (flags.output && format === 'custom' && !isS3Url(flags.output)) {
    const existing = statOrNull(flags.output);
    if (existing && !existing.isFile()) throw new AnonymiseError('USAGE', `-o ${flags.output} is not a regular file (a directory or device): give a file path, or leave -o out for stdout`);
  }
  // the temporary output is the library's to remove when the run stops; a read waiting on a pipe is released
  const signals = watchSignals(() => releaseStdin(input, io));
  const started = Date.now();
  const showProgress = flags.progress ?? Boolean(io.stderr.isTTY);
  // object storage: a custom archive streams into a multipart upload (written as to a pipe: no data
  // offsets, which pg_restore does without); a directory or tar archive is written in a private
  // staging directory, then uploaded, its objects under the address as a prefix
  const remote = flags.output && isS3Url(flags.output) ? parseS3Url(flags.output) : null;
  const upload = remote && format === 'custom' ? await uploadObject(remote, io.env) : null;
  const local = remote && !upload ? join(stagingDirectory(), format === 'tar' ? 'archive.tar' : 'archive') : null;
  const output = remote ? local : (flags.output ?? null);
  const stdoutOut = upload ? upload.sink : flags.output ? null : (asyncStdout(io) ?? io.stdout);
  try {
    const result = await rewriteArchive(source.archive, {
      rules,
      rulesSource,
      maxLineBytes: flags.maxLineBytes,
      maxValueBytes: flags.maxValueBytes,
      jobs: flags.jobs,
      compressLevel: flags.compressLevel,
      tables: flags.tables,
      schemaFile: flags.schema,
      format,
      output,
      stdout: stdoutOut ?? undefined,
      signal: signals.signal,
      onEntry: showProgress ? (done, total, name) => io.stderr.write(`\r\x1b[K${done}/${total} data entries  ${name}`) : undefined,
      overlay,
    });
    if (stdoutOut && stdoutOut !== io.stdout) {
      stdoutOut.end();
      await once(stdoutOut, 'finish');
    }
    if (upload) await upload.complete();
    // a staged archive is digested before it goes up: its files as they will lie under the prefix
    const staged = local && flags.evidence ? await subjectsOf(local) : undefined;
    if (local) await uploadStaged(local, remote!, io.env);
    if (showProgress) io.stderr.write('\r\x1b[K');
    return await finish(result, source.name, started, upload ? [objectSubject(flags.output!, upload)] : staged);
  } catch (e) {
    if (showProgress) io.stderr.write('\r\x1b[K');
    if (upload) await upload.abort();
    else if (isEpipe(e)) return EXIT.ok;
    else if (stdoutOut && stdoutOut !== io.stdout) {
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

/** An object written to storage as the statement names it: by the last part of its key. */
function objectSubject(url: string, upload: ObjectUpload): Subject {
  return { name: basename(parseS3Url(url).key) || 'object', digest: { sha256: upload.sha256() } };
}

/** A finished run: the JSON report and the evidence if asked for, and the summary on stderr. */
async function reportRun(
  result: RewriteResult,
  name: string,
  started: number,
  run: { input: string | undefined; data: RulesData; secret: string | undefined; evidence: EvidencePlan | null; subjects?: Subject[] },
  flags: RunFlags,
  io: Io,
): Promise<number> {
  const report = buildReport(result, name, (Date.now() - started) / 1000, run.secret ? flags.secretEnv : 'random', { toolVersion: VERSION, rulesFiles: run.data.files });
  if (flags.report) writeSmallFileAtomically(flags.report, JSON.stringify(report, null, 2) + '\n');
  const leak = flags.against ? await checkOutput(flags.output!, flags.rules!, flags.against, io) : undefined;
  if (run.evidence) await writeEvidence(run.evidence, { input: run.input, output: flags.output!, report, rules: run.data, secret: run.secret, leakCheck: leak, subjects: run.subjects });
  if (!flags.quiet) io.stderr.write(humanSummary(report));
  if (leak) io.stderr.write(`anonymise-dump: leak check of the output: ${leak.verdict}${leak.columnsLeaking ? ` (${leak.columnsLeaking} column(s); scan ${flags.output} --against … -r … says where)` : ''}\n`);
  return leak?.columnsLeaking ? EXIT.gaps : EXIT.ok;
}

/** The leak check of the written output (scan --against): its verdict in numbers, never a value. */
async function checkOutput(output: string, rulesFiles: string[], against: string, io: Io): Promise<LeakVerdict> {
  const { leakVerdict } = await import('./commands.js');
  const { openPlain } = await import('./io.js');
  const src = await openPlain(output, io);
  const { report, leaked } = await leakVerdict(src.stream, rulesFiles, against, false);
  return { verdict: leaked.length ? 'LEAKS FOUND' : 'no leak found', valuesChecked: report.valuesChecked, columnsChecked: Object.keys(report.columns).length, columnsLeaking: leaked.length };
}

async function subsetOverlay(input: string | undefined, data: RulesData, rules: ReturnType<typeof compileRules>, secret: string | undefined, flags: RunFlags, io: Io): Promise<PlanOverlay> {
  if (input === undefined || input === '-')
    throw new AnonymiseError('USAGE', 'the rules ask for a subset, which reads the dump two or more times (its foreign keys come after its data): give a file, not stdin');
  if (!isS3Url(input) && !existsSync(input)) throw new AnonymiseError('USAGE', `no such input file: ${input}`);
  if (!secret && !flags.quiet) io.stderr.write(`anonymise-dump: note: without $${flags.secretEnv} the subset's sample is not the same from one run to the next\n`);
  const { Subset } = await import('../relations/subset.js');
  const { KeyRing } = await import('../pseudonym/keys.js');
  const progress = flags.progress ?? Boolean(io.stderr.isTTY);
  const { passSource } = await import('../commands/people.js');
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