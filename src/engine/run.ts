/**
 * The library API. The CLI is a thin shell over these functions, and the tests call them directly.
 */
import { createHash } from 'node:crypto';
import { getHeapStatistics } from 'node:v8';
import { Readable, type Writable } from 'node:stream';
import { KeyRing } from '../pseudonym/keys.js';
import { CompiledRules } from '../rules/rule-compiler.js';
import { type Gap } from '../contract/plan.js';
import { loadRules, rulesDigests, type JsPolicy } from '../rules/rules-file.js';
import { type RulesData } from '../contract/rules-model.js';
import type { OutsideCount } from '../contract/outside-policy.js';
import type { SchemaModel } from '../dump/schema-model.js';
import { checkRestorability, type RestoreProblem } from './restorability.js';
import type { Severity } from '../dump/findings.js';
import { DumpRewriter, type OutsideFinding, type PlanOverlay, type RewriterOptions, type TableStats } from '../dump/rewriter.js';
import { coalesce, plainDump } from '../io/input.js';
import { BufferPool, release } from '../io/buffer-pool.js';
import { PlainPieces, type Slot } from './plain-pieces.js';
import { firstEvent } from '../io/events.js';
import { AnonymiseError } from '../errors.js';

export interface RulesSource {
  /** rules file paths, merged in order */
  files?: string[];
  /** or rules text (YAML), with a name used in error messages */
  text?: { name: string; yaml: string }[];
  /** `js:` rules run code: `run` to load them, `skip` to read the rules without (default `refuse`) */
  js?: JsPolicy;
  /**
   * What the run itself read (`rulesDigest`): a worker reads the files again when it starts, maybe
   * minutes later, and one that finds other bytes stops the run rather than apply other rules.
   */
  digest?: string;
}

export async function readRules(src: RulesSource): Promise<RulesData> {
  const data = await loadRules([...(src.files ?? []).map((path) => ({ path })), ...(src.text ?? []).map((t) => ({ path: t.name, text: t.yaml }))], src.js);
  if (src.digest !== undefined && rulesDigest(data) !== src.digest)
    throw new AnonymiseError('RULES', 'a rules file changed during the run (a worker read other bytes than the run started with): nothing was written; run again');
  return data;
}

/** One digest over every rules file a read took in (extends and presets included), by path and bytes. */
export function rulesDigest(data: RulesData): string {
  return createHash('sha256').update(JSON.stringify(rulesDigests(data.files))).digest('hex');
}

export function compileRules(data: RulesData, secret?: string | Buffer): CompiledRules {
  return new CompiledRules(data, new KeyRing(secret));
}

export interface RewriteOptions {
  rules: CompiledRules;
  /** longest statement or COPY line accepted (default 256 MiB) */
  maxLineBytes?: number;
  /** largest value a rule may read (default 16 MiB) */
  maxValueBytes?: number;
  /** called with the rewriter after each input chunk (progress display) */
  onChunk?: (rw: DumpRewriter) => void;
  /**
   * Stops the run (a signal): aborted with an AnonymiseError as its reason, the output ends with the
   * ABORTED trailer as for any other failure after output began.
   */
  signal?: AbortSignal;
  /** forget and subsets: rows to remove or change, over the rules' plans */
  overlay?: PlanOverlay;
  outsideIdentifiers?: RewriterOptions['outsideIdentifiers'];
  /** a --data-only dump's schema (readSchemaFile): its tables' columns and types */
  schema?: SchemaModel;
  /**
   * Threads for the rows (plain-pieces.ts): this one and N - 1 workers, each compiling the rules
   * from `rulesSource` with the key `rules` were compiled with (a random one too), so a value gets one
   * pseudonym whichever thread rewrites it. 1 (the default), or an overlay: this thread rewrites
   * everything.
   */
  jobs?: number;
  /** bytes of rows this thread rewrites before the first piece goes to a worker (default 0) */
  localFirstBytes?: number;
  /** rows handed to a worker at a time (default 2 MiB; tests make it small to cut every table) */
  pieceBytes?: number;
  /**
   * Rows wait for the workers while they start, instead of being rewritten here meanwhile (the
   * default, as fast): for tests, whose small dumps would otherwise be done before a worker is ready.
   */
  waitForWorkers?: boolean;
  /** Every row the workers may take goes to them, none is rewritten here (tests: the workers' path for each table, whatever the timing). */
  workersOnly?: boolean;
  rulesSource?: RulesSource;
  /**
   * The sink is done with a chunk once its write callback has run (a file, a pipe written by fd, gzip;
   * not a PassThrough, which keeps it): the input's chunks, if a pool's (readFileChunks), and the output's
   * buffers are then used again (io/buffer-pool.ts) instead of being left to the collector.
   */
  recycle?: boolean;
  /** with `recycle`: where the output's buffers come from (default: a pool of the run's own) */
  outputPool?: BufferPool;
}

