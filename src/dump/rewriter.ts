/**
 * The dump rewriter: the engine's parts wired together. It knows nothing of streams: `write(chunk)` and
 * `end()` take input, and finished output goes to the `sink` callback in large chunks.
 *
 *   bytes ─▶ DumpReader ─▶ units ─▶ this (dispatch by statement) ─▶ Output ─▶ SchemaGate ─▶ sink
 *                                      ├─ OutsideWriter   statements outside the rows, comments
 *                                      ├─ CopyRows        one handler per table's COPY block (rows.ts)
 *                                      └─ InsertWriter    INSERT statements
 *
 * Kept tables pass through as byte ranges; in rewritten tables only the fields a rule reads are decoded.
 * Everything before the first row of data (the schema) is held back by the gate until the rules have
 * been checked against every table in it, so a dump the rules do not cover produces no output at all.
 */
import { AnonymiseError } from '../errors.js';
import { UTF8_CODEC, codecFor, type TextCodec } from '../text/encoding.js';
import type { TablePlan } from '../contract/plan.js';
import type { OutsideCount } from '../contract/outside-policy.js';
import { Output, abortTrailer } from './output.js';
import { parseCopyHeader, parseSet, tableKey } from './schema.js';
import { SchemaModel } from './schema-model.js';
import { RowCursor } from './row-cursor.js';
import { UnitKind, holdsComment, skipBlank } from './sql-lexer.js';
import type { TocHeader } from './statements.js';
import type { DumpObserver } from './observer.js';
import type { PieceCut, PlanOverlay, RewriterOptions } from './options.js';
import { connectTarget, keyword } from './words.js';
import { DEFAULT_MAX_LINE_BYTES, DumpReader, countLf, positioned, type UnitSink } from './reader.js';
import { Findings, type OutsideFinding } from './findings.js';
import { SchemaGate } from './schema-gate.js';
import { OutsideWriter } from './outside-writer.js';
import { RowWriter, type TableStats } from './row-writer.js';
import { InsertWriter } from './inserts.js';
import { isLowrite, scrubLowrite } from './large-objects.js';
import { LF_BYTE, ParallelPlain } from './parallel-copy.js';
import { DropRows, KeepRows, RewriteRows, SearchRows, SkipRows, observed, type CopyRows } from './rows.js';

export { DEFAULT_MAX_LINE_BYTES, countLf, connectTarget };
export type { PlanOverlay, RewriterOptions, TableStats, OutsideFinding };
export const DEFAULT_MAX_VALUE_BYTES = 16 * 1024 * 1024;
const LARGE_OBJECTS = 'pg_catalog.pg_largeobject';

export class DumpRewriter implements UnitSink {
  readonly stats = new Map<string, TableStats>();
  /** the table whose data is being read */
  currentTable: string | null = null;

  private readonly reader: DumpReader;
  private readonly gate: SchemaGate;
  private readonly findings: Findings;
  private readonly outside: OutsideWriter;
  private readonly inserts: InsertWriter;
  private readonly writer: RowWriter;
  private readonly out: Output;
  private readonly observer: DumpObserver | undefined;
  private readonly overlay: PlanOverlay | undefined;
  /** tables whose rows the overlay was asked about and left as the rules have them */
  private readonly notOverlaid = new Set<string>();
  private readonly skipKept: boolean;
  private readonly onSchema: RewriterOptions['onSchema'];
  private codec: TextCodec = UTF8_CODEC;
  private unsupportedEncoding: string | null = null;
  /** the COPY block being read, by its table's handler */
  private block: CopyRows | null = null;
  /** plans whose rows the observer sees (it wants their table) */
  private readonly watching = new WeakMap<TablePlan, boolean>();
  private largeObjectsSeen = false;
  /** Whether large objects kept are read and scrubbed (forget: the person's identifiers in them). */
  readonly scrubsLargeObjects: boolean;
  private readonly parallel: ParallelPlain | null;

