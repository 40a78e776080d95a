/**
 * Which of a person's values identify them (a unique or personal column's distinctive value, never a
 * password hash, a number or a date), and which columns are text to search for them.
 */
import type { SchemaModel } from '../dump/schema-model.js';
import type { CompiledRules } from '../rules/rule-compiler.js';
import { TypeModel } from '../dump/types.js';

/** a password hash or a token names no one and appears nowhere else: not searched for */
const SECRET_NAME = /pass(word)?|secret|salt|hash/i;
const PERSONAL_NAME = /(^|_)(e?mail|email_?address|username|user_?name|login|phone|mobile|telephone|tel|msisdn)($|_)/i;

/** The matched rows' distinctive values of unique and personal columns: the identifiers forget scrubs elsewhere. */
export function identifierValues(schema: SchemaModel, seedRows: ReadonlyMap<string, { columns: string[]; rows: (string | null)[][] }>, rules: CompiledRules | undefined): string[] {
  const out: string[] = [];
  const types = new TypeModel(schema);
  for (const [table, seed] of seedRows) {
    const unique = schema.uniques.get(table) ?? new Set<string>();
    const defs = schema.columnDefs(table);
    const exposure = rules?.resolve(table, schema.parentOf) ? rules.exposure(table, schema.parentOf) : null;
    seed.columns.forEach((col, i) => {
      const type = defs?.find((d) => d.name === col)?.type ?? 'text';
      if (!types.isText(type) || SECRET_NAME.test(col)) return;
      const isUnique = unique.has(col);
      const personal = exposure ? !exposure.kept(col) : PERSONAL_NAME.test(col);
      if (!isUnique && !personal) return;
      for (const r of seed.rows) {
        const v = r[i];
        if (v !== null && v !== undefined && distinctive(v, isUnique)) out.push(v);
      }
    });
  }
  return out;
}

/** Text columns of a table (their values are searched for identifiers). */
export function textColumns(schema: SchemaModel, table: string, columns: readonly string[]): Set<number> {
  const types = new TypeModel(schema);
  const defs = schema.columnDefs(table);
  const out = new Set<number>();
  columns.forEach((c, i) => {
    const type = defs?.find((d) => d.name === c)?.type;
    if (type === undefined || types.isText(type)) out.add(i);
  });
  return out;
}

/** A value that names one person: not a number, a date or a single common word. */
export function distinctive(v: string, unique: boolean): boolean {
  if (v.length < 4) return false;
  if (/^[-+]?\d+(\.\d+)?$/.test(v) || /^\d{4}-\d{2}-\d{2}/.test(v) || v === 'true' || v === 'false') return false;
  if (unique) return true;
  if (v.includes('@')) return true;
  return (v.match(/\d/g)?.length ?? 0) >= 9; // a phone number
}
