/**
 * The schema gate: what the dump says of its tables (the schema model, per database of a pg_dumpall
 * dump), the rules in force, and the hold-back. Everything before the first row of data (the schema)
 * is held back until the rules have been checked against every table in it, so a dump the rules do not
 * cover produces no output at all. It answers the engine's one question per table: its plan.
 */
import { AnonymiseError } from '../errors.js';
import type { ColumnType, EngineRules, Gap, TablePlan } from '../contract/plan.js';
import { TypeModel } from './types.js';
import { SchemaModel } from './schema-model.js';
import type { Findings } from './findings.js';

const DEFAULT_MAX_HELD_BYTES = 64 * 1024 * 1024;
const LARGE_OBJECTS = 'pg_catalog.pg_largeobject';

export interface GateOptions {
  rules: EngineRules;
  /** how much schema text may be held back for the up-front check */
  maxHeldBytes?: number;
  /** archive mode: nothing is held (the caller writes nothing before the TOC has passed) */
  archive: boolean;
  findings: Findings;
}

export class SchemaGate {
  /** what the dump says of its tables (reset at each `\connect` of a pg_dumpall dump) */
  readonly schema = new SchemaModel();
  /** the rules in force: the file's, or one database's (`databases:`) after `\connect` */
  rules: EngineRules;
  /** the database after `\connect` in a pg_dumpall dump */
  database: string | null = null;
  /** tables whose data this dump holds (their statistics follow their rules) */
  readonly filled = new Set<string>();
  /** true once a byte has gone to the sink */
  started = false;
  private readonly baseRules: EngineRules;
  private held: Buffer[] | null;
  private heldBytes = 0;
  private readonly maxHeld: number;
  private schemaChecked = false;
  private readonly findings: Findings;
  /** the types of the schema in hand (it reads the model live, through `\connect` resets) */
  private readonly types = new TypeModel(this.schema);

  constructor(
    options: GateOptions,
    private readonly sink: (chunk: Buffer) => void,
  ) {
    this.rules = this.baseRules = options.rules;
    this.maxHeld = options.maxHeldBytes ?? DEFAULT_MAX_HELD_BYTES;
    this.findings = options.findings;
    this.held = options.archive ? null : [];
  }

  readonly parentOf = (t: string): string | undefined => this.schema.parentOf(t);

  /** Columns that hold data for a table (generated ones never do). */
  columnsOf(table: string): string[] | null {
    return this.schema.columnsOf(table);
  }

  /** Still holding back (no byte has gone out): an abort then writes nothing. */
  get holding(): boolean {
    return this.held !== null;
  }

