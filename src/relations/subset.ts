/**
 * Subsets (`subset:` in the rules): the rows the seeds name — a filter, a keyed sample, or a whole
 * table — plus every row they need through the dump's FOREIGN KEY constraints (the parents, and their
 * parents), and with `subset_follow: parents_and_children` the rows that refer to seed rows (and to
 * those, transitively; parents brought in for them do not bring their own children, or one user would
 * bring the whole database). Tables no seed reaches keep no rows, unless their rule keeps them whole
 * (`keep`): those are seeds of their own, so whatever they refer to is kept too.
 *
 * Found in passes as forget's rows are (people.ts): the first learns the schema; each next reads the
 * tables whose needed keys grew; the run itself then writes only the kept rows. Decisions read the
 * original values, so the rules may rewrite keys freely.
 */
import { AnonymiseError } from '../errors.js';
import type { PlanOverlay } from '../dump/rewriter.js';
import { matcher, type CompiledRules } from '../rules/rule-compiler.js';
import { type RowAccess, type TablePlan } from '../contract/plan.js';
import type { SubsetSeed } from '../contract/rules-model.js';
import type { SipHash } from '../pseudonym/siphash.js';
import { KeySet, typedRowKey, DEFAULT_KEY_MEMORY } from './key-set.js';
import type { KeyForm } from '../dump/types.js';
import { MultiPass, type PassSource } from './passes.js';
import { djangoSessionUserId, relationsOf } from './graph.js';
import { inflateSync } from 'node:zlib';
import { KEEP_AS_IS, judgedPlan, type Verdict } from './judge.js';

const DROPPED: Verdict = Object.freeze({ keep: false, asIs: true });

interface Group {
  table: string;
  columns: string[];
  /** keys of rows that must be kept (a kept row refers to them) */
  needed: KeySet;
  /** keys of seed and child rows (their children follow them) */
  chosen: KeySet;
  version: number;
}

interface Fk {
  name: string;
  table: string;
  columns: string[];
  group: Group;
  /** a reference inside an encoded value (`relations:` with decode: django_session) */
  decode?: 'django_session';
}

interface TableWork {
  columns: readonly string[];
  seed: ((row: RowAccess) => boolean) | null;
  whole: boolean;
  /** this table's references to others */
  out: { fk: Fk; cols: number[]; forms: (KeyForm | null)[] }[];
  /** groups of this table that others refer to */
  own: { group: Group; cols: number[]; forms: (KeyForm | null)[] }[];
}

export interface SubsetOptions {
  seeds: SubsetSeed[];
  follow: 'parents' | 'parents_and_children';
  rules: CompiledRules;
  /** keys the sample: the same key, the same rows */
  sip: SipHash;
  /** memory for one set of row keys before it spills to disk (key-set.ts) */
  maxKeyBytes?: number;
  onPass?: (n: number, tables: number | 'all') => void;
}

export class Subset extends MultiPass<Group> {
  private fks: Fk[] = [];
  private readonly work = new Map<string, TableWork>();
  private readonly seedTables: Set<string>;
  /** rows kept per table in the last pass (the report) */
  readonly kept = new Map<string, number>();

  constructor(
    source: PassSource,
    private readonly o: SubsetOptions,
  ) {
    super(source, o.onPass, 'subsets');
    this.seedTables = new Set(o.seeds.map((s) => s.table));
  }

  async resolve(): Promise<void> {
    const rw = await this.run('all', { observer: { table: (e) => this.noteTable(e), dataEnd: (t, o) => this.index.dataEnd(t, o) } });
    this.schema = rw.schema;
    for (const s of this.o.seeds) if (!this.schema.tables.has(s.table)) throw new AnonymiseError('RULES', `subset: the dump has no table ${s.table}`, s.where);
    // the dump's foreign keys and the rules' relations: that forget follows, a subset keeps (a generic
    // relation, whose table each row's content type names, is not followed)
    for (const rel of relationsOf(this.schema, this.o.rules.data.relations))
      if (rel.references !== null) this.fks.push({ name: rel.name, table: rel.table, columns: rel.columns, group: this.group(rel.references, rel.refColumns), decode: rel.decode });
    // seeds, whole tables and what they need, until nothing grows
    const first = new Set([...this.schema.tables.keys()].filter((t) => this.seedTables.has(t) || (this.isWhole(t) && this.fks.some((f) => f.table === t))));
    for (let tables = first; tables.size > 0; tables = this.toRead()) await this.readPass(tables, { row: (table, columns, row) => void this.decide(this.workFor(table, columns), row) });
  }

  /** Removes the key sets' temporary files. */
  close(): void {
    for (const g of this.groups.values()) {
      g.needed.close();
      g.chosen.close();
    }
  }

  /** Tables whose rows may now be kept, or need more: a group of theirs grew, or (children) a group they refer to. */
  private toRead(): Set<string> {
    const out = new Set<string>();
    const grew = (t: string, g: Group) => g.version > 0 && this.unread(t, g);
    for (const g of this.groups.values()) if (grew(g.table, g)) out.add(g.table);
    if (this.o.follow === 'parents_and_children') for (const fk of this.fks) if (grew(fk.table, fk.group)) out.add(fk.table);
    return out;
  }

  /** A table whose rule keeps it whole (a seed with no filter is a seed of every row instead: its children follow it). */
  private isWhole(table: string): boolean {
    return this.o.rules.resolve(table, this.schema.parentOf)?.rule.kind === 'keep';
  }

