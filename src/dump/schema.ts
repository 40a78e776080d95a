/**
 * What the tool learns of the schema from the dump itself: CREATE TABLE column lists, partitions,
 * and COPY headers. pg_dump writes these in a regular form, so a token list is enough; no SQL
 * parser runs on the data path.
 */
import { AnonymiseError } from '../errors.js';
import { isOp, isWord, tokenize, type Token } from './sql-tokens.js';

export interface QualifiedName {
  schema: string;
  name: string;
}

/** `schema.table`, the spelling rules use. */
export function tableKey(q: QualifiedName): string {
  return `${q.schema}.${q.name}`;
}

export interface ColumnDef {
  name: string;
  type: string;
  notNull: boolean;
  generated: boolean;
}

export interface TableDef extends QualifiedName {
  /** the columns its own CREATE TABLE lists */
  columns: ColumnDef[];
  /** set for `PARTITION OF parent` */
  parent?: string;
  /** columns come from elsewhere (PARTITION OF parent, OF type), not from the list */
  inheritsColumns: boolean;
  /** `INHERITS (a, b)`: the parents whose columns come first, in this order */
  inherits: string[];
  /** `OF type`: a typed table, whose columns are the type's attributes */
  ofType?: string;
  /** its own CHECK constraints (pg_dump writes a valid one in the CREATE TABLE; a NOT VALID one is not checked on restore) */
  checks: TableCheck[];
}

/** A table's CHECK: the columns it reads, and its text with one of them written as VALUE (as a domain's). */
export interface TableCheck {
  columns: string[];
  asValue(column: string): string;
}

/** Words inside a CHECK expression that are not column names. */
const CHECK_WORDS = new Set(['and', 'or', 'not', 'is', 'null', 'true', 'false', 'between', 'symmetric', 'in', 'like', 'ilike', 'similar', 'to', 'escape', 'any', 'all', 'some', 'array', 'case', 'when', 'then', 'else', 'end', 'distinct', 'from', 'collate', 'at', 'time', 'zone', 'interval', 'unknown', 'overlaps', 'isnull', 'notnull', 'current_date', 'current_timestamp', 'localtimestamp', 'localtime', 'current_time', 'current_user', 'session_user']);

/** `CHECK (expr)` at `toks[i]`: the columns it reads and its VALUE form; null when it is not one. */
function readCheck(sql: string, toks: Token[], i: number): TableCheck | null {
  if (!isWord(toks[i], 'check') || !isOp(toks[i + 1], '(')) return null;
  let depth = 0;
  let close = -1;
  for (let k = i + 1; k < toks.length; k++) {
    if (isOp(toks[k], '(') || isOp(toks[k], '[')) depth++;
    else if ((isOp(toks[k], ')') || isOp(toks[k], ']')) && --depth === 0) {
      close = k;
      break;
    }
  }
  if (close === -1) return null;
  const refs: { tok: Extract<Token, { t: 'id' }>; name: string }[] = [];
  for (let k = i + 2; k < close; k++) {
    const t = toks[k]!;
    if (t.t !== 'id') continue;
    // a function, a type after `::` (the tokenizer gives `::` as two `:`), a qualified name
    if (isOp(toks[k + 1], '(') || isOp(toks[k - 1], ':') || isOp(toks[k - 1], '.') || isOp(toks[k + 1], '.')) continue;
    if (!t.quoted && CHECK_WORDS.has(t.v)) continue;
    // a type's second word after a cast (`::character varying`, `::double precision`)
    if (toks[k - 1]!.t === 'id' && isOp(toks[k - 2], ':')) continue;
    refs.push({ tok: t, name: t.v });
  }
  const from = toks[i + 2]?.at ?? toks[close]!.at;
  return {
    columns: [...new Set(refs.map((r) => r.name))],
    asValue: (column) => {
      let out = '';
      let at = from;
      for (const r of refs) {
        if (r.name !== column) continue;
        out += sql.slice(at, r.tok.at) + 'VALUE';
        at = r.tok.end;
      }
      return out + sql.slice(at, toks[close]!.at);
    },
  };
}

