/**
 * One pass over a dump file through the engine, output discarded unless a sink is given: what find,
 * forget and subsets read the file with, as many times as their references need. The first pass over a
 * plain, uncompressed file notes where each table's COPY block lies (DataIndex); later passes that read
 * a few tables then read the schema and those blocks only.
 */
import { AnonymiseError } from '../errors.js';
import type { OutsideIdentifiers } from '../dump/outside-writer.js';
import { DumpRewriter, type PlanOverlay } from '../dump/rewriter.js';
import type { DumpObserver, TableEvent } from '../dump/observer.js';
import type { SchemaModel } from '../dump/schema-model.js';
import type { RowAccess } from '../contract/plan.js';
import { TypeModel, type KeyForm } from '../dump/types.js';
import { plainDump } from '../io/input.js';
import { CompiledRules } from '../rules/rule-compiler.js';

/** The plain text of the dump, from its start, each time it is called (a file: plain, gzip, or an archive printed as pg_restore does). */
export interface PassSource {
  (): AsyncIterable<Buffer>;
  /** a plain, uncompressed file: these byte ranges of it, in order */
  ranges?: (ranges: readonly (readonly [number, number])[]) => AsyncIterable<Buffer>;
  /** throws if the input is not the one the first pass read */
  unchanged?: () => void;
}

export async function runPass(
  source: PassSource | (() => AsyncIterable<Buffer>),
  o: {
    observer?: DumpObserver;
    overlay?: PlanOverlay;
    rules?: CompiledRules;
    sink?: (b: Buffer) => void;
    onStart?: (rw: DumpRewriter) => void;
    /** a pass after the first, over the same file: kept tables are skipped through, their lines not counted */
    skipKept?: boolean;
    /** the input is the schema and some tables' COPY blocks (DataIndex.pieces), not a whole dump */
    fragment?: boolean;
    /** what to look for outside the rows (find: large objects) */
    outsideIdentifiers?: OutsideIdentifiers;
    /** a --data-only dump's schema */
    schema?: SchemaModel;
  },
): Promise<DumpRewriter> {
  const rw = new DumpRewriter({ rules: o.rules ?? CompiledRules.passthrough(), observer: o.observer, overlay: o.overlay, skipKept: o.skipKept, fragment: o.fragment, outsideIdentifiers: o.outsideIdentifiers, schema: o.schema }, o.sink ?? (() => {}));
  o.onStart?.(rw);
  for await (const chunk of plainDump(source())) rw.write(chunk);
  rw.end();
  return rw;
}

/** Where each table's COPY blocks lie in the input, learned by the first pass. */
export class DataIndex {
  /** the offset of the first COPY: what comes before it is the schema */
  private schemaEnd = Infinity;
  private readonly blocks = new Map<string, [number, number][]>();
  /** tables whose rows are INSERT statements: not cut out as blocks */
  private readonly inserts = new Set<string>();
  private open: { table: string; start: number } | null = null;

  /** Events for the first pass's observer. */
  table(e: TableEvent): void {
    if (e.offset === undefined) {
      this.inserts.add(e.table);
      return;
    }
    this.open = { table: e.table, start: e.offset };
    this.schemaEnd = Math.min(this.schemaEnd, e.offset);
  }

  dataEnd(table: string, offset: number): void {
    if (this.open?.table !== table) return;
    const list = this.blocks.get(table) ?? [];
    list.push([this.open.start, offset]);
    this.blocks.set(table, list);
    this.open = null;
  }

  /** The ranges to read for the tables `wanted` says, schema first; null when only a whole pass will do. */
  pieces(wanted: (table: string) => boolean): [number, number][] | null {
    if (!Number.isFinite(this.schemaEnd) || this.open) return null;
    for (const t of this.inserts) if (wanted(t)) return null;
    const out: [number, number][] = [];
    for (const [t, list] of this.blocks) if (wanted(t)) out.push(...list);
    out.sort((a, b) => a[0] - b[0]);
    return [[0, this.schemaEnd], ...out];
  }
}

/** A set of row keys that grows between passes; `version` counts what it has gained. */
export interface Growing {
  version: number;
}

/** What a reading pass does with the rows of the tables it reads. */
export interface Reading {
  /** the plan for a table's rows (a judge that reads only the rows a search hits), before the observer sees any */
  overlay?: PlanOverlay;
  /** whether a table read by this pass is read row by row by the observer (default: yes) */
  rowByRow?: (table: string) => boolean;
  row(table: string, columns: readonly string[], row: RowAccess): void;
}