export interface RewriteResult {
  tables: TableStats[];
  /** what the policy for what lies outside the rows did: secrets removed, comments scrubbed, statistics stripped… */
  outside: Partial<Record<OutsideCount, number>>;
  bytesIn: number;
  bytesOut: number;
  lines: number;
  /** pieces of rows (COPY rows or INSERT statements) that worker threads rewrote: a plain dump with --jobs */
  workerPieces?: number;
}

function result(rw: DumpRewriter, bytesOut: number): RewriteResult {
  return { tables: [...rw.stats.values()], outside: { ...rw.outsideCounts }, bytesIn: rw.bytesIn, bytesOut, lines: rw.line - 1 };
}

/** Rewrites a whole dump held in memory (tests, small inputs). `chunks` lets tests cut it anywhere. */
export function rewriteBuffer(input: Buffer | Buffer[], options: RewriteOptions): { output: Buffer; result: RewriteResult } {
  const out: Buffer[] = [];
  let bytesOut = 0;
  const rw = new DumpRewriter({ rules: options.rules, maxLineBytes: options.maxLineBytes, maxValueBytes: options.maxValueBytes }, (c) => {
    out.push(Buffer.from(c));
    bytesOut += c.length;
  });
  for (const chunk of Array.isArray(input) ? input : [input]) rw.write(chunk);
  rw.end();
  return { output: Buffer.concat(out), result: result(rw, bytesOut) };
}

export interface StreamHandle {
  /** the rewriter, for progress and for the ABORTED trailer on error */
  rewriter: DumpRewriter;
  done: Promise<RewriteResult>;
}

/**
 * Streams `source` (plain or gzip dump) through the rules into `sink`, honouring backpressure: no
 * more input is read while `sink` is full.
 */
