/**
 * The dump rewriter: a state machine over Buffers. It knows nothing of streams: `write(chunk)` and
 * `end()` take input, and finished output goes to the `sink` callback in large chunks.
 *
 *   SQL text ──(COPY … FROM stdin;)──▶ COPY rows ──(\.)──▶ SQL text
 *
 * SQL text is cut into statements by the quote-aware scanner; COPY data into lines. Kept tables pass
 * through as byte ranges; in rewritten tables only the fields a rule reads are decoded.
 * Everything before the first row of data (the schema) is held back until the rules have been checked
 * against every table in it, so a dump the rules do not cover produces no output at all.
 */
import { BACKSLASH, CR, DOT, LF, SEMI } from '../text/bytes.js';
import { NULL_FIELD } from './copy-codec.js';
import { UTF8_CODEC, codecFor, type TextCodec } from '../text/encoding.js';
import { AnonymiseError } from '../errors.js';
import { Output } from './output.js';
import type { EngineRules } from '../contract/plan.js';
import type { ColumnAction, Gap, TablePlan } from '../contract/plan.js';
import { parseCopyHeader, parseSet, tableKey } from './schema.js';
import { SchemaModel } from './schema-model.js';
import { RowCursor } from './row-cursor.js';
import { StatementScanner, UnitKind, skipBlank } from './sql-lexer.js';
import { InsertValues, findValuesKeyword, parseInsertHeader, type InsertHeader } from './insert-parser.js';
import { tokenize } from './sql-tokens.js';
import { classify, objectLabel, redactLabel, tocHeader, type TocHeader } from './statements.js';
import { applyOutside, examineComments, pseudonymiseComments, stringValue as stringValueOf, type OutsideContext } from './outside.js';
import { type OutsideCount } from '../contract/outside-policy.js';
import type { DumpObserver } from './observer.js';


export const DEFAULT_MAX_LINE_BYTES = 256 * 1024 * 1024;
export const DEFAULT_MAX_VALUE_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_HELD_BYTES = 64 * 1024 * 1024;

export interface TableStats {
  table: string;
  rule: string;
  mode: TablePlan['mode'];
  rowsIn: number;
  rowsOut: number;
  rowsDropped: number;
  /** column → values whose output differs from the input */
  changed: Record<string, number>;
  /** an archive's data copied as it was (compressed blocks, never read): its rows were not counted */
  copied?: boolean;
}

export interface RewriterOptions {
  rules: EngineRules;
  /** largest statement or COPY line accepted (memory bound); default 256 MiB */
  maxLineBytes?: number;
  /**
   * largest value a rule may read (decoded, it takes several times its size while a rule works on
   * it); default 16 MiB. Kept columns are never read, whatever their size.
   */
  maxValueBytes?: number;
  /** how much schema text may be held back for the up-front check; default 64 MiB */
  maxHeldBytes?: number;
  /**
   * `check`: read the whole dump, rewrite nothing, and collect every gap and rule error instead of
   * stopping at the first.
   */
  inspect?: boolean;
  /** sees every statement outside the rows and every row, as written */
  observer?: DumpObserver;
  /**
   * Archive mode: the caller hands over one TOC entry's text at a time (beginEntry, write, endEntry).
   * Nothing is held back (the caller writes nothing before the whole TOC has passed and
   * schemaComplete() has checked it), and no plain dump header or footer is looked for.
   */
  archive?: boolean;
  /**
   * Changes the rules' plan for a table's data (forget and subsets: rows to remove, columns to set to
   * NULL, identifiers to scrub). Called with the plan the rules give, once per table, before its rows.
   */
  overlay?: PlanOverlay;
  /**
   * forget: a person's identifiers, to be scrubbed from statements outside the rows too (comments,
   * statistics, DDL literals): `find` says whether a statement may hold one, `scrub` rewrites its text.
   */
  outsideIdentifiers?: { find(buf: Buffer, from: number, end: number): number; scrub(text: string): { text: string; hits: number } };
  /**
   * Kept tables' rows are not counted, line by line: the run jumps from one possible end-of-data line
   * to the next. For a pass that has been made over the same input before (find, forget, subsets):
   * its line numbers after the first kept table are not the input's, and its stats count no kept rows.
   */
  skipKept?: boolean;
  /**
   * The input is pieces of a dump (its schema, then some tables' COPY blocks, cut where the first pass
   * found them): pg_dump's "dump complete" footer is not looked for.
   */
  fragment?: boolean;
  /** each database's schema once it is complete (at the next `\connect`, and at the end), with its rules */
  onSchema?: (schema: SchemaModel, database: string | null) => void;
}

export type PlanOverlay = (table: string, columns: string[], plan: TablePlan) => TablePlan;

/** A statement outside the rows that the policy would stop the run for (collected by `check`). */
export interface OutsideFinding {
  line: number;
  object: string;
  message: string;
}

const enum State {
  Sql,
  CopyHeaderTail, // the rest of the COPY statement's line, before the first row
  CopyData,
}

/** A growable buffer for a unit that spans chunks (node-postgres' mergeBuffer, in spirit). */
class Carry {
  buf = Buffer.allocUnsafe(0);
  len = 0;
  append(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (this.len + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(64 * 1024, (this.len + n) * 2));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    src.copy(this.buf, this.len, start, end);
    this.len += n;
  }
  /**
   * The filled part only: the scanner's Buffer#indexOf searches to the end of the buffer it is given,
   * and through the spare capacity of a large carry that made a long statement quadratic.
   */
  filled(): Buffer {
    return this.buf.subarray(0, this.len);
  }
  /** Keeps `buf[from..len)` and moves it to the front. */
  keepFrom(from: number): void {
    if (from === 0) return; // nothing used (a unit still incomplete): no move of the whole carry
    this.buf.copyWithin(0, from, this.len);
    this.len -= from;
    // after one huge line, give the memory back
    if (this.len === 0 && this.buf.length > 4 * 1024 * 1024) this.buf = Buffer.allocUnsafe(0);
  }
}

export class DumpRewriter {
  /** what the dump says of its tables (reset at each `\connect` of a pg_dumpall dump) */
  readonly schema = new SchemaModel();
  readonly stats = new Map<string, TableStats>();
  /** 1-based line of the next byte to be read */
  line = 1;
  bytesIn = 0;
  currentTable: string | null = null;
  /** true once a byte has gone to the sink */
  started = false;