/**
 * A possibly schema-qualified name at `toks[i]`; an unqualified one is in `schema` (the first schema
 * of the dump's search_path: `public` for pg_dump 10 and later, which qualifies every name).
 */
export function readName(toks: Token[], i: number, schema = 'public'): { q: QualifiedName; next: number } | null {
  const a = toks[i];
  if (!a || a.t !== 'id') return null;
  if (isOp(toks[i + 1], '.') && toks[i + 2]?.t === 'id') {
    return { q: { schema: a.v, name: (toks[i + 2] as { v: string }).v }, next: i + 3 };
  }
  return { q: { schema, name: a.v }, next: i + 1 };
}

/** Splits tokens between `open` (a `(`) and its matching `)` at top-level commas. */
function splitParenList(toks: Token[], open: number): { items: Token[][]; close: number } {
  const items: Token[][] = [];
  let cur: Token[] = [];
  let depth = 0;
  for (let i = open + 1; i < toks.length; i++) {
    const t = toks[i]!;
    if (isOp(t, '(') || isOp(t, '[')) depth++;
    else if (isOp(t, ')') || isOp(t, ']')) {
      if (depth === 0) {
        if (cur.length) items.push(cur);
        return { items, close: i };
      }
      depth--;
    } else if (depth === 0 && isOp(t, ',')) {
      items.push(cur);
      cur = [];
      continue;
    }
    cur.push(t);
  }
  throw new AnonymiseError('BAD_INPUT', 'unbalanced parentheses in a statement');
}

/**
 * Words that start a table constraint or a LIKE clause rather than a column. All are reserved words
 * (a column so named is quoted) except EXCLUDE, which starts a constraint only before `(` or USING:
 * `exclude text` is a column.
 */
const NOT_A_COLUMN = new Set(['constraint', 'check', 'unique', 'primary', 'foreign', 'like']);
function startsConstraint(item: Token[]): boolean {
  const head = item[0]!;
  if (head.t !== 'id' || head.quoted) return false;
  if (NOT_A_COLUMN.has(head.v)) return true;
  return head.v === 'exclude' && (isOp(item[1], '(') || isWord(item[1], 'using'));
}
const TYPE_END = new Set(['not', 'null', 'default', 'collate', 'constraint', 'generated', 'check', 'references', 'primary', 'unique']);

/** Parses `CREATE [UNLOGGED] TABLE …` text; returns null for anything else (views, foreign tables…). */
export function parseCreateTable(sql: string, schema = 'public'): TableDef | null {
  const toks = tokenize(sql);
  let i = 0;
  if (!isWord(toks[i++], 'create')) return null;
  while (isWord(toks[i], 'unlogged') || isWord(toks[i], 'global') || isWord(toks[i], 'local') || isWord(toks[i], 'temp') || isWord(toks[i], 'temporary')) i++;
  if (!isWord(toks[i++], 'table')) return null;
  if (isWord(toks[i], 'if')) i += 3;
  const nm = readName(toks, i, schema);
  if (!nm) return null;
  i = nm.next;
  const def: TableDef = { ...nm.q, columns: [], inheritsColumns: false, inherits: [], checks: [] };
  if (isWord(toks[i], 'partition') && isWord(toks[i + 1], 'of')) {
    const parent = readName(toks, i + 2, schema);
    if (!parent) return null;
    def.parent = tableKey(parent.q);
    def.inheritsColumns = true;
    i = parent.next;
  } else if (isWord(toks[i], 'of')) {
    def.inheritsColumns = true; // typed table: columns come from the type
    const t = readName(toks, i + 1, schema);
    if (!t) return null;
    def.ofType = tableKey(t.q);
    i = t.next;
  }
  let close = i - 1;
  const items: Token[][] = [];
  if (isOp(toks[i], '(')) {
    const list = splitParenList(toks, i);
    items.push(...list.items);
    close = list.close;
  }
  // INHERITS (a, b) follows the list (pg_dump writes `(\n)` for a table with no columns of its own)
  if (isWord(toks[close + 1], 'inherits') && isOp(toks[close + 2], '(')) {
    for (const parent of splitParenList(toks, close + 2).items) {
      const p = readName(parent, 0, schema);
      if (!p || p.next !== parent.length) throw new AnonymiseError('BAD_INPUT', 'cannot read the INHERITS list of this CREATE TABLE');
      def.inherits.push(tableKey(p.q));
    }
  }
  for (const item of items) {
    const head = item[0];
    if (!head || head.t !== 'id') continue;
    if (startsConstraint(item)) {
      const at = isWord(head, 'constraint') ? 2 : 0;
      const check = readCheck(sql, item, at);
      if (check && !item.some((t) => isWord(t, 'valid') && isWord(item[item.indexOf(t) - 1], 'not'))) def.checks.push(check);
      continue;
    }
    // a partition's list holds only `col WITH OPTIONS …` constraints, not new columns
    if (def.inheritsColumns) continue;
    let generated = false;
    let notNull = false;
    let typeEnd = item.length;
    for (let k = 1; k < item.length; k++) {
      const t = item[k]!;
      if (t.t === 'id' && !t.quoted && TYPE_END.has(t.v) && typeEnd === item.length) typeEnd = k;
      if (isWord(t, 'generated') && isWord(item[k + 1], 'always') && isWord(item[k + 2], 'as') && isOp(item[k + 3], '('))
        generated = true;
      if (isWord(t, 'not') && isWord(item[k + 1], 'null')) notNull = true;
      const check = readCheck(sql, item, k);
      if (check) def.checks.push(check);
    }
    const type = item.length > 1 ? sql.slice(item[1]!.at, item[typeEnd - 1]!.end).replace(/\s+/g, ' ') : '';
    def.columns.push({ name: head.v, type, notNull, generated });
  }
  return def;
}

