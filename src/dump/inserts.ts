/**
 * Rows written as INSERT statements (pg_dump --inserts, --column-inserts, --rows-per-insert): each
 * statement's header is read once per table (every statement repeats it), its tuples found by the
 * quote-aware VALUES parser, and each tuple kept, dropped or rewritten by the table's plan. Which
 * tuples stay is decided before a byte of the statement is written.
 */
import { AnonymiseError } from '../errors.js';
import type { TablePlan } from '../contract/plan.js';
import { tableKey } from './schema.js';
import { InsertValues, findValuesKeyword, parseInsertHeader, valuesAfterHeader, type InsertHeader } from './insert-parser.js';
import { positioned } from './reader.js';
import { isReservedFake, isWhole } from '../pseudonym/detectors.js';
import type { Output } from './output.js';
import type { RowWriter, TableStats } from './row-writer.js';
import type { SchemaGate } from './schema-gate.js';
import type { TextCodec } from '../text/encoding.js';

type RewritePlan = Extract<TablePlan, { mode: 'rewrite' }>;

/** What the INSERT writer asks of the engine. */
export interface InsertHost {
  out: Output;
  gate: SchemaGate;
  writer: RowWriter;
  codec(): TextCodec;
  standardConformingStrings(): boolean;
  /** the client_encoding named when it cannot be rewritten safely, else null */
  unsupportedEncoding(): string | null;
  /** the table pg_dump's last `-- Data for Name:` header names */
  dataFor(): string | null;
  /** the plan for a table's rows: the rules', as forget or subsets change it, watched by an observer */
  plan(table: string, columns: string[] | null, line: number, generated: ReadonlySet<string> | undefined): TablePlan;
  /** whether an observer reads this plan's rows */
  watched(plan: TablePlan): ((table: string, columns: readonly string[], row: RowWriter['row']) => void) | null;
  /** the first row of data: the held-back schema is checked and let go */
  beginData(): void;
  /** a table's data begins (observers learn its columns) */
  tableBegins(table: string, columns: string[] | null): void;
  statsFor(table: string, plan: TablePlan): TableStats;
  /** the table whose row is in hand, for messages */
  setTable(table: string | null): void;
  /**
   * With workers: the statement `buf[start..end)`, whose code begins at `code` on input line `line`, goes
   * to them (true), or is written here (false), after anything they were given (parallel-copy.ts).
   */
  toWorkers?(buf: Buffer, start: number, code: number, end: number, stable: boolean, line: number, at: InsertTarget): boolean;
}

/** Whose an INSERT statement is: its table and plan, the header read for it (`head`), the data header it follows, its counts, and whether an observer reads its rows. */
export interface InsertTarget {
  table: string;
  plan: TablePlan;
  head: object;
  dataFor: string | null;
  stats: TableStats;
  watched: boolean;
}

export class InsertWriter {
  /** The header of the last INSERT read: every statement for a table repeats it. */
  private head: {
    bytes: Buffer;
    header: InsertHeader;
    table: string;
    plan: TablePlan;
    dataFor: string | null;
    /** the schema model's version the header was read under (SchemaModel.version) */
    schemaVersion: number;
    /** kept columns whose place only the rules' column_order gives (a data-only dump with no column list) */
    guarded: { index: number; name: string }[] | null;
  } | null = null;
  private readonly values = new InsertValues();
  private keepTuple = new Uint8Array(16);

  constructor(private readonly h: InsertHost) {}

  /** Another table's data, or another database: the next INSERT's header is read anew. */
  forget(): void {
    this.head = null;
  }

