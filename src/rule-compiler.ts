/**
 * Turns rules data into per-table plans: for each column of a COPY header, either "keep" (its bytes
 * are copied untouched) or a function from the row to the new value. Checking a table against the
 * rules happens here, once per table, before its first row.
 */
import { createHmac } from 'node:crypto';
import { AnonymiseError } from './errors.js';
import type { FakeFn } from './fake.js';
import { compileScrubber } from './detectors.js';
import { KeyRing } from './keys.js';
import { parseJson, writeJson, JsonSyntaxError, type JsonValue } from './json-text.js';
import { isPresetFile, rulesForDatabase, type ColumnRule, type Filter, type RulesData, type TableRule, type UnknownPolicy } from './rules-file.js';

/** What a rule may read of the current row. Values are never logged. */
export interface RowAccess {
  /** original value as UTF-8 bytes, or null for NULL */
  bytes(col: number): Buffer | null;
  /** original value as text, or null for NULL */
  text(col: number): string | null;
  /** the value this row will carry in the output (after its rule) */
  output(col: number): string | null;
}

export type ColumnAction = (row: RowAccess, col: number) => string | null;

export interface RowFilter {
  /** columns read by the filter */
  columns: number[];
  /** true when the row is written */
  keep(row: RowAccess): boolean;
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
    };

export interface Gap {
  table: string;
  column?: string;
}

/** A redacted JSON path for messages: keys that look like identifiers are shown, others are not. */
function showPath(path: string[]): string {
  return path.map((k) => (/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/.test(k) ? k : '<key>')).join('.');
}

interface JsonTrie {
  leaf?: ValueFn;
  star?: ValueFn;
  children: Map<string, JsonTrie>;
}

/** A transform of one scalar text value (json leaves, scrub). */
type ValueFn = { kind: 'keep' } | { kind: 'null' } | { kind: 'const'; value: string | null } | { kind: 'text'; fn: (s: string, row: RowAccess) => string; nulls: 'keep' | 'replace' } | { kind: 'json'; trie: JsonTrie } | { kind: 'fail' };

export class CompiledRules {
  readonly unknown: UnknownPolicy;
  private readonly exact = new Map<string, { pattern: string; rule: TableRule }>();
  private readonly globs: { pattern: string; re: RegExp; literal: number; order: number; rule: TableRule }[] = [];
  private readonly fakes = new Map<string, FakeFn>();
  private readonly used = new Set<string>();

  constructor(
    readonly data: RulesData,
    private readonly keys: KeyRing,
  ) {
    this.unknown = data.unknown;
    let order = 0;
    for (const [pattern, rule] of data.tables) {
      if (/[*?]/.test(pattern)) {
        const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
        this.globs.push({ pattern, re, literal: pattern.replace(/[*?]/g, '').length, order: order++, rule });
      } else this.exact.set(pattern, { pattern, rule });
    }
    // most specific glob first; among equals, the later definition wins
    this.globs.sort((a, b) => b.literal - a.literal || b.order - a.order);
  }

  /**
   * The rule for a table: its own, else its partition parent's (so a broad glob can never unmask a
   * partition of a rewritten table), else the most specific glob.
   */
  resolve(table: string, parentOf: (t: string) => string | undefined, depth = 0): { pattern: string; rule: TableRule } | undefined {
    const own = this.exact.get(table);
    if (own) return own;
    const parent = depth < 32 ? parentOf(table) : undefined;
    if (parent) {
      const p = this.resolve(parent, parentOf, depth + 1);
      if (p) return p;
    }
    return this.globs.find((g) => g.re.test(table));
  }

  private readonly perDatabase = new Map<string, CompiledRules>();
  /** The rules after `\connect db` in a pg_dumpall dump. */
  forDatabase(db: string): CompiledRules {
    if (!this.data.databases.has(db)) return this;
    let r = this.perDatabase.get(db);
    if (!r) this.perDatabase.set(db, (r = new CompiledRules(rulesForDatabase(this.data, db), this.keys)));
    return r;
  }

  /** The rules' column_order for a table, if any. */
  columnOrder(table: string, parentOf: (t: string) => string | undefined): string[] | null {
    const r = this.resolve(table, parentOf);
    return r?.rule.kind === 'columns' ? (r.rule.columnOrder ?? null) : null;
  }

