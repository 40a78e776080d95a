/**
 * `scan`: how many values of each table and column look like personal data — e-mail, phone, UK
 * postcode, IP address, card number (Luhn), National Insurance number, person name — counted, never
 * shown. Text is searched inside JSON and inside base64-looking blobs (Django's session data).
 * Our own reserved fakes (example.com, 07700 900xxx, ZZ postcodes, documentation IPs) do not count.
 */
import type { Readable } from 'node:stream';
import { isMarkedName, matches } from '../pseudonym/detectors.js';
import { capitalisedPairs } from '../pseudonym/names.js';
import { DumpRewriter } from '../dump/rewriter.js';
import { CompiledRules } from '../rules/rule-compiler.js';
import type { StatementEvent, TableEvent } from '../dump/observer.js';
import type { SchemaModel } from '../dump/schema-model.js';
import { plainDump } from '../io/input.js';
import { AnonymiseError } from '../errors.js';

export const PII_KINDS = ['email', 'phone', 'postcode', 'ip', 'card', 'nino', 'name', 'secret', 'address'] as const;
export type PiiKind = (typeof PII_KINDS)[number];
/** The kinds the detector table finds (names need word lists, below). */
const TABLE_KINDS = PII_KINDS.filter((k) => k !== 'name');
const BIT = Object.fromEntries(PII_KINDS.map((k, i) => [k, 1 << i])) as Record<PiiKind, number>;
const BASE64_RUN = /[A-Za-z0-9+/]{24,}={0,2}/g;
const WORD_PAIR = /(?<![\p{L}'’-])([\p{L}'’-]{2,})\s+(?=([\p{L}'’-]{2,})(?![\p{L}'’-]))/gu;

export class PiiDetector {
  private readonly lowerFirst: Set<string>;
  private readonly lowerLast: Set<string>;
  constructor(private readonly names: { first: Set<string>; last: Set<string> }) {
    // search boxes and usernames hold names in lower case too
    this.lowerFirst = new Set([...names.first].map((n) => n.toLowerCase()));
    this.lowerLast = new Set([...names.last].map((n) => n.toLowerCase()));
  }

  /** Kinds found in `text` (a bit per kind, in PII_KINDS order). */
  kinds(text: string, depth = 0): number {
    let found = 0;
    // one match of a kind is enough to count it: the rest of a long text is not searched for it
    for (const k of TABLE_KINDS) if (!matches(text, [k]).next().done) found |= BIT[k];
    if (this.isName(text)) found |= BIT.name;
    // a base64 blob may hide JSON with addresses in it (Django sessions, signed cookies)
    if (depth === 0 && text.length >= 24) {
      BASE64_RUN.lastIndex = 0;
      for (let m = BASE64_RUN.exec(text); m; m = BASE64_RUN.exec(text)) {
        const decoded = Buffer.from(m[0], 'base64').toString('utf8');
        if (/^[\x20-\x7e\s\u00a0-\uffff]*$/.test(decoded) && !decoded.includes('\uFFFD')) found |= this.kinds(decoded, 1);
      }
    }
    return found;
  }

  /** A value that is a known first or last name, or holds "First Last". */
  private isName(text: string): boolean {
    const t = text.trim();
    // our own fakes carry a mark (detectors.ts): they are not counted
    if (t.length >= 3 && t.length <= 40 && (this.names.first.has(t) || this.names.last.has(t)) && !isMarkedName(t)) return true;
    // "First Last": a first name followed by a last name. In prose only capitalised (many names are
    // also words: will, may, green, hall); in short values (search queries, usernames) in any case.
    const short = text.length <= 64;
    WORD_PAIR.lastIndex = 0;
    for (let m = WORD_PAIR.exec(text); m; m = WORD_PAIR.exec(text)) {
      const a = m[1]!;
      const b = m[2]!;
      const capitalised = a[0] !== a[0]!.toLowerCase() && b[0] !== b[0]!.toLowerCase();
      if ((capitalised || short) && this.lowerFirst.has(a.toLowerCase()) && this.lowerLast.has(b.toLowerCase()) && !isMarkedName(`${a} ${b}`))
        return true;
    }
    return false;
  }
}