  /** `INSERT INTO … VALUES …;` — `buf[start..code)` is blank text and comments before it. */
  statement(buf: Buffer, start: number, code: number, end: number, stable: boolean, line: number): void {
    const h = this.h;
    const dataFor = h.dataFor();
    let head = this.head;
    // the same header bytes name the same table, with the same columns, only while the schema model is
    // the same (a search_path for unqualified names, a table created again)
    let valuesEnd = head && head.dataFor === dataFor && head.schemaVersion === h.gate.schema.version ? valuesAfterHeader(buf, code, end, head.bytes) : -1;
    if (!head || valuesEnd < 0) {
      valuesEnd = findValuesKeyword(buf, code, end);
      if (valuesEnd < 0) throw new AnonymiseError('BAD_INPUT', 'cannot read this INSERT statement', { line });
      h.beginData();
      head = this.head = this.readHeader(buf, code, valuesEnd, line, dataFor);
    } else h.beginData();
    const { plan, table } = head;
    const stats = h.statsFor(table, plan);
    if (h.toWorkers?.(buf, start, code, end, stable, line, { table, plan, head, dataFor, stats, watched: h.watched(plan) !== null })) return;
    if (head.header.defaultValues) {
      this.defaultRow(buf, start, code, end, stable, line, table, plan, stats);
      return;
    }
    h.setTable(table);
    if (plan.mode === 'keep') {
      stats.rowsIn++;
      stats.rowsOut++;
      h.out.bytes(buf, start, end, stable);
      h.setTable(null);
      return;
    }
    const v = this.values;
    try {
      v.parse(buf, valuesEnd, end, h.standardConformingStrings());
    } catch (e) {
      throw positioned(e, line, table);
    }
    stats.rowsIn += v.tuples;
    if (plan.mode === 'drop') {
      stats.rowsDropped += v.tuples;
      h.out.bytes(buf, start, code, stable); // the comments before it stay
      h.setTable(null);
      return;
    }
    this.rewrite(buf, start, code, valuesEnd, end, plan, stats, line, table);
    h.setTable(null);
  }

  private readHeader(buf: Buffer, code: number, valuesEnd: number, line: number, dataFor: string | null): NonNullable<InsertWriter['head']> {
    const h = this.h;
    const gate = h.gate;
    let header: InsertHeader;
    try {
      header = parseInsertHeader(h.codec().decode(buf.subarray(code, valuesEnd)), gate.schema.defaultSchema);
    } catch (e) {
      throw positioned(e, line, undefined);
    }
    let table = tableKey(header.table);
    // --load-via-partition-root: rows of partition P under INSERT INTO root, in P's column order
    const source = !header.columns && dataFor !== null && dataFor !== table ? dataFor : null;
    if (source !== null) {
      if (!gate.schema.tables.has(source))
        throw new AnonymiseError('UNCLASSIFIED', `rows of ${source} loaded through ${table} (--load-via-partition-root) without a column list, and the dump does not define ${source}: its column order is unknown (dump with --column-inserts)`, { line, table });
      table = source;
    }
    gate.filled.add(table);
    // without a column list (--inserts) a row has every column in table order, DEFAULT for generated ones
    const defs = header.columns ? null : gate.schema.columnDefs(table);
    const order = gate.rules.columnOrder(table, gate.parentOf);
    if (defs && order && order.join('\0') !== defs.filter((c) => !c.generated).map((c) => c.name).join('\0'))
      throw new AnonymiseError('RULES', `column_order of ${table} differs from the columns its CREATE TABLE defines`, { line, table });
    const columns = header.columns ?? defs?.map((c) => c.name) ?? order;
    const generated = defs ? new Set(defs.filter((c) => c.generated).map((c) => c.name)) : undefined;
    if (!this.head || this.head.table !== table) h.tableBegins(table, columns);
    const plan = h.plan(table, columns, line, generated);
    if (plan.mode === 'rewrite') {
      const unsupported = h.unsupportedEncoding();
      if (unsupported) throw new AnonymiseError('UNSUPPORTED', `client_encoding ${unsupported} cannot be rewritten safely; dump with -E UTF8`, { line, table });
      // with backslash escapes in plain strings, a trail byte 0x5c of SJIS & co. would read as one
      const codec = h.codec();
      if (codec.charLength && !h.standardConformingStrings())
        throw new AnonymiseError('UNSUPPORTED', `client_encoding ${codec.name} with standard_conforming_strings off cannot be rewritten safely; dump with -E UTF8`, { line, table });
      h.writer.prepare(plan);
    }
    // column_order is the rules' word, not the dump's: a table changed since it was written would shift
    // values under other columns' rules, so the kept columns are watched for what must never be kept
    const guarded = !header.columns && !defs && plan.mode === 'rewrite'
      ? plan.actions.flatMap((a, index) => (a === null ? [{ index, name: plan.columns[index]! }] : []))
      : null;
    return { bytes: Buffer.from(buf.subarray(code, valuesEnd)), header, table, plan, dataFor, schemaVersion: gate.schema.version, guarded };
  }