  private rules: EngineRules;
  private readonly baseRules: EngineRules;
  /** the database after `\connect` in a pg_dumpall dump */
  database: string | null = null;
  private readonly maxLineBytes: number;
  private readonly maxValueBytes: number;
  private readonly maxHeld: number;
  private readonly out: Output;
  private readonly scanner = new StatementScanner();
  private codec: TextCodec = UTF8_CODEC;
  private state = State.Sql;
  private readonly carry = new Carry();
  private held: Buffer[] | null = [];
  private heldBytes = 0;
  private schemaChecked = false;
  /** the first and last bytes of the input: is pg_dump's header there, and its "dump complete" footer? */
  private head: Buffer = Buffer.alloc(0);
  private tail: Buffer = Buffer.alloc(0);
  private ended = false;
  private readonly inspect: boolean;
  private readonly archiveMode: boolean;
  /** inspect mode: gaps and rule errors found, each once */
  readonly gaps = new Map<string, Gap & { line: number }>();
  readonly ruleErrors = new Set<string>();
  readonly outsideFindings: OutsideFinding[] = [];
  /** the dump creates roles (pg_dumpall), so pseudonymous role names come with their CREATE ROLE */
  createsRoles = false;
  /** what the policy for what lies outside the rows did (secrets removed, comments scrubbed…) */
  readonly outsideCounts: Partial<Record<OutsideCount, number>> = {};
  private readonly observer: DumpObserver | undefined;
  /** plans whose rows the observer sees (it wants their table) */
  private readonly watching = new WeakMap<TablePlan, boolean>();
  private readonly overlay: PlanOverlay | undefined;
  private readonly outsideIdentifiers: RewriterOptions['outsideIdentifiers'];
  private scrubbedOutside = false;
  private readonly skipKept: boolean;
  private readonly fragment: boolean;
  /** the input offset of byte 0 of the buffer being processed (a chunk, or the carry) */
  private base = 0;
  /** the input offset of the carry's byte 0 */
  private carryBase = 0;
  private readonly onSchema: RewriterOptions['onSchema'];
  /** the object named by pg_dump's last `-- Name: …; Type: …` header */
  private object: string | null = null;
  /**
   * The table pg_dump's last `-- Data for Name: …` header names: with --load-via-partition-root, a
   * partition's rows arrive as `INSERT INTO root VALUES` in the partition's own column order
   */
  private dataFor: string | null = null;
  /** tables whose data this dump holds (their statistics follow their rules) */
  private readonly filled = new Set<string>();

  // the COPY block being read
  private plan: TablePlan | null = null;
  private tableStats: TableStats | null = null;
  /** the row being rewritten, as rules read it */
  private readonly row: RowCursor;
  /** per column of the current plan: values whose output differs from the input */
  private changedCounts = new Float64Array(16);

  constructor(
    options: RewriterOptions,
    private readonly sink: (chunk: Buffer) => void,
  ) {
    this.rules = options.rules;
    this.baseRules = options.rules;
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    this.maxHeld = options.maxHeldBytes ?? DEFAULT_MAX_HELD_BYTES;
    this.inspect = options.inspect ?? false;
    this.archiveMode = options.archive ?? false;
    this.observer = options.observer;
    this.overlay = options.overlay;
    this.outsideIdentifiers = options.outsideIdentifiers;
    this.skipKept = options.skipKept ?? false;
    this.fragment = options.fragment ?? false;
    this.row = new RowCursor(this.maxValueBytes, () => ({ line: this.line, table: this.currentTable ?? undefined }));
    this.onSchema = options.onSchema;
    this.out = new Output((chunk) => this.emit(chunk));
    this.scanner.begin(true);
    if (options.archive) this.held = null;
  }

  // ── archive mode ────────────────────────────────────────────────────────────────────────────────

  /** Archive mode: the TOC entry whose text comes next, named as pg_dump's comment header names it in a plain dump. */
  beginEntry(h: TocHeader): void {
    this.line = 1;
    if (h.type === 'TABLE DATA') this.dataFor = `${h.schema}.${h.name}`;
    else {
      this.object = redactLabel(objectLabel(h));
      this.dataFor = null;
    }
  }

  /** Archive mode: the entry's text has all been written; it must end where a statement ends. */
  endEntry(): void {
    if (this.state !== State.Sql)
      throw new AnonymiseError('BAD_INPUT', 'the data ends inside COPY data, without its \\. line (truncated or corrupt archive)', { line: this.line, table: this.currentTable ?? undefined });
    this.endText();
    this.scanner.begin(true);
    this.out.flush();
  }

  /**
   * Archive mode: a piece of a table's COPY data has been written, ending at a row boundary; the rest of
   * the table's rows go to another rewriter (a worker). Its stats are complete; nothing more is written.
   */
  endPiece(): void {
    if (this.state !== State.CopyData || this.carry.len > 0)
      throw new AnonymiseError('BAD_INPUT', 'a piece of COPY data does not end at a row boundary', { line: this.line, table: this.currentTable ?? undefined });
    this.finishCopy();
    this.out.flush();
  }

  /** Hands on what the output holds (archive mode: before the output is pointed elsewhere). */
  flushOutput(): void {
    this.out.flush();
  }

  /** Archive mode: a table whose data the archive holds (its statistics follow its rules, as in a plain dump). */
  willFill(table: string): void {
    this.filled.add(table);
  }

  /** Archive mode: every definition has been read: the rules are checked against the schema before any data. */
  schemaComplete(): void {
    if (this.schemaChecked) return;
    this.checkSchema();
    this.schemaChecked = true;
  }

  /** Archive mode: the plan for the data of a COPY-form entry, from its COPY statement, without reading it. */
  copyPlan(copyStmt: Buffer): { table: string; plan: TablePlan } {
    const header = parseCopyHeader(this.codec.decode(copyStmt), this.schema.defaultSchema);
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
    this.filled.add(table);
    this.statsFor(table, plan).copied = true;
  }

  /** What the rules do with large-object data: keep it, drop it, or (any other rule) stop. */
  largeObjectRule(): 'keep' | 'drop' {
    const table = 'pg_catalog.pg_largeobject';
    const plan = this.rules.plan(table, ['data'], this.parentOf, this.line);
    if (plan.mode === 'keep') return 'keep';
    if (plan.mode === 'drop') return 'drop';
    throw new AnonymiseError('UNSUPPORTED', 'large-object data can only be kept or dropped (or dump with --no-large-objects)', { table });
  }