export function rewriteStream(source: AsyncIterable<Buffer> | Readable, sink: Writable, options: RewriteOptions): StreamHandle {
  let bytesOut = 0;
  // output in order: bytes, and the places of pieces workers rewrite (filled when they are done)
  const pending: (Buffer | Slot)[] = [];
  // a --schema file's types are this thread's only: workers planning a data-only dump's tables without
  // them would write a smallint or numeric(4,2) past its type (so that dump stays on one thread)
  const workers =
    (options.jobs ?? 1) > 1 && options.rulesSource && !options.overlay && !options.outsideIdentifiers && !options.schema
      ? new PlainPieces({ jobs: options.jobs!, localFirstBytes: options.localFirstBytes ?? 0, pieceBytes: options.pieceBytes, waitForWorkers: options.waitForWorkers, workersOnly: options.workersOnly, rules: options.rulesSource, key: options.rules.keyForWorkers(), maxLineBytes: options.maxLineBytes, maxValueBytes: options.maxValueBytes, place: (slot) => pending.push(slot) })
      : undefined;
  const recycle = options.recycle ?? false;
  const rw = new DumpRewriter(
    { rules: options.rules, maxLineBytes: options.maxLineBytes, maxValueBytes: options.maxValueBytes, overlay: options.overlay, outsideIdentifiers: options.outsideIdentifiers, schema: options.schema, parallel: workers, outputPool: recycle ? (options.outputPool ?? new BufferPool(OUTPUT_BUFFER_BYTES)) : undefined },
    // each chunk comes with a hold on its memory (dump/output.ts), given back once the sink has written it
    (c) => {
      pending.push(c);
      bytesOut += c.length;
    },
  );
  // pieces in flight before the reader waits for the oldest (two per worker, as for archives), and
  // output held behind an unfinished piece before it waits too (a kept table read on meanwhile)
  const inFlight = 2 * (options.jobs ?? 1);
  const HELD_BEHIND = 16 * 1024 * 1024;
  // once workers run, pieces in flight (input and output) and output held behind them are live, not
  // spent: counted in, or every MiB read would force a full collection (360 ms of a 1.4 s run)
  const collectAt = () => COLLECT_AT + (workers?.running ? 2 * inFlight * workers.pieceBytes + HELD_BEHIND : 0);
  // a reader that goes away (EPIPE) shows up as an 'error' on the sink, maybe after write() returned
  let sinkError: Error | null = null;
  const onSinkError = (e: Error) => {
    sinkError ??= e;
  };
  sink.on('error', onSinkError);
  const drain = async (all = true) => {
    let i = 0; // pending[0..i) are written
    try {
      while (i < pending.length) {
        let c = pending[i]!;
        if (sinkError) throw sinkError;
        if (!Buffer.isBuffer(c)) {
          // a piece not yet done: written when it is, unless too much waits for it
          if (!c.done && !all && !mustWait(i)) break;
          await c.wait;
          if (c.error) throw c.error;
          c = c.value!;
          bytesOut += c.length;
        }
        const room = sink.write(c, recycle ? () => release(c) : undefined);
        // written, whatever happens next: a signal while the sink drains must not leave it in `pending`,
        // where the abort's drain wrote it again (twice in the output, its buffer given back twice)
        i++;
        if (!room) await waitDrain(sink);
        if (options.signal?.aborted && !aborting) throw options.signal.reason;
      }
    } finally {
      pending.splice(0, i);
    }
    if (sinkError) throw sinkError;
  };
  /** Whether the piece at `i` must be waited for now: too many pieces in flight, or too much output behind it. */
  const mustWait = (i: number): boolean => {
    let pieces = 0;
    let held = 0;
    for (let j = i; j < pending.length; j++) {
      const c = pending[j]!;
      if (Buffer.isBuffer(c)) held += c.length;
      else if (!c.done) pieces++;
    }
    return pieces >= inFlight || held > HELD_BEHIND;
  };
  let aborting = false;
  const done = (async () => {
    try {
      let sinceCollect = 0;
      // a signal is looked at between chunks: racing every read against one pending abort promise kept
      // each chunk reachable from that promise until the end (254 MiB instead of 85 on a 200 MB dump);
      // a read that waits for ever is the caller's to end (the CLI destroys stdin)
      for await (const chunk of plainDump(source instanceof Readable && !source.readableObjectMode ? coalesce(source) : source)) {
        if (options.signal?.aborted) throw options.signal.reason;
        rw.write(chunk);
        // what the rewriter keeps of the chunk it holds itself (dump/output.ts, rows.ts, parallel-copy.ts)
        if (recycle) release(chunk);
        sinceCollect += chunk.length;
        if (sinceCollect >= CHECK_EVERY && collect) {
          sinceCollect = 0;
          // memory outside V8's heap, buffers above all: process.memoryUsage() reads /proc for the RSS as
          // well, ~30 µs a call beside worker threads (4 % of this thread's time in a --jobs 2 profile)
          if (getHeapStatistics().external_memory > collectAt()) collect();
        }
        await drain(workers === undefined);
        options.onChunk?.(rw);
      }
      if (options.signal?.aborted) throw options.signal.reason;
      rw.end();
      await drain();
      return { ...result(rw, bytesOut), workerPieces: workers?.sent ?? 0 };
    } catch (caught) {
      // a destroyed input ends its read with an error of its own: the signal is the reason
      let e = options.signal?.aborted ? options.signal.reason : caught;
      // a bad row this thread met may follow one in a piece still with a worker: the first in the input is the one named
      if (e instanceof AnonymiseError && !options.signal?.aborted) {
        for (const c of pending) {
          if (Buffer.isBuffer(c)) continue;
          await c.wait;
          if (c.error) {
            e = c.error;
            break;
          }
        }
      }
      // a bad dump, a signal, or anything else that stops the run (a worker gone, a bug): mark the output
      // as incomplete, unless the sink itself failed (a cut dump without the marker restored without an
      // error: a worker that died left 99,996 of 450,000 users and exit 0 from psql -v ON_ERROR_STOP=1)
      if (!sink.destroyed && !sinkError) {
        aborting = true;
        // what workers had not finished before the failure is not written: the trailer follows what was,
        // and what this thread wrote after that piece is dropped with it
        const cut = pending.findIndex((c) => !Buffer.isBuffer(c) && (!c.done || c.error !== null));
        const at = cut === -1 ? undefined : (pending[cut] as Slot).cut;
        if (cut !== -1) pending.length = cut;
        // (only our own errors' messages are known to hold no value from the dump)
        rw.abort(e instanceof AnonymiseError ? e.message : 'internal error', at);
        await drain().catch(() => {});
      }
      throw e;
    } finally {
      sink.off('error', onSinkError);
      await workers?.close();
    }
  })();
  return { rewriter: rw, done };
}

