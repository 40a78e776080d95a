/**
 * Turns rules data into per-table plans: for each column of a COPY header, either "keep" (its bytes
 * are copied untouched) or a function from the row to the new value. Checking a table against the
 * rules happens here, once per table, before its first row.
 */
import { AnonymiseError } from '../errors.js';
import type { FakeFn } from '../pseudonym/fake.js';
import { DETECTOR_NAMES, compileScrubber } from '../pseudonym/detectors.js';
import type { SipHash } from '../pseudonym/siphash.js';
import type { LiteralPolicy, OutsidePolicy, TableExposure } from '../contract/outside-policy.js';
import { ruleKind } from './kinds/registry.js';
import { fakerOf, type CompileEnv, type ValueFn } from './kinds/kind.js';
import type { ColumnAction, ColumnType, EngineRules, Gap, RowAccess, RowFilter, TablePlan } from '../contract/plan.js';
import { KeyRing } from '../pseudonym/keys.js';
import { applyText } from './json-rewrite.js';
import { JsonBytesRewrite } from './json-bytes-rewrite.js';
import { ByteDraft, type RangeText } from '../text/byte-draft.js';
import { isPresetFile, rulesForDatabase } from './rules-file.js';
import { closest, shown } from './syntax.js';
import { tableRuleProblems } from './unused-rules.js';
import { type ColumnRule, type Filter, type RulesData, type TableRule, type UnknownPolicy } from '../contract/rules-model.js';


/**
 * Whether a row matches a filter (drop_where, keep_where, when): every listed column's original text
 * is one of its values (as Django's filter(a=…, b=…)); null matches NULL; true/false match t/f.
 */
export function matcher(f: Filter, index: Map<string, number>, formOf?: (column: string) => ((text: string) => string) | null): (row: RowAccess) => boolean {
  const conds = [...f].map(([col, values]) => {
    // a column compared by its type (citext in any case, numeric by value), as PostgreSQL's WHERE would
    const form = formOf?.(col) ?? null;
    const texts = values.filter((v): v is string => v !== null);
    return { col: index.get(col)!, form, values: new Set(form ? texts.map(form) : texts), nullMatches: values.includes(null) };
  });
  return (row) =>
    conds.every(({ col, form, values, nullMatches }) => {
      const v = row.text(col);
      if (v === null) return nullMatches;
      if (values.has(form ? form(v) : v)) return true;
      // booleans: COPY writes t/f, INSERTs true/false; a rule may say either
      return BOOL_ALIASES[v] !== undefined && values.has(BOOL_ALIASES[v]!);
    });
}



export class CompiledRules implements EngineRules {
  readonly unknown: UnknownPolicy;
  private readonly exact = new Map<string, { pattern: string; rule: TableRule }>();
  private readonly globs: { pattern: string; re: RegExp; literal: number; order: number; rule: TableRule }[] = [];
  private readonly fakes = new Map<string, FakeFn>();
  private readonly used = new Set<string>();

  /**
   * The key these rules were compiled with, for worker threads that compile them again: their
   * pseudonyms are this thread's, also when no key was given (a random one).
   */
  keyForWorkers(): Uint8Array {
    return this.keys.copyForWorker();
  }

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

  /**
   * For a table the dump does not define (a --data-only dump says nothing of partitions): a table with
   * an exact rule that is not `keep`, whose name the table's extends (`measure` → `measure_uk`,
   * `log` → `log_2016`), when only a glob or the `unknown` policy would govern the table. Such a table
   * may be that one's partition, whose rule must govern it: the engine cannot tell, so it stops.
   */
  possibleParent(table: string, parentOf: (t: string) => string | undefined): string | null {
    if (this.exact.has(table) || parentOf(table)) return null;
    const dot = table.indexOf('.');
    const schema = table.slice(0, dot + 1);
    const name = table.slice(dot + 1);
    for (const [key, { rule }] of this.exact) {
      if (!key.startsWith(schema) || rule.kind === 'keep') continue;
      const base = key.slice(schema.length);
      if (name.length > base.length && name.startsWith(base) && /[_0-9]/.test(name[base.length]!)) return key;
    }
    return null;
  }

