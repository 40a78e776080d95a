/**
 * PostgreSQL's types as the dump declares them, for every feature that compares or searches values:
 * a column's base type (domains resolved, however deep; schema-qualified extension types such as
 * `public.citext` recognised), whether it holds text, and how two of its values compare equal — as
 * PostgreSQL compares them, not as their text does: citext without regard to case, numeric by value
 * (1.5 = 1.50).
 */
import type { SchemaModel } from './schema-model.js';

export interface BaseType {
  /** the base type's name, lower case, without schema or typmod: `citext`, `numeric`, `character varying` */
  name: string;
  /** an array of it */
  array: boolean;
  /** CHECK expressions of the domains on the way, outermost first */
  checks: string[];
  /** the base type as written, typmod included (`character varying(150)`, `numeric(8,2)`) */
  written: string;
}

/** Built-in and extension types whose values are text: searched for a person's identifiers. */
const TEXT_TYPES = new Set(['text', 'character varying', 'varchar', 'character', 'char', 'bpchar', 'citext', 'json', 'jsonb', 'name', 'xml', 'tsvector']);

/** A value's form for equality, where its text is not it. */
export type KeyForm = (text: string) => string;

export class TypeModel {
  constructor(private readonly schema: SchemaModel) {}

  /** The base of a type as a column definition writes it; unknown names come back as they are. */
  base(type: string): BaseType {
    let t = type.trim();
    let array = false;
    const checks: string[] = [];
    for (let depth = 0; depth < 32; depth++) {
      if (/\[\s*\d*\s*\]$/.test(t)) {
        array = true;
        t = t.replace(/(\s*\[\s*\d*\s*\])+$/, '');
      }
      const domain = this.domain(t);
      if (!domain) break;
      checks.push(...domain.checks);
      t = domain.base.trim();
    }
    // the schema of a built-in or extension type (`pg_catalog.int4`, `public.citext`) says nothing more
    const unqualified = t.replace(/\s*\(.*\)\s*$/s, '').replace(/^(?:"[^"]*"|[A-Za-z_][\w$]*)\s*\.\s*/, '');
    return { name: unqualified.replace(/^"(.*)"$/, '$1').toLowerCase(), array, checks, written: t };
  }

  isText(type: string): boolean {
    const b = this.base(type);
    return b.array || TEXT_TYPES.has(b.name);
  }

  /** How values of the type compare equal, as text to compare; null where their text is their identity. */
  keyForm(type: string): KeyForm | null {
    const b = this.base(type);
    if (b.array) return null;
    if (b.name === 'citext') return (v) => v.toLowerCase();
    if (b.name === 'numeric' || b.name === 'decimal') return canonicalNumeric;
    return null;
  }

  /** The domain a type names (as the dump writes it: qualified, or in the schema of unqualified names). */
  private domain(type: string): { base: string; checks: string[] } | undefined {
    const domains = this.schema.domains;
    if (domains.size === 0) return undefined;
    const m = /^(?:("(?:[^"]|"")*"|[A-Za-z_][\w$]*)\s*\.\s*)?("(?:[^"]|"")*"|[A-Za-z_][\w$]*)$/.exec(type);
    if (!m) return undefined;
    const ident = (s: string) => (s.startsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s.toLowerCase());
    if (m[1] !== undefined) return domains.get(`${ident(m[1])}.${ident(m[2]!)}`);
    return domains.get(`${this.schema.defaultSchema}.${ident(m[2]!)}`) ?? domains.get(`public.${ident(m[2]!)}`);
  }
}

/**
 * A numeric's value as text that is equal exactly when the values are: no leading zeros, no trailing
 * fractional zeros, no `+`, and no sign on zero. `NaN` and the infinities stay as they are.
 */
export function canonicalNumeric(v: string): string {
  const m = /^\s*([+-]?)(\d*)(?:\.(\d*))?\s*$/.exec(v);
  if (!m) return v;
  const int = m[2]!.replace(/^0+/, '');
  const frac = (m[3] ?? '').replace(/0+$/, '');
  if (int === '' && frac === '') return '0';
  return `${m[1] === '-' ? '-' : ''}${int || '0'}${frac ? `.${frac}` : ''}`;
}