  private emit(chunk: Buffer): void {
    if (this.held) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      if (this.heldBytes > this.maxHeld) this.release(false);
      return;
    }
    this.started = true;
    this.sink(chunk);
  }

  /** Ends the hold-back. With `check`, every CREATE TABLE seen must pass the rules first. */
  private release(check: boolean): void {
    if (check && !this.schemaChecked) this.checkSchema();
    this.schemaChecked = this.schemaChecked || check;
    const held = this.held;
    if (!held) return;
    this.held = null;
    for (const chunk of held) {
      this.started = true;
      this.sink(chunk);
    }
  }

  readonly parentOf = (t: string): string | undefined => this.schema.parentOf(t);

  /** Columns that hold data for a table (generated ones never do). */
  columnsOf(table: string): string[] | null {
    return this.schema.columnsOf(table);
  }

  /** Every gap in the schema seen so far (for `check` and the up-front check). */
  schemaGaps(): Gap[] {
    const gaps: Gap[] = [];
    for (const key of this.schema.tables.keys()) gaps.push(...this.rules.gaps(key, this.columnsOf(key) ?? [], this.parentOf));
    return gaps;
  }

  private checkSchema(): void {
    if (this.inspect) {
      for (const key of this.schema.tables.keys()) this.planTable(key, this.columnsOf(key), this.line);
      return;
    }
    if (this.rules.unknown === 'fail') {
      const gaps = this.schemaGaps();
      if (gaps.length > 0) {
        const names = gaps.map((g) => (g.column ? `${g.table}.${g.column}` : g.table));
        const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, … (${names.length - 5} more)` : '');
        const first = gaps[0]!;
        throw new AnonymiseError(
          'UNCLASSIFIED',
          `${gaps.length} ${gaps.length === 1 ? (first.column ? 'column is' : 'table is') : 'tables/columns are'} not classified by the rules (unknown: fail): ${shown}; run \`anonymise-dump check\` for the full list`,
          { line: this.line, table: first.table, column: first.column },
        );
      }
    }
    // rules that name columns a table lacks are bad rules (exit 2), found before any output
    for (const key of this.schema.tables.keys()) {
      const cols = this.columnsOf(key);
      if (cols) this.rules.plan(key, cols, this.parentOf, this.line);
    }
  }

  write(chunk: Buffer): void {
    if (this.ended) throw new Error('write after end');
    if (chunk.length === 0) return;
    const nul = chunk.indexOf(0);
    if (nul !== -1) {
      // what comes before the NUL is read first, so that an earlier error wins whatever the chunking
      if (nul > 0) this.write(chunk.subarray(0, nul));
      // `line` counts units already read; the carry holds the rest, from the start of the unit in hand
      const line = this.line + countLf(this.carry.buf, 0, this.carry.len);
      throw new AnonymiseError('NOT_PLAIN_DUMP', 'input holds a NUL byte: this is not a plain-text SQL dump', { line });
    }
    if (this.head.length < 512) this.head = Buffer.concat([this.head, chunk.subarray(0, 512)]).subarray(0, 512);
    this.bytesIn += chunk.length;
    this.keepTail(chunk);
    let from = 0;
    // the next `;` at or after `from` (-1: none in this chunk), found again only once passed: looking
    // for it from every line made a long multi-line statement across a chunk boundary quadratic
    let semi = -2;
    // finish the unit left over from the last chunk first: in COPY data that is one line, so only the
    // bytes up to the next newline go through the carry and the rest is read in place
    while (this.carry.len > 0 && from < chunk.length) {
      // in SQL text a statement can only end at a `;` (or a meta-command at a newline): grow the
      // carry to the next one and let the scanner resume; bytes past the unit are read in place
      const nl = chunk.indexOf(LF, from);
      if (nl === -1 && this.state !== State.Sql) {
        // a COPY line still without its end: reading the carry again for every chunk of a long line
        // would be quadratic
        this.carry.append(chunk, from, chunk.length);
        from = chunk.length;
        break;
      }
      let cut = nl === -1 ? chunk.length : nl + 1;
      if (this.state === State.Sql) {
        if (semi !== -1 && semi < from) semi = chunk.indexOf(SEMI, from);
        if (semi !== -1 && semi < cut) cut = semi + 1;
      }
      this.carry.append(chunk, from, cut);
      from = cut;
      this.base = this.carryBase;
      const used = this.process(this.carry.filled(), 0, this.carry.len, false);
      this.carry.keepFrom(used);
      this.carryBase += used;
    }
    if (from < chunk.length) {
      const chunkBase = this.bytesIn - chunk.length;
      this.base = chunkBase;
      const used = this.process(chunk, from, chunk.length, true);
      if (used < chunk.length) {
        if (this.carry.len === 0) this.carryBase = chunkBase + used;
        this.carry.append(chunk, used, chunk.length);
      }
    }
    if (this.carry.len > this.maxLineBytes) {
      throw new AnonymiseError(
        'LIMIT',
        `a ${this.state === State.Sql ? 'statement' : 'line'} is longer than ${this.maxLineBytes} bytes (--max-line-bytes)`,
        { line: this.line, table: this.state === State.Sql ? undefined : (this.currentTable ?? undefined) },
      );
    }
    // small input chunks (pg_dump writes 8 KiB at a time) gather into large output chunks
    this.out.flushIfFull();
  }

  private keepTail(chunk: Buffer): void {
    const keep = 1024;
    // a copy, so that the tail does not pin a whole input chunk in memory
    this.tail = Buffer.from(chunk.length >= keep ? chunk.subarray(chunk.length - keep) : Buffer.concat([this.tail, chunk]).subarray(-keep));
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.bytesIn === 0) throw new AnonymiseError('BAD_INPUT', 'input is empty: no dump to read', { line: 1 });
    if (this.state !== State.Sql) {
      throw new AnonymiseError('BAD_INPUT', 'input ends inside COPY data (truncated dump?)', { line: this.line, table: this.currentTable ?? undefined });
    }
    this.endText();
    const head = /^--\s*\n-- PostgreSQL database (cluster )?dump\b/.exec(this.head.toString('latin1'));
    // a pg_dumpall dump that stopped at a later database still holds an earlier one's "dump complete":
    // only the cluster's own footer says it is whole
    const footer = head?.[1] ? 'database cluster dump complete' : 'dump complete';
    if (head && !this.fragment && !this.tail.toString('latin1').includes(footer)) {
      throw new AnonymiseError('BAD_INPUT', `input ends before ${head[1] ? "pg_dumpall's" : "pg_dump's"} "${footer}" line (truncated dump?)`, { line: this.line });
    }
    this.out.flush();
    this.release(true);
    this.onSchema?.(this.schema, this.database);
  }

  /** The text ends: what is left in the carry must be blank, comments, or a last meta-command. */
  private endText(): void {
    if (this.carry.len === 0) return;
    const buf = this.carry.filled();
    const n = this.carry.len;
    if (this.scanner.kind === UnitKind.Meta || !this.scanner.onlyBlank) {
      // a meta-command on the last line without a newline is complete; anything else is cut off
      const start = skipBlank(buf, 0, n);
      if (buf[start] === BACKSLASH && buf.indexOf(LF, start) === -1) this.out.bytes(buf, 0, n, false);
      else throw new AnonymiseError('BAD_INPUT', `${this.archiveMode ? 'the text' : 'input'} ends inside a statement (truncated ${this.archiveMode ? 'archive' : 'dump'}?)`, { line: this.line });
    } else {
      this.out.bytes(buf, 0, n, false);
    }
    this.carry.len = 0;
  }

  /** Processes whole units in `buf[start..end)`; returns where the first incomplete unit begins. */
  private process(buf: Buffer, start: number, end: number, stable: boolean): number {
    let pos = start;
    while (pos < end) {
      if (this.state === State.CopyData) {
        pos = this.copyRows(buf, pos, end, stable);
        if (this.state === State.CopyData) return pos; // needs more bytes
        continue;
      }
      if (this.state === State.CopyHeaderTail) {
        const nl = buf.indexOf(LF, pos);
        if (nl === -1 || nl >= end) return pos;
        this.out.bytes(buf, pos, nl + 1, stable);
        this.line++;
        pos = nl + 1;
        this.state = State.CopyData;
        continue;
      }
      const unitEnd = this.scanner.scan(buf, pos, end);
      if (unitEnd === -1) return pos;
      const kind = this.scanner.kind;
      try {
        this.statement(buf, pos, unitEnd, kind, stable);
      } catch (e) {
        throw this.positioned(e, this.line + countLf(buf, pos, skipBlank(buf, pos, unitEnd)), undefined);
      }
      this.line += countLf(buf, pos, unitEnd);
      pos = unitEnd;
      this.scanner.begin(kind === UnitKind.Meta);
    }
    return pos;
  }

  /** A complete statement or meta-command `buf[start..end)`. */
  private statement(buf: Buffer, start: number, end: number, kind: UnitKind, stable: boolean): void {
    if (kind === UnitKind.Meta) {
      const db = connectTarget(buf.toString('utf8', skipBlank(buf, start, end), end));
      if (db !== null) this.connect(db);
      this.out.bytes(buf, start, end, stable);
      return;
    }
    const code = skipBlank(buf, start, end);
    const word = keyword(buf, code, end);
    const lineOfCode = this.line + countLf(buf, start, code);
    switch (word) {
      case 'COPY':
        this.out.bytes(buf, this.dataComments(buf, start, code, lineOfCode), end, stable);
        this.copyHeader(buf, code, end, lineOfCode);
        return;
      case 'INSERT':
        this.insertStatement(buf, this.dataComments(buf, start, code, lineOfCode), code, end, stable, lineOfCode);
        return;
      case 'SELECT': {
        const path = /^SELECT\s+pg_catalog\.set_config\(\s*'search_path'\s*,\s*'((?:[^']|'')*)'/i.exec(buf.toString('latin1', code, Math.min(end, code + 256)));
        if (path) this.schema.setSearchPath(this.codec.decode(Buffer.from(path[1]!.replace(/''/g, "'"), 'latin1')));
        const lo = this.largeObject(buf, code, end, lineOfCode);
        if (lo === 'drop') {
          this.out.bytes(buf, start, code, stable);
          return;
        }
        if (lo === 'keep') {
          this.out.bytes(buf, start, end, stable);
          return;
        }
        break;
      }
      case 'SET':
        this.setting(buf, code, end);
        break;
      case 'CREATE':
        this.create(buf, code, end, lineOfCode);
        break;
      case 'ALTER':
        this.alter(buf, code, end);
        break;
    }
    this.outside(buf, start, code, end, stable, lineOfCode);
  }

  private setting(buf: Buffer, code: number, end: number): void {
    const set = parseSet(buf.toString('latin1', code, end));
    if (set?.[0] === 'client_encoding') {
      const c = codecFor(set[1]);
      if ('unsupported' in c) this.unsupportedEncoding = c.unsupported;
      else {
        this.codec = this.row.codec = c;
        this.unsupportedEncoding = null;
      }
    } else if (set?.[0] === 'standard_conforming_strings') {
      this.scanner.standardConformingStrings = set[1].toLowerCase() !== 'off';
    } else if (set?.[0] === 'search_path') {
      this.schema.setSearchPath(this.codec.decode(buf.subarray(code, end)).replace(/^\s*SET\s+search_path\s*(?:=|TO)\s*/i, '').replace(/;\s*$/, ''));
    }
  }

  /** CREATE TABLE / TYPE / INDEX: what the schema model learns from them. */
  private create(buf: Buffer, code: number, end: number, lineOfCode: number): void {
    const head = buf.toString('latin1', code, Math.min(end, code + 64));
    const what = /^CREATE\s+(?:(?:UNLOGGED|GLOBAL|LOCAL|TEMP|TEMPORARY)\s+)?(TABLE|TYPE|UNIQUE\s+INDEX|INDEX)\b/i.exec(head)?.[1]?.toUpperCase();
    if (!what) return;
    const sql = this.codec.decode(buf.subarray(code, end));
    try {
      if (what === 'TABLE') this.schema.createTable(sql);
      else if (what === 'TYPE') this.schema.createType(sql);
      else this.schema.createIndex(sql, what.startsWith('UNIQUE'));
    } catch (e) {
      throw this.positioned(e, lineOfCode, undefined);
    }
  }

  private alter(buf: Buffer, code: number, end: number): void {
    const head = buf.toString('latin1', code, Math.min(end, code + 64)).toUpperCase();
    if (/^ALTER\s+TABLE\b/.test(head)) this.schema.alterTable(this.codec.decode(buf.subarray(code, end)));
  }

  /**
   * The comments before a statement, `buf[start..code)`: pg_dump's header names the object that
   * follows (`header`: a statement outside the rows); role names in them are pseudonymised when the
   * policy says so; and, being free text, they are examined as comments are. Returns their text as it
   * is to be written, and whether that differs from the input; null when there are no comments.
   */
  private comments(buf: Buffer, start: number, code: number, line: number, header: boolean): { text: string; changed: boolean } | null {
    if (!hasComment(buf, start, code)) return null;
    const original = this.codec.decode(buf.subarray(start, code));
    let text = original;
    if (this.rules.outside.roles === 'pseudonymise' && !this.inspect) text = pseudonymiseComments(text, (n) => this.rules.rolePseudonym(n));
    // forget: a person's identifier in the comments before a data statement (an owner named after them);
    // a statement's own comments were scrubbed with it (outside)
    const ids = this.outsideIdentifiers;
    if (ids && !this.inspect && ids.find(buf, start, code) !== -1) {
      const scrubbed = ids.scrub(text);
      if (scrubbed.hits > 0) {
        this.outsideCounts.identifiersScrubbed = (this.outsideCounts.identifiersScrubbed ?? 0) + scrubbed.hits;
        text = scrubbed.text;
      }
    }
    const h = tocHeader(text);
    if (h && header) {
      this.object = redactLabel(objectLabel(h));
      this.dataFor = null;
    } else if (h) this.dataFor = h.type === 'TABLE DATA' ? `${h.schema}.${h.name}` : null;
    const seen = examineComments(text, this.context(), this.object ?? 'comments');
    if (seen.found.length && !this.inspect) {
      this.outsideCounts.commentsScrubbed = (this.outsideCounts.commentsScrubbed ?? 0) + (seen.text !== text ? 1 : 0);
      text = seen.text;
    }
    if (!header && this.observer?.statement)
      this.observer.statement({ kind: 'comment', object: this.object ?? 'comments', database: this.database, line, strings: [text], secrets: 0 });
    return { text, changed: text !== original };
  }

  /** Writes the comments before a data statement if they were rewritten; returns where the rest begins. */
  private dataComments(buf: Buffer, start: number, code: number, line: number): number {
    const c = this.comments(buf, start, code, line, false);
    if (!c?.changed) return start;
    const bytes = this.codec.encode(c.text);
    this.out.bytes(bytes, 0, bytes.length, false);
    return code;
  }

  /** the policy's view of the current rules (they change at `\connect` in a pg_dumpall dump) */
  private outsideContext: { rules: EngineRules; context: OutsideContext } | null = null;
  private context(): OutsideContext {
    const rules = this.rules;
    if (this.outsideContext?.rules !== rules) {
      const context: OutsideContext = {
        policy: rules.outside,
        literals: rules.literals,
        unknownFails: rules.unknown !== 'keep',
        exposure: (t) => {
          if (this.schema.tables.has(t) || this.filled.has(t)) return rules.exposure(t, this.parentOf);
          const table = this.schema.indexes.get(t);
          if (!table) return null;
          const e = rules.exposure(table, this.parentOf);
          return { rows: e.rows, allKept: e.allKept, kept: () => e.allKept };
        },
        scrub: (text) => rules.scrubOutside(text),
        rolePseudonym: (name) => rules.rolePseudonym(name),
      };
      this.outsideContext = { rules, context };
    }
    return this.outsideContext.context;
  }

  /**
   * A statement outside the rows: classified, then written as the policy says (as it is, rewritten,
   * or not at all); `buf[start..code)` is the blank text and comments before it, which stay.
   */
  private outside(buf: Buffer, start: number, code: number, end: number, stable: boolean, line: number): void {
    if (code >= end) {
      this.out.bytes(buf, start, end, stable);
      return;
    }
    const ids = this.outsideIdentifiers;
    if (ids && !this.inspect && !this.scrubbedOutside && ids.find(buf, start, end) !== -1) {
      const scrubbed = ids.scrub(this.codec.decode(buf.subarray(start, end)));
      if (scrubbed.hits > 0) {
        this.outsideCounts.identifiersScrubbed = (this.outsideCounts.identifiersScrubbed ?? 0) + scrubbed.hits;
        const bytes = this.codec.encode(scrubbed.text);
        this.scrubbedOutside = true;
        try {
          return this.outside(bytes, 0, skipBlank(bytes, 0, bytes.length), bytes.length, false, line);
        } finally {
          this.scrubbedOutside = false;
        }
      }
    }
    // the comments before the statement
    const comments = this.comments(buf, start, code, line, true);
    const prefix = comments?.changed ? comments.text : null;
    const sql = this.codec.decode(buf.subarray(code, end));
    let toks;
    try {
      toks = tokenize(sql);
    } catch (e) {
      throw this.positioned(e, line, undefined);
    }
    const cls = classify(toks);
    if (cls.kind === 'role' && cls.verb.startsWith('CREATE')) this.createsRoles = true;
    const object = this.object ?? (cls.verb || undefined);
    const res = applyOutside(sql, cls, object ?? '', this.context());
    for (const [k, n] of Object.entries(res.counts)) this.outsideCounts[k as OutsideCount] = (this.outsideCounts[k as OutsideCount] ?? 0) + n;
    if (res.stop) {
      if (!this.inspect) throw new AnonymiseError('OUTSIDE_ROWS', res.stop, { line, object });
      this.outsideFindings.push({ line, object: object ?? '', message: res.stop });
    }
    let written = sql;
    const writePrefix = () => {
      if (prefix === null) this.out.bytes(buf, start, code, stable);
      else {
        const bytes = this.codec.encode(prefix);
        this.out.bytes(bytes, 0, bytes.length, false);
      }
    };
    if (res.action === 'drop' && !this.inspect) {
      writePrefix();
      written = '';
    } else if (res.action === 'rewrite' && res.text !== undefined && !this.inspect) {
      writePrefix();
      const bytes = this.codec.encode(res.text);
      this.out.bytes(bytes, 0, bytes.length, false);
      written = res.text;
    } else if (prefix !== null) {
      writePrefix();
      this.out.bytes(buf, code, end, false);
    } else {
      this.out.bytes(buf, start, end, stable);
    }
    if (this.observer?.statement) {
      const strings: string[] = [];
      // pg_dump's comments name objects and owners: they are read too
      if (comments) strings.push(comments.text);
      for (const t of written === sql ? toks : tokenize(written)) {
        if (t.t === 'str') strings.push(stringValueOf(written, t));
        else if (t.t === 'id' && t.quoted) strings.push(t.v);
      }
      this.observer.statement({ kind: cls.kind, object: object ?? 'statement', database: this.database, line, strings, secrets: res.counts.secretsRemoved ?? 0 });
    }
  }

  private unsupportedEncoding: string | null = null;

  /**
   * `\connect db` in a pg_dumpall dump: another database, with its own tables and its own rules
   * (`databases:` in the rules). Its schema is held back and checked before its first row, as the
   * first database's was.
   */
  private connect(db: string): void {
    this.onSchema?.(this.schema, this.database);
    this.database = db;
    this.rules = this.baseRules.forDatabase(db);
    this.object = null;
    this.dataFor = null;
    this.filled.clear();
    this.largeObjectsSeen = false;
    this.schema.reset();
    this.insertHead = null;
    if (!this.held && !this.inspect) {
      this.out.flush();
      this.held = [];
      this.heldBytes = 0;
      this.schemaChecked = false;
    }
  }

  /** The first row of data: the schema part is complete, so check it and let it go. */
  private beginData(): void {
    if (this.held) this.release(true);
  }

  private copyHeader(buf: Buffer, code: number, end: number, line: number): void {
    let header;
    try {
      header = parseCopyHeader(this.codec.decode(buf.subarray(code, end)), this.schema.defaultSchema);
    } catch (e) {
      throw this.positioned(e, line, undefined);
    }
    // fail closed: rows after a COPY we cannot read would otherwise pass as SQL text, unchanged
    if (!header) throw new AnonymiseError('BAD_INPUT', 'cannot read this COPY statement', { line });
    if (!header.fromStdin) throw new AnonymiseError('UNSUPPORTED', 'a COPY that is not FROM stdin (pg_dump never writes one)', { line, table: tableKey(header) });
    this.beginData();
    const table = tableKey(header);
    this.currentTable = table;
    this.filled.add(table);
    const columns = header.columns ?? this.columnsOf(table);
    this.observer?.table?.({ table, columns, database: this.database, offset: this.base + code });
    const plan = this.planTable(table, columns, line);
    if (plan.mode === 'rewrite' && !header.textFormat)
      throw new AnonymiseError('UNSUPPORTED', 'COPY with options (not the default text format) cannot be rewritten', { line, table });
    if (plan.mode === 'rewrite' && this.unsupportedEncoding)
      throw new AnonymiseError('UNSUPPORTED', `client_encoding ${this.unsupportedEncoding} cannot be rewritten safely; dump with -E UTF8`, { line, table });
    this.insertHead = null;
    this.plan = plan;
    this.tableStats = this.statsFor(table, plan);
    if (plan.mode === 'rewrite') this.prepareRows(plan);
    this.state = State.CopyHeaderTail;
  }

  /** The plan for a table's data; in inspect mode, records what is missing and plans to keep. */
  private planTable(table: string, columns: string[] | null, line: number, form: 'COPY' | 'INSERT' = 'COPY', generated?: ReadonlySet<string>): TablePlan {
    if (!this.schema.tables.has(table) && table !== 'pg_catalog.pg_largeobject') {
      const parent = this.rules.possibleParent(table, this.parentOf);
      if (parent) {
        const e = new AnonymiseError(
          'UNCLASSIFIED',
          `the dump does not define this table (--data-only?), so whether it is a partition of ${parent}, whose rule would govern it, is unknown: give it a rule of its own`,
          { line, table },
        );
        if (!this.inspect) throw e;
        this.ruleErrors.add(e.message);
      }
    }
    if (!this.inspect) {
      let plan = columns ? this.rules.plan(table, columns, this.parentOf, line, generated) : this.planWithoutColumns(table, line, form);
      if (this.overlay && columns) plan = this.overlay(table, columns, plan);
      const watched = Boolean(this.observer?.row && columns && columns.length > 0 && this.observer.wants?.(table) !== false);
      const out = watched ? observed(plan, columns!) : plan;
      this.watching.set(out, watched);
      return out;
    }
    this.rules.markUsed(table, this.parentOf);
    for (const g of this.rules.gaps(table, (columns ?? []).filter((c) => !generated?.has(c)), this.parentOf)) {
      const key = g.column ? `${g.table}\0${g.column}` : g.table;
      if (!this.gaps.has(key)) this.gaps.set(key, { ...g, line });
    }
    if (columns) {
      try {
        this.rules.plan(table, columns, this.parentOf, line, generated);
      } catch (e) {
        if (e instanceof AnonymiseError && e.code === 'RULES') this.ruleErrors.add(e.message);
        else if (!(e instanceof AnonymiseError && e.code === 'UNCLASSIFIED')) throw e;
      }
    }
    return { mode: 'keep', rule: '(check)' };
  }

  private planWithoutColumns(table: string, line: number, form: 'COPY' | 'INSERT'): TablePlan {
    const r = this.rules.resolve(table, this.parentOf);
    if (r && (r.rule.kind === 'keep' || r.rule.kind === 'drop')) return this.rules.plan(table, [], this.parentOf, line);
    if (!r && this.rules.unknown !== 'fail') return this.rules.plan(table, [], this.parentOf, line);
    if (this.schema.tables.has(table))
      throw new AnonymiseError(
        'UNCLASSIFIED',
        `${form} has no column list and the dump does not say all of this table's columns (it inherits from a table or is of a type the dump never defines): which column a value belongs to is unknown; dump with --column-inserts`,
        { line, table },
      );
    throw new AnonymiseError(
      'BAD_INPUT',
      `${form} has no column list and the dump has no CREATE TABLE for this table (a --data-only dump?): give the table a column_order in the rules, or dump with --column-inserts`,
      { line, table },
    );
  }

  private statsFor(table: string, plan: TablePlan): TableStats {
    const key = this.database === null ? table : `${this.database}/${table}`;
    let s = this.stats.get(key);
    if (!s) {
      s = { table: key, rule: plan.rule, mode: plan.mode, rowsIn: 0, rowsOut: 0, rowsDropped: 0, changed: {} };
      this.stats.set(key, s);
    }
    return s;
  }

  /** The header of the last INSERT read: every statement for a table repeats it. */
  private insertHead: { bytes: Buffer; header: InsertHeader; table: string; plan: TablePlan; dataFor: string | null } | null = null;

  /**
   * `INSERT INTO t DEFAULT VALUES`: a row with no value written, so nothing to rewrite. It goes with its
   * table's rows (kept, or dropped with the table); a row filter cannot read a row it is not given.
   */
  private defaultRow(buf: Buffer, start: number, code: number, end: number, stable: boolean, line: number, table: string, plan: TablePlan): void {
    const stats = this.statsFor(table, plan);
    stats.rowsIn++;
    if (plan.mode === 'drop') {
      stats.rowsDropped++;
      this.out.bytes(buf, start, code, stable);
      return;
    }
    if (plan.mode === 'rewrite' && plan.filter)
      throw new AnonymiseError('UNSUPPORTED', 'a row filter cannot read a row written as DEFAULT VALUES', { line, table });
    stats.rowsOut++;
    this.out.bytes(buf, start, end, stable);
  }
  private readonly values = new InsertValues();
  private keepTuple = new Uint8Array(16);

  /** `INSERT INTO … VALUES …;` — `buf[start..code)` is blank text and comments before it. */
  private insertStatement(buf: Buffer, start: number, code: number, end: number, stable: boolean, line: number): void {
    const valuesEnd = findValuesKeyword(buf, code, end);
    if (valuesEnd < 0) throw new AnonymiseError('BAD_INPUT', 'cannot read this INSERT statement', { line });
    this.beginData();
    let head = this.insertHead;
    if (!head || head.dataFor !== this.dataFor || head.bytes.length !== valuesEnd - code || head.bytes.compare(buf, code, valuesEnd) !== 0) {
      let header: InsertHeader;
      try {
        header = parseInsertHeader(this.codec.decode(buf.subarray(code, valuesEnd)), this.schema.defaultSchema);
      } catch (e) {
        throw this.positioned(e, line, undefined);
      }
      let table = tableKey(header.table);
      // --load-via-partition-root: rows of partition P under INSERT INTO root, in P's column order
      const source = !header.columns && this.dataFor !== null && this.dataFor !== table ? this.dataFor : null;
      if (source !== null) {
        if (!this.schema.tables.has(source))
          throw new AnonymiseError('UNCLASSIFIED', `rows of ${source} loaded through ${table} (--load-via-partition-root) without a column list, and the dump does not define ${source}: its column order is unknown (dump with --column-inserts)`, { line, table });
        table = source;
      }
      this.filled.add(table);
      // without a column list (--inserts) a row has every column in table order, DEFAULT for generated ones
      const defs = header.columns ? null : this.schema.columnDefs(table);
      const order = this.rules.columnOrder(table, this.parentOf);
      if (defs && order && order.join('\0') !== defs.filter((c) => !c.generated).map((c) => c.name).join('\0'))
        throw new AnonymiseError('RULES', `column_order of ${table} differs from the columns its CREATE TABLE defines`, { line, table });
      const columns = header.columns ?? defs?.map((c) => c.name) ?? order;
      const generated = defs ? new Set(defs.filter((c) => c.generated).map((c) => c.name)) : undefined;
      if (!head || head.table !== table) this.observer?.table?.({ table, columns, database: this.database });
      const plan = this.planTable(table, columns, line, 'INSERT', generated);
      if (plan.mode === 'rewrite') {
        if (this.unsupportedEncoding)
          throw new AnonymiseError('UNSUPPORTED', `client_encoding ${this.unsupportedEncoding} cannot be rewritten safely; dump with -E UTF8`, { line, table });
        // with backslash escapes in plain strings, a trail byte 0x5c of SJIS & co. would read as one
        if (this.codec.charLength && !this.scanner.standardConformingStrings)
          throw new AnonymiseError('UNSUPPORTED', `client_encoding ${this.codec.name} with standard_conforming_strings off cannot be rewritten safely; dump with -E UTF8`, { line, table });
        this.prepareRows(plan);
      }
      head = { bytes: Buffer.from(buf.subarray(code, valuesEnd)), header, table, plan, dataFor: this.dataFor };
      this.insertHead = head;
      this.plan = plan;
    }
    if (head.header.defaultValues) {
      this.defaultRow(buf, start, code, end, stable, line, head.table, head.plan);
      return;
    }
    const { plan, table } = head;
    const stats = this.statsFor(table, plan);
    this.currentTable = table;
    if (plan.mode === 'keep') {
      stats.rowsIn++;
      stats.rowsOut++;
      this.out.bytes(buf, start, end, stable);
      this.currentTable = null;
      return;
    }
    const v = this.values;
    try {
      v.parse(buf, valuesEnd, end, this.scanner.standardConformingStrings);
    } catch (e) {
      throw this.positioned(e, line, table);
    }
    stats.rowsIn += v.tuples;
    if (plan.mode === 'drop') {
      stats.rowsDropped += v.tuples;
      this.out.bytes(buf, start, code, stable); // the comments before it stay
      this.currentTable = null;
      return;
    }
    this.rewriteInsert(buf, start, code, valuesEnd, end, plan, stats, line);
    this.currentTable = null;
  }

  /** An error from a part that knows no position, placed where the engine is. */
  private positioned(e: unknown, line: number, table: string | undefined): unknown {
    return e instanceof AnonymiseError && e.position.line === undefined ? e.at({ line, table }) : e;
  }

  private rewriteInsert(buf: Buffer, start: number, code: number, valuesEnd: number, end: number, plan: Extract<TablePlan, { mode: 'rewrite' }>, stats: TableStats, line: number): void {
    const v = this.values;
    const row = this.row;
    const n = row.ncols;
    const out = this.out;
    if (this.keepTuple.length < v.tuples) this.keepTuple = new Uint8Array(v.tuples * 2);
    this.plan = plan;
    let kept = 0;
    try {
      // which rows stay (filters read original values), before a byte of the statement is written
      for (let t = 0; t < v.tuples; t++) {
        const first = v.tupleFirst[t]!;
        const count = v.tupleFirst[t + 1]! - first;
        if (count !== n)
          throw new AnonymiseError('BAD_INPUT', `row has ${count} values, the INSERT's table has ${n} columns`, { line, table: this.currentTable! });
        const watched = this.watching.get(plan) ?? false;
        if (watched || plan.filter) row.insertRow(buf, v, t);
        if (watched) this.observer!.row!(this.currentTable!, plan.columns, row);
        const keep = plan.filter ? plan.filter.keep(row) : true;
        this.keepTuple[t] = keep ? 1 : 0;
        if (keep) kept++;
      }
      stats.rowsDropped += v.tuples - kept;
      stats.rowsOut += kept;
      if (kept === 0) {
        out.bytes(buf, start, code, false); // no row left: the statement goes, its comments stay
        return;
      }
      out.bytes(buf, start, valuesEnd, false);
      let written = 0;
      const actions = plan.actions;
      for (let t = 0; t < v.tuples; t++) {
        if (this.keepTuple[t] === 0) continue;
        // the original text between rows (`,\n\t`), or between VALUES and the first row
        if (written === 0) out.bytes(buf, valuesEnd, v.tupleOpen[0]!, false);
        else out.bytes(buf, v.tupleClose[t - 1]!, v.tupleOpen[t]!, false);
        written++;
        row.insertRow(buf, v, t);
        if (plan.filter?.untouched?.(row)) out.bytes(buf, v.tupleOpen[t]!, v.tupleClose[t]!, false);
        else out.bytes(buf, this.writeValues(buf, v.tupleOpen[t]!, actions, true), v.tupleClose[t]!, false);
      }
      out.bytes(buf, v.tupleClose[v.tuples - 1]!, end, false);
    } catch (e) {
      throw this.positioned(e, line, this.currentTable ?? undefined);
    }
    this.flushChanged(plan, stats);
  }

  /**
   * Large-object contents (`lowrite`) are data too: they follow the rule for pg_catalog.pg_largeobject.
   * Returns null for any other SELECT (the policy for statements outside the rows decides those).
   */
  private largeObject(buf: Buffer, code: number, end: number, line: number): 'keep' | 'drop' | null {
    const head = buf.toString('latin1', code, Math.min(end, code + 64));
    if (!/^SELECT\s+pg_catalog\.lowrite\s*\(/i.test(head)) return null;
    const table = 'pg_catalog.pg_largeobject';
    // watchers (init, scan) learn that the dump holds large objects, once per database
    if (!this.largeObjectsSeen) {
      this.largeObjectsSeen = true;
      this.observer?.table?.({ table, columns: ['data'], database: this.database });
    }
    // the rule itself, never an observer's reading plan: large-object data is not rows
    if (!this.inspect) return this.largeObjectRule();
    const plan = this.planTable(table, ['data'], line);
    return plan.mode === 'drop' ? 'drop' : 'keep';
  }

  private largeObjectsSeen = false;

  private prepareRows(plan: Extract<TablePlan, { mode: 'rewrite' }>): void {
    this.row.prepare(plan);
    this.changedCounts = new Float64Array(plan.columns.length);
  }

  /** COPY data lines from `pos`; returns the offset after the last complete line handled. */
  private copyRows(buf: Buffer, pos: number, end: number, stable: boolean): number {
    const plan = this.plan!;
    const stats = this.tableStats!;
    if (plan.mode === 'rewrite' && plan.search) return this.searchRows(buf, pos, end, stable, plan, plan.search);
    const keep = plan.mode === 'keep';
    if (keep && this.skipKept) return this.skipRows(buf, pos, end, stable);
    const runStart = pos; // kept tables: every line from here on is copied as it is
    for (;;) {
      const nl = buf.indexOf(LF, pos);
      if (nl === -1 || nl >= end) break;
      if (isEndOfData(buf, pos, nl)) {
        return this.endOfData(buf, keep ? runStart : pos, nl, stable);
      }
      stats.rowsIn++;
      if (keep) stats.rowsOut++;
      else if (plan.mode === 'drop') stats.rowsDropped++;
      else this.rewriteRow(buf, pos, buf[nl - 1] === CR && nl > pos ? nl - 1 : nl, nl, plan, stable, undefined);
      this.line++;
      pos = nl + 1;
    }
    if (keep) this.out.bytes(buf, runStart, pos, stable);
    return pos;
  }

  /**
   * A kept table's rows, skipped through (skipKept): from the line at `pos`, only lines that begin with
   * `\.` are looked at. Returns where the first incomplete line begins.
   */
  private skipRows(buf: Buffer, pos: number, end: number, stable: boolean): number {
    let line = pos;
    for (;;) {
      const nl = buf.indexOf(LF, line);
      if (nl === -1 || nl >= end) break;
      if (isEndOfData(buf, line, nl)) return this.endOfData(buf, pos, nl, stable);
      const next = buf.indexOf(END_CANDIDATE, nl);
      if (next === -1 || next >= end) {
        // no end here: up to the last whole line, the rest waits for more input
        const last = buf.lastIndexOf(LF, end - 1);
        line = last < nl ? nl + 1 : last + 1;
        break;
      }
      line = next + 1;
    }
    this.out.bytes(buf, pos, line, stable);
    return line;
  }

  /** COPY rows of a plan that works on some rows only: runs of the others are copied as they are. */
  private searchRows(buf: Buffer, pos: number, end: number, stable: boolean, plan: Extract<TablePlan, { mode: 'rewrite' }>, search: NonNullable<Extract<TablePlan, { mode: 'rewrite' }>['search']>): number {
    const stats = this.tableStats!;
    let run = pos; // rows from here on not yet written are copied as they are
    let hit = search(buf, pos, end);
    for (;;) {
      const nl = buf.indexOf(LF, pos);
      if (nl === -1 || nl >= end) break;
      if (isEndOfData(buf, pos, nl)) return this.endOfData(buf, run, nl, stable);
      stats.rowsIn++;
      const found = hit !== -1 && hit <= nl;
      if (found || plan.everyRow) {
        this.out.bytes(buf, run, pos, stable);
        this.rewriteRow(buf, pos, buf[nl - 1] === CR && nl > pos ? nl - 1 : nl, nl, plan, stable, found);
        run = nl + 1;
        if (found) hit = search(buf, nl + 1, end);
      } else stats.rowsOut++;
      this.line++;
      pos = nl + 1;
    }
    this.out.bytes(buf, run, pos, stable);
    return pos;
  }

  /** The `\.` line ending at `nl`: what is left to write from `from` on goes out with it, and the block ends. Returns where the SQL text resumes. */
  private endOfData(buf: Buffer, from: number, nl: number, stable: boolean): number {
    this.out.bytes(buf, from, nl + 1, stable);
    this.line++;
    this.finishCopy(this.base + nl + 1);
    return nl + 1;
  }

  /** The COPY block ends (`end`: the input offset after its `\.` line, when known). */
  private finishCopy(end?: number): void {
    if (end !== undefined && this.currentTable) this.observer?.dataEnd?.(this.currentTable, end);
    const plan = this.plan;
    const stats = this.tableStats;
    if (plan && stats && plan.mode === 'rewrite') this.flushChanged(plan, stats);
    this.state = State.Sql;
    this.plan = null;
    this.tableStats = null;
    this.currentTable = null;
    this.scanner.begin(true);
  }

  /** Adds the per-column counts of changed values to the table's stats, and restarts them. */
  private flushChanged(plan: Extract<TablePlan, { mode: 'rewrite' }>, stats: TableStats): void {
    plan.columns.forEach((c, i) => {
      if (plan.actions[i]) stats.changed[c] = (stats.changed[c] ?? 0) + this.changedCounts[i]!;
    });
    this.changedCounts.fill(0);
  }

  /**
   * The current row's rewritten values written over their originals, from `buf[from]` on (as COPY
   * fields, or as SQL literals for an INSERT); returns where the untouched rest of the row begins.
   * Every value is computed before a byte is written, so that an error never leaves half a row.
   */
  private writeValues(buf: Buffer, from: number, actions: readonly (ColumnAction | null)[], sql: boolean): number {
    const row = this.row;
    const out = this.out;
    const n = row.ncols;
    for (let c = 0; c < n; c++) if (actions[c] !== null) row.output(c);
    let run = from; // start of bytes still to copy unchanged
    for (let c = 0; c < n; c++) {
      if (actions[c] === null) continue;
      const value = row.output(c);
      out.bytes(buf, run, row.starts[c]!, false);
      const mark = out.mark;
      const generation = out.generation;
      if (value === null) {
        if (sql) out.ascii('NULL');
        else out.bytes(NULL_FIELD, 0, 2, false);
      } else if (sql) out.literal(value, this.codec, this.scanner.standardConformingStrings);
      else out.copyValue(value, this.codec);
      if (!out.sameSince(mark, generation, buf, row.starts[c]!, row.ends[c]!)) this.changedCounts[c]!++;
      run = row.ends[c]!;
    }
    return run;
  }

  /** One row `buf[start..stop)`, line terminator at `stop..nl]`. */
  private rewriteRow(buf: Buffer, start: number, stop: number, nl: number, plan: Extract<TablePlan, { mode: 'rewrite' }>, stable: boolean, searchHit: boolean | undefined): void {
    const row = this.row;
    const n = row.ncols;
    const f = row.copyRow(buf, start, stop);
    if (f !== n) {
      throw new AnonymiseError('BAD_INPUT', `row has ${f} fields, the COPY header lists ${n}`, { line: this.line, table: this.currentTable! });
    }
    const stats = this.tableStats!;
    try {
      if (this.watching.get(plan)) this.observer!.row!(this.currentTable!, plan.columns, row);
      if (plan.filter && !plan.filter.keep(row, searchHit)) {
        stats.rowsDropped++;
        return;
      }
      if (plan.filter?.untouched?.(row, searchHit)) this.out.bytes(buf, start, nl + 1, stable);
      else this.out.bytes(buf, this.writeValues(buf, start, plan.actions, false), nl + 1, false);
      stats.rowsOut++;
    } catch (e) {
      throw this.positioned(e, this.line, this.currentTable ?? undefined);
    }
  }

  /**
   * After an error: if output has begun, hands on the whole rows already rewritten and then the
   * ABORTED trailer, which makes a restore of the output fail and tells a reader why. If the run
   * stopped before its first output byte, it stays that way.
   */
  abort(reason: string): void {
    if (this.held) return;
    this.out.flush();
    const lines: string[] = [];
    // inside COPY data: a row with one field too many fails the COPY, whatever the table
    if (this.state !== State.Sql) lines.push('\\N\t'.repeat(Math.max(1, this.row.ncols)) + '\\N');
    lines.push("DO $anonymise_dump$ BEGIN RAISE EXCEPTION 'anonymise-dump aborted: this dump is incomplete'; END $anonymise_dump$;");
    lines.push(`-- anonymise-dump: ABORTED: ${reason.replace(/[\r\n]+/g, ' ')}`);
    this.started = true;
    // COPY data is always cut at a row boundary; SQL text may stop right after a `;`
    const lead = this.state === State.Sql ? '\n' : '';
    this.sink(Buffer.from(`${lead}${lines.join('\n')}\n`, 'utf8'));
  }
}