  /**
   * `INSERT INTO t DEFAULT VALUES`: a row with no value written, so nothing to rewrite. It goes with its
   * table's rows (kept, or dropped with the table); a row filter cannot read a row it is not given.
   */
  private defaultRow(buf: Buffer, start: number, code: number, end: number, stable: boolean, line: number, table: string, plan: TablePlan, stats: TableStats): void {
    stats.rowsIn++;
    if (plan.mode === 'drop') {
      stats.rowsDropped++;
      this.h.out.bytes(buf, start, code, stable);
      return;
    }
    if (plan.mode === 'rewrite' && plan.filter) throw new AnonymiseError('UNSUPPORTED', 'a row filter cannot read a row written as DEFAULT VALUES', { line, table });
    stats.rowsOut++;
    this.h.out.bytes(buf, start, end, stable);
  }

  private rewrite(buf: Buffer, start: number, code: number, valuesEnd: number, end: number, plan: RewritePlan, stats: TableStats, line: number, table: string): void {
    const v = this.values;
    const writer = this.h.writer;
    const row = writer.row;
    const n = row.ncols;
    const out = this.h.out;
    if (this.keepTuple.length < v.tuples) this.keepTuple = new Uint8Array(v.tuples * 2);
    const watcher = this.h.watched(plan);
    const guarded = this.head?.guarded?.length ? this.head.guarded : null;
    let kept = 0;
    try {
      // which rows stay (filters read original values), before a byte of the statement is written
      for (let t = 0; t < v.tuples; t++) {
        const first = v.tupleFirst[t]!;
        const count = v.tupleFirst[t + 1]! - first;
        if (count !== n) throw new AnonymiseError('BAD_INPUT', `row has ${count} values, the INSERT's table has ${n} columns`, { line, table });
        if (watcher || plan.filter || guarded) row.insertRow(buf, v, t);
        if (guarded) guardColumnOrder(row, guarded, table);
        if (watcher) watcher(table, plan.columns, row);
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
        else out.bytes(buf, writer.writeValues(buf, v.tupleOpen[t]!, actions, true), v.tupleClose[t]!, false);
      }
      out.bytes(buf, v.tupleClose[v.tuples - 1]!, end, false);
    } catch (e) {
      throw positioned(e, line, table);
    }
    writer.flushChanged(plan, stats);
  }
}

/** What no kept column of a table may hold when only column_order says where its values are. */
const NEVER_KEPT = ['email', 'card', 'nino'] as const;
const KIND_WORDS: Record<(typeof NEVER_KEPT)[number], string> = { email: 'an e-mail address', card: 'a payment card number', nino: 'a National Insurance number' };

/**
 * Stops the run when a kept column's value is an e-mail address, card or NI number in a table placed by
 * column_order: the likeliest sign that the table gained or lost a column since the order was written and
 * the values have moved under other columns' rules. Named by kind, never by value.
 */
function guardColumnOrder(row: RowWriter['row'], guarded: readonly { index: number; name: string }[], table: string): void {
  for (const { index, name } of guarded) {
    const text = row.text(index);
    if (text === null || text.length > 320) continue;
    for (const kind of NEVER_KEPT) {
      if (isWhole(kind, text) && !isReservedFake(kind, text))
        throw new AnonymiseError(
          'UNCLASSIFIED',
          `column_order may no longer match the data: this column, which the rules keep, holds ${KIND_WORDS[kind]}; compare column_order with the table's columns (\\d ${table}), or dump with --column-inserts`,
          { table, column: name },
        );
    }
  }
}

