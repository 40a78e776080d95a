/**
 * The contract between the engine (dump/) and the rules (rules/): what a rule may read of a row, what a
 * table's plan says the engine is to do with its rows, and what the engine asks of compiled rules. The
 * engine knows the rules only through these types; the rules never see the engine.
 */
import type { OutsidePolicy, LiteralPolicy, TableExposure } from './outside-policy.js';
import type { TableRule, UnknownPolicy } from './rules-model.js';

/** What a rule may read of the current row. Values are never logged. */
export interface RowAccess {
  /** original value as UTF-8 bytes, or null for NULL */
  bytes(col: number): Buffer | null;
  /** original value as text, or null for NULL */
  text(col: number): string | null;
  /** the value this row will carry in the output (after its rule) */
  output(col: number): string | null;
  /** the row's bytes as the dump writes them (escaped), first field to last */
  rawSpan?(): Buffer;
  /**
   * Field `col`'s value where it lies in the input as its own UTF-8 bytes (nothing to unescape, not
   * NULL): the input, with the value at `[spanStart, spanEnd)`; null when it does not (read bytes()).
   * Spares a Buffer view per value for rules that read a range (fakes, hashes, json documents).
   */
  span?(col: number): Buffer | null;
  readonly spanStart?: number;
  readonly spanEnd?: number;
  /** span() of a column its plan writes as it is (no action), whose output is then its input; else null */
  keptSpan?(col: number): Buffer | null;
  /** Whether field `col`'s bytes in the input are its value as they are: a COPY field of a UTF-8 dump with no escape in it. */
  asIs?(col: number): boolean;
}

export type ColumnAction = ((row: RowAccess, col: number) => string | null) & {
  /**
   * The same value as UTF-8 bytes, where the action can compute it without a string (json rules):
   * a view valid until the action's next call; undefined when the string form must be used.
   */
  bytes?: (row: RowAccess, col: number) => Buffer | null | undefined;
  /**
   * Whether the bytes `bytes` last returned hold nothing COPY text escapes (a backslash, tab, newline,
   * carriage return, backspace, form feed or vertical tab): they go to the output as they are, unsearched.
   */
  bytesAsCopy?: () => boolean;
};

export interface RowFilter {
  /** columns read by the filter */
  columns: number[];
  /**
   * true when the row is written. `searchHit`: what the plan's `search` said of this row (a COPY row of
   * a plan with one), else undefined.
   */
  keep(row: RowAccess, searchHit?: boolean): boolean;
  /**
   * Asked of a row that is written, just before its values are: true when it is to be written as it
   * is, its actions not run (forget: a row that refers to nobody forgotten and names no one).
   */
  untouched?(row: RowAccess, searchHit?: boolean): boolean;
}

export type TablePlan =
  | { mode: 'keep'; rule: string }
  | { mode: 'drop'; rule: string }
  | {
      mode: 'rewrite';
      rule: string;
      columns: string[];
      /** null = keep the column's bytes */
      actions: (ColumnAction | null)[];
      filter: RowFilter | null;
      /**
       * Only some rows need work (forget's identifier search): the offset of the first byte in
       * `buf[from..end)` at or after which a row may need it, or -1. COPY rows wholly before it are copied
       * as they are, unread. Absent: every row is read.
       */
      search?: (buf: Buffer, from: number, end: number) => number;
      /** with `search`: every row is still read (its filter decides), the search only says which rows it hit */
      everyRow?: boolean;
    };

export interface Gap {
  table: string;
  column?: string;
}

/**
 * A column's type as the dump declares it, resolved to its base (dump/types.ts): what a rule that
 * computes values of the type (noise) must stay inside.
 */
export interface ColumnType {
  /** the base type's name, lower case: `smallint`, `numeric`, `citext` */
  name: string;
  /** the base type as written, typmod included: `numeric(4,2)` */
  written: string;
  array: boolean;
  /** CHECK expressions of the domains it is declared through */
  checks: string[];
}

/** A table pattern and the rule it gives (what `resolve` answers). */
export interface ResolvedRule {
  pattern: string;
  rule: TableRule;
}

export type ParentOf = (table: string) => string | undefined;

/**
 * What the engine asks of compiled rules (rules/rule-compiler.ts implements it): a plan per table, the
 * gaps the rules leave, and the policy for what lies outside the rows.
 */
export interface EngineRules {
  readonly unknown: UnknownPolicy;
  readonly outside: OutsidePolicy;
  readonly literals: LiteralPolicy;
  /**
   * The plan for a table's data, given its columns in row order (throws RULES / UNCLASSIFIED errors).
   * `defined`: every column the table has, generated ones included, where the dump says (a rule may name
   * only these); else the row's columns are taken to be all of them.
   */
  plan(table: string, columns: string[], parentOf: ParentOf, line?: number, generated?: ReadonlySet<string>, types?: readonly (ColumnType | null)[], defined?: readonly string[]): TablePlan;
  resolve(table: string, parentOf: ParentOf): ResolvedRule | undefined;
  /** the parent a table without a definition might be a partition of, when a rule names one */
  possibleParent(table: string, parentOf: ParentOf): string | null;
  gaps(table: string, columns: string[], parentOf: ParentOf): Gap[];
  markUsed(table: string, parentOf: ParentOf): void;
  columnOrder(table: string, parentOf: ParentOf): string[] | null;
  exposure(table: string, parentOf: ParentOf): TableExposure;
  scrubOutside(text: string): string;
  rolePseudonym(name: string): string;
  /** pg_dumpall: the rules for one database */
  forDatabase(db: string): EngineRules;
  /** the user's exact table rules that name none of `tables`: errors (a typo, or a table unknown: would let pass), and the rest */
  tableRuleProblems(tables: readonly string[]): { errors: Error[]; unused: string[] };
}
