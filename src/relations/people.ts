/**
 * A person's rows in a dump — those a condition matches, and those that refer to them through the
 * dump's references, transitively — found in passes over the file: the first learns the schema (its
 * foreign keys come after the data) and the matching rows; each next one reads only the tables that
 * refer to rows found since they were last read, until none is found. Then one last pass (forget's
 * output, find's counts) decides every row with what the passes found.
 *
 * What is kept between passes is small: the keys of the rows found (key-set.ts), the matching rows
 * themselves, and the identifiers taken from them (their unique and personal values).
 */
import { inflateSync } from 'node:zlib';
import { AnonymiseError } from '../errors.js';
import { DumpRewriter, type PlanOverlay } from '../dump/rewriter.js';
import type { DumpObserver } from '../dump/observer.js';
import type { SchemaModel } from '../dump/schema-model.js';
import { DataIndex, runPass, type PassSource } from './passes.js';
import type { CompiledRules } from '../rules/rule-compiler.js';
import type { RowAccess, TablePlan } from '../contract/plan.js';
import type { RelationRule } from '../contract/rules-model.js';
import type { SipHash } from '../pseudonym/siphash.js';
import { KeySet, rowKey, DEFAULT_KEY_MEMORY } from './key-set.js';
import { contentTypeTable, djangoSessionUserId, relationsOf, type Relation } from './graph.js';
import { NeedleSearch, byteForms, identifiers, type Identifiers } from './needles.js';

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

export type { PassSource } from './passes.js';

export type PeopleMode = 'find' | 'forget';

export interface PeopleOptions {
  conditions: Condition[];
  /** the rules' `relations:` */
  relations?: ReadonlyMap<string, RelationRule>;
  /** the rules, when given: a column they rewrite holds personal data (its values are identifiers when distinctive) */
  rules?: CompiledRules;
  /** forget: references nothing decides (NO ACTION, RESTRICT) remove the rows that use them */
  cascade?: boolean;
  /** keys the identifiers' replacements */
  sip: SipHash;
  /** memory for one set of row keys before it spills to disk (key-set.ts) */
  maxKeyBytes?: number;
  /** called before each pass (progress) */
  onPass?: (n: number, tables: number | 'all') => void;
}

interface Group {
  table: string;
  columns: string[];
  keys: KeySet;
  /** the keys themselves while they are few (the last pass looks for them in rows as text); null past that */
  texts: Set<string> | null;
  version: number;
}

/** Keys of a group, and condition values of a table, looked for in rows as text up to this many. */
const FEW_KEYS = 64;

interface Outgoing {
  rel: Relation;
  cols: number[];
  /** the referenced rows' keys; null for a generic relation (the content type says which table) */
  group: Group | null;
  ctCol: number;
}

interface TableWork {
  table: string;
  columns: string[];
  /** conditions on this table (or its parent), by the column they read */
  seeds: { col: number; lookup: ColumnLookup }[];
  outgoing: Outgoing[];
  feeds: { group: Group; cols: number[] }[];
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
const NO_FATE: Fate = Object.freeze({ removed: false, seed: false, nulls: null, refs: Object.freeze([]) as unknown as Relation[] });

const CONTENT_TYPES = 'public.django_content_type';
const TEXT_TYPE = /^(text|character varying|varchar|character|char|bpchar|citext|json|jsonb|name|xml|tsvector)\b|\[\]$/i;
/** a password hash or a token names no one and appears nowhere else: not searched for */
const SECRET_NAME = /pass(word)?|secret|salt|hash/i;
const PERSONAL_NAME = /(^|_)(e?mail|email_?address|username|user_?name|login|phone|mobile|telephone|tel|msisdn)($|_)/i;

export class People {
  schema!: SchemaModel;
  relations: Relation[] = [];
  ids!: Identifiers;
  passes = 0;
  /** the rows the conditions matched, by table: every column's text (they are few; export and identifiers read them) */
  readonly seedRows = new Map<string, { columns: string[]; rows: (string | null)[][] }>();
  /** how many rows each condition matched */
  readonly matched = new Map<Condition, number>();
  private readonly groups = new Map<string, Group>();
  private readonly work = new Map<string, TableWork>();
  private readonly contentTypes = new Map<string, string>();
  private readonly seedConditions = new Map<string, Map<string, Condition[]>>();
  /** the same conditions, for lookup by value */
  private readonly lookups = new Map<string, ColumnLookup[]>();
  private readonly readVersions = new Map<string, Map<Group, number>>();
  /** relations whose hits stop forget, with why */
  readonly blocked = new Map<string, { rel: Relation; rows: number; why: string }>();
  private generic = false;
  private collectingBlocked = true;
  /** where the first pass found each table's rows */
  private readonly index = new DataIndex();

