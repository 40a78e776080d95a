/**
 * The leak check a pipeline runs before a dump leaves production: read the original values of every
 * column the rules rewrite (and of dropped tables) from the source database, keep only keyed hashes of
 * them, then look for those hashes in the rewritten dump — whole values, JSON strings, and e-mails,
 * phones, postcodes and IPs inside text. Reports counts per source column, never a value.
 *
 * The source is read with pg-query-stream: a cursor, so memory holds the hashes, not the rows.
 */
import type { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { DETECTOR_KINDS, isReservedFake, isWhole, matches } from '../pseudonym/detectors.js';
import { SipHash } from '../pseudonym/siphash.js';
import { capitalisedPairs, namePairs } from '../pseudonym/names.js';
import { DumpRewriter } from '../dump/rewriter.js';
import { CompiledRules } from '../rules/rule-compiler.js';
import { type RowAccess } from '../contract/plan.js';
import { plainDump } from '../io/input.js';
import { connectTo, loadQueryStream } from './db-connect.js';
import { jsonKeySegment } from '../rules/rules-file.js';
import { type ColumnRule } from '../contract/rules-model.js';
import { ruleKind } from '../rules/kinds/registry.js';

/** Shorter originals ("Bo", "1") would match everywhere by chance: they are not looked for. */
const MIN_LENGTH = 5;
/** What is extracted from inside text: every kind but URLs (a site's own links recur everywhere). */
const TEXT_KINDS = DETECTOR_KINDS.filter((k) => k !== 'url');
/**
 * Numbers, dates and timestamps: ids and times of dropped rows recur everywhere by chance. Phone
 * numbers and IP addresses are digits too, and personal: they are looked for.
 */
const NOT_PERSONAL = /^[\d\s:.,+\-TZ]*$|^(t|f|true|false)$/;
const notPersonal = (p: string) => NOT_PERSONAL.test(p) && !isWhole('phone', p) && !isWhole('ip', p);
const SINGLE_WORD = /^[\p{L}'’-]{1,24}$/u;
/** Low-entropy kinds: a venue's public postcode or switchboard number can equal a resident's. */
const lowEntropy = (p: string) => isWhole('phone', p) || isWhole('postcode', p);

/** First, last and family names (for the name pairs `scrub: [name]` replaces). */
export interface NameSets {
  first: ReadonlySet<string>;
  last: ReadonlySet<string>;
  family?: ReadonlySet<string>;
}

export interface LeakReport {
  /**
   * "table.column" → distinct original values looked for; how many of them the dump contains
   * (`found`); and how many low-entropy ones it contains (`possible`: a postcode, a phone number, or
   * a short value of a dropped table, which public data such as a venue's address can hold by chance)
   */
  columns: Record<string, { originals: number; found: number; possible: number; where: string[] }>;
  valuesChecked: number;
}


class HashSet {
  private readonly sip = new SipHash(randomBytes(16)); // this run only: nothing to reuse or leak
  private readonly seen = new Map<number, number>(); // 52-bit hash → source column index
  /** Adds an original value; one found in several columns counts for the first. Returns whether it was new. */
  add(text: string, column: number): boolean {
    const k = this.key(text);
    if (this.seen.has(k)) return false;
    this.seen.set(k, column);
    return true;
  }
  lookup(text: string): number | undefined {
    return this.seen.get(this.key(text));
  }
  get size(): number {
    return this.seen.size;
  }
  private key(text: string): number {
    this.sip.hash(Buffer.from(text, 'utf8'));
    return (this.sip.hi & 0xfffff) * 4294967296 + this.sip.lo;
  }
}

const isIp = (s: string) => isWhole('ip', s);

/** The pieces of a value worth looking up: itself, JSON strings in it, and detector matches. */
function pieces(text: string, out: string[], names: boolean): void {
  out.length = 0;
  if (text.length >= MIN_LENGTH) out.push(text);
  // a scrubbed name left in the output is a capitalised pair inside some text
  if (names) capitalisedPairs(text, out);
  if (text.startsWith('{') || text.startsWith('[') || text.startsWith('"')) {
    try {
      collectStrings(JSON.parse(text), out);
    } catch {
      arrayElements(text, out); // not JSON: maybe an array
    }
  }
  detectorMatches(text, out);
}

/** Strings in a JSON value; a string that is itself a JSON document (double-encoded) is opened too. */
function collectStrings(v: unknown, out: string[], depth = 0): void {
  if (depth > 64) return;
  if (typeof v === 'string') {
    if (v.length >= MIN_LENGTH) out.push(v);
    if (depth < 8 && (v.startsWith('{') || v.startsWith('[') || v.startsWith('"'))) {
      try {
        collectStrings(JSON.parse(v), out, depth + 1);
      } catch {
        // not JSON after all
      }
    }
  } else if (Array.isArray(v)) for (const x of v) collectStrings(x, out, depth + 1);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) collectStrings(x, out, depth + 1);
}

/**
 * Elements of a PostgreSQL array literal (`{a,"b c"}`) as statistics and array columns write them:
 * a histogram of a rewritten column holds its originals one by one.
 */
function arrayElements(text: string, out: string[]): void {
  if (!text.startsWith('{') || !text.endsWith('}')) return;
  const re = /"((?:[^"\\]|\\.)*)"|([^,{}"]+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const el = m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!.trim();
    if (el.length >= MIN_LENGTH && el !== 'NULL') out.push(el);
  }
}