  constructor(
    options: RewriterOptions,
    private readonly sink: (chunk: Buffer) => void,
  ) {
    const archive = options.archive ?? false;
    this.findings = new Findings(options.inspect ?? false);
    this.gate = new SchemaGate({ rules: options.rules, maxHeldBytes: options.maxHeldBytes, archive, findings: this.findings }, sink);
    if (options.schema) this.gate.schema.adopt(options.schema);
    this.out = new Output((chunk) => this.gate.emit(chunk), undefined, options.outputPool);
    this.reader = new DumpReader(this, { maxLineBytes: options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES, archive, fragment: options.fragment ?? false });
    this.observer = options.observer;
    this.overlay = options.overlay;
    this.scrubsLargeObjects = options.outsideIdentifiers?.scrubBytes !== undefined;
    const parallel = (this.parallel = options.parallel ? new ParallelPlain(options.parallel, this.out) : null);
    this.skipKept = options.skipKept ?? false;
    this.onSchema = options.onSchema;
    const row = new RowCursor(options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES, () => ({ line: this.reader.line, table: this.currentTable ?? undefined }));
    this.writer = new RowWriter(row, this.out);
    this.outside = new OutsideWriter({ out: this.out, gate: this.gate, findings: this.findings, codec: () => this.codec, observer: this.observer, identifiers: options.outsideIdentifiers, overlaid: options.overlay ? (t) => !this.notOverlaid.has(t) : undefined });
    this.inserts = new InsertWriter({
      out: this.out,
      gate: this.gate,
      writer: this.writer,
      codec: () => this.codec,
      standardConformingStrings: () => this.reader.scanner.standardConformingStrings,
      unsupportedEncoding: () => this.unsupportedEncoding,
      dataFor: () => this.outside.dataFor,
      plan: (table, columns, line, generated) => this.planTable(table, columns, line, 'INSERT', generated),
      watched: (plan) => (this.watching.get(plan) ? this.observer!.row! : null),
      tableBegins: (table, columns) => this.observer?.table?.({ table, columns, database: this.gate.database }),
      statsFor: (table, plan) => this.statsFor(table, plan),
      setTable: (table) => (this.currentTable = table),
      beginData: () => this.gate.beginData(this.reader.line),
      toWorkers: parallel ? (buf, start, code, end, stable, line, at) => parallel.insert(buf, start, code, end, stable, line, at) : undefined,
    });
  }

  // ── what the engine's parts know, for its callers ──────────────────────────────────────────────

  /** what the dump says of its tables (reset at each `\connect` of a pg_dumpall dump) */
  get schema(): SchemaModel {
    return this.gate.schema;
  }
  /** 1-based line of the next byte to be read (archive mode: within the entry) */
  get line(): number {
    return this.reader.line;
  }
  set line(n: number) {
    this.reader.line = n;
  }
  get bytesIn(): number {
    return this.reader.bytesIn;
  }
  /** true once a byte has gone to the sink */
  get started(): boolean {
    return this.gate.started;
  }
  /** the database after `\connect` in a pg_dumpall dump */
  get database(): string | null {
    return this.gate.database;
  }
  /** check: gaps and rule errors found, each once, and statements outside the rows the policy stops at */
  get gaps(): Findings['gaps'] {
    return this.findings.gaps;
  }
  get ruleErrors(): Set<string> {
    return this.findings.ruleErrors;
  }
  get outsideFindings(): OutsideFinding[] {
    return this.findings.outside;
  }
  /** the dump creates roles (pg_dumpall), so pseudonymous role names come with their CREATE ROLE */
  get createsRoles(): boolean {
    return this.outside.createsRoles;
  }
  /** what the policy for what lies outside the rows did (secrets removed, comments scrubbed…) */
  get outsideCounts(): Partial<Record<OutsideCount, number>> {
    return this.outside.counts;
  }
  readonly parentOf = (t: string): string | undefined => this.gate.parentOf(t);
  /** Columns that hold data for a table (generated ones never do). */
  readonly columnsOf = (table: string): string[] | null => this.gate.columnsOf(table);

  // ── input ─────────────────────────────────────────────────────────────────────────────────────────

  write(chunk: Buffer): void {
    this.parallel?.keep(chunk);
    this.reader.write(chunk);
    // small input chunks (pg_dump writes 8 KiB at a time) gather into large output chunks
    this.out.flushIfFull();
  }

  end(): void {
    this.reader.end();
    this.parallel?.sendInserts();
    this.out.flush();
    this.gate.end(this.reader.line);
    this.onSchema?.(this.gate.schema, this.gate.database);
  }

  // ── archive mode ────────────────────────────────────────────────────────────────────────────────

  /** Archive mode: the TOC entry whose text comes next, named as pg_dump's comment header names it in a plain dump. */
  beginEntry(h: TocHeader): void {
    this.reader.beginEntry();
    this.outside.beginEntry(h);
  }

  /** Archive mode: the entry's text has all been written; it must end where a statement ends. */
  endEntry(): void {
    this.reader.endEntry();
    this.out.flush();
  }
  /** A piece of a table's COPY data has been written, ending at a row boundary: the rest goes to another rewriter (a worker). */
  endPiece(): void {
    this.reader.endPiece();
    this.finishCopy();
    this.out.flush();
  }

