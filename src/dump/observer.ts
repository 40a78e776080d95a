/**
 * What the engine tells the commands that watch it (scan, the leak check, init): every statement
 * outside the rows, and every row of every table, as it goes out. Commands observe; they never
 * reach into the engine or change what it writes.
 */
import type { RowAccess } from '../contract/plan.js';
import type { StatementKind } from './statements.js';

export interface StatementEvent {
  kind: StatementKind;
  /** the object it belongs to (`FUNCTION public.notify()`), or its keywords */
  object: string;
  /** the database (after `\connect` in a pg_dumpall dump), else null */
  database: string | null;
  /** input line of its first keyword */
  line: number;
  /** the string constants and quoted names of the statement as written, decoded */
  strings: readonly string[];
  /** secrets the policy removed from it (role passwords, password options, connection passwords) */
  secrets: number;
}

export interface TableEvent {
  table: string;
  /** the columns of its rows, in order; null when the dump does not say (INSERTs without a column list and no CREATE TABLE) */
  columns: readonly string[] | null;
  /** the database (after `\connect` in a pg_dumpall dump), else null */
  database: string | null;
  /** a COPY block: the input offset of its COPY statement (INSERT forms: absent) */
  offset?: number;
}

export interface DumpObserver {
  /** whose rows `row` is given (all when absent): reading a table's rows costs, copying it does not */
  wants?(table: string): boolean;
  statement?(event: StatementEvent): void;
  /** a table's data begins (a COPY header, or the first INSERT of a table), before any of its rows */
  table?(event: TableEvent): void;
  /** a COPY block ends; `offset`: the input offset after its `\.` line */
  dataEnd?(table: string, offset: number): void;
  /** one row; `row.text(c)` reads column c (columns in the row's order, generated ones included) */
  row?(table: string, columns: readonly string[], row: RowAccess): void;
}
