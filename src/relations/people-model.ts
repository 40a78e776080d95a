/**
 * What find and forget know between passes: the key sets of rows found (groups), each table's work
 * (its conditions, the references it holds, the groups its rows feed), and a row's fate.
 */
import type { KeySet } from './key-set.js';
import type { KeyForm } from '../dump/types.js';
import type { Relation } from './graph.js';
import type { ColumnLookup } from './conditions.js';

export interface Group {
  table: string;
  columns: string[];
  keys: KeySet;
  /** the keys themselves while they are few (the last pass looks for them in rows as text); null past that */
  texts: Set<string> | null;
  version: number;
}

/** Keys of a group, and condition values of a table, looked for in rows as text up to this many. */
export const FEW_KEYS = 64;

export interface Outgoing {
  rel: Relation;
  cols: number[];
  /** the referenced rows' keys; null for a generic relation (the content type says which table) */
  group: Group | null;
  ctCol: number;
  /** how the referenced columns compare equal (their type's), per column */
  forms: (KeyForm | null)[];
}

export interface TableWork {
  table: string;
  columns: string[];
  /** conditions on this table (or its parent), by the column they read */
  seeds: { col: number; lookup: ColumnLookup }[];
  outgoing: Outgoing[];
  feeds: { group: Group; cols: number[]; forms: (KeyForm | null)[] }[];
}

export interface Fate {
  removed: boolean;
  seed: boolean;
  /** set_null relations that refer to a removed row: their columns go NULL (null: none) */
  nulls: Set<number> | null;
  /** every relation that refers to a removed row */
  refs: Relation[];
}

/** A row nothing happens to (shared: never changed). */
export const NO_FATE: Fate = Object.freeze({ removed: false, seed: false, nulls: null, refs: Object.freeze([]) as unknown as Relation[] });