/** Between the keys of a nested path in ColumnScan.keys (a character no JSON key of a rule can hold). */
export const JSON_PATH_SEP = '\u0000';

export interface ColumnScan {
  values: number;
  nulls: number;
  /** values in which each kind was found */
  found: Record<PiiKind, number>;
  /** values that are JSON objects (with `jsonKeys`) */
  jsonDocs?: number;
  /** for JSON objects: the same counts per key, nested objects' keys by path (JSON_PATH_SEP) (with `jsonKeys`) */
  keys?: Record<string, { values: number; found: Record<PiiKind, number> }>;
  /** values that are one capitalised word pair ("Ana Trujillo"), at most PAIR_LIMIT (with `namePairs`; for init, never printed) */
  wholePairs?: Set<string>;
  /** capitalised word pairs inside longer values ("Ana Trujillo Emparedados"), at most PAIR_LIMIT (with `namePairs`) */
  innerPairs?: Set<string>;
}

/** How many distinct pairs a column keeps for init's cross-column check: bounds memory on huge samples. */
const PAIR_LIMIT = 20_000;

export interface TableSchema {
  columns: { name: string; type: string; notNull: boolean; generated: boolean }[];
  unique: string[];
  parent?: string;
}

export interface ScanResult {
  tables: Record<string, Record<string, ColumnScan>>;
  /**
   * Everything outside the rows, by the object it belongs to (`COMMENT public.TABLE users`,
   * `STATISTICS DATA public.users`, `ROLE`…): string constants and quoted names examined, and in how many
   * of them each kind was found
   */
  objects: Record<string, { values: number; found: Record<PiiKind, number> }>;
  /** pg_dumpall: the databases, in dump order; table keys are then `db/schema.table` */
  databases?: string[];
  /** tables whose rows the dump holds without saying their columns (a --data-only --inserts dump) */
  unknownColumns?: string[];
  /** what the dump says of each table (CREATE TABLE, constraints), for `init` */
  schema: Record<string, TableSchema>;
  bytesIn: number;
}

const noFindings = (): Record<PiiKind, number> => ({ email: 0, phone: 0, postcode: 0, ip: 0, card: 0, nino: 0, name: 0, secret: 0, address: 0 });

/** Counts findings per table and column, value by value (a dump's rows, or a live database's). */
export class ScanCollector {
  readonly tables: ScanResult['tables'] = {};
  readonly objects: ScanResult['objects'] = {};
  /** columns each table's data declares (COPY header, INSERT column list), rows or not */
  readonly declared = new Map<string, readonly string[] | null>();
  readonly databases: string[] = [];
  /** the database the rows now read belong to (pg_dumpall) */
  private database: string | null = null;
  private readonly rowsSeen = new Map<string, number>();
  private constructor(
    private readonly detector: PiiDetector,
    private readonly limit: number,
    private readonly jsonKeys: boolean,
    private readonly namePairs: boolean,
  ) {}

  static async create(options: { sampleRows?: number; jsonKeys?: boolean; namePairs?: boolean }): Promise<ScanCollector> {
    const fake = await import('../pseudonym/fake.js');
    await fake.loadLocales(['en', 'en_GB']);
    const names = { first: new Set<string>(), last: new Set<string>() };
    for (const loc of ['en', 'en_GB']) {
      const n = fake.personNames(loc);
      for (const x of n.first) if (x.length >= 3) names.first.add(x);
      for (const x of n.last) if (x.length >= 3) names.last.add(x);
    }
    return new ScanCollector(new PiiDetector(names), options.sampleRows ?? Infinity, options.jsonKeys ?? false, options.namePairs ?? false);
  }

  /** A table's data begins: its columns are known even if no row follows (an empty table). */
  table(e: TableEvent): void {
    this.database = e.database;
    if (e.database !== null && !this.databases.includes(e.database)) this.databases.push(e.database);
    this.declared.set(this.key(e.table), e.columns);
  }

  /** The key a table is reported under: `db/schema.table` in a pg_dumpall dump. */
  key(table: string, database = this.database): string {
    return database === null ? table : `${database}/${table}`;
  }

