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

/**
 * The matched rows' values of unique and personal columns that name the person, to search for in other
 * rows and scrub (`searched`); and those too common to (`common`: reported, never printed).
 */
export function identifierValues(schema: SchemaModel, seedRows: ReadonlyMap<string, { columns: string[]; rows: (string | null)[][] }>, rules: CompiledRules | undefined): { searched: string[]; common: string[] } {
  const out: string[] = [];
  const common: string[] = [];
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
        if (v === null || v === undefined) continue;
        const c = identifierClass(v, isUnique);
        if (c === 'identifier') out.push(v);
        else if (c === 'common') common.push(v);
      }
    });
  }
  return { searched: out, common };
}

/** The positions of a table's `columns` whose declared type (undefined: the dump does not say) passes `test`. */
function columnsTyped(schema: SchemaModel, table: string, columns: readonly string[], test: (type: string | undefined, types: TypeModel) => boolean): Set<number> {
  const types = new TypeModel(schema);
  const defs = schema.columnDefs(table);
  const out = new Set<number>();
  columns.forEach((c, i) => {
    if (test(defs?.find((d) => d.name === c)?.type, types)) out.add(i);
  });
  return out;
}

/** Text columns of a table (their values are searched for identifiers); a column of unknown type counts as text. */
export function textColumns(schema: SchemaModel, table: string, columns: readonly string[]): Set<number> {
  return columnsTyped(schema, table, columns, (type, types) => type === undefined || types.isText(type));
}

/**
 * What a person's value is worth searching for in other people's rows: an `identifier` (an address, a
 * phone number, a unique value with a digit, a space or punctuation in it — `jane.o'doe7`), `common`
 * (a unique value too common to name one person: a single word such as `admin` or `owner`, or a value
 * under four characters: reported as not searched, the user may add it), or null (not identifying at
 * all: numbers, dates, booleans, a personal column's ordinary word).
 */
export function identifierClass(v: string, unique: boolean): 'identifier' | 'common' | null {
  if (/^[-+]?\d+(\.\d+)?$/.test(v) || /^\d{4}-\d{2}-\d{2}/.test(v) || v === 'true' || v === 'false' || v.trim() === '') return null;
  if (/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v.trim())) return v.length >= 4 ? 'identifier' : 'common';
  if ((v.match(/\d/g)?.length ?? 0) >= 9) return 'identifier'; // a phone number
  if (!unique) return null;
  if (v.length < 4 || /^\p{L}+$/u.test(v)) return 'common';
  return 'identifier';
}

/** bytea columns of a table (their bytes are searched for identifiers, as text). */
export function byteaColumns(schema: SchemaModel, table: string, columns: readonly string[]): Set<number> {
  return columnsTyped(schema, table, columns, (type, types) => {
    const base = type === undefined ? null : types.base(type);
    return base !== null && base.name === 'bytea' && !base.array;
  });
}
