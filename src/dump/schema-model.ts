/**
 * What the dump says of its tables, learned statement by statement: every table's columns in their
 * physical order — its own, inherited ones (multiple inheritance in PostgreSQL's order), a typed
 * table's type attributes, a partition's parent's — unique columns, partitions, indexes, and the
 * schema unqualified names live in. Where it cannot be certain (a parent or type it has not seen), it
 * says so (null), and the engine stops rather than guess.
 */
import { AnonymiseError } from '../errors.js';
import {
  parseAttachPartition,
  parseCompositeType,
  parseCreateTable,
  parseDomain,
  parseForeignKey,
  parseIndexTarget,
  parseUniqueConstraint,
  searchPathSchema,
  tableKey,
  type ColumnDef,
  type ForeignKey,
  type TableCheck,
  type TableDef,
} from './schema.js';

const CREATES = /^CREATE\s+(?:(?:UNLOGGED|GLOBAL|LOCAL|TEMP|TEMPORARY)\s+)?(TABLE|TYPE|DOMAIN|UNIQUE\s+INDEX|INDEX)\b/i;

export class SchemaModel {
  readonly tables = new Map<string, TableDef>();
  /** composite types, for typed tables */
  readonly types = new Map<string, ColumnDef[]>();
  /** domains: their base type as written, and their CHECK expressions */
  readonly domains = new Map<string, { base: string; checks: string[] }>();
  /** single columns known to be unique (UNIQUE, PRIMARY KEY, unique index), for `init` and `check` */
  readonly uniques = new Map<string, Set<string>>();
  /** PRIMARY KEY columns, for following references that name no columns (generic relations) */
  readonly primaryKeys = new Map<string, string[]>();
  /** index → its table */
  readonly indexes = new Map<string, string>();
  /** FOREIGN KEY constraints, for `check` (restorability) and for following references */
  readonly foreignKeys: ForeignKey[] = [];
  /** partition → parent, from ATTACH PARTITION */
  private readonly attached = new Map<string, string>();
  /** where unqualified names live (search_path) */
  defaultSchema = 'public';
  /**
   * Counts what changed how a table's rows are read: its definition, types, partitions, keys, the
   * search_path. What was planned from the model before (an INSERT header read once, the workers' copy of
   * the schema) holds only while it is the same.
   */
  version = 0;

  /** A `\connect` in a pg_dumpall dump: another database, another schema. */
  reset(): void {
    this.version++;
    this.tables.clear();
    this.types.clear();
    this.domains.clear();
    this.uniques.clear();
    this.indexes.clear();
    this.primaryKeys.clear();
    this.attached.clear();
    this.foreignKeys.length = 0;
    this.defaultSchema = 'public';
  }

  /**
   * What another model learnt (a `pg_dump --schema-only` of the same database, for a --data-only dump
   * that says no types): its tables, types, domains, keys and partitions, as if read here.
   */
  adopt(other: SchemaModel): void {
    this.version++;
    for (const [k, v] of other.tables) this.tables.set(k, v);
    for (const [k, v] of other.types) this.types.set(k, v);
    for (const [k, v] of other.domains) this.domains.set(k, v);
    for (const [k, v] of other.uniques) this.uniques.set(k, new Set(v));
    for (const [k, v] of other.primaryKeys) this.primaryKeys.set(k, v);
    for (const [k, v] of other.indexes) this.indexes.set(k, v);
    for (const [k, v] of other.attached) this.attached.set(k, v);
    this.foreignKeys.push(...other.foreignKeys);
  }

  setSearchPath(value: string): void {
    this.version++;
    this.defaultSchema = searchPathSchema(value);
  }

  /** Whether a statement beginning so is one the model learns from (CREATE TABLE, TYPE, DOMAIN, INDEX). */
  static learnsFrom(head: string): boolean {
    return CREATES.test(head);
  }

  /** A CREATE statement: the table, type, domain or index it defines (errors are positioned by the caller). */
  create(sql: string): void {
    const what = CREATES.exec(sql)?.[1]?.toUpperCase();
    if (what) this.version++;
    if (what === 'TABLE') this.createTable(sql);
    else if (what === 'TYPE') this.createType(sql);
    else if (what === 'DOMAIN') this.createDomain(sql);
    else if (what) this.createIndex(sql, what.startsWith('UNIQUE'));
  }

  /** A CREATE TABLE (positioned errors are the caller's: this one has no line). */
  createTable(sql: string): void {
    let def: TableDef | null;
    try {
      def = parseCreateTable(sql, this.defaultSchema);
    } catch {
      throw new AnonymiseError('BAD_INPUT', 'cannot read this CREATE TABLE statement');
    }
    if (def) this.tables.set(tableKey(def), def);
  }