/**
 * With a row observer every table's rows are read: a kept table is rewritten with no action (its bytes
 * are copied row by row), a dropped one filtered to nothing.
 */
function observed(plan: TablePlan, columns: string[]): TablePlan {
  if (plan.mode === 'rewrite') return plan;
  return {
    mode: 'rewrite',
    rule: plan.rule,
    columns,
    actions: columns.map(() => null),
    filter: plan.mode === 'drop' ? { columns: [], keep: () => false } : null,
  };
}

/** A line that may be the end-of-data marker begins after this. */
const END_CANDIDATE = Buffer.from('\n\\.', 'latin1');

/** The end-of-data marker: a line that is exactly \. (a CR before the LF: a CRLF-converted dump). */
function isEndOfData(buf: Buffer, pos: number, nl: number): boolean {
  return buf[pos] === BACKSLASH && buf[pos + 1] === DOT && (nl === pos + 2 || (nl === pos + 3 && buf[pos + 2] === CR));
}

/** The database a psql `\connect` (or `\c`) line names, or null for any other meta-command. */
export function connectTarget(line: string): string | null {
  const m = /^\\(?:connect|c)\s+(.*?)\s*$/s.exec(line);
  if (!m) return null;
  let args = m[1]!;
  // pg_dumpall quotes awkward names as a conninfo: \connect -reuse-previous=on "dbname='d b2'"
  args = args.replace(/^-reuse-previous=\S+\s+/, '');
  const quoted = /^"((?:[^"]|"")*)"/.exec(args);
  const word = quoted ? quoted[1]!.replace(/""/g, '"') : args.split(/\s+/)[0]!;
  const conninfo = /(?:^|\s)dbname\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))/.exec(word);
  if (conninfo) return conninfo[1] !== undefined ? conninfo[1].replace(/\\(.)/g, '$1') : conninfo[2]!;
  return word;
}

