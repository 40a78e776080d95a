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
import type { PlanOverlay } from '../dump/rewriter.js';
import type { DumpObserver } from '../dump/observer.js';
import type { SchemaModel } from '../dump/schema-model.js';
import { MultiPass, ancestorsIn, type PassSource } from './passes.js';
import { conditionsMet, parseCondition, typedLookups, type ColumnLookup, type Condition } from './conditions.js';
import { readHits } from './judge.js';
import { byteaColumns, identifierValues, textColumns } from './identifier-values.js';
import type { CompiledRules } from '../rules/rule-compiler.js';
import type { RowAccess } from '../contract/plan.js';
import type { RelationRule } from '../contract/rules-model.js';
import type { SipHash } from '../pseudonym/siphash.js';
import { KeySet, typedRowKey, DEFAULT_KEY_MEMORY } from './key-set.js';
import { FEW_KEYS, NO_FATE, type Fate, type Group, type Outgoing, type TableWork } from './people-model.js';
import { contentTypeTable, djangoSessionUserId, relationsOf, type Relation } from './graph.js';
import { NeedleSearch, byteForms, identifiers, type Identifiers } from './needles.js';


export type { PassSource } from './passes.js';
export { parseCondition, type Condition, type Fate };


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
  /** values to search for and scrub besides those taken from the matched rows (`--identifier`) */
  addIdentifiers?: string[];
  /** values never to search for, though taken from the matched rows (`--no-identifier`) */
  dropIdentifiers?: string[];
  /** memory for one set of row keys before it spills to disk (key-set.ts) */
  maxKeyBytes?: number;
  /** called before each pass (progress) */
  onPass?: (n: number, tables: number | 'all') => void;
}

const CONTENT_TYPES = 'public.django_content_type';

export class People extends MultiPass<Group> {
  relations: Relation[] = [];
  ids!: Identifiers;
  /** values of the matched rows too common to name the person (a single word, a short value): not searched elsewhere */
  notSearched = 0;
  /** the rows the conditions matched, by table: every column's text (they are few; export and identifiers read them) */
  readonly seedRows = new Map<string, { columns: string[]; rows: (string | null)[][] }>();
  /** how many rows each condition matched */
  readonly matched = new Map<Condition, number>();
  private readonly work = new Map<string, TableWork>();
  private readonly contentTypes = new Map<string, string>();
  private readonly seedConditions = new Map<string, Map<string, Condition[]>>();
  /** the same conditions, for lookup by value */
  private readonly lookups = new Map<string, ColumnLookup[]>();
  /** relations whose hits stop forget, with why */
  readonly blocked = new Map<string, { rel: Relation; rows: number; why: string }>();
  private generic = false;
  private collectingBlocked = true;

  constructor(
    readonly mode: PeopleMode,
    source: PassSource,
    private readonly o: PeopleOptions,
  ) {
    super(source, o.onPass, 'find and forget');
    for (const c of o.conditions) {
      let byCol = this.seedConditions.get(c.table);
      if (!byCol) this.seedConditions.set(c.table, (byCol = new Map()));
      const list = byCol.get(c.column) ?? [];
      list.push(c);
      byCol.set(c.column, list);
      this.matched.set(c, 0);
    }
    this.generic = [...(o.relations?.values() ?? [])].some((r) => r.contentType);
  }