  createType(sql: string): void {
    const t = parseCompositeType(sql, this.defaultSchema);
    if (t) this.types.set(t.key, t.columns);
  }

  /** CREATE DOMAIN: what it is a domain over (types.ts resolves a column's type through it). */
  createDomain(sql: string): void {
    try {
      const d = parseDomain(sql, this.defaultSchema);
      if (d) this.domains.set(d.key, { base: d.base, checks: d.checks });
    } catch {
      // unreadable: the statement is examined as a statement outside the rows, and the domain's columns are typed as unknown
    }
  }

  /** CREATE [UNIQUE] INDEX: the index's table, and a unique column. */
  createIndex(sql: string, unique: boolean): void {
    if (unique) this.noteUnique(sql);
    try {
      const target = parseIndexTarget(sql, this.defaultSchema);
      if (target) this.indexes.set(target.index, target.table);
    } catch {
      // the statement itself is examined (and refused if damaged) as a statement outside the rows
    }
  }

  /** ALTER TABLE: ATTACH PARTITION, a foreign key, or a UNIQUE / PRIMARY KEY constraint (others, such as DISABLE TRIGGER, change nothing here). */
  alterTable(sql: string): void {
    const att = parseAttachPartition(sql, this.defaultSchema);
    if (att) {
      this.version++;
      this.attached.set(att.child, att.parent);
    } else if (/\bFOREIGN\s+KEY\b/i.test(sql)) {
      this.version++;
      try {
        const fk = parseForeignKey(sql, this.defaultSchema);
        if (fk) this.foreignKeys.push(fk);
      } catch {
        // unreadable: the statement is examined as a statement outside the rows
      }
    } else if (/\b(UNIQUE|PRIMARY\s+KEY)\b/i.test(sql)) {
      this.version++;
      this.noteUnique(sql);
    }
  }

  private noteUnique(sql: string): void {
    let u: ReturnType<typeof parseUniqueConstraint> = null;
    try {
      u = parseUniqueConstraint(sql, this.defaultSchema);
    } catch {
      return; // not one we can read: it only informs suggestions and checks
    }
    if (u && /\bPRIMARY\s+KEY\b/i.test(sql)) this.primaryKeys.set(u.table, u.columns);
    if (!u || u.columns.length !== 1) return;
    let set = this.uniques.get(u.table);
    if (!set) this.uniques.set(u.table, (set = new Set()));
    set.add(u.columns[0]!);
  }

  readonly parentOf = (t: string): string | undefined => this.attached.get(t) ?? this.tables.get(t)?.parent;

  /**
   * The table's columns in physical order (the order of `INSERT … VALUES` without a column list and
   * of `COPY` without one), or null when the dump does not say: no CREATE TABLE, or a parent or type
   * it never defines.
   */
  columnDefs(table: string, depth = 0): ColumnDef[] | null {
    const def = this.tables.get(table);
    if (!def || depth > 32) return null;
    if (def.parent && def.inheritsColumns) return this.columnDefs(def.parent, depth + 1);
    if (def.ofType) return this.types.get(def.ofType) ?? null;
    if (def.inherits.length === 0) return def.columns;
    // PostgreSQL's MergeAttributes: each parent's columns in turn, a name seen before merged into its
    // first place; then the table's own columns, those that merge with an inherited one staying there
    const merged: ColumnDef[] = [];
    const at = new Map<string, number>();
    for (const parent of def.inherits) {
      const cols = this.columnDefs(parent, depth + 1);
      if (!cols) return null;
      for (const c of cols) {
        if (at.has(c.name)) continue;
        at.set(c.name, merged.length);
        merged.push(c);
      }
    }
    for (const c of def.columns) {
      const i = at.get(c.name);
      if (i === undefined) merged.push(c);
      else merged[i] = { ...merged[i]!, notNull: merged[i]!.notNull || c.notNull };
    }
    return merged;
  }

  /** The CHECK constraints a table's rows must pass: its own, and those of the tables it inherits from or partitions. */
  checksOf(table: string, depth = 0): TableCheck[] {
    const def = this.tables.get(table);
    if (!def || depth > 32) return [];
    const parents = [...def.inherits, ...(this.parentOf(table) ? [this.parentOf(table)!] : [])];
    return [...def.checks, ...parents.flatMap((p) => this.checksOf(p, depth + 1))];
  }

  /** Columns that hold data (generated ones never do), or null when the dump does not say. */
  columnsOf(table: string): string[] | null {
    return this.columnDefs(table)?.filter((c) => !c.generated).map((c) => c.name) ?? null;
  }
}