/**
 * Whether the blank text before a statement holds a comment (`--` or a block). Searched within it only: an
 * indexOf from `start` runs on through the rest of the chunk, and for every INSERT of an INSERT-form
 * dump that made the pass quadratic (118 MB: 0.15 s -> 8.5 s).
 */
function hasComment(buf: Buffer, start: number, code: number): boolean {
  if (code - start < 2) return false;
  const prefix = buf.subarray(start, code);
  return prefix.includes('--', 0, 'latin1') || prefix.includes('/*', 0, 'latin1');
}

/** Newlines in `buf[start..end)`. */
export function countLf(buf: Buffer, start: number, end: number): number {
  let n = 0;
  let i = buf.indexOf(LF, start);
  while (i !== -1 && i < end) {
    n++;
    i = buf.indexOf(LF, i + 1);
  }
  return n;
}

/** The statements we act on, by their first word. */
const KEYWORDS = ['INSERT', 'COPY', 'SET', 'CREATE', 'ALTER', 'SELECT'].map((k) => ({ word: k, bytes: Buffer.from(k, 'latin1') }));

/** The first word of a statement if it is one we act on (any case), else ''. Compared on bytes: a string per statement showed in the profile of INSERT dumps. */
function keyword(buf: Buffer, at: number, end: number): string {
  for (const k of KEYWORDS) {
    const n = k.bytes.length;
    if (at + n > end) continue;
    let j = 0;
    while (j < n && (buf[at + j]! | 0x20) === (k.bytes[j]! | 0x20)) j++;
    if (j < n) continue;
    // a whole word: INSERTS or COPY_X are not ours
    const next = at + n < end ? buf[at + n]! : 0x20;
    if (!((next | 0x20) >= 0x61 && (next | 0x20) <= 0x7a) && !(next >= 0x30 && next <= 0x39) && next !== 0x5f) return k.word;
  }
  return '';
}