/**
 * A full garbage collection when spent I/O buffers pile up, if the process allows it (`node
 * --expose-gc`, as bin/anonymise-dump.js runs). Read and output buffers outlive a few young-generation
 * collections while rules allocate, and V8 then frees them only once ~50 MiB of them are waiting.
 * Checked every MiB of input, collected above 24 MiB: peak RSS on a 1 GB dump ~100 -> ~90 MiB at no
 * measurable cost (a collection every 8 MiB reached 77 MiB but cost 12-16 % of the time).
 */
const CHECK_EVERY = 1024 * 1024;
/** the output's buffers (dump/output.ts's capacity) */
export const OUTPUT_BUFFER_BYTES = 256 * 1024;
const COLLECT_AT = 24 * 1024 * 1024;
const collect = (globalThis as { gc?: () => void }).gc;

function waitDrain(sink: Writable): Promise<void> {
  // a sink that errors or closes must not leave us waiting for 'drain' for ever
  return firstEvent(sink, {
    drain: null,
    close: () => Object.assign(new Error('output closed'), { code: 'EPIPE' }),
    error: (e) => e as Error,
  });
}

export interface CheckResult {
  /** tables and columns no rule classifies */
  /** unclassified tables and columns: fatal under `unknown: fail` (of the database's rules, for pg_dumpall), else warnings */
  gaps: (Gap & { line: number; severity: Severity })[];
  /** rules that name something the dump lacks (templates, filters) */
  ruleErrors: string[];
  /** statements outside the rows that would stop a run (personal data in a DDL literal, an unknown kind) */
  outside: OutsideFinding[];
  /** what would keep the output from restoring (NOT NULL, lengths, UNIQUE, types, foreign keys) */
  restore: RestoreProblem[];
  /** table patterns of the rules that matched no table in the dump */
  unused: string[];
  tables: number;
  columns: number;
}

/** Reads a dump's schema and COPY headers and reports what the rules do not cover. */
export async function checkDump(source: AsyncIterable<Buffer> | Readable, rules: CompiledRules, options: { schema?: SchemaModel } = {}): Promise<CheckResult> {
  const restore: CheckResult['restore'] = [];
  const onSchema = (schema: SchemaModel, database: string | null) => {
    for (const p of checkRestorability(schema, database === null ? rules : rules.forDatabase(database))) restore.push(database === null ? p : { ...p, table: `${database}/${p.table}` });
  };
  const rw = new DumpRewriter({ rules, inspect: true, onSchema, schema: options.schema }, () => {});
  for await (const chunk of plainDump(source as AsyncIterable<Buffer>)) rw.write(chunk);
  rw.end();
  let columns = 0;
  for (const t of rw.schema.tables.keys()) columns += rw.columnsOf(t)?.length ?? 0;
  const tables = new Set([...rw.schema.tables.keys(), ...rw.stats.keys()]);
  // pg_dumpall: each database's tables are gone by the end; its rules say which they name
  const problems = rw.database === null ? rules.tableRuleProblems([...tables]) : { errors: [], unused: rules.unusedPatterns() };
  return {
    gaps: [...rw.gaps.values()],
    ruleErrors: [...rw.ruleErrors, ...problems.errors.map((e) => e.message)],
    outside: rw.outsideFindings,
    restore:
      rules.data.outside.roles === 'pseudonymise' && !rw.createsRoles
        ? [
            ...restore,
            {
              table: '(roles)',
              severity: 'warning',
              message:
                'roles: pseudonymise, and this dump creates no roles (pg_dump, not pg_dumpall): its OWNER TO and GRANT statements will name pseudonymous roles the target lacks; dump with --no-owner --no-privileges, or create those roles before the restore',
            },
          ]
        : restore,
    unused: problems.unused,
    tables: tables.size,
    columns,
  };
}