  /** A seed table's conditions, each column's compared as its type says (kept once the schema is read). */
  private lookupsFor(table: string, schema: SchemaModel | null): ColumnLookup[] {
    const known = this.lookups.get(table);
    if (known) return known;
    const l = typedLookups(this.seedConditions.get(table)!, table, schema);
    if (schema?.columnDefs(table)) this.lookups.set(table, l);
    return l;
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
    const found = identifierValues(this.schema, this.seedRows, this.o.rules);
    // the user's word wins: values they add are searched, values they drop are not (never printed)
    const dropped = new Set((this.o.dropIdentifiers ?? []).map((v) => v.toLowerCase()));
    const searched = [...found.searched, ...(this.o.addIdentifiers ?? [])].filter((v) => !dropped.has(v.toLowerCase()));
    const chosen = new Set(searched.map((v) => v.toLowerCase()));
    this.notSearched = new Set(found.common.map((v) => v.toLowerCase()).filter((v) => !chosen.has(v) && !dropped.has(v))).size;
    this.ids = identifiers(searched, this.o.sip);
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
    // (not for a column compared by its type, citext or numeric: its rows may hold the value in another form)
    const fewCache = new Map<string, NeedleSearch | null>();
    const fewValues = {
      get: (table: string): NeedleSearch | null => {
        if (!fewCache.has(table)) {
          const values = [...this.seedConditions.get(table)!.values()].flat().map((c) => c.value);
          const typed = this.lookupsFor(table, live).some((l) => l.form !== null);
          fewCache.set(table, !typed && values.length <= FEW_KEYS && values.every((v) => v !== '' && !/[^\x00-\x7f]/.test(v)) ? this.searchFor(values.flatMap(byteForms)) : null);
        }
        return fewCache.get(table)!;
      },
    };
    const observer: DumpObserver = {
      wants: (t) => {
        const st = seedTable(t);
        return (st !== undefined && !fewValues.get(st)) || (this.generic && t === CONTENT_TYPES);
      },
      dataEnd: (t, offset) => this.index.dataEnd(t, offset),
      table: (e) => {
        this.noteTable(e);
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
        for (const l of this.lookupsFor(st, live)) {
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
        throw new AnonymiseError('UNSUPPORTED', 'the dump does not define this table (a --data-only dump?), so what refers to its rows is unknown: dump with the schema, or give --schema FILE (a pg_dump --schema-only of the same database)', { table: c.table });
    }
  }

  /** One pass reading the rows of `tables`: a table whose rows matter only if they hold one of a few keys has only those rows read. */
  private async pass(tables: Set<string>): Promise<void> {
    const few = new Map<string, NeedleSearch | null>();
    const fewFor = (t: string, columns: readonly string[]) => {
      if (!few.has(t)) {
        const needles = this.rowNeedles(this.workFor(t, columns));
        few.set(t, needles && needles.length ? this.searchFor(needles) : null);
      }
      return few.get(t)!;
    };
    const reads = (t: string) => this.ancestors(t).some((a) => tables.has(a));
    await this.readPass(tables, {
      overlay: (table, columns, plan) => {
        const search = reads(table) ? fewFor(table, columns) : null;
        if (!search) return plan;
        const w = this.workFor(table, columns);
        return readHits(plan, columns, search, (row) => void this.fate(w, row));
      },
      rowByRow: (t) => !few.get(t),
      row: (table, columns, row) => void this.fate(this.workFor(table, columns), row),
    });
  }

  /** No reference, of any kind, leads to this table's rows (or its partitions'). */
  private nothingRefersTo(table: string): boolean {
    for (const g of this.groups.values()) if (this.ancestors(g.table).includes(table)) return false;
    return true;
  }



  private tablesToRead(): Set<string> {
    const out = new Set<string>();
    for (const rel of this.relations) {
      // only a row that is removed changes what else is removed: a reference that sets NULL or keeps is
      // read by the last pass alone; one nothing decides is read to stop the run (by the last pass, whose
      // output is then not kept, when nothing refers to its table: see resolve)
      if (rel.action === 'set_null' || rel.action === 'keep') continue;
      const groups = rel.references ? [this.group(rel.references, rel.refColumns)] : [...this.groups.values()];
      for (const g of groups) if (g.keys.size > 0 && this.unread(rel.table, g)) out.add(rel.table);
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
    const seeds = family.flatMap((t) => (this.seedConditions.has(t) ? this.lookupsFor(t, this.schema) : [])).map((lookup) => ({ col: index.get(lookup.column) ?? -1, lookup }));
    const outgoing: Outgoing[] = [];
    for (const rel of this.relations) {
      if (!family.includes(rel.table)) continue;
      const cols = rel.columns.map((c) => index.get(c) ?? -1);
      if (cols.includes(-1)) continue; // a column this dump's rows do not carry
      const ctCol = rel.contentType ? (index.get(rel.contentType) ?? -1) : -1;
      if (rel.contentType && ctCol === -1) continue;
      const group = rel.references ? this.group(rel.references, rel.refColumns) : null;
      outgoing.push({ rel, cols, group, ctCol, forms: group ? this.keyForms(group.table, group.columns) : cols.map(() => null) });
    }
    const feeds: TableWork['feeds'] = [];
    for (const g of this.groups.values()) {
      if (!family.includes(g.table)) continue;
      const cols = g.columns.map((c) => index.get(c) ?? -1);
      if (!cols.includes(-1)) feeds.push({ group: g, cols, forms: this.keyForms(g.table, g.columns) });
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
      const key = typedRowKey(row, f.cols, f.forms);
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
    return typedRowKey(row, o.cols, o.forms);
  }


  /**
   * What makes a row of this table matter, as byte strings to look for (conditions' values, keys of
   * removed rows it may refer to), when they are few; null when every row must be judged (many keys, a
   * generic or encoded reference, a value whose case the search cannot fold).
   */
  rowNeedles(w: TableWork): string[] | null {
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
      // a key of several columns is not one string of the row's bytes, nor is one whose type compares
      // otherwise than by its text (citext in another case, numeric at another scale)
      if (o.group === null || o.rel.decode || o.cols.length !== 1 || o.forms[0] !== null) return null;
      if (o.group.keys.size === 0) continue;
      if (!o.group.texts) return null;
      for (const t of o.group.texts) if (!add(t)) return null;
    }
    return out;
  }

  private readonly searches = new Map<string, NeedleSearch>();
  searchFor(needles: string[]): NeedleSearch {
    const key = needles.join('\u0000');
    let s = this.searches.get(key);
    if (!s) this.searches.set(key, (s = new NeedleSearch(needles)));
    return s;
  }


  /** Text columns of a table (their values are searched for identifiers). */
  textColumns(table: string, columns: readonly string[]): Set<number> {
    return textColumns(this.schema, table, columns);
  }

  /** bytea columns of a table (their bytes are searched for identifiers too). */
  byteaColumns(table: string, columns: readonly string[]): Set<number> {
    return byteaColumns(this.schema, table, columns);
  }

  /** A value of column `col` with the identifiers scrubbed, as text or as bytea. */
  scrubValue(value: string, bytea: boolean): { text: string; hits: number } {
    return bytea ? this.ids.scrubBytea(value) : this.ids.scrub(value);
  }

  /** No more blocked relations are noted (the last pass decides rows already judged). */
  stopCollectingBlocked(): void {
    this.collectingBlocked = false;
  }
}