  constructor(
    readonly mode: PeopleMode,
    readonly source: PassSource,
    private readonly o: PeopleOptions,
  ) {
    for (const c of o.conditions) {
      let byCol = this.seedConditions.get(c.table);
      if (!byCol) this.seedConditions.set(c.table, (byCol = new Map()));
      const list = byCol.get(c.column) ?? [];
      list.push(c);
      byCol.set(c.column, list);
      this.matched.set(c, 0);
    }
    for (const [table, byCol] of this.seedConditions) this.lookups.set(table, [...byCol].map(([column, conds]) => columnLookup(column, conds)));
    this.generic = [...(o.relations?.values() ?? [])].some((r) => r.contentType);
  }

  /** The passes that find the person's rows. */
  async resolve(): Promise<void> {
    await this.firstPass();
    this.relations = relationsOf(this.schema, this.o.relations, this.o.cascade || this.mode === 'find');
    for (const rel of this.relations) if (rel.references) this.group(rel.references, rel.refColumns);
    // a generic relation refers to the tables the content types name
    if (this.generic)
      for (const t of new Set(this.contentTypes.values())) {
        const pk = this.schema.primaryKeys.get(t);
        if (pk) this.group(t, pk);
      }
    this.work.clear();
    // the matching rows, read in the first pass, are the first rows removed
    for (const [table, seed] of this.seedRows) {
      const w = this.workFor(table, seed.columns);
      for (const values of seed.rows) this.feed(w, { text: (c: number) => values[c] ?? null } as RowAccess);
    }
    for (;;) {
      const tables = this.tablesToRead();
      // rows nothing refers to (the admin log, sessions) change nothing else when removed: the last
      // pass judges them, and a pass of their own would only read them twice
      if ([...tables].every((t) => this.nothingRefersTo(t))) break;
      await this.pass(tables);
    }
    this.ids = identifiers(this.identifierValues(), this.o.sip);
  }

  /** Removes the key sets' temporary files. */
  close(): void {
    for (const g of this.groups.values()) g.keys.close();
  }

  /** Stops forget when a reference nothing decides refers to a removed row. */
  assertDecided(): void {
    const b = [...this.blocked.values()][0];
    if (!b) return;
    throw new AnonymiseError('UNSUPPORTED', `${b.why} (${b.rows} row${b.rows === 1 ? '' : 's'} of ${b.rel.table} refer to rows forget removes)`, { table: b.rel.table, column: b.rel.columns.join(', ') });
  }