  /** Every table or column that no rule classifies (under any policy; the caller decides). */
  gaps(table: string, columns: string[], parentOf: (t: string) => string | undefined): Gap[] {
    const r = this.resolve(table, parentOf);
    if (!r) return [{ table }];
    const rule = r.rule;
    if (rule.kind !== 'columns' || rule.columns.has('*')) return [];
    return columns.filter((c) => !rule.columns.has(c)).map((column) => ({ table, column }));
  }

  /** Patterns of the user's own files that matched no table, for `check`'s "names nothing" warnings. */
  unusedPatterns(): string[] {
    return [...this.data.tables].filter(([p, rule]) => !this.used.has(p) && !isPresetFile(rule.where.file)).map(([p]) => p);
  }

  markUsed(table: string, parentOf: (t: string) => string | undefined): void {
    const r = this.resolve(table, parentOf);
    if (r) this.used.add(r.pattern);
  }

  /**
   * The plan for one table's data. Throws UNCLASSIFIED when `unknown: fail` leaves something
   * unclassified, and RULES (exit 2) when a rule names a column the table lacks.
   */
  plan(
    table: string,
    columns: string[],
    parentOf: (t: string) => string | undefined,
    line?: number,
    /** columns whose values the dump writes as DEFAULT (generated ones in --inserts): kept, need no rule */
    generated?: ReadonlySet<string>,
  ): TablePlan {
    const r = this.resolve(table, parentOf);
    if (r) this.used.add(r.pattern);
    if (!r) {
      if (this.unknown === 'keep') return { mode: 'keep', rule: '(unknown: keep)' };
      if (this.unknown === 'null') return { mode: 'drop', rule: '(unknown: null)' };
      throw new AnonymiseError('UNCLASSIFIED', 'table is not classified by the rules (unknown: fail)', { line, table });
    }
    const rule = r.rule;
    if (rule.kind === 'keep') return { mode: 'keep', rule: r.pattern };
    if (rule.kind === 'drop') return { mode: 'drop', rule: r.pattern };
    const index = new Map(columns.map((c, i) => [c, i]));
    // a template or filter may name only columns the table has
    const checkRef = (col: string, what: string, where: { file: string; line: number }) => {
      if (!index.has(col))
        throw new AnonymiseError('RULES', `${what} names column ${col}, which table ${table} does not have`, where);
    };
    for (const [name, cr] of rule.columns) {
      if (cr.kind === 'template') for (const p of cr.parts) if (typeof p !== 'string') checkRef(p.ref, `template of ${table}.${name}`, cr.where);
    }
    for (const f of [rule.dropWhere, rule.keepWhere]) if (f) for (const col of f.keys()) checkRef(col, `a row filter of ${table}`, rule.where);
    const star = rule.columns.get('*');
    const actions: (ColumnAction | null)[] = columns.map((col) => {
      if (generated?.has(col)) return null;
      const cr = rule.columns.get(col) ?? star;
      if (!cr) {
        if (this.unknown === 'keep') return null;
        if (this.unknown === 'null') return () => null;
        throw new AnonymiseError('UNCLASSIFIED', 'column is not classified by the rules (unknown: fail)', { line, table, column: col });
      }
      return this.columnAction(cr, index, [table, col]);
    });
    const filter = this.filter(rule.dropWhere, rule.keepWhere, index);
    if (!filter && actions.every((a) => a === null)) return { mode: 'keep', rule: r.pattern };
    return { mode: 'rewrite', rule: r.pattern, columns, actions, filter };
  }

  private filter(dropWhere: Filter | undefined, keepWhere: Filter | undefined, index: Map<string, number>): RowFilter | null {
    if (!dropWhere && !keepWhere) return null;
    const compile = (f: Filter) =>
      [...f].map(([col, values]) => ({ col: index.get(col)!, values: new Set(values.filter((v) => v !== null)), nullMatches: values.includes(null) }));
    // all listed columns must match (as Django's filter(a=…, b=…))
    const matches = (conds: ReturnType<typeof compile>, row: RowAccess) =>
      conds.every(({ col, values, nullMatches }) => {
        const v = row.text(col);
        if (v === null) return nullMatches;
        if (values.has(v)) return true;
        // booleans: COPY writes t/f, INSERTs true/false; a rule may say either
        return BOOL_ALIASES[v] !== undefined && values.has(BOOL_ALIASES[v]!);
      });
    const drop = dropWhere ? compile(dropWhere) : null;
    const keepOnly = keepWhere ? compile(keepWhere) : null;
    return {
      columns: [...(drop ?? []), ...(keepOnly ?? [])].map((c) => c.col),
      keep: (row) => !(drop && matches(drop, row)) && !(keepOnly && !matches(keepOnly, row)),
    };
  }