  private readonly perDatabase = new Map<string, CompiledRules>();
  /** The rules after `\connect db` in a pg_dumpall dump. */
  forDatabase(db: string): CompiledRules {
    if (!this.data.databases.has(db)) return this;
    let r = this.perDatabase.get(db);
    if (!r) this.perDatabase.set(db, (r = new CompiledRules(rulesForDatabase(this.data, db), this.keys)));
    return r;
  }

  /**
   * Rules that change nothing anywhere: every table and column kept, and everything outside the rows
   * too. What scan and the leak check run the engine with, to observe the dump as it is.
   */
  static passthrough(): CompiledRules {
    return new CompiledRules(
      { unknown: 'keep', outside: { statistics: 'keep', comments: 'keep', literals: 'keep', roles: 'keep', objects: [] }, tables: new Map(), files: [], databases: new Map() },
      new KeyRing('passthrough'),
    );
  }

  /** What the rules write of a table, for its statistics (outside.ts). */
  exposure(table: string, parentOf: (t: string) => string | undefined): TableExposure {
    const r = this.resolve(table, parentOf);
    const unknownKeeps = this.unknown === 'keep';
    if (!r) return { rows: unknownKeeps ? 'all' : 'none', kept: () => unknownKeeps, allKept: unknownKeeps };
    const rule = r.rule;
    if (rule.kind === 'keep') return { rows: 'all', kept: () => true, allKept: true };
    if (rule.kind === 'drop') return { rows: 'none', kept: () => false, allKept: false };
    const star = rule.columns.get('*');
    return {
      rows: rule.dropWhere || rule.keepWhere ? 'some' : 'all',
      allKept: false,
      kept: (column) => {
        const cr = rule.columns.get(column) ?? star;
        return cr ? cr.kind === 'keep' : unknownKeeps;
      },
    };
  }

  /** the policy for what lies outside the rows */
  get outside(): OutsidePolicy {
    return this.data.outside;
  }

  /** `literals` as the file says, else as `unknown` implies. */
  get literals(): LiteralPolicy {
    return this.data.outside.literals ?? (this.unknown === 'fail' ? 'fail' : this.unknown === 'keep' ? 'keep' : 'scrub');
  }

  private outsideScrub: ((text: string) => string) | null = null;
  /** Every detector that can scrub, for comments and DDL literals. */
  scrubOutside(text: string): string {
    this.outsideScrub ??= compileScrubber(DETECTOR_NAMES, this.keys);
    return this.outsideScrub(text);
  }