function detectorMatches(text: string, out: string[]): void {
  for (const m of matches(text, TEXT_KINDS)) if (m.text.length >= MIN_LENGTH) out.push(m.text);
}

/**
 * Collects what of an original value must not reach the output under `rule`: the value itself for
 * rules that replace it, detector matches for `scrub` (the rest of the text is kept on purpose), and
 * for `json` the strings under every key whose rule is not `keep`.
 */
function originalsOf(rule: ColumnRule | undefined, unknownKeeps: boolean, value: unknown, out: string[], names?: NameSets): void {
  if (rule === undefined) {
    if (!unknownKeeps) collectStrings(value, out);
    return;
  }
  switch (ruleKind(rule).leaks) {
    case 'none':
      return;
    case 'matches': {
      // names scrubbed from text are looked for too, as the pairs scrub replaces ("Olivia Smith")
      const withNames = names && rule.kind === 'scrub' && rule.detectors.includes('name');
      const strings: string[] = [];
      if (typeof value === 'string') strings.push(value);
      else if (value && typeof value === 'object') collectStrings(value, strings);
      for (const s of strings) {
        detectorMatches(s, out);
        if (withNames) namePairs(s, names, out);
      }
      return;
    }
    case 'json': {
      if (rule.kind !== 'json') return;
      let doc = value;
      if (typeof value === 'string') {
        try {
          doc = JSON.parse(value);
        } catch {
          return; // a json rule on text that is not JSON: the run itself stops there
        }
      }
      walkJson(doc, '', rule.keys, unknownKeeps, out);
      return;
    }
    default:
      collectStrings(value, out);
  }
}

function walkJson(v: unknown, prefix: string, keys: Map<string, ColumnRule>, unknownKeeps: boolean, out: string[]): void {
  if (Array.isArray(v)) {
    for (const x of v) walkJson(x, prefix, keys, unknownKeeps, out);
    return;
  }
  const star = keys.get(prefix ? `${prefix}.*` : '*') ?? keys.get('*');
  if (!v || typeof v !== 'object') {
    originalsOf(star, unknownKeeps, v, out);
    return;
  }
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    // the rules' spelling of a path: a dot inside a key is escaped
    const path = prefix ? `${prefix}.${jsonKeySegment(k)}` : jsonKeySegment(k);
    const own = keys.get(path);
    if (own) originalsOf(own, unknownKeeps, x, out);
    else if ([...keys.keys()].some((p) => p.startsWith(`${path}.`))) walkJson(x, path, keys, unknownKeeps, out);
    else originalsOf(star, unknownKeeps, x, out);
  }
}