  private fakeFn(cr: Extract<ColumnRule, { kind: 'fake' }>): FakeFn {
    const id = `${cr.method}\0${cr.locale}\0${cr.unique}`;
    let fn = this.fakes.get(id);
    if (!fn) {
      if (!this.data.fake) throw new Error('faker was not loaded for a fake rule');
      fn = this.data.fake.compileFake({ method: cr.method, unique: cr.unique, locale: cr.locale }, this.keys);
      this.fakes.set(id, fn);
    }
    return fn;
  }

  private hashFn(length: number): (b: Buffer) => string {
    const key = this.keys.derive('hash');
    if (length <= 32) {
      const a = this.keys.sip('hash\0a');
      const b = this.keys.sip('hash\0b');
      return (buf) => {
        a.hash(buf);
        b.hash(buf);
        const s = hex8(a.hi) + hex8(a.lo) + hex8(b.hi) + hex8(b.lo);
        return s.slice(0, length);
      };
    }
    return (buf) => createHmac('sha256', key).update(buf).digest('hex').slice(0, length);
  }

  /** A column's action. */
  private columnAction(cr: ColumnRule, index: Map<string, number>, path: string[]): ColumnAction | null {
    switch (cr.kind) {
      case 'keep': return null;
      case 'null': return () => null;
      case 'value': { const v = cr.value; return () => v; }
      case 'template': {
        const parts = cr.parts.map((p) => (typeof p === 'string' ? p : index.get(p.ref)!));
        return (row) => {
          let s = '';
          for (const p of parts) s += typeof p === 'string' ? p : row.output(p) ?? '';
          return s;
        };
      }
      case 'fake': {
        const fn = this.fakeFn(cr);
        const replaceNull = cr.nulls === 'replace';
        const NULL_INPUT = Buffer.from('\0NULL');
        return (row, col) => {
          const b = row.bytes(col);
          if (b === null) return replaceNull ? fn(NULL_INPUT) : null;
          return b.length === 0 ? '' : fn(b);
        };
      }
      case 'hash': {
        const fn = this.hashFn(cr.length);
        const replaceNull = cr.nulls === 'replace';
        return (row, col) => {
          const b = row.bytes(col);
          if (b === null) return replaceNull ? fn(Buffer.alloc(0)) : null;
          return b.length === 0 ? '' : fn(b);
        };
      }
      default: {
        const vf = this.valueFn(cr, index, path);
        if (vf.kind !== 'text' && vf.kind !== 'json') throw new Error('unreachable');
        return (row, col) => {
          const t = row.text(col);
          if (t === null && cr.nulls !== 'replace') return null;
          return applyText(vf, t ?? '', row, path);
        };
      }
    }
  }