  private roleSip: SipHash | null = null;
  /** `role_` and 12 hex digits of a keyed hash: the same role gets the same name in every statement and run. */
  rolePseudonym(name: string): string {
    this.roleSip ??= this.keys.sip('role-name');
    this.roleSip.hash(Buffer.from(name, 'utf8'));
    return `role_${(this.roleSip.hi >>> 0).toString(16).padStart(8, '0')}${(this.roleSip.lo >>> 16).toString(16).padStart(4, '0')}`;
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

  tableRuleProblems(tables: readonly string[]): { errors: AnonymiseError[]; unused: string[] } {
    return tableRuleProblems(this.data, tables);
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
    /** each column's declared type, where the dump says it: rules that compute values stay inside it */
    types?: readonly (ColumnType | null)[],
    /** every column the table has (generated ones too), where the dump says: a rule may name only these */
    defined?: readonly string[],
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
      if (cr.kind === 'date_shift' && cr.by !== undefined) checkRef(cr.by, `date_shift of ${table}.${name}`, cr.where);
      if (cr.kind === 'when') for (const b of cr.branches) for (const col of b.if.keys()) checkRef(col, `a when of ${table}.${name}`, cr.where);
    }
    for (const f of [rule.dropWhere, rule.keepWhere]) if (f) for (const col of f.keys()) checkRef(col, `a row filter of ${table}`, rule.where);
    // a column this table does not have, named in the user's own rule for this very table, is a typo:
    // `emial` beside "*": keep would let the real column through under another rule (presets name
    // columns a site may not have, and a glob's columns need not be in every table it matches)
    const known = defined ?? columns;
    if (known.length > 0 && !/[*?]/.test(r.pattern))
      for (const [name, cr] of rule.columns) {
        if (name === '*' || known.includes(name) || generated?.has(name) || isPresetFile(cr.where.file)) continue;
        const near = closest(name, known);
        throw new AnonymiseError('RULES', `column ${shown(name)} of ${table}: the table has no such column${near ? ` (did you mean ${near}?)` : ''}`, cr.where);
      }
    const star = rule.columns.get('*');
    const actions: (ColumnAction | null)[] = columns.map((col, i) => {
      if (generated?.has(col)) return null;
      const cr = rule.columns.get(col) ?? star;
      if (!cr) {
        if (this.unknown === 'keep') return null;
        if (this.unknown === 'null') return () => null;
        throw new AnonymiseError('UNCLASSIFIED', 'column is not classified by the rules (unknown: fail)', { line, table, column: col });
      }
      return this.columnAction(cr, index, [table, col], types?.[i] ?? null);
    });
    const filter = this.filter(rule.dropWhere, rule.keepWhere, index);
    if (!filter && actions.every((a) => a === null)) return { mode: 'keep', rule: r.pattern };
    return { mode: 'rewrite', rule: r.pattern, columns, actions, filter };
  }

  private filter(dropWhere: Filter | undefined, keepWhere: Filter | undefined, index: Map<string, number>): RowFilter | null {
    if (!dropWhere && !keepWhere) return null;
    const drop = dropWhere ? matcher(dropWhere, index) : null;
    const keepOnly = keepWhere ? matcher(keepWhere, index) : null;
    return {
      columns: [...(dropWhere?.keys() ?? []), ...(keepWhere?.keys() ?? [])].map((c) => index.get(c)!),
      keep: (row) => !(drop && drop(row)) && !(keepOnly && !keepOnly(row)),
    };
  }

  private fakeFn(cr: Extract<ColumnRule, { kind: 'fake' }>): FakeFn {
    const id = `${cr.method}\0${cr.locale}\0${cr.unique}`;
    let fn = this.fakes.get(id);
    if (!fn) {
      const faker = fakerOf(this.data);
      if (!faker) throw new Error('faker was not loaded for a fake rule');
      fn = faker.compileFake({ method: cr.method, unique: cr.unique, locale: cr.locale }, this.keys);
      this.fakes.set(id, fn);
    }
    return fn;
  }

  private hashFn(length: number): RangeText {
    // 16 hex digits per keyed SipHash; one HMAC-SHA256 per value cost ~5 µs, four SipHashes ~0.4 µs
    const sips = Array.from({ length: Math.ceil(length / 16) }, (_, i) => this.keys.sip(`hash\0${String.fromCharCode(0x61 + i)}`));
    // the digits written into bytes, read as one string or copied as they are: eight concatenations of
    // pieces of hex a SipHash made a string per piece left a tree of them to flatten when written (~0.5 µs at 64)
    const into = (d: ByteDraft, buf: Uint8Array, start: number, end: number) => {
      d.reset();
      for (const sip of sips) {
        sip.hash(buf, start, end);
        d.hex32(sip.hi);
        d.hex32(sip.lo);
      }
      d.len = length;
    };
    const d = new ByteDraft();
    const fn: RangeText = (buf, start = 0, end = buf.length) => {
      into(d, buf, start, end);
      return d.text();
    };
    fn.draft = { ready: () => true, into, plain: true };
    return fn;
  }