  private group(table: string, columns: string[]): Group {
    const key = `${table}\u0000${columns.join('\u0000')}`;
    let g = this.groups.get(key);
    if (!g) {
      const what = `${table} (${columns.join(', ')})`;
      const max = this.o.maxKeyBytes ?? DEFAULT_KEY_MEMORY;
      this.groups.set(key, (g = { table, columns, needed: new KeySet(what, max), chosen: new KeySet(what, max), version: 0 }));
    }
    return g;
  }

  private workFor(table: string, columns: readonly string[]): TableWork {
    const cached = this.work.get(table);
    if (cached && cached.columns.length === columns.length && cached.columns.every((c, i) => c === columns[i])) return cached;
    const index = new Map(columns.map((c, i) => [c, i]));
    const family = this.ancestors(table);
    const seeds = this.o.seeds.filter((s) => family.includes(s.table));
    for (const s of seeds) if (s.filter) for (const col of s.filter.keys()) if (!index.has(col)) throw new AnonymiseError('RULES', `subset: table ${table} has no column ${col}`, s.where);
    const pk = family.map((t) => this.schema.primaryKeys.get(t)).find(Boolean)?.map((c) => index.get(c) ?? -1);
    const sampleCols = pk && !pk.includes(-1) ? pk : columns.map((_, i) => i);
    const tests = seeds.map((s) => {
      const where = s.filter ? matcher(s.filter, index, (col) => this.keyForms(table, [col])[0] ?? null) : null;
      const pct = s.percent;
      return (row: RowAccess) => (!where || where(row)) && (pct === undefined || this.sampled(table, sampleCols, row, pct));
    });
    const cols = (names: string[]) => names.map((c) => index.get(c) ?? -1);
    const w: TableWork = {
      columns: [...columns],
      seed: tests.length ? (row) => tests.some((t) => t(row)) : null,
      // a seed table is filtered by its seed even where its rule keeps it
      whole: this.isWhole(table) && !seeds.some((s) => s.filter || s.percent !== undefined),
      out: this.fks.filter((f) => family.includes(f.table)).map((fk) => ({ fk, cols: cols(fk.columns), forms: this.keyForms(fk.group.table, fk.group.columns) })).filter((x) => !x.cols.includes(-1)),
      own: [...this.groups.values()].filter((g) => family.includes(g.table)).map((group) => ({ group, cols: cols(group.columns), forms: this.keyForms(group.table, group.columns) })).filter((x) => !x.cols.includes(-1)),
    };
    this.work.set(table, w);
    return w;
  }

  /** A keyed, repeatable sample: the row's key (its primary key, else the whole row) hashed with the run's key. */
  private sampled(table: string, cols: number[], row: RowAccess, percent: number): boolean {
    const key = `${table}\u0000${cols.map((c) => row.text(c) ?? '\u0001').join('\u0000')}`;
    this.o.sip.hash(Buffer.from(key, 'utf8'));
    return (this.o.sip.hi >>> 0) / 4294967296 < percent / 100;
  }

  /** Whether a row is kept; a kept row's needs (and, for children, its keys) are noted. */
  private decide(w: TableWork, row: RowAccess): boolean {
    // a table kept whole is kept, and needs its parents, but does not bring its children: a lookup
    // table (content types) would bring every row that refers to it
    let chosen = w.seed !== null && w.seed(row);
    if (!chosen && this.o.follow === 'parents_and_children') {
      for (const o of w.out) {
        const k = outKey(o, row);
        if (k !== null && o.fk.group.chosen.has(k)) {
          chosen = true;
          break;
        }
      }
    }
    let kept = chosen || w.whole;
    if (!kept) {
      for (const o of w.own) {
        const k = typedRowKey(row, o.cols, o.forms);
        if (k !== null && o.group.needed.has(k)) {
          kept = true;
          break;
        }
      }
    }
    if (!kept) return false;
    for (const o of w.out) {
      const k = outKey(o, row);
      if (k !== null && o.fk.group.needed.add(k)) o.fk.group.version++;
    }
    if (chosen && this.o.follow === 'parents_and_children') {
      for (const o of w.own) {
        const k = typedRowKey(row, o.cols, o.forms);
        if (k !== null && o.group.chosen.add(k)) o.group.version++;
      }
    }
    return true;
  }

  /** The run's overlay: every table's rows filtered to the kept ones (tables kept whole stay as their rules say). */
  overlay(): PlanOverlay {
    return (table: string, columns: string[], plan: TablePlan): TablePlan => {
      if (plan.mode === 'drop') return plan;
      const w = this.workFor(table, columns);
      if (w.whole) return plan;
      return judgedPlan(plan, columns, {
        label: '(subset)',
        touches: () => false,
        judge: (row) => {
          if (!this.decide(w, row)) return DROPPED;
          this.kept.set(table, (this.kept.get(table) ?? 0) + 1);
          return KEEP_AS_IS;
        },
        value: (_row, _col, own) => own(),
      });
    };
  }

}

/** The key a row refers to other rows by, along one of its references. */
function outKey(o: TableWork['out'][number], row: RowAccess): string | null {
  if (o.fk.decode === 'django_session') {
    const v = row.text(o.cols[0]!);
    return v === null ? null : djangoSessionUserId(v, inflateSync);
  }
  return typedRowKey(row, o.cols, o.forms);
}