/** `CREATE TYPE name AS (attr type, …)`: a composite type, whose attributes a typed table takes as its columns. */
export function parseCompositeType(sql: string, schema = 'public'): { key: string; columns: ColumnDef[] } | null {
  const toks = tokenize(sql);
  if (!isWord(toks[0], 'create') || !isWord(toks[1], 'type')) return null;
  const nm = readName(toks, 2, schema);
  if (!nm || !isWord(toks[nm.next], 'as') || !isOp(toks[nm.next + 1], '(')) return null;
  const columns: ColumnDef[] = [];
  for (const item of splitParenList(toks, nm.next + 1).items) {
    const head = item[0];
    if (!head || head.t !== 'id') throw new AnonymiseError('BAD_INPUT', 'cannot read the attributes of this CREATE TYPE');
    columns.push({ name: head.v, type: item.length > 1 ? sql.slice(item[1]!.at, item[item.length - 1]!.end) : '', notNull: false, generated: false });
  }
  return { key: tableKey(nm.q), columns };
}

/**
 * The schema an unqualified name is created in under `search_path = value` (older pg_dump writes
 * `SET search_path = hr, pg_catalog;` and unqualified names): the first entry other than pg_catalog
 * and "$user"; `public` when there is none.
 */
export function searchPathSchema(value: string): string {
  for (const raw of value.split(',')) {
    const t = raw.trim();
    const name = t.startsWith('"') ? t.slice(1, -1).replace(/""/g, '"') : t.toLowerCase();
    if (name && name !== 'pg_catalog' && name !== '$user') return name;
  }
  return 'public';
}

/**
 * A UNIQUE or PRIMARY KEY constraint, or a unique index: `ALTER TABLE [ONLY] t ADD CONSTRAINT n
 * UNIQUE (a, b)` / `CREATE UNIQUE INDEX n ON [ONLY] t USING btree (a)`. Expressions yield null.
 */
