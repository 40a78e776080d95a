/**
 * `find` and `forget`: a person's rows in a dump file, counted (and exported for a subject access
 * request), or removed with everything that refers to them, their identifiers scrubbed from every
 * other row and statement. The passes are relations/people.ts's; this module opens files, writes
 * outputs atomically and reports. Counts only: no value of the dump is ever printed.
 */
import type { SchemaModel } from '../dump/schema-model.js';
import { closeSync, existsSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'node:fs/promises';
import { rewriteStream, type RewriteResult } from '../engine/run.js';
import { readHead, sniff } from '../io/input.js';
import { writeFileAtomically } from '../io/atomic.js';
import { AnonymiseError } from '../errors.js';
import { openPath, plainBytes } from '../archive/open.js';
import { ArchiveFormat } from '../archive/format.js';
import { rewriteArchive } from '../archive/rewrite.js';
import { KeyRing } from '../pseudonym/keys.js';
import { CompiledRules } from '../rules/rule-compiler.js';
import { type RowAccess } from '../contract/plan.js';
import type { RelationRule } from '../contract/rules-model.js';
import { People, type Condition, type Fate, type PassSource } from '../relations/people.js';
import { forgetOverlay } from '../relations/forget-judge.js';
import type { Relation } from '../relations/graph.js';
import type { PlanOverlay } from '../dump/rewriter.js';

export interface PeopleRequest {
  conditions: Condition[];
  /** the rules (relations, and which columns hold personal data) */
  rules?: CompiledRules;
  relations?: ReadonlyMap<string, RelationRule>;
  cascade?: boolean;
  /** keys the identifiers' replacements (random when absent) */
  secret?: string;
  /** memory for one set of row keys before it spills to disk (key-set.ts) */
  maxKeyBytes?: number;
  onPass?: (n: number, tables: number | 'all') => void;
  /** values to search for and scrub besides those taken from the matched rows */
  addIdentifiers?: string[];
  /** values of the matched rows never to search for */
  dropIdentifiers?: string[];
  /** a --data-only dump's schema (--schema FILE): its tables' columns, types and foreign keys */
  schema?: SchemaModel;
}

/** Every pass reads the file from its start: plain, gzip, or an archive printed as pg_restore prints it. */
export function passSource(path: string): PassSource {
  if (/^s3:\/\//i.test(path))
    throw new AnonymiseError('USAGE', `${path}: this reads the dump two or more times (its foreign keys come after its data), which object storage would bill and could change in between: download it first (aws s3 cp)`);
  const st = statSync(path);
  if (!st.isFile() && !st.isDirectory())
    throw new AnonymiseError('USAGE', `${path} is a pipe or a device, and this reads the dump two or more times (its foreign keys come after its data): save it to a file first`);
  const first = fingerprint(path);
  // every pass must read the same file: one written to meanwhile would be judged on two versions
  const same = () => {
    if (fingerprint(path) !== first) throw new AnonymiseError('BAD_INPUT', 'the input changed between two passes over it: read a copy that nothing writes to');
  };
  const source: PassSource = () =>
    (async function* () {
      same();
      yield* plainBytes(await openPath(path));
    })();
  // a plain, uncompressed file: later passes may read the parts they need
  source.unchanged = same;
  // a plain, uncompressed file (sniff: not gzip nor any other container)
  if (!statSync(path).isDirectory() && sniff(readHead(path, 512)) === null)
    source.ranges = (ranges) => {
      same();
      return readRanges(path, ranges);
    };
  return source;
}

/** Size and modification time of a file (of a directory archive's toc.dat). */
function fingerprint(path: string): string {
  const st = statSync(path);
  const f = st.isDirectory() ? statSync(join(path, 'toc.dat')) : st;
  return `${f.size}:${f.mtimeMs}:${f.ino}`;
}

/** Byte ranges of a file, in order, in chunks of at most 1 MiB. */
async function* readRanges(path: string, ranges: readonly (readonly [number, number])[]): AsyncGenerator<Buffer> {
  const fh = await open(path, 'r');
  try {
    for (const [start, end] of ranges) {
      for (let at = start; at < end; ) {
        const buf = Buffer.allocUnsafe(Math.min(1 << 20, end - at));
        const { bytesRead } = await fh.read(buf, 0, buf.length, at);
        if (bytesRead === 0) throw new AnonymiseError('BAD_INPUT', 'the input file changed between passes (it is shorter)');
        yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
        at += bytesRead;
      }
    }
  } finally {
    await fh.close();
  }
}

function people(mode: 'find' | 'forget', path: string, r: PeopleRequest): People {
  if (!/^s3:\/\//i.test(path) && !existsSync(path)) throw new AnonymiseError('USAGE', `no such input: ${path}`);
  if (r.schema && (statSync(path).isDirectory() || readHead(path, 5).toString('latin1') === 'PGDMP'))
    throw new AnonymiseError('USAGE', '--schema is for a plain --data-only dump: an archive holds its schema (dump it without --data-only)');
  const p = new People(mode, passSource(path), {
    conditions: r.conditions,
    relations: r.relations ?? r.rules?.data.relations,
    rules: r.rules,
    cascade: r.cascade,
    sip: new KeyRing(r.secret).sip('forget-identifier'),
    maxKeyBytes: r.maxKeyBytes,
    onPass: r.onPass,
    addIdentifiers: r.addIdentifiers,
    dropIdentifiers: r.dropIdentifiers,
  });
  p.dumpSchema = r.schema;
  return p;
}

export interface FindResult {
  input: string;
  /** rows each condition matched, in the order given */
  conditions: { source: string; table: string; column: string; rows: number }[];
  tables: {
    table: string;
    /** rows a condition matched */
    matched: number;
    /** rows that refer to them along a reference that removes (CASCADE), transitively */
    removed: number;
    /** rows that refer to them and would stay (their reference set to NULL, or kept) */
    referring: number;
    /** per reference: rows that refer along it, and what forget does (`undecided`: it stops there unless --cascade) */
    relations: { name: string; action: string; rows: number }[];
  }[];
  /** distinct identifiers taken from the matched rows (unique and personal values) */
  identifiers: number;
  /** values of the matched rows too common to name the person (a single word, a short value): not searched */
  identifiersNotSearched: number;
  /** values that hold an identifier, in rows forget keeps: per table and column */
  occurrences: { table: string; column: string; values: number }[];
  passes: number;
  exported?: { table: string; rows: number; files: string[] }[];
}

export async function findPeople(path: string, r: PeopleRequest & { exportDir?: string }): Promise<FindResult> {
  const p = people('find', path, r);
  await p.resolve();
  p.stopCollectingBlocked();
  const tables = new Map<string, FindResult['tables'][number]>();
  const occurrences = new Map<string, { table: string; column: string; values: number }>();
  const exporter = r.exportDir ? new Exporter(r.exportDir) : null;
  const visit = (table: string, columns: readonly string[], row: RowAccess, fate: Fate, hit: boolean) => {
    if (fate.seed || fate.removed || fate.refs.length) {
      let t = tables.get(table);
      if (!t) tables.set(table, (t = { table, matched: 0, removed: 0, referring: 0, relations: [] }));
      if (fate.seed) t.matched++;
      else if (fate.removed) t.removed++;
      else t.referring++;
      for (const rel of new Set(fate.refs)) countRelation(t, rel);
      exporter?.row(table, columns, row);
    }
    if (hit && !fate.removed) {
      const text = p.textColumns(table, columns);
      const bytes = p.byteaColumns(table, columns);
      for (const c of [...text, ...bytes]) {
        const v = row.text(c);
        if (v === null || p.scrubValue(v, bytes.has(c)).hits === 0) continue;
        const key = `${table}\u0000${columns[c]}`;
        const o = occurrences.get(key) ?? { table, column: columns[c]!, values: 0 };
        o.values++;
        occurrences.set(key, o);
      }
    }
  };
  // large objects (lowrite statements; an archive's blobs as pg_restore prints them) that hold an
  // identifier: counted as a column's values are, never changed (find writes nothing)
  const inLargeObjects = { table: 'pg_catalog.pg_largeobject', column: 'data', values: 0 };
  const outsideIdentifiers = {
    find: () => -1,
    scrub: (text: string) => ({ text, hits: 0 }),
    scrubBytes: (data: Buffer) => {
      if (p.ids.scrubBytes(data)) inLargeObjects.values++;
      return null;
    },
  };
  try {
    await p.run('all', { overlay: forgetOverlay(p, visit, false), outsideIdentifiers });
    if (inLargeObjects.values) occurrences.set(`${inLargeObjects.table}\u0000${inLargeObjects.column}`, inLargeObjects);
  } finally {
    exporter?.close();
    p.close();
  }
  return {
    input: path,
    conditions: conditionCounts(r, p),
    tables: [...tables.values()].sort((a, b) => a.table.localeCompare(b.table)),
    identifiers: p.ids.values.length,
    identifiersNotSearched: p.notSearched,
    occurrences: [...occurrences.values()].sort((a, b) => a.table.localeCompare(b.table) || a.column.localeCompare(b.column)),
    passes: p.passes,
    exported: exporter?.summary(),
  };
}

function conditionCounts(r: PeopleRequest, p: People): FindResult['conditions'] {
  return r.conditions.map((c) => ({ source: c.source, table: c.table, column: c.column, rows: p.matched.get(c) ?? 0 }));
}

/** A line for the values that were not searched, or none. */
function notSearchedLine(n: number): string[] {
  return n ? [`  ${n} value${n === 1 ? '' : 's'} of the matched rows too common to name one person (a single word, a short value) not searched for elsewhere: give one with --identifier to search it`] : [];
}

/** One line per condition that matched nothing, by where it was given (never its value). */
function unmatchedLines(conditions: FindResult['conditions']): string[] {
  return conditions.filter((c) => c.rows === 0).map((c) => `  ${c.source} (${c.table}.${c.column}): matched nothing`);
}

function countRelation(t: FindResult['tables'][number], rel: Relation): void {
  let x = t.relations.find((y) => y.name === rel.name);
  // find follows undecided references as --cascade would, and says so: forget itself stops at them
  if (!x) t.relations.push((x = { name: rel.name, action: rel.undecided ? 'undecided' : rel.action, rows: 0 }));
  x.rows++;
}

export function formatFind(r: FindResult): string {
  const lines: string[] = [];
  const matched = r.conditions.reduce((n, c) => n + c.rows, 0);
  lines.push(`${r.input}: ${matched} row${matched === 1 ? '' : 's'} matched by ${r.conditions.length} condition${r.conditions.length === 1 ? '' : 's'}${r.conditions.some((c) => c.rows === 0) ? ` (${r.conditions.filter((c) => c.rows === 0).length} matched nothing)` : ''}`);
  if (r.tables.length) {
    lines.push('', 'their rows, and rows that refer to them:');
    const w = Math.max(...r.tables.map((t) => t.table.length));
    for (const t of r.tables) {
      const undecided = t.relations.some((rel) => rel.action === 'undecided');
      const parts = [t.matched && `${t.matched} matched`, t.removed && `${t.removed} refer (forget removes them${undecided ? ' with --cascade' : ''})`, t.referring && `${t.referring} refer (forget keeps them)`].filter(Boolean);
      lines.push(`  ${t.table.padEnd(w)}  ${String(t.matched + t.removed + t.referring).padStart(8)}  ${parts.join(', ')}`);
      for (const rel of t.relations)
        lines.push(`  ${''.padEnd(w)}  ${''.padStart(8)}    ${rel.rows} along ${rel.name} (${rel.action === 'undecided' ? 'nothing says what to do: forget stops here unless --cascade, or on_forget in relations:' : rel.action.replace('_', ' ')})`);
    }
  }
  lines.push(...unmatchedLines(r.conditions));
  lines.push('', `identifiers taken from the matched rows: ${r.identifiers}`, ...notSearchedLine(r.identifiersNotSearched));
  if (r.occurrences.length) {
    lines.push('values elsewhere that hold one (forget scrubs them):');
    const w = Math.max(...r.occurrences.map((o) => o.table.length + o.column.length + 1));
    for (const o of r.occurrences) lines.push(`  ${`${o.table}.${o.column}`.padEnd(w)}  ${String(o.values).padStart(8)}`);
  } else lines.push('no value elsewhere holds one');
  if (r.exported?.length) {
    lines.push('', 'exported (personal data: mode 0600):');
    for (const e of r.exported) lines.push(`  ${e.table}: ${e.rows} rows → ${e.files.join(', ')}`);
  }
  lines.push('', `passes over the dump: ${r.passes}`);
  return lines.join('\n') + '\n';
}

/**
 * A subject access request's files: one CSV and one JSON file per table, created 0600 in a 0700
 * directory, written as rows arrive. They are personal data by design.
 */
class Exporter {
  private readonly files = new Map<string, { columns: readonly string[]; csv: number; json: number; rows: number; names: string[] }>();
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  row(table: string, columns: readonly string[], row: RowAccess): void {
    let f = this.files.get(table);
    if (!f) {
      const base = table.replace(/[^A-Za-z0-9._-]/g, '_');
      const names = [`${base}.csv`, `${base}.json`];
      let csv: number, json: number;
      try {
        csv = openSync(join(this.dir, names[0]!), 'wx', 0o600);
        json = openSync(join(this.dir, names[1]!), 'wx', 0o600);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new AnonymiseError('USAGE', `--export ${this.dir}: ${names.join(' or ')} exists already; export into a new directory`);
        throw e;
      }
      writeSync(csv, columns.map(csvField).join(',') + '\r\n');
      writeSync(json, '[');
      this.files.set(table, (f = { columns, csv, json, rows: 0, names }));
    }
    const values = columns.map((_, i) => row.text(i));
    writeSync(f.csv, values.map((v) => (v === null ? '' : csvField(v))).join(',') + '\r\n');
    writeSync(f.json, (f.rows ? ',\n' : '\n') + JSON.stringify(Object.fromEntries(columns.map((c, i) => [c, values[i]]))));
    f.rows++;
  }
  close(): void {
    for (const f of this.files.values()) {
      writeSync(f.json, '\n]\n');
      closeSync(f.csv);
      closeSync(f.json);
    }
  }
  summary(): { table: string; rows: number; files: string[] }[] {
    return [...this.files].map(([table, f]) => ({ table, rows: f.rows, files: f.names.map((n) => join(this.dir, n)) }));
  }
}

/** RFC 4180: quoted always (an empty string stays apart from NULL, which is written as nothing). */
function csvField(v: string): string {
  return `"${v.replace(/"/g, '""')}"`;
}

export interface ForgetReport {
  input: string;
  output: string;
  /** rows the conditions matched */
  matched: number;
  passes: number;
  /** rows each condition matched, in the order given */
  conditions: { source: string; table: string; column: string; rows: number }[];
  identifiers: number;
  /** values of the matched rows too common to name the person: not searched */
  identifiersNotSearched: number;
  tables: { table: string; rowsIn: number; rowsRemoved: number; valuesChanged: Record<string, number> }[];
  outside: Record<string, number>;
  seconds: number;
}

/**
 * The dump without the person: written to `output` in the input's own form (plain, gzip, custom,
 * directory), atomically.
 */
export async function forgetDump(input: string, output: string, r: PeopleRequest & { signal?: AbortSignal }): Promise<ForgetReport> {
  const started = Date.now();
  const p = people('forget', input, r);
  try {
    return await forgetWith(p, input, output, r, started);
  } finally {
    p.close();
  }
}

async function forgetWith(p: People, input: string, output: string, r: PeopleRequest & { signal?: AbortSignal }, started: number): Promise<ForgetReport> {
  await p.resolve();
  p.assertDecided();
  p.stopCollectingBlocked();
  const overlay = forgetOverlay(p, null, true);
  const outsideIdentifiers = {
    find: (b: Buffer, from: number, end: number) => p.ids.search.find(b, from, end),
    scrub: (t: string) => p.ids.scrub(t),
    scrubBytea: (hex: string) => p.ids.scrubBytea(hex),
    scrubBytes: (data: Buffer) => p.ids.scrubBytes(data),
  };
  const rules = CompiledRules.passthrough();
  p.source.unchanged?.();
  const src = await openPath(input);
  let result: RewriteResult;
  p.passes++;
  r.onPass?.(p.passes, 'all');
  if (src.kind === 'archive') {
    const format = src.archive.members ? 'tar' : src.archive.format === ArchiveFormat.Custom ? 'custom' : 'directory';
    if (format === 'directory' && existsSync(output)) throw new AnonymiseError('USAGE', `-o ${output} exists: a directory archive is written to a new directory`);
    // an archive's table is rewritten only if it changes: the others' compressed data is copied as it
    // is, and a pass over the archive's text that finds which change costs less than recompressing them
    const changing = await changingTables(p);
    const only: PlanOverlay = (table, columns, plan) => (changing.has(table) ? overlay(table, columns, plan) : plan);
    // backups kept for years: the tables forget changes are compressed as pg_dump's default does, size before speed
    result = await rewriteArchive(src.archive, { rules, rulesSource: {}, format, output, overlay: only, outsideIdentifiers, jobs: 1, compressLevel: 6, signal: r.signal });
  } else {
    const form = sniff(readHead(input, 512));
    result = await writeFileAtomically(output, form !== null && 'gzip' in form ? 6 : null, async (sink) => {
      const res = await rewriteStream(plainBytes(src), sink, { rules, overlay, outsideIdentifiers, signal: r.signal, schema: r.schema }).done;
      // written from the file the passes read, or not at all
      p.source.unchanged?.();
      return res;
    });
  }
  return {
    input,
    output,
    matched: [...p.matched.values()].reduce((a, b) => a + b, 0),
    passes: p.passes,
    conditions: conditionCounts(r, p),
    identifiers: p.ids.values.length,
    identifiersNotSearched: p.notSearched,
    tables: result.tables
      .filter((t) => t.rowsDropped > 0 || Object.values(t.changed).some((n) => n > 0))
      .map((t) => ({ table: t.table, rowsIn: t.rowsIn, rowsRemoved: t.rowsDropped, valuesChanged: Object.fromEntries(Object.entries(t.changed).filter(([, n]) => n > 0)) })),
    outside: { ...result.outside },
    seconds: Math.round((Date.now() - started) / 10) / 100,
  };
}

export function formatForget(r: ForgetReport): string {
  const lines = [`${r.input} → ${r.output}: ${r.matched} row${r.matched === 1 ? '' : 's'} matched, ${r.identifiers} identifier${r.identifiers === 1 ? '' : 's'}, ${r.passes} passes, ${r.seconds} s`];
  for (const t of r.tables) {
    const changed = Object.entries(t.valuesChanged).map(([c, n]) => `${c} ${n}`);
    lines.push(`  ${t.table}: ${t.rowsRemoved} of ${t.rowsIn} rows removed${changed.length ? `; values changed: ${changed.join(', ')}` : ''}`);
  }
  if (r.outside.identifiersScrubbed) lines.push(`  outside the rows: ${r.outside.identifiersScrubbed} identifiers scrubbed`);
  lines.push(...notSearchedLine(r.identifiersNotSearched), ...unmatchedLines(r.conditions));
  return lines.join('\n') + '\n';
}

/** The tables in which forget removes a row, sets a value to NULL or scrubs an identifier: a pass that writes nothing. */
async function changingTables(p: People): Promise<Set<string>> {
  const out = new Set<string>();
  const visit = (table: string, columns: readonly string[], row: RowAccess, fate: Fate, hit: boolean) => {
    if (out.has(table)) return;
    if (fate.removed || fate.nulls) out.add(table);
    else if (hit) {
      const bytes = p.byteaColumns(table, columns);
      for (const c of [...p.textColumns(table, columns), ...bytes]) if (p.scrubValue(row.text(c) ?? '', bytes.has(c)).hits > 0) out.add(table);
    }
  };
  await p.run('all', { overlay: forgetOverlay(p, visit, false) });
  return out;
}