  private async firstPass(): Promise<void> {
    const seen = new Set<string>();
    // the schema as the pass reads it: a partition's rows answer for conditions on its parent
    let live: SchemaModel | null = null;
    const seedTable = (t: string) => ancestorsIn(live, t).find((a) => this.seedConditions.has(a));
    // a table's condition values, when few, are looked for in the rows' bytes: only rows that hold one are read
    const fewValues = new Map<string, NeedleSearch | null>();
    for (const [table, byCol] of this.seedConditions) {
      const values = [...byCol.values()].flat().map((c) => c.value);
      fewValues.set(table, values.length <= FEW_KEYS && values.every((v) => v !== '' && !/[^\x00-\x7f]/.test(v)) ? this.searchFor(values.flatMap(byteForms)) : null);
    }
    const observer: DumpObserver = {
      wants: (t) => {
        const st = seedTable(t);
        return (st !== undefined && !fewValues.get(st)) || (this.generic && t === CONTENT_TYPES);
      },
      dataEnd: (t, offset) => this.index.dataEnd(t, offset),
      table: (e) => {
        if (e.database !== null) throw new AnonymiseError('UNSUPPORTED', 'find and forget read one database\'s dump (pg_dump), not a pg_dumpall cluster dump', { table: e.table });
        this.index.table(e);
        seen.add(e.table);
        const st = seedTable(e.table);
        if (st === undefined) return;
        if (!e.columns) throw new AnonymiseError('UNSUPPORTED', 'the dump does not say the columns of this table\'s rows', { table: e.table });
        for (const [col, conds] of this.seedConditions.get(st)!)
          if (!e.columns.includes(col)) throw new AnonymiseError('USAGE', `${conds[0]!.source}: table ${e.table} has no column ${col}`);
      },
      row: (table, columns, row) => {
        if (table === CONTENT_TYPES && this.generic) {
          const id = row.text(columns.indexOf('id'));
          const app = row.text(columns.indexOf('app_label'));
          const model = row.text(columns.indexOf('model'));
          if (id !== null && app !== null && model !== null) this.contentTypes.set(id, contentTypeTable(app, model));
        }
        const st = seedTable(table);
        if (st === undefined) return;
        let hits: Set<Condition> | null = null;
        for (const l of this.lookups.get(st)!) {
          const met = conditionsMet(l, row.text(columns.indexOf(l.column)));
          if (met) for (const c of met) (hits ??= new Set()).add(c);
        }
        if (!hits) return;
        for (const c of hits) this.matched.set(c, this.matched.get(c)! + 1);
        let s = this.seedRows.get(table);
        if (!s) this.seedRows.set(table, (s = { columns: [...columns], rows: [] }));
        s.rows.push(columns.map((_, i) => row.text(i)));
      },
    };
    const overlay: PlanOverlay = (table, columns, plan) => {
      const st = seedTable(table);
      const search = st === undefined ? null : fewValues.get(st);
      if (!search) return plan;
      return readHits(plan, columns, search, (row) => observer.row!(table, columns, row));
    };
    const rw = await this.run('all', { observer, overlay, onStart: (r) => (live = r.schema) });
    this.schema = rw.schema;
    for (const c of this.o.conditions) {
      if (!seen.has(c.table) && !this.schema.tables.has(c.table)) throw new AnonymiseError('USAGE', `${c.source}: the dump has no table ${c.table}`);
      // rows without their schema (pg_dump --data-only): which rows refer to them is unknown, and
      // removing only the matching ones would leave the rest behind
      if (!this.schema.tables.has(c.table))
        throw new AnonymiseError('UNSUPPORTED', 'the dump does not define this table (a --data-only dump?), so what refers to its rows is unknown: dump with the schema', { table: c.table });
    }
  }

  /** One pass reading the rows of `tables`. */
  private async pass(tables: Set<string>): Promise<void> {
    const versions = () => new Map([...this.groups.values()].map((g) => [g, g.version]));
    const atStart = versions();
    const snapped = new Set<string>();
    const reads = (t: string) => this.ancestors(t).some((a) => tables.has(a));
    // a table whose rows matter only if they hold one of a few keys: only rows that hold one are read
    const few = new Map<string, NeedleSearch | null>();
    const fewFor = (t: string, columns: readonly string[]) => {
      if (!few.has(t)) {
        const needles = this.rowNeedles(this.workFor(t, columns));
        few.set(t, needles && needles.length ? this.searchFor(needles) : null);
      }
      return few.get(t)!;
    };
    const overlay: PlanOverlay = (table, columns, plan) => {
      const search = reads(table) ? fewFor(table, columns) : null;
      if (!search) return plan;
      const w = this.workFor(table, columns);
      return readHits(plan, columns, search, (row) => void this.fate(w, row));
    };
    const observer: DumpObserver = {
      // a partition's rows answer for its parent's references
      wants: (t) => reads(t) && !few.get(t),
      table: (e) => {
        // what this read covers: keys added from here on need another read
        for (const a of this.ancestors(e.table))
          if (tables.has(a) && !snapped.has(a)) {
            snapped.add(a);
            this.readVersions.set(a, versions());
          }
      },
      row: (table, columns, row) => this.fate(this.workFor(table, columns), row),
    };
    // the first pass has read every line: this one may skip through the tables it does not read, or,
    // in a plain file, read the schema and their rows only
    const pieces = this.source.ranges ? this.index.pieces(reads) : null;
    const source = pieces ? () => this.source.ranges!(pieces) : this.source;
    await this.run(tables.size, { observer, overlay, skipKept: true, fragment: pieces !== null }, source);
    // a table with no data in this dump has been read all the same
    for (const t of tables) if (!snapped.has(t)) this.readVersions.set(t, atStart);
  }