export function parseUniqueConstraint(sql: string, schema = 'public'): { table: string; columns: string[] } | null {
  const toks = tokenize(sql);
  let i = 0;
  let name: { q: QualifiedName; next: number } | null;
  if (isWord(toks[0], 'alter')) {
    if (!isWord(toks[1], 'table')) return null;
    i = isWord(toks[2], 'only') ? 3 : 2;
    name = readName(toks, i, schema);
    if (!name) return null;
    i = name.next;
    if (!isWord(toks[i], 'add') || !isWord(toks[i + 1], 'constraint')) return null;
    i += 3; // ADD CONSTRAINT name
    if (isWord(toks[i], 'primary') && isWord(toks[i + 1], 'key')) i += 2;
    else if (isWord(toks[i], 'unique')) i += 1;
    else return null;
  } else if (isWord(toks[0], 'create') && isWord(toks[1], 'unique') && isWord(toks[2], 'index')) {
    i = 3;
    while (i < toks.length && !isWord(toks[i], 'on')) i++;
    i++;
    if (isWord(toks[i], 'only')) i++;
    name = readName(toks, i, schema);
    if (!name) return null;
    i = name.next;
    if (isWord(toks[i], 'using')) i += 2;
  } else return null;
  if (!isOp(toks[i], '(')) return null;
  const { items } = splitParenList(toks, i);
  if (items.some((it) => it.length !== 1 || it[0]!.t !== 'id')) return null;
  return { table: tableKey(name.q), columns: items.map((it) => (it[0] as { v: string }).v) };
}

/** `CREATE [UNIQUE] INDEX name ON [ONLY] table …` → { index, table }, both schema-qualified (an index lives in its table's schema). */
export function parseIndexTarget(sql: string, schema = 'public'): { index: string; table: string } | null {
  const toks = tokenize(sql);
  let i = 0;
  if (!isWord(toks[i++], 'create')) return null;
  if (isWord(toks[i], 'unique')) i++;
  if (!isWord(toks[i++], 'index')) return null;
  if (isWord(toks[i], 'concurrently')) i++;
  if (isWord(toks[i], 'if')) i += 3;
  const name = toks[i];
  if (!name || name.t !== 'id') return null;
  i++;
  if (!isWord(toks[i++], 'on')) return null;
  if (isWord(toks[i], 'only')) i++;
  const table = readName(toks, i, schema);
  if (!table) return null;
  return { index: `${table.q.schema}.${name.v}`, table: tableKey(table.q) };
}

export interface ForeignKey {
  name: string;
  table: string;
  columns: string[];
  references: string;
  refColumns: string[];
  /** ON DELETE action: NO ACTION unless the constraint says otherwise */
  onDelete: string;
}

/** `ALTER TABLE [ONLY] t ADD CONSTRAINT n FOREIGN KEY (a) REFERENCES r(b) [ON DELETE …] …` */
export function parseForeignKey(sql: string, schema = 'public'): ForeignKey | null {
  const toks = tokenize(sql);
  if (!isWord(toks[0], 'alter') || !isWord(toks[1], 'table')) return null;
  let i = isWord(toks[2], 'only') ? 3 : 2;
  const t = readName(toks, i, schema);
  if (!t) return null;
  i = t.next;
  if (!isWord(toks[i], 'add') || !isWord(toks[i + 1], 'constraint') || toks[i + 2]?.t !== 'id') return null;
  const name = (toks[i + 2] as { v: string }).v;
  i += 3;
  if (!isWord(toks[i], 'foreign') || !isWord(toks[i + 1], 'key') || !isOp(toks[i + 2], '(')) return null;
  const cols = splitParenList(toks, i + 2);
  i = cols.close + 1;
  if (!isWord(toks[i], 'references')) return null;
  const r = readName(toks, i + 1, schema);
  if (!r) return null;
  i = r.next;
  let refColumns: string[] = [];
  if (isOp(toks[i], '(')) {
    const rc = splitParenList(toks, i);
    refColumns = rc.items.map((it) => (it[0] as { v: string }).v);
    i = rc.close + 1;
  }
  let onDelete = 'no action';
  for (let k = i; k < toks.length; k++) {
    if (isWord(toks[k], 'on') && isWord(toks[k + 1], 'delete')) {
      const w = [toks[k + 2], toks[k + 3]].filter((x) => x?.t === 'id').map((x) => (x as { v: string }).v);
      onDelete = w[0] === 'set' || w[0] === 'no' ? w.join(' ') : (w[0] ?? onDelete);
    }
  }
  const names = (items: Token[][]) => items.map((it) => (it[0] as { v: string }).v);
  return { name, table: tableKey(t.q), columns: names(cols.items), references: tableKey(r.q), refColumns, onDelete };
}