  /** A column's action. */
  /** What a kind's compiled form may use (kinds/kind.ts). */
  private env(index: Map<string, number>, path: string[], columnType: ColumnType | null = null): CompileEnv {
    return {
      columnType,
      keys: this.keys,
      data: this.data,
      index,
      path,
      unknown: this.unknown,
      fakeFn: (r) => this.fakeFn(r),
      hashFn: (n) => this.hashFn(n),
      valueFn: (r, p) => this.valueFn(r, index, p),
      columnAction: (r) => this.columnAction(r, index, path, columnType),
      matcher: (f) => matcher(f, index),
    };
  }

  /** A column's action: the kind's own where it has one, else its value function over decoded text. */
  private columnAction(cr: ColumnRule, index: Map<string, number>, path: string[], columnType: ColumnType | null = null): ColumnAction | null {
    const kind = ruleKind(cr);
    const env = this.env(index, path, columnType);
    if (kind.column) return kind.column(cr, env);
    const vf = kind.compile(cr, env);
    if (vf.kind !== 'text' && vf.kind !== 'json') throw new Error(`rule kind ${cr.kind} compiles to no text function`);
    const ofBytes = vf.kind === 'text' ? vf.bytes : undefined;
    // fakes and hashes read the value's UTF-8 bytes: the row's bytes as they are, not a string encoded again
    const action: ColumnAction = ofBytes
      ? (row, col) => {
          const src = row.span?.(col);
          if (src) return ofBytes(src, row.spanStart!, row.spanEnd!, row);
          const b = row.bytes(col);
          if (b === null) return cr.nulls === 'replace' ? applyText(vf, '', row, path) : null;
          return ofBytes(b, 0, b.length, row);
        }
      : (row, col) => {
          const t = row.text(col);
          if (t === null && cr.nulls !== 'replace') return null;
          return applyText(vf, t ?? '', row, path);
        };
    if (vf.kind === 'text' && vf.leaves) {
      // a field that is its own COPY text (a span), and that the rule surely leaves as it is: its bytes
      // as they are, undecoded; any other by the text function
      const leaves = vf.leaves;
      action.bytes = (row, col) => {
        const src = row.span?.(col);
        return src && leaves(src, row.spanStart!, row.spanEnd!) ? src.subarray(row.spanStart, row.spanEnd) : undefined;
      };
      action.bytesAsCopy = () => true;
    }
    if (vf.kind === 'json') {
      // the document's bytes walked as they are; anything else (an error to name, NULL replaced) by the text walk
      const walk = new JsonBytesRewrite(vf.trie);
      // the document's bytes were the field's as they are, and the walk wrote no escape of its own: the
      // result is its own COPY text (no field holds a raw tab, newline or carriage return; a raw
      // backspace, form feed or vertical tab, which pg_dump never writes, COPY reads as it is)
      let asCopy = false;
      action.bytes = (row, col) => {
        asCopy = false;
        // the document where it lies in the row when it can (no view, no check of its own), else its bytes
        const src = row.span?.(col);
        let out: Buffer | null;
        if (src) out = walk.apply(src, row, row.spanStart, row.spanEnd, true);
        else {
          const b = row.bytes(col);
          if (b === null) return cr.nulls === 'replace' ? undefined : null;
          out = walk.apply(b, row);
        }
        if (out === null) return undefined;
        // a span is a COPY field as it is
        asCopy = walk.wroteNoEscape && (Boolean(src) || row.asIs?.(col) === true);
        return out;
      };
      action.bytesAsCopy = () => asCopy;
    }
    return action;
  }

  private valueFn(cr: ColumnRule, index: Map<string, number>, path: string[]): ValueFn {
    return ruleKind(cr).compile(cr, this.env(index, path));
  }
}


const BOOL_ALIASES: Record<string, string> = { t: 'true', true: 't', f: 'false', false: 'f' };