  /** No reference, of any kind, leads to this table's rows (or its partitions'). */
  private nothingRefersTo(table: string): boolean {
    for (const g of this.groups.values()) if (this.ancestors(g.table).includes(table)) return false;
    return true;
  }

  /** The table, its partition parent, theirs… */
  ancestors(table: string): string[] {
    return ancestorsIn(this.schema, table);
  }

  /** A pass through the engine (counted, and shown as progress): the whole file unless `source` says otherwise. */
  async run(tables: number | 'all', o: Parameters<typeof runPass>[1], source: PassSource | (() => AsyncIterable<Buffer>) = this.source): Promise<DumpRewriter> {
    this.passes++;
    this.o.onPass?.(this.passes, tables);
    return runPass(source, o);
  }

  private tablesToRead(): Set<string> {
    const out = new Set<string>();
    for (const rel of this.relations) {
      // only a row that is removed changes what else is removed: a reference that sets NULL or keeps is
      // read by the last pass alone; one nothing decides is read to stop the run (by the last pass, whose
      // output is then not kept, when nothing refers to its table: see resolve)
      if (rel.action === 'set_null' || rel.action === 'keep') continue;
      const read = this.readVersions.get(rel.table);
      const groups = rel.references ? [this.group(rel.references, rel.refColumns)] : [...this.groups.values()];
      for (const g of groups) if (g.keys.size > 0 && read?.get(g) !== g.version) out.add(rel.table);
    }
    return out;
  }

  private group(table: string, columns: string[]): Group {
    const key = `${table}\u0000${columns.join('\u0000')}`;
    let g = this.groups.get(key);
    if (!g) this.groups.set(key, (g = { table, columns, keys: new KeySet(`${table} (${columns.join(', ')})`, this.o.maxKeyBytes ?? DEFAULT_KEY_MEMORY), texts: new Set(), version: 0 }));
    return g;
  }

  workFor(table: string, columns: readonly string[]): TableWork {
    const cached = this.work.get(table);
    if (cached && cached.columns.length === columns.length && cached.columns.every((c, i) => c === columns[i])) return cached;
    const index = new Map(columns.map((c, i) => [c, i]));
    const family = this.ancestors(table);
    const seeds = family.flatMap((t) => this.lookups.get(t) ?? []).map((lookup) => ({ col: index.get(lookup.column) ?? -1, lookup }));
    const outgoing: Outgoing[] = [];
    for (const rel of this.relations) {
      if (!family.includes(rel.table)) continue;
      const cols = rel.columns.map((c) => index.get(c) ?? -1);
      if (cols.includes(-1)) continue; // a column this dump's rows do not carry
      const ctCol = rel.contentType ? (index.get(rel.contentType) ?? -1) : -1;
      if (rel.contentType && ctCol === -1) continue;
      outgoing.push({ rel, cols, group: rel.references ? this.group(rel.references, rel.refColumns) : null, ctCol });
    }
    const feeds: TableWork['feeds'] = [];
    for (const g of this.groups.values()) {
      if (!family.includes(g.table)) continue;
      const cols = g.columns.map((c) => index.get(c) ?? -1);
      if (!cols.includes(-1)) feeds.push({ group: g, cols });
    }
    const w: TableWork = { table, columns: [...columns], seeds: seeds.filter((s) => s.col !== -1), outgoing, feeds };
    this.work.set(table, w);
    return w;
  }