/** `ALTER TABLE [ONLY] parent ATTACH PARTITION child …` → { parent, child } */
export function parseAttachPartition(sql: string, schema = 'public'): { parent: string; child: string } | null {
  const toks = tokenize(sql);
  let i = 0;
  if (!isWord(toks[i++], 'alter') || !isWord(toks[i++], 'table')) return null;
  if (isWord(toks[i], 'only')) i++;
  const parent = readName(toks, i, schema);
  if (!parent) return null;
  i = parent.next;
  if (!isWord(toks[i], 'attach') || !isWord(toks[i + 1], 'partition')) return null;
  const child = readName(toks, i + 2, schema);
  if (!child) return null;
  return { parent: tableKey(parent.q), child: tableKey(child.q) };
}

export interface CopyHeader extends QualifiedName {
  /** null when the statement has no column list (then the table's column order applies) */
  columns: string[] | null;
  fromStdin: boolean;
  /** no options after `stdin`: the default text format, tab-delimited */
  textFormat: boolean;
}

/** Parses `COPY name [(cols)] FROM stdin;`; null if the text is not a COPY statement. */
export function parseCopyHeader(sql: string, schema = 'public'): CopyHeader | null {
  const toks = tokenize(sql);
  if (!isWord(toks[0], 'copy')) return null;
  const nm = readName(toks, 1, schema);
  if (!nm) return null;
  let i = nm.next;
  let columns: string[] | null = null;
  if (isOp(toks[i], '(')) {
    const { items, close } = splitParenList(toks, i);
    columns = items.map((it) => {
      if (it.length !== 1 || it[0]!.t !== 'id') throw new AnonymiseError('BAD_INPUT', 'cannot read the column list of this COPY');
      return (it[0] as { v: string }).v;
    });
    i = close + 1;
  }
  const fromStdin = isWord(toks[i], 'from') && isWord(toks[i + 1], 'stdin');
  const textFormat = fromStdin && (toks.length === i + 2 || (toks.length === i + 3 && isOp(toks[i + 2], ';')));
  return { ...nm.q, columns, fromStdin, textFormat };
}

/** `SET name = value;` → [name, value] with the value unquoted; null otherwise. */
export function parseSet(sql: string): [string, string] | null {
  const m = /^\s*SET\s+([a-z_]+)\s*(?:=|TO)\s*'?([^';]*)'?\s*;\s*$/i.exec(sql);
  return m ? [m[1]!.toLowerCase(), m[2]!.trim()] : null;
}

/**
 * CREATE DOMAIN name AS type [COLLATE c] [DEFAULT e] [[CONSTRAINT n] NOT NULL | NULL | CHECK (e)]…: the
 * domain and its base type as written (a domain over a domain resolves through the schema model), and
 * its CHECK expressions' text. Null for anything else.
 */
export function parseDomain(sql: string, schema = 'public'): { key: string; base: string; checks: string[] } | null {
  const toks = tokenize(sql);
  if (!isWord(toks[0], 'create') || !isWord(toks[1], 'domain')) return null;
  const nm = readName(toks, 2, schema);
  if (!nm || !isWord(toks[nm.next], 'as')) return null;
  const start = nm.next + 1;
  let end = start;
  let depth = 0;
  const clause = (t: Token | undefined) => ['collate', 'default', 'constraint', 'not', 'null', 'check'].some((w) => isWord(t, w));
  while (end < toks.length && !(depth === 0 && (clause(toks[end]) || isOp(toks[end], ';')))) {
    if (isOp(toks[end], '(') || isOp(toks[end], '[')) depth++;
    else if (isOp(toks[end], ')') || isOp(toks[end], ']')) depth--;
    end++;
  }
  if (end === start) return null;
  const checks: string[] = [];
  for (let i = end; i < toks.length; i++) {
    if (!isWord(toks[i], 'check') || !isOp(toks[i + 1], '(')) continue;
    const list = splitParenList(toks, i + 1);
    checks.push(sql.slice(toks[i + 1]!.at, toks[list.close]!.end));
    i = list.close;
  }
  return { key: tableKey(nm.q), base: sql.slice(toks[start]!.at, toks[end - 1]!.end), checks };
}