  /** One row; `value(c)` returns column c's text (null for NULL) or throws for undecodable bytes. */
  row(plainTable: string, columns: readonly string[], value: (c: number) => string | null): void {
    const table = this.key(plainTable);
    const seen = (this.rowsSeen.get(table) ?? 0) + 1;
    this.rowsSeen.set(table, seen);
    if (seen > this.limit) return;
    const t = (this.tables[table] ??= {});
    for (let c = 0; c < columns.length; c++) {
      const col = (t[columns[c]!] ??= { values: 0, nulls: 0, found: noFindings() });
      let text: string | null;
      try {
        text = value(c);
      } catch (e) {
        if (e instanceof AnonymiseError) continue; // undecodable: nothing to count
        throw e;
      }
      if (text === null) {
        col.nulls++;
        continue;
      }
      col.values++;
      this.count(col.found, text);
      if (this.jsonKeys && text.startsWith('{')) this.countKeys(col, text);
      if (this.namePairs) collectPairs(col, text);
    }
  }

  /** One statement outside the rows: its string constants and quoted names. */
  statement(e: StatementEvent): void {
    if (e.database !== null && !this.databases.includes(e.database)) this.databases.push(e.database);
    if (e.strings.length === 0 && e.secrets === 0) return;
    const key = this.key(e.object, e.database);
    const entry = (this.objects[key] ??= { values: 0, found: noFindings() });
    entry.found.secret += e.secrets;
    for (const s of e.strings) {
      entry.values++;
      this.count(entry.found, s);
    }
  }

  private count(found: Record<PiiKind, number>, text: string): void {
    const k = this.detector.kinds(text);
    if (k !== 0) for (let i = 0; i < PII_KINDS.length; i++) if (k & (1 << i)) found[PII_KINDS[i]!]++;
  }