  /** A worker's piece of INSERT statements follows: read after pg_dump's header for `dataFor`'s data (parallel-copy.ts). */
  beginInserts(dataFor: string | null): void {
    this.gate.beginData(this.reader.line);
    this.outside.dataFor = dataFor;
    this.inserts.forget();
  }
  /** A worker's piece of INSERT statements, cut where the main thread's reader cut them (`ends`). */
  insertStatements(buf: Buffer, ends: ArrayLike<number>): void {
    this.reader.statementsCut(buf, ends);
    this.out.flush();
  }

  /** Hands on what the output holds (before the output is pointed elsewhere). */
  flushOutput(): void {
    this.out.flush();
  }
  /** Archive mode: a table whose data the archive holds (its statistics follow its rules, as in a plain dump). */
  willFill(table: string): void {
    this.gate.filled.add(table);
  }

  /** Archive mode: every definition has been read: the rules are checked against the schema before any data. */
  schemaComplete(): void {
    this.gate.schemaComplete(this.reader.line);
  }

  /** Archive mode: the plan for the data of a COPY-form entry, from its COPY statement, without reading it. */
  copyPlan(copyStmt: Buffer): { table: string; plan: TablePlan } {
    const header = parseCopyHeader(this.codec.decode(copyStmt), this.gate.schema.defaultSchema);
    if (!header) throw new AnonymiseError('BAD_INPUT', 'cannot read the COPY statement of this entry', { line: 1 });
    const table = tableKey(header);
    return { table, plan: this.planTable(table, header.columns ?? this.columnsOf(table), 1) };
  }

  /** Archive mode: the plan for an INSERT-form entry's table, from the columns its CREATE TABLE defines (null when the dump does not define it). */
  tablePlan(table: string): TablePlan | null {
    const columns = this.columnsOf(table);
    return columns ? this.planTable(table, columns, 1, 'INSERT') : null;
  }

  /** Archive mode: a table's data copied as it was, without reading it. */
  copiedWhole(table: string, plan: TablePlan): void {
    this.gate.filled.add(table);
    this.statsFor(table, plan).copied = true;
  }

  /** What the rules do with large-object data: keep it, drop it, or (any other rule) stop. */
  largeObjectRule(): 'keep' | 'drop' {
    return this.gate.largeObjectRule(this.reader.line);
  }

  /** Large-object contents (`lowrite`) follow the rule for pg_catalog.pg_largeobject (never an observer's reading plan: they are not rows). */
  private largeObjectData(line: number): 'keep' | 'drop' {
    // watchers (init, scan) learn that the dump holds large objects, once per database
    if (!this.largeObjectsSeen) {
      this.largeObjectsSeen = true;
      this.observer?.table?.({ table: LARGE_OBJECTS, columns: ['data'], database: this.gate.database });
    }
    if (!this.findings.collect) return this.largeObjectRule();
    return this.planTable(LARGE_OBJECTS, ['data'], line).mode === 'drop' ? 'drop' : 'keep';
  }

  /** A kept large object's contents as written: scrubbed of the person's identifiers, or as they were. */
  scrubbedLargeObject(data: Buffer): Buffer {
    return this.outside.scrubLargeObject(data) ?? data;
  }

  // ── units, as the reader finds them ─────────────────────────────────────────────────────────────

  tableInHand(): string | undefined {
    return this.currentTable ?? undefined;
  }

  verbatim(buf: Buffer, start: number, end: number, stable: boolean): void {
    this.parallel?.sendInserts();
    this.out.bytes(buf, start, end, stable);
  }

  rows(buf: Buffer, pos: number, end: number, stable: boolean): number {
    return this.block!.rows(buf, pos, end, stable);
  }

