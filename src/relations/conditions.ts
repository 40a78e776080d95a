/**
 * The conditions that name a person (`--where`, `--people`): `schema.table.column=value`, and how a
 * row's value is looked up against them (e-mail addresses in any case).
 */
import { AnonymiseError } from '../errors.js';
import { TypeModel } from '../dump/types.js';
import type { SchemaModel } from '../dump/schema-model.js';

/** `schema.table.column=value`: rows whose column holds the value (an e-mail address in any case). */
export interface Condition {
  table: string;
  column: string;
  value: string;
  /** where it was given, for messages: `--where 2`, `people.txt line 4` */
  source: string;
}

export function parseCondition(text: string, source: string): Condition {
  const eq = text.indexOf('=');
  const path = eq === -1 ? '' : text.slice(0, eq).trim();
  const parts = path.split('.');
  if (eq === -1 || parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[A-Za-z_][A-Za-z0-9_$]*$/.test(p)))
    throw new AnonymiseError('USAGE', `${source}: expected schema.table.column=value (the value is not shown)`);
  const column = parts.pop()!;
  const table = parts.length === 1 ? `public.${parts[0]}` : parts.join('.');
  const value = text.slice(eq + 1);
  if (value === '') throw new AnonymiseError('USAGE', `${source}: the value after = is empty`);
  return { table, column, value, source };
}

/**
 * One column's conditions: by value as the column's type compares it (citext in any case, numeric by
 * value: `1.5` finds 1.50), and e-mail addresses (which match in any case) by their lower case.
 */
export interface ColumnLookup {
  column: string;
  exact: Map<string, Condition[]>;
  folded: Map<string, Condition[]>;
  form: ((text: string) => string) | null;
}

export function columnLookup(column: string, conds: Condition[], form: ((text: string) => string) | null = null): ColumnLookup {
  const exact = new Map<string, Condition[]>();
  const folded = new Map<string, Condition[]>();
  for (const c of conds) {
    const k = form ? form(c.value) : c.value;
    exact.set(k, [...(exact.get(k) ?? []), c]);
    if (c.value.includes('@')) folded.set(c.value.toLowerCase(), [...(folded.get(c.value.toLowerCase()) ?? []), c]);
  }
  return { column, exact, folded, form };
}

/** The conditions a value meets (none: undefined). */
export function conditionsMet(l: ColumnLookup, v: string | null): Condition[] | undefined {
  if (v === null) return undefined;
  const exact = l.exact.get(l.form ? l.form(v) : v);
  const folded = l.folded.size > 0 && v.includes('@') ? l.folded.get(v.toLowerCase()) : undefined;
  if (exact && folded) return [...new Set([...exact, ...folded])];
  return exact ?? folded;
}

/** A table's conditions by column, each compared as the column's type says (by text before the schema is read). */
export function typedLookups(byColumn: ReadonlyMap<string, Condition[]>, table: string, schema: SchemaModel | null): ColumnLookup[] {
  const defs = schema?.columnDefs(table);
  const types = schema ? new TypeModel(schema) : null;
  return [...byColumn].map(([column, conds]) => {
    const type = defs?.find((d) => d.name === column)?.type;
    return columnLookup(column, conds, type && types ? types.keyForm(type) : null);
  });
}