  /** The transform for a scalar text value (used for json leaves and text-only rules). */
  private valueFn(cr: ColumnRule, index: Map<string, number>, path: string[]): ValueFn {
    switch (cr.kind) {
      case 'keep': return { kind: 'keep' };
      case 'null': return { kind: 'null' };
      case 'value': return { kind: 'const', value: cr.value };
      case 'template': {
        const action = this.columnAction(cr, index, path)!;
        return { kind: 'text', fn: (_s, row) => action(row, -1) ?? '', nulls: 'replace' };
      }
      case 'fake': {
        const fn = this.fakeFn(cr);
        return { kind: 'text', fn: (s) => (s === '' ? '' : fn(Buffer.from(s, 'utf8'))), nulls: cr.nulls };
      }
      case 'hash': {
        const fn = this.hashFn(cr.length);
        return { kind: 'text', fn: (s) => (s === '' ? '' : fn(Buffer.from(s, 'utf8'))), nulls: cr.nulls };
      }
      case 'mask': {
        const { keepStart, keepEnd, char } = cr;
        return {
          kind: 'text',
          nulls: cr.nulls,
          fn: (s) => {
            const cps = [...s];
            // too short to keep both ends without revealing it all: mask everything
            if (cps.length <= keepStart + keepEnd) return char.repeat(cps.length);
            return cps.slice(0, keepStart).join('') + char.repeat(cps.length - keepStart - keepEnd) + cps.slice(cps.length - keepEnd).join('');
          },
        };
      }
      case 'scrub': {
        const fn = compileScrubber(cr.detectors, this.keys);
        return { kind: 'text', fn: (s) => fn(s), nulls: cr.nulls };
      }
      case 'json': {
        const root: JsonTrie = { children: new Map() };
        for (const [key, sub] of cr.keys) {
          const segs = key === '*' ? [] : key.split('.');
          let node = root;
          const last = segs.pop();
          for (const seg of segs) {
            let next = node.children.get(seg);
            if (!next) node.children.set(seg, (next = { children: new Map() }));
            node = next;
          }
          const fn = this.valueFn(sub, index, [...path, key]);
          if (last === undefined || last === '*') node.star = fn;
          else {
            let leafNode = node.children.get(last);
            if (!leafNode) node.children.set(last, (leafNode = { children: new Map() }));
            leafNode.leaf = fn;
          }
        }
        if (!root.star) root.star = this.unknown === 'keep' ? { kind: 'keep' } : this.unknown === 'null' ? { kind: 'null' } : { kind: 'fail' };
        return { kind: 'json', trie: root };
      }
    }
  }
}

const BOOL_ALIASES: Record<string, string> = { t: 'true', true: 't', f: 'false', false: 'f' };

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

function applyText(vf: ValueFn, text: string, row: RowAccess, path: string[]): string | null {
  if (vf.kind === 'text') return vf.fn(text, row);
  if (vf.kind !== 'json') throw new Error('unreachable');
  let doc: JsonValue;
  try {
    doc = parseJson(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw new AnonymiseError('BAD_INPUT', `a json rule met a value that is not JSON (${e.message})`, { table: path[0], column: path[1] });
    throw e;
  }
  const out = visit(doc, vf.trie, vf.trie.star!, row, path);
  return writeJson(out);
}

function scalarText(v: JsonValue): string | null {
  switch (v.t) {
    case 'str': return v.v;
    case 'num': return v.raw;
    case 'bool': return v.v ? 'true' : 'false';
    default: return null;
  }
}

/** Applies a leaf rule to a JSON value: every scalar under it. */
function applyLeaf(fn: ValueFn, v: JsonValue, row: RowAccess, path: string[]): JsonValue {
  switch (fn.kind) {
    case 'keep': return v;
    case 'null': return { t: 'null' };
    case 'const': return fn.value === null ? { t: 'null' } : { t: 'str', v: fn.value };
    case 'fail':
      // path: table, column, then the JSON keys
      throw new AnonymiseError('UNCLASSIFIED', `json key ${showPath(path.slice(2))} is not classified by the rules (unknown: fail; name it or add "*")`, {
        table: path[0],
        column: path[1],
      });
    case 'json':
      return visit(v, fn.trie, fn.trie.star ?? { kind: 'fail' }, row, path);
    case 'text': {
      if (v.t === 'obj') return { t: 'obj', entries: v.entries.map(([k, x]) => [k, applyLeaf(fn, x, row, [...path, k])]) };
      if (v.t === 'arr') return { t: 'arr', items: v.items.map((x) => applyLeaf(fn, x, row, path)) };
      const s = scalarText(v);
      if (s === null) return fn.nulls === 'replace' ? { t: 'str', v: fn.fn('', row) } : v;
      return { t: 'str', v: fn.fn(s, row) };
    }
  }
}

function visit(v: JsonValue, node: JsonTrie, inherited: ValueFn, row: RowAccess, path: string[]): JsonValue {
  const dflt = node.star ?? inherited;
  if (node.leaf) return applyLeaf(node.leaf, v, row, path);
  if (v.t === 'arr') return { t: 'arr', items: v.items.map((x) => visit(x, node, inherited, row, path)) };
  if (v.t !== 'obj') return applyLeaf(dflt, v, row, path);
  return {
    t: 'obj',
    entries: v.entries.map(([k, x]) => {
      const child = node.children.get(k);
      return [k, child ? visit(x, child, dflt, row, [...path, k]) : applyLeaf(dflt, x, row, [...path, k])];
    }),
  };
}