  /** A complete statement or meta-command `buf[start..end)`; true when it opened COPY data. */
  statement(buf: Buffer, start: number, end: number, kind: UnitKind, stable: boolean): boolean {
    const code = skipBlank(buf, start, end);
    const word = keyword(buf, code, end);
    // INSERT statements gathered for the workers go before anything else this thread writes
    if (this.parallel && (kind === UnitKind.Meta || word !== 'INSERT' || holdsComment(buf, start, code))) this.parallel.sendInserts();
    if (kind === UnitKind.Meta) {
      const db = connectTarget(buf.toString('utf8', code, end));
      if (db !== null) this.connect(db);
      this.out.bytes(buf, start, end, stable);
      return false;
    }
    const lineOfCode = this.reader.line + countLf(buf, start, code);
    switch (word) {
      case 'COPY':
        this.out.bytes(buf, this.outside.dataComments(buf, start, code, lineOfCode), end, stable);
        this.copyHeader(buf, code, end, lineOfCode);
        return true;
      case 'INSERT':
        this.parallel?.begin(this.reader.base + start, this.gate.schema);
        this.inserts.statement(buf, this.outside.dataComments(buf, start, code, lineOfCode), code, end, stable, lineOfCode);
        return false;
      case 'SELECT': {
        const path = /^SELECT\s+pg_catalog\.set_config\(\s*'search_path'\s*,\s*'((?:[^']|'')*)'/i.exec(buf.toString('latin1', code, Math.min(end, code + 256)));
        if (path) this.gate.schema.setSearchPath(this.codec.decode(Buffer.from(path[1]!.replace(/''/g, "'"), 'latin1')));
        if (!isLowrite(buf, code, end)) break;
        const keep = this.largeObjectData(lineOfCode) === 'keep';
        const scrubbed = keep && this.scrubsLargeObjects ? scrubLowrite(buf, code, end, (d) => this.scrubbedLargeObject(d)) : null;
        this.out.bytes(buf, start, keep && !scrubbed ? end : code, stable);
        if (scrubbed) this.out.bytes(scrubbed, 0, scrubbed.length, false);
        return false;
      }
      case 'SET':
        this.setting(buf, code, end);
        break;
      case 'CREATE':
        this.create(buf, code, end, lineOfCode);
        break;
      case 'ALTER':
        if (/^ALTER\s+TABLE\b/.test(buf.toString('latin1', code, Math.min(end, code + 64)).toUpperCase())) this.gate.schema.alterTable(this.codec.decode(buf.subarray(code, end)));
        break;
    }
    this.outside.statement(buf, start, code, end, stable, lineOfCode);
    return false;
  }

  private setting(buf: Buffer, code: number, end: number): void {
    this.parallel?.changed();
    const set = parseSet(buf.toString('latin1', code, end));
    if (set?.[0] === 'client_encoding') {
      const c = codecFor(set[1]);
      if ('unsupported' in c) this.unsupportedEncoding = c.unsupported;
      else {
        this.codec = this.writer.row.codec = this.writer.codec = c;
        this.unsupportedEncoding = null;
      }
    } else if (set?.[0] === 'standard_conforming_strings') {
      this.reader.scanner.standardConformingStrings = this.writer.standardConformingStrings = set[1].toLowerCase() !== 'off';
    } else if (set?.[0] === 'search_path') {
      this.gate.schema.setSearchPath(this.codec.decode(buf.subarray(code, end)).replace(/^\s*SET\s+search_path\s*(?:=|TO)\s*/i, '').replace(/;\s*$/, ''));
    }
  }

  /** CREATE TABLE / TYPE / DOMAIN / INDEX: what the schema model learns from them. */
  private create(buf: Buffer, code: number, end: number, lineOfCode: number): void {
    if (!SchemaModel.learnsFrom(buf.toString('latin1', code, Math.min(end, code + 64)))) return;
    try {
      this.gate.schema.create(this.codec.decode(buf.subarray(code, end)));
    } catch (e) {
      throw positioned(e, lineOfCode, undefined);
    }
  }

  /**
   * `\connect db` in a pg_dumpall dump: another database, with its own tables and its own rules
   * (`databases:` in the rules). Its schema is held back and checked before its first row, as the
   * first database's was.
   */
  private connect(db: string): void {
    this.onSchema?.(this.gate.schema, this.gate.database);
    this.parallel?.changed();
    this.gate.connect(db, () => this.out.flush());
    this.outside.reset();
    this.inserts.forget();
    this.largeObjectsSeen = false;
  }

  private copyHeader(buf: Buffer, code: number, end: number, line: number): void {
    let header;
    try {
      header = parseCopyHeader(this.codec.decode(buf.subarray(code, end)), this.gate.schema.defaultSchema);
    } catch (e) {
      throw positioned(e, line, undefined);
    }
    // fail closed: rows after a COPY we cannot read would otherwise pass as SQL text, unchanged
    if (!header) throw new AnonymiseError('BAD_INPUT', 'cannot read this COPY statement', { line });
    if (!header.fromStdin) throw new AnonymiseError('UNSUPPORTED', 'a COPY that is not FROM stdin (pg_dump never writes one)', { line, table: tableKey(header) });
    this.gate.beginData(this.reader.line);
    const table = tableKey(header);
    this.currentTable = table;
    this.gate.filled.add(table);
    const columns = header.columns ?? this.columnsOf(table);
    this.observer?.table?.({ table, columns, database: this.gate.database, offset: this.reader.base + code });
    const plan = this.planTable(table, columns, line);
    if (plan.mode === 'rewrite' && !header.textFormat)
      throw new AnonymiseError('UNSUPPORTED', 'COPY with options (not the default text format) cannot be rewritten', { line, table });
    if (plan.mode === 'rewrite' && this.unsupportedEncoding)
      throw new AnonymiseError('UNSUPPORTED', `client_encoding ${this.unsupportedEncoding} cannot be rewritten safely; dump with -E UTF8`, { line, table });
    this.inserts.forget();
    this.block = this.handlerFor(table, plan, buf, code, end);
  }

  /** The one handler for a table's COPY rows, chosen by its plan (and, with workers, theirs to rewrite). */
  private handlerFor(table: string, plan: TablePlan, buf: Buffer, code: number, end: number): CopyRows {
    const c = { reader: this.reader, out: this.out, table, stats: this.statsFor(table, plan), finish: (end?: number) => this.finishCopy(end) };
    const here = (): CopyRows => {
      if (plan.mode !== 'rewrite') return plan.mode === 'drop' ? new DropRows(c) : this.skipKept ? new SkipRows(c) : new KeepRows(c);
      // every field named, not `...c`: a spread's object took a map of its own per table, and the row loop's reads of it went megamorphic
      return new (plan.search ? SearchRows : RewriteRows)({ reader: c.reader, out: c.out, table: c.table, stats: c.stats, finish: c.finish, writer: this.writer, watcher: this.watching.get(plan) ? this.observer! : null }, plan);
    };
    return this.parallel?.rows(c, plan, Buffer.concat([buf.subarray(code, end), LF_BYTE]), this.reader.base + code, Boolean(this.watching.get(plan)), this.gate.schema, here) ?? here();
  }

  /** The COPY block ends (`end`: the input offset after its `\.` line, when known). */
  private finishCopy(end?: number): void {
    if (end !== undefined && this.currentTable) this.observer?.dataEnd?.(this.currentTable, end);
    this.block?.close();
    this.block = null;
    this.currentTable = null;
    this.reader.endCopy();
  }

  /**
   * The plan for a table's rows: the rules' (through the gate, which records what `check` finds), as
   * forget or subsets change it (overlay), and read by an observer that wants the table (watch: a kept
   * table is then rewritten with no action, its bytes copied row by row; a dropped one filtered to nothing).
   */
  private planTable(table: string, columns: string[] | null, line: number, form: 'COPY' | 'INSERT' = 'COPY', generated?: ReadonlySet<string>): TablePlan {
    let plan = this.gate.plan(table, columns, line, form, generated);
    if (this.findings.collect) return plan;
    if (this.overlay && columns) {
      const overlaid = this.overlay(table, columns, plan);
      if (overlaid === plan) this.notOverlaid.add(table);
      else this.notOverlaid.delete(table);
      plan = overlaid;
    }
    const watched = Boolean(this.observer?.row && columns && columns.length > 0 && this.observer.wants?.(table) !== false);
    const out = watched ? observed(plan, columns!) : plan;
    this.watching.set(out, watched);
    return out;
  }

  private statsFor(table: string, plan: TablePlan): TableStats {
    const database = this.gate.database;
    const key = database === null ? table : `${database}/${table}`;
    let s = this.stats.get(key);
    if (!s) {
      s = { table: key, rule: plan.rule, mode: plan.mode, rowsIn: 0, rowsOut: 0, rowsDropped: 0, changed: {} };
      this.stats.set(key, s);
    }
    return s;
  }

  /**
   * After an error: if output has begun, hands on the whole rows already rewritten and then the ABORTED
   * trailer, which makes a restore of the output fail and tells a reader why (a run stopped before its
   * first output byte stays that way). `cut`: the output stops where a worker's piece was to go, so what
   * this thread has not handed on yet, which follows it, is dropped, and the trailer is the piece's.
   */
  abort(reason: string, cut?: PieceCut): void {
    this.parallel?.abandon();
    if (this.gate.holding) return;
    (cut ? this.out.discard : this.out.flush).call(this.out);
    this.gate.started = true;
    this.sink(abortTrailer(cut?.inCopy ?? this.reader.inCopy, cut?.ncols ?? this.writer.row.ncols, reason));
  }
}