/**
 * The loop find, forget and subsets share: a first pass over the whole file learns the schema and
 * where each table's rows lie; each next pass reads only the tables whose rows may now matter (a key
 * set they are judged against grew since they were last read), in a plain file their COPY blocks only,
 * until no table needs reading. What a table's last read saw of each key set is kept as versions.
 */
export abstract class MultiPass<G extends Growing> {
  schema!: SchemaModel;
  /** a --data-only dump's schema, given beside it (--schema FILE): every pass reads the data with it */
  dumpSchema?: SchemaModel;
  passes = 0;
  /** key sets by table and columns */
  protected readonly groups = new Map<string, G>();
  /** table → what it has been read against: each group's version when its last read began */
  protected readonly readVersions = new Map<string, Map<G, number>>();
  /** where the first pass found each table's rows */
  protected readonly index = new DataIndex();

  constructor(
    readonly source: PassSource,
    private readonly onPass: ((n: number, tables: number | 'all') => void) | undefined,
    /** names the command in the message refusing a pg_dumpall dump */
    private readonly what: string,
  ) {}

  /** A pass through the engine (counted, and shown as progress): the whole file unless `source` says otherwise. */
  async run(tables: number | 'all', o: Parameters<typeof runPass>[1], source: PassSource | (() => AsyncIterable<Buffer>) = this.source): Promise<DumpRewriter> {
    this.passes++;
    this.onPass?.(this.passes, tables);
    return runPass(source, { ...o, schema: this.dumpSchema });
  }

  /** The table, its partition parent, theirs… */
  ancestors(table: string): string[] {
    return ancestorsIn(this.schema, table);
  }

  private typeModel: { schema: SchemaModel; types: TypeModel } | null = null;
  /** The dump's types (once the first pass has read its schema). */
  get types(): TypeModel {
    if (this.typeModel?.schema !== this.schema) this.typeModel = { schema: this.schema, types: new TypeModel(this.schema) };
    return this.typeModel.types;
  }

  /** How each of a table's `columns` compares equal, as its type says (null: by its text). */
  keyForms(table: string, columns: readonly string[]): (KeyForm | null)[] {
    const defs = this.schema.columnDefs(table);
    return columns.map((c) => {
      const type = defs?.find((d) => d.name === c)?.type;
      return type === undefined ? null : this.types.keyForm(type);
    });
  }

  /** Events the first pass's observer passes on, so that later passes know where rows lie. */
  protected noteTable(e: TableEvent): void {
    if (e.database !== null) throw new AnonymiseError('UNSUPPORTED', `${this.what} read one database's dump (pg_dump), not a pg_dumpall cluster dump`, { table: e.table });
    this.index.table(e);
  }

  /** Whether `table` has not been read since `group` grew. */
  protected unread(table: string, group: G): boolean {
    return this.readVersions.get(table)?.get(group) !== group.version;
  }

  /** One pass reading the rows of `tables` (a partition's rows answer for its parent's). */
  protected async readPass(tables: Set<string>, reading: Reading): Promise<void> {
    const versions = () => new Map([...this.groups.values()].map((g) => [g, g.version]));
    const atStart = versions();
    const snapped = new Set<string>();
    const reads = (t: string) => this.ancestors(t).some((a) => tables.has(a));
    const observer: DumpObserver = {
      wants: (t) => reads(t) && (reading.rowByRow?.(t) ?? true),
      table: (e) => {
        if (e.database !== null) throw new AnonymiseError('UNSUPPORTED', `${this.what} read one database's dump (pg_dump), not a pg_dumpall cluster dump`, { table: e.table });
        // what this read covers: keys added from here on need another read
        for (const a of this.ancestors(e.table))
          if (tables.has(a) && !snapped.has(a)) {
            snapped.add(a);
            this.readVersions.set(a, versions());
          }
      },
      row: (table, columns, row) => reading.row(table, columns, row),
    };
    // the first pass has read every line: this one may skip through the tables it does not read, or,
    // in a plain file, read the schema and their rows only
    const pieces = this.source.ranges ? this.index.pieces(reads) : null;
    const source = pieces ? () => this.source.ranges!(pieces) : this.source;
    await this.run(tables.size, { observer, overlay: reading.overlay, skipKept: true, fragment: pieces !== null }, source);
    // a table with no data in this dump has been read all the same
    for (const t of tables) if (!snapped.has(t)) this.readVersions.set(t, atStart);
  }
}

/** The table, its partition parent, theirs… (the table alone before the schema is known). */
export function ancestorsIn(schema: SchemaModel | null | undefined, table: string): string[] {
  const out = [table];
  if (!schema) return out;
  for (let t = schema.parentOf(table); t && out.length < 32 && !out.includes(t); t = schema.parentOf(t)) out.push(t);
  return out;
}