  private seedMatch(w: TableWork, row: RowAccess): boolean {
    for (const s of w.seeds) if (conditionsMet(s.lookup, row.text(s.col))) return true;
    return false;
  }

  /** What happens to a row; a removed row's keys join the rows found. */
  fate(w: TableWork, row: RowAccess): Fate {
    const seed = w.seeds.length > 0 && this.seedMatch(w, row);
    let f: Fate | null = seed ? { removed: true, seed: true, nulls: null, refs: [] } : null;
    for (const o of w.outgoing) {
      const group = o.group ?? this.genericGroup(o, row);
      if (!group || group.keys.size === 0) continue;
      const key = this.keyOf(o, row);
      if (key === null || !group.keys.has(key)) continue;
      f ??= { removed: false, seed: false, nulls: null, refs: [] };
      f.refs.push(o.rel);
      switch (o.rel.action) {
        case 'cascade':
          f.removed = true;
          break;
        case 'set_null':
          f.nulls ??= new Set();
          for (const c of o.cols) f.nulls.add(c);
          break;
        case 'keep':
          break;
        default:
          this.block(o.rel, o.rel.action === 'set_default' ? `constraint ${o.rel.name} says ON DELETE SET DEFAULT, which forget cannot apply: say on_forget (cascade, set_null or keep) for ${o.rel.table}.${o.rel.columns.join(', ')} in relations:` : `${o.rel.name.startsWith('relations:') ? o.rel.name : `constraint ${o.rel.name} (ON DELETE ${o.rel.onDelete})`} refers to removed rows and nothing says what to do: say on_forget (cascade, set_null or keep) for ${o.rel.table}.${o.rel.columns.join(', ')} in relations:, or use --cascade`);
      }
    }
    if (!f) return NO_FATE;
    if (f.nulls && f.removed) f.nulls = null;
    if (f.nulls) {
      const defs = this.schema.columnDefs(w.table);
      for (const c of f.nulls) {
        const def = defs?.find((d) => d.name === w.columns[c]);
        if (def?.notNull) {
          const rel = f.refs.find((r) => r.columns.includes(w.columns[c]!))!;
          this.block(rel, `${rel.table}.${w.columns[c]} is NOT NULL, so forget cannot set it to NULL along ${rel.name}: say on_forget: cascade or keep for it in relations:`);
        }
      }
    }
    if (f.removed) this.feed(w, row);
    return f;
  }

  private block(rel: Relation, why: string): void {
    if (!this.collectingBlocked) {
      // forget's last pass (set_null on a NOT NULL column is first met there): stop; the output is not kept
      if (this.mode === 'forget') throw new AnonymiseError('UNSUPPORTED', why, { table: rel.table, column: rel.columns.join(', ') });
      return;
    }
    const b = this.blocked.get(rel.name);
    if (b) b.rows++;
    else this.blocked.set(rel.name, { rel, rows: 1, why });
  }

  private feed(w: TableWork, row: RowAccess): void {
    for (const f of w.feeds) {
      const key = f.cols.length === 1 ? row.text(f.cols[0]!) : rowKey(f.cols.map((c) => row.text(c)));
      if (key !== null && f.group.keys.add(key)) {
        f.group.version++;
        if (f.group.texts) f.group.texts = f.group.texts.size < FEW_KEYS ? f.group.texts.add(key) : null;
      }
    }
  }

  /** content type id → the group of its table's primary key (null: none) */
  private readonly byContentType = new Map<string, Group | null>();
  private genericGroup(o: Outgoing, row: RowAccess): Group | null {
    const ct = row.text(o.ctCol);
    if (ct === null) return null;
    let g = this.byContentType.get(ct);
    if (g === undefined) {
      const target = this.contentTypes.get(ct);
      const pk = target ? this.schema.primaryKeys.get(target) : undefined;
      g = target && pk ? (this.groups.get(`${target}\u0000${pk.join('\u0000')}`) ?? null) : null;
      this.byContentType.set(ct, g);
    }
    return g;
  }