  /** Output from the engine: held back while the schema is read, then handed on. */
  emit(chunk: Buffer): void {
    if (this.held) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      if (this.heldBytes > this.maxHeld) this.release(false);
      return;
    }
    this.started = true;
    this.sink(chunk);
  }

  /** The first row of data: the schema part is complete, so check it and let it go. */
  beginData(line: number): void {
    if (this.held) this.release(true, line);
  }

  /** The input ends: whatever is held is checked and let go. */
  end(line: number): void {
    this.release(true, line);
  }

  /** Archive mode: every definition has been read: the rules are checked against the schema before any data. */
  schemaComplete(line: number): void {
    if (this.schemaChecked) return;
    this.checkSchema(line);
    this.schemaChecked = true;
  }

  /** Ends the hold-back. With `check`, every CREATE TABLE seen must pass the rules first. */
  private release(check: boolean, line = 0): void {
    if (check && !this.schemaChecked) this.checkSchema(line);
    this.schemaChecked = this.schemaChecked || check;
    const held = this.held;
    if (!held) return;
    this.held = null;
    for (const chunk of held) {
      this.started = true;
      this.sink(chunk);
    }
  }

  /**
   * `\connect db` in a pg_dumpall dump: another database, with its own tables and its own rules
   * (`databases:` in the rules). Its schema is held back and checked before its first row, as the
   * first database's was. `flush` hands on what the engine's output holds first.
   */
  connect(db: string, flush: () => void): void {
    this.database = db;
    this.rules = this.baseRules.forDatabase(db);
    this.filled.clear();
    this.schema.reset();
    if (!this.held && !this.findings.collect) {
      flush();
      this.held = [];
      this.heldBytes = 0;
      this.schemaChecked = false;
    }
  }

  /** Every gap in the schema seen so far (for `check` and the up-front check). */
  schemaGaps(): Gap[] {
    const gaps: Gap[] = [];
    for (const key of this.schema.tables.keys()) gaps.push(...this.rules.gaps(key, this.columnsOf(key) ?? [], this.parentOf));
    return gaps;
  }

  private checkSchema(line: number): void {
    if (this.findings.collect) {
      for (const key of this.schema.tables.keys()) this.plan(key, this.columnsOf(key), line);
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
          { line, table: first.table, column: first.column },
        );
      }
    }
    // a rule of the user's for a table the dump lacks may be a typo that lets the meant table through;
    // in pg_dumpall a table of one database is missing from the next, so only `check` judges those
    if (this.database === null && this.schema.tables.size > 0) {
      const problem = this.rules.tableRuleProblems([...this.schema.tables.keys()]).errors[0];
      if (problem) throw problem;
    }
    // rules that name columns a table lacks are bad rules (exit 2), found before any output
    for (const key of this.schema.tables.keys()) {
      const cols = this.columnsOf(key);
      if (cols) this.rules.plan(key, cols, this.parentOf, line, this.generatedOf(key), this.columnTypes(key, cols), this.definedColumns(key));
    }
  }

  /**
   * The rules' plan for a table's data. `check` records what is missing and plans to keep, so that it
   * reads on; a run stops at the first problem.
   */
  plan(table: string, columns: string[] | null, line: number, form: 'COPY' | 'INSERT' = 'COPY', generated?: ReadonlySet<string>): TablePlan {
    if (!this.schema.tables.has(table) && table !== LARGE_OBJECTS) {
      const parent = this.rules.possibleParent(table, this.parentOf);
      if (parent) {
        this.findings.rule(
          new AnonymiseError(
            'UNCLASSIFIED',
            `the dump does not define this table (--data-only?), so whether it is a partition of ${parent}, whose rule would govern it, is unknown: give it a rule of its own`,
            { line, table },
          ),
        );
      }
    }
    // the table's generated columns, which no row carries, are columns it has all the same
    generated ??= this.generatedOf(table);
    if (!this.findings.collect) return columns ? this.rules.plan(table, columns, this.parentOf, line, generated, this.columnTypes(table, columns), this.definedColumns(table)) : this.planWithoutColumns(table, line, form);
    this.rules.markUsed(table, this.parentOf);
    const severity = this.rules.unknown === 'fail' ? 'fatal' : 'warning';
    for (const g of this.rules.gaps(table, (columns ?? []).filter((c) => !generated?.has(c)), this.parentOf)) this.findings.gap(g, line, severity);
    if (columns) {
      try {
        this.rules.plan(table, columns, this.parentOf, line, generated, this.columnTypes(table, columns), this.definedColumns(table));
      } catch (e) {
        if (e instanceof AnonymiseError && e.code === 'RULES') this.findings.rule(e);
        else if (!(e instanceof AnonymiseError && e.code === 'UNCLASSIFIED')) throw e;
      }
    }
    return { mode: 'keep', rule: '(check)' };
  }

  /** Every column of a table the dump defines, generated ones included (undefined: the dump does not say). */
  private definedColumns(table: string): string[] | undefined {
    return this.schema.columnDefs(table)?.map((d) => d.name);
  }

  /** Generated columns of a table the dump defines. */
  private generatedOf(table: string): ReadonlySet<string> | undefined {
    const defs = this.schema.columnDefs(table);
    return defs ? new Set(defs.filter((d) => d.generated).map((d) => d.name)) : undefined;
  }

  /** Each column's declared type (null where the dump does not say it: a --data-only dump). */
  private columnTypes(table: string, columns: string[]): (ColumnType | null)[] {
    const defs = this.schema.columnDefs(table);
    const checks = this.schema.checksOf(table);
    return columns.map((c) => {
      const type = defs?.find((d) => d.name === c)?.type;
      if (!type) return null;
      const base = this.types.base(type);
      // a table's CHECKs that read the column bind what a rule writes there as its domain's do
      const own = checks.filter((k) => k.columns.includes(c)).map((k) => k.asValue(c));
      return own.length ? { ...base, checks: [...base.checks, ...own] } : base;
    });
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
      `${form} has no column list and the dump has no CREATE TABLE for this table (a --data-only dump?): give --schema FILE (a pg_dump --schema-only of the same database), a column_order in the rules, or dump with --column-inserts`,
      { line, table },
    );
  }

  /** What the rules do with large-object data: keep it, drop it, or (any other rule) stop. */
  largeObjectRule(line: number): 'keep' | 'drop' {
    const plan = this.rules.plan(LARGE_OBJECTS, ['data'], this.parentOf, line);
    if (plan.mode === 'keep') return 'keep';
    if (plan.mode === 'drop') return 'drop';
    throw new AnonymiseError('UNSUPPORTED', 'large-object data can only be kept or dropped (or dump with --no-large-objects)', { table: LARGE_OBJECTS });
  }
}