export async function leakCheck(
  dump: AsyncIterable<Buffer> | Readable,
  rules: CompiledRules,
  sourceUrl: string,
  options: { ignore?: Set<string>; names?: NameSets } = {},
): Promise<LeakReport> {
  const hashes = new HashSet();
  const columnNames: string[] = [];
  const originals: number[] = [];
  // every value as PostgreSQL's output function writes it, which is how the dump writes it (an inet
  // is `10.1.2.3`, where a ::text cast would give `10.1.2.3/32`)
  const asText = (v: string) => v;
  const QueryStream = await loadQueryStream();
  const client = await connectTo(sourceUrl, 'the source database', { types: { getTypeParser: () => asText } });
  try {
    // a pg_dumpall dump's rules: those of the database the originals come from
    const current = (await client.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db;
    rules = rules.forDatabase(current);
    const cols = await client.query<{ schema: string; table: string; column: string }>(
      `SELECT n.nspname AS schema, c.relname AS table, a.attname AS column
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
        ORDER BY 1, 2, a.attnum`,
    );
    const parents = new Map<string, string>();
    const inh = await client.query<{ child: string; parent: string }>(
      `SELECT cn.nspname || '.' || c.relname AS child, pn.nspname || '.' || p.relname AS parent
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
         JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace`,
    );
    for (const r of inh.rows) parents.set(r.child, r.parent);
    const parentOf = (t: string) => parents.get(t);
    const unknownKeeps = rules.unknown === 'keep';
    const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
    const found: string[] = [];
    for (const { schema, table, column } of cols.rows) {
      const key = `${schema}.${table}`;
      const resolved = rules.resolve(key, parentOf);
      let rule: ColumnRule | undefined;
      if (!resolved) {
        if (unknownKeeps) continue;
      } else if (resolved.rule.kind === 'keep') continue;
      else if (resolved.rule.kind === 'columns') {
        rule = resolved.rule.columns.get(column) ?? resolved.rule.columns.get('*');
        if (rule?.kind === 'keep' || (!rule && unknownKeeps)) continue;
      }
      // dropped tables and unclassified columns: every value is looked for
      const index = columnNames.push(`${key}.${column}`) - 1;
      originals.push(0);
      const stream = client.query(
        new QueryStream(`SELECT ${ident(column)} AS v FROM ONLY ${ident(schema)}.${ident(table)} WHERE ${ident(column)} IS NOT NULL`, [], { batchSize: 1000 }),
      );
      for await (const row of stream as AsyncIterable<{ v: string }>) {
        found.length = 0;
        if (rule) originalsOf(rule, unknownKeeps, row.v, found, options.names);
        else {
          // a dropped table (or an unclassified column): short values whole (names, addresses,
          // tokens); of long text only the personal data in it — prose from a dropped table may
          // match page text by coincidence, which is no leak
          if (row.v.length <= 64) found.push(row.v);
          const strings: string[] = [];
          if (row.v.startsWith('{') || row.v.startsWith('[')) {
            try {
              collectStrings(JSON.parse(row.v), strings);
            } catch {
              // not JSON after all
            }
          }
          for (const x of strings) if (x.length <= 64) found.push(x);
          detectorMatches(row.v, found);
        }
        // a single word (a first name, a town) can equal a kept value by coincidence: "Aurora" the
        // person and Aurora the place; it is reported as possible, as postcodes and phones are
        const highEntropy = (p: string) => !lowEntropy(p) && !SINGLE_WORD.test(p) && (rule !== undefined || p.includes('@') || isIp(p));
        for (const p of found) {
          // our own reserved fakes (victim@example.com) are not personal data, in the source or out of it
          if (options.ignore?.has(p) || notPersonal(p) || DETECTOR_KINDS.some((k) => isReservedFake(k, p))) continue;
          if (hashes.add(p, index * 2 + (highEntropy(p) ? 0 : 1))) originals[index]!++;
        }
      }
    }
  } finally {
    await client.end().catch(() => {});
  }
  const found = columnNames.map(() => new Set<number>());
  const possible = columnNames.map(() => new Set<number>());
  // where in the output each column's originals were found (columns and objects, never the value)
  const where = columnNames.map(() => new Set<string>());
  let valuesChecked = 0;
  const scratch: string[] = [];
  const look = (text: string, place: string) => {
    valuesChecked++;
    pieces(text, scratch, options.names !== undefined);
    for (const p of scratch) {
      const v = hashes.lookup(p);
      if (v === undefined) continue;
      (v & 1 ? possible : found)[v >> 1]!.add(hashKey(p));
      if (where[v >> 1]!.size < MAX_PLACES) where[v >> 1]!.add(place);
    }
  };
  const row = (table: string, columns: readonly string[], access: RowAccess) => {
    for (let c = 0; c < columns.length; c++) {
      let text: string | null;
      try {
        text = access.text(c);
      } catch {
        continue;
      }
      if (text !== null) look(text, `${table}.${columns[c]}`);
    }
  };
  // everything outside the rows too: comments, DDL literals, statistics, role and connection definitions
  const rw = new DumpRewriter({ rules: CompiledRules.passthrough(), observer: { row, statement: (e) => e.strings.forEach((t) => look(t, objectKind(e.object))) } }, () => {});
  for await (const chunk of plainDump(dump as AsyncIterable<Buffer>)) rw.write(chunk);
  rw.end();
  const columns: LeakReport['columns'] = {};
  columnNames.forEach((name, i) => (columns[name] = { originals: originals[i]!, found: found[i]!.size, possible: possible[i]!.size, where: [...where[i]!] }));
  return { columns, valuesChecked };
}

/**
 * A statement outside the rows named by its kind only (`CHECK CONSTRAINT`, `VIEW`, `COMMENT`): an
 * object's own name can be a person's (a constraint `not_bob`), and the kind says where to look.
 */
function objectKind(label: string): string {
  const kind = /^[A-Z][A-Z ]*[A-Z]\b/.exec(label)?.[0] ?? 'a statement';
  return `${kind} (outside the rows)`;
}

/** Places named per column: enough to find the cause, few enough for one line. */
const MAX_PLACES = 3;

// distinct originals found: a cheap stable number per piece is enough to count them
function hashKey(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