  private keyOf(o: Outgoing, row: RowAccess): string | null {
    if (o.rel.decode === 'django_session') {
      const v = row.text(o.cols[0]!);
      return v === null ? null : djangoSessionUserId(v, inflateSync);
    }
    return o.cols.length === 1 ? row.text(o.cols[0]!) : rowKey(o.cols.map((c) => row.text(c)));
  }

  /** The matched rows' distinctive values of unique and personal columns. */
  private identifierValues(): string[] {
    const out: string[] = [];
    for (const [table, seed] of this.seedRows) {
      const unique = this.schema.uniques.get(table) ?? new Set<string>();
      const defs = this.schema.columnDefs(table);
      const exposure = this.o.rules?.resolve(table, this.schema.parentOf) ? this.o.rules.exposure(table, this.schema.parentOf) : null;
      seed.columns.forEach((col, i) => {
        const type = defs?.find((d) => d.name === col)?.type ?? 'text';
        if (!TEXT_TYPE.test(type) || SECRET_NAME.test(col)) return;
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

  /**
   * What makes a row of this table matter, as byte strings to look for (conditions' values, keys of
   * removed rows it may refer to), when they are few; null when every row must be judged (many keys, a
   * generic or encoded reference, a value whose case the search cannot fold).
   */
  private rowNeedles(w: TableWork): string[] | null {
    const out: string[] = [];
    const add = (v: string) => {
      if (v === '' || /[^\x00-\x7f]/.test(v)) return false;
      out.push(...byteForms(v));
      return true;
    };
    for (const s of w.seeds) {
      if (s.lookup.exact.size > FEW_KEYS) return null;
      for (const v of s.lookup.exact.keys()) if (!add(v)) return null;
    }
    for (const o of w.outgoing) {
      // a key of several columns is not one string of the row's bytes
      if (o.group === null || o.rel.decode || o.cols.length !== 1) return null;
      if (o.group.keys.size === 0) continue;
      if (!o.group.texts) return null;
      for (const t of o.group.texts) if (!add(t)) return null;
    }
    return out;
  }

  private readonly searches = new Map<string, NeedleSearch>();
  private searchFor(needles: string[]): NeedleSearch {
    const key = needles.join('\u0000');
    let s = this.searches.get(key);
    if (!s) this.searches.set(key, (s = new NeedleSearch(needles)));
    return s;
  }

  /** Text columns of a table (their values are searched for identifiers). */
  textColumns(table: string, columns: readonly string[]): Set<number> {
    const defs = this.schema.columnDefs(table);
    const out = new Set<number>();
    columns.forEach((c, i) => {
      const type = defs?.find((d) => d.name === c)?.type;
      if (type === undefined || TEXT_TYPE.test(type)) out.add(i);
    });
    return out;
  }

  /** No more blocked relations are noted (the last pass decides rows already judged). */
  stopCollectingBlocked(): void {
    this.collectingBlocked = false;
  }

  /**
   * The last pass's overlay: each table whose rows may refer to a removed row, or name the person, gets
   * a plan that decides every such row. `visit` sees each row's fate (find counts; forget reports).
   */
  overlay(visit: ((table: string, columns: readonly string[], row: RowAccess, fate: Fate, hit: boolean) => void) | null, apply: boolean): PlanOverlay {
    const ids = this.ids;
    return (table: string, columns: string[], plan: TablePlan): TablePlan => {
      if (plan.mode === 'drop') return plan;
      const w = this.workFor(table, columns);
      const judged = w.seeds.length > 0 || w.outgoing.some((o) => o.group === null || o.group.keys.size > 0);
      const text = this.textColumns(table, columns);
      const search = ids.search.count > 0 && text.size > 0;
      if (!judged && !search) return plan;
      // rows to judge: every row, unless what makes a row matter (a condition's value, a key of a removed
      // row) is few enough to be looked for in the row's bytes with the identifiers
      const few = judged ? this.rowNeedles(w) : null;
      const rowSearch = few ? this.searchFor([...(search ? ids.needles : []), ...few]) : null;
      const everyRow = judged && !rowSearch;
      const base = plan.mode === 'rewrite' ? plan : null;
      let current: Fate = NO_FATE;
      let hit = false;
      /** rows kept since the last one written */
      let pending = 0;
      const judge = (row: RowAccess, searchHit: boolean | undefined) => {
        current = judged ? this.fate(w, row) : NO_FATE;
        // the plan's search found the identifiers themselves: its word stands; a search for keys too
        // only says the row may matter, so the identifiers are looked for in the row itself
        if (searchHit !== undefined && !rowSearch) hit = searchHit;
        else {
          const span = search ? row.rawSpan?.() : undefined;
          hit = span !== undefined && ids.search.find(span, 0, span.length) !== -1;
        }
      };
      const scrubbed = (row: RowAccess, col: number): string | null => {
        if (current.nulls?.has(col)) return null;
        const own = base?.actions[col] ? base.actions[col]!(row, col) : row.text(col);
        return own !== null && hit && text.has(col) ? ids.scrub(own).text : own;
      };
      return {
        mode: 'rewrite',
        rule: plan.rule,
        columns,
        actions: columns.map((_, i) => (text.has(i) || w.outgoing.some((o) => o.cols.includes(i)) ? scrubbed : (base?.actions[i] ?? null))),
        filter: {
          columns: [],
          keep: (row, searchHit) => {
            judge(row, searchHit);
            visit?.(table, columns, row, current, hit);
            if (!apply) return true;
            const kept = !current.removed && (base?.filter ? base.filter.keep(row) : true);
            pending = kept ? pending + 1 : 0;
            return kept;
          },
          untouched: (row) => {
            if (!apply) return true;
            // a COPY row is written right after it is judged; an INSERT's rows are all judged before
            // the first is written, so each but the last judged is judged again here
            if (pending !== 1) judge(row, undefined);
            pending = 0;
            return !hit && !current.nulls && !base;
          },
        },
        // the search runs over whole runs of rows; with references to check, every row is read as well
        search: rowSearch ? (buf, from, end) => rowSearch.find(buf, from, end) : search ? (buf, from, end) => ids.search.find(buf, from, end) : undefined,
        everyRow,
      };
    };
  }
}

/** One column's conditions: by value, and e-mail addresses (which match in any case) by their lower case. */
interface ColumnLookup {
  column: string;
  exact: Map<string, Condition[]>;
  folded: Map<string, Condition[]>;
}

function columnLookup(column: string, conds: Condition[]): ColumnLookup {
  const exact = new Map<string, Condition[]>();
  const folded = new Map<string, Condition[]>();
  for (const c of conds) {
    exact.set(c.value, [...(exact.get(c.value) ?? []), c]);
    if (c.value.includes('@')) folded.set(c.value.toLowerCase(), [...(folded.get(c.value.toLowerCase()) ?? []), c]);
  }
  return { column, exact, folded };
}

/** The conditions a value meets (none: undefined). */
function conditionsMet(l: ColumnLookup, v: string | null): Condition[] | undefined {
  if (v === null) return undefined;
  const exact = l.exact.get(v);
  const folded = l.folded.size > 0 && v.includes('@') ? l.folded.get(v.toLowerCase()) : undefined;
  return exact && folded ? [...exact, ...folded] : (exact ?? folded);
}

/**
 * A plan that writes every row as it is and shows `read` the rows the search hits (a pass that only
 * reads: what it writes is thrown away).
 */
function readHits(plan: TablePlan, columns: string[], search: NeedleSearch, read: (row: RowAccess) => void): TablePlan {
  return {
    mode: 'rewrite',
    rule: plan.rule,
    columns,
    actions: columns.map(() => null),
    filter: { columns: [], keep: (row) => (read(row), true), untouched: () => true },
    search: (buf, from, end) => search.find(buf, from, end),
  };
}

/** The table, its partition parent, theirs… (the table alone before the schema is known). */
export function ancestorsIn(schema: SchemaModel | null | undefined, table: string): string[] {
  const out = [table];
  if (!schema) return out;
  for (let t = schema.parentOf(table); t && out.length < 32 && !out.includes(t); t = schema.parentOf(t)) out.push(t);
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