  private countKeys(col: ColumnScan, text: string): void {
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch {
      return;
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return;
    col.jsonDocs = (col.jsonDocs ?? 0) + 1;
    this.countObject((col.keys ??= {}), obj as Record<string, unknown>, '', 0);
  }

  /**
   * An object's keys, counted by path: a nested object's own keys under its key (`contact` NUL `email`:
   * JSON_PATH_SEP), so that `{"contact": {"email", "name"}}` drafts a rule per key, not one for the whole.
   */
  private countObject(keys: NonNullable<ColumnScan['keys']>, obj: Record<string, unknown>, prefix: string, depth: number): void {
    for (const [key, v] of Object.entries(obj)) {
      const path = prefix + key;
      if (v && typeof v === 'object' && !Array.isArray(v) && depth < 8 && Object.keys(v).length > 0) {
        this.countObject(keys, v as Record<string, unknown>, path + JSON_PATH_SEP, depth + 1);
        continue;
      }
      const entry = (keys[path] ??= { values: 0, found: noFindings() });
      entry.values++;
      if (v === null || typeof v === 'boolean') continue;
      this.count(entry.found, typeof v === 'string' ? v : JSON.stringify(v));
    }
  }
}

/**
 * A value's capitalised word pairs, for init: a whole value that is one pair may be a person's name;
 * pairs inside longer text are where such a name may be copied (a business named after its owner).
 */
function collectPairs(col: ColumnScan, text: string): void {
  if (text.length > 4096) return;
  const pairs: string[] = [];
  capitalisedPairs(text, pairs);
  if (pairs.length === 0) return;
  const whole = pairs.length === 1 && text.trim().replace(/\s+/g, ' ') === pairs[0];
  const set = whole ? (col.wholePairs ??= new Set()) : (col.innerPairs ??= new Set());
  for (const p of pairs) if (set.size < PAIR_LIMIT) set.add(p);
}

export async function scanDump(
  source: AsyncIterable<Buffer> | Readable,
  options: { sampleRows?: number; jsonKeys?: boolean; namePairs?: boolean; onProgress?: (bytesIn: number, table: string | null) => void; schema?: SchemaModel } = {},
): Promise<ScanResult> {
  const collector = await ScanCollector.create(options);
  const tables = collector.tables;
  const schema: ScanResult['schema'] = {};
  // each database's schema once it is complete (pg_dumpall resets it at every \connect)
  const onSchema = (model: SchemaModel, database: string | null) => {
    for (const [key, def] of model.tables) {
      schema[collector.key(key, database)] = {
        // inherited and typed tables' columns too, in their physical order
        columns: (model.columnDefs(key) ?? def.columns).map((c) => ({ ...c })),
        unique: [...(model.uniques.get(key) ?? [])],
        parent: model.parentOf(key),
      };
    }
  };
  const rw = new DumpRewriter(
    {
      rules: CompiledRules.passthrough(),
      observer: {
        table: (e) => collector.table(e),
        row: (table, columns, row) => collector.row(table, columns, (c) => row.text(c)),
        statement: (e) => collector.statement(e),
      },
      onSchema,
      schema: options.schema,
    },
    () => {},
  );
  for await (const chunk of plainDump(source as AsyncIterable<Buffer>)) {
    rw.write(chunk);
    options.onProgress?.(rw.bytesIn, rw.currentTable);
  }
  rw.end();
  // tables seen only in data (a --data-only dump): their columns as the COPY/INSERT named them, rows or not
  const unknownColumns: string[] = [];
  for (const [table, cols] of collector.declared) {
    if (schema[table]) continue;
    if (cols === null) unknownColumns.push(table);
    else schema[table] = { columns: cols.map((name) => ({ name, type: '', notNull: false, generated: false })), unique: [] };
  }
  return { tables, objects: collector.objects, schema, bytesIn: rw.bytesIn, databases: collector.databases.length ? collector.databases : undefined, unknownColumns };
}

/** Columns with any finding, as lines of a table; never a value. */
export function formatScan(res: ScanResult, kinds: readonly PiiKind[] = PII_KINDS): string {
  const rows: string[][] = [];
  for (const [table, cols] of Object.entries(res.tables)) {
    for (const [col, s] of Object.entries(cols)) {
      if (!kinds.some((k) => s.found[k] > 0)) continue;
      rows.push([`${table}.${col}`, String(s.values), ...kinds.map((k) => (s.found[k] ? String(s.found[k]) : '-'))]);
    }
  }
  for (const [object, s] of Object.entries(res.objects ?? {})) {
    if (!kinds.some((k) => s.found[k] > 0)) continue;
    rows.push([object, String(s.values), ...kinds.map((k) => (s.found[k] ? String(s.found[k]) : '-'))]);
  }
  if (rows.length === 0) return `no personal data found (${kinds.join(', ')})\n`;
  const head = ['column or object', 'values', ...kinds];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

/** Whether any of `kinds` was found anywhere. */
/**
 * Whether any of `kinds` was found; `reviewed` ("table.column") are columns the rules keep with a
 * reason, which someone looked at: reported, not counted.
 */
export function foundAny(res: ScanResult, kinds: readonly PiiKind[], reviewed: ReadonlySet<string> = new Set()): boolean {
  return (
    Object.entries(res.tables).some(([t, cols]) => Object.entries(cols).some(([c, s]) => !reviewed.has(`${t}.${c}`) && kinds.some((k) => s.found[k] > 0))) ||
    Object.values(res.objects ?? {}).some((s) => kinds.some((k) => s.found[k] > 0))
  );
}

/** The scanned columns whose rule is `{ keep: "reason" }`, as "table.column" (a partition by its parent's rule). */
export function reviewedColumns(res: ScanResult, rules: CompiledRules): Set<string> {
  const out = new Set<string>();
  for (const [key, cols] of Object.entries(res.tables)) {
    const slash = key.indexOf('/');
    const db = slash === -1 ? null : key.slice(0, slash);
    const table = key.slice(slash + 1);
    const own = db === null ? rules : rules.forDatabase(db);
    const parentOf = (t: string) => res.schema[db === null ? t : `${db}/${t}`]?.parent;
    const r = own.resolve(table, parentOf)?.rule;
    if (r?.kind !== 'columns') continue;
    for (const col of Object.keys(cols)) {
      const cr = r.columns.get(col);
      if (cr?.kind === 'keep' && cr.reason) out.add(`${key}.${col}`);
    }
  }
  return out;
}
