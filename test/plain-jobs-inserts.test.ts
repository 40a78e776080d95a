/**
 * `--jobs N` on a dump of INSERT statements (--inserts, --column-inserts, --rows-per-insert, and through
 * the partition root): whole statements go to the workers in pieces and come back in order. The output
 * and the report are the bytes `--jobs 1` gives; what pieces cannot hold (a comment the policy rewrites,
 * a SET) stays in its place; rows after what the workers cannot know (a search_path or a partition
 * learnt since they read the schema) are rewritten here; workers use the key of this thread's rules; a
 * bad statement is reported at the same line; and the output restores, compared with the source table
 * by table in SQL.
 */
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratch } from './support/scratch.js';
import { createDb, pgDump, psql, restore } from './support/db.js';
import { runCli } from './support/cli.js';
import { compileRules, readRules, rewriteStream, type RewriteResult } from '../src/engine/run.js';
import type { CompiledRules } from '../src/rules/rule-compiler.js';
import { AnonymiseError } from '../src/errors.js';

const KEY = 'plain-jobs-inserts-Qw7rT3zP9xL2';
const SRC = 'jobs_ins_src';
/** input read from a file in chunks: statements cut across them, and the workers' replies read between */
const CHUNK = 64 * 1024;
let inputs = 0;
let dir: string;
let rules: string;

beforeAll(() => {
  dir = scratch('ad-jobs-inserts-');
  createDb(SRC);
  // person: ~2.5 MB of statements with --inserts, cut into many 64 KiB pieces; the same address in rows
  // far apart (other pieces); reading: partitions, for --load-via-partition-root
  psql(SRC, `CREATE TABLE person (id int PRIMARY KEY, email text NOT NULL, full_name text, notes text);
    INSERT INTO person SELECT g, 'person' || (g % 3000) || '@gmail.com', 'Olivia O''Brien ' || g, E'a note\\twith a tab ' || g FROM generate_series(1, 12000) g;
    CREATE TABLE country (code text PRIMARY KEY, name text); INSERT INTO country VALUES ('GB', 'United Kingdom'), ('FR', 'France');
    CREATE TABLE audit (id int, actor text, at date); INSERT INTO audit SELECT g, 'actor' || g || '@gmail.com', date '2020-01-01' + g % 900 FROM generate_series(1, 6000) g;
    CREATE TABLE reading (id int NOT NULL, who text, level int) PARTITION BY RANGE (id);
    CREATE TABLE reading_low PARTITION OF reading FOR VALUES FROM (1) TO (5001);
    CREATE TABLE reading_high PARTITION OF reading FOR VALUES FROM (5001) TO (10001);
    INSERT INTO reading SELECT g, 'reader' || g || '@gmail.com', g % 7 FROM generate_series(1, 10000) g;`);
  rules = join(dir, 'rules.yaml');
  writeFileSync(
    rules,
    [
      'version: 1',
      'tables:',
      '  public.person:',
      '    columns:',
      '      "*": keep',
      '      email: { fake: internet.email }',
      '      full_name: { fake: person.fullName }',
      '  public.country: keep',
      '  public.audit:',
      '    drop_where: { at: ["2020-01-05", "2020-01-06"] }',
      '    columns:',
      '      "*": keep',
      '      actor: { hash: { length: 16 } }',
      '  public.reading: { columns: { "*": keep, who: { fake: internet.email } } }',
      '  "public.reading_*": { columns: { "*": keep, who: { fake: internet.email } } }',
      '',
    ].join('\n'),
  );
}, 120_000);

/**
 * `mixed`: this thread rewrites statements too whenever the workers hold two pieces each; else the
 * workers take all they may. `compiled`: the rules as this thread has them (default: compiled with KEY).
 */
async function run(input: Buffer, jobs: number, mixed = false, compiled?: CompiledRules): Promise<{ out: Buffer; result: RewriteResult | null; error: AnonymiseError | null }> {
  const source = { files: [rules] };
  const parts: Buffer[] = [];
  const sink = new Writable({ write: (c: Buffer, _e, done) => (parts.push(Buffer.from(c)), done()) });
  const file = join(dir, `input-${++inputs}.sql`);
  writeFileSync(file, input);
  // small pieces: many per table
  const h = rewriteStream(createReadStream(file, { highWaterMark: CHUNK }), sink, { rules: compiled ?? compileRules(await readRules(source), KEY), rulesSource: source, jobs, localFirstBytes: 0, waitForWorkers: true, workersOnly: !mixed, pieceBytes: 64 * 1024 });
  return h.done.then(
    (result) => ({ out: Buffer.concat(parts), result, error: null }),
    (e: unknown) => ({ out: Buffer.concat(parts), result: null, error: e as AnonymiseError }),
  );
}

/** A table's rows as psql lists them, ordered: compared between databases. */
const rowsOf = (db: string, sql: string) => psql(db, sql);

/** A hand-made dump's rows `id, who<id>@gmail.com` (ids from `from`), as COPY rows or INSERT statements of `table`. */
const people = (who: string, from: number) => Array.from({ length: 400 }, (_, i) => [from + i, `${who}${from + i}@gmail.com`] as const);
type Rows = ReturnType<typeof people>;
const FORMS = {
  COPY: (table: string, rows: Rows) => `COPY ${table} (id, email) FROM stdin;\n${rows.map(([id, e]) => `${id}\t${e}`).join('\n')}\n\\.\n`,
  INSERT: (table: string, rows: Rows) => rows.map(([id, e]) => `INSERT INTO ${table} VALUES (${id}, '${e}');\n`).join(''),
};
const HAND_HEAD = "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n";
const HAND_FOOT = '\n--\n-- PostgreSQL database dump complete\n--\n\n';
const PERSON = (t: string) => `CREATE TABLE ${t} (\n    id integer,\n    email text\n);\n`;
/** What a dump may say after its first rows that changes how later rows are planned: the dump (given its rows' form), and rules under which a wrong plan would leak. */
const LATE_CHANGES: [string, (data: (typeof FORMS)['COPY']) => string, string][] = [
  [
    "another search_path (set_config), under which 'person' is another table",
    (data) => `SELECT pg_catalog.set_config('search_path', 'a', false);\n${PERSON('a.person')}${PERSON('b.person')}${data('person', people('kept', 1))}SELECT pg_catalog.set_config('search_path', 'b', false);\n${data('person', people('secret', 1000))}`,
    'version: 1\ntables:\n  a.person: { columns: { id: keep, email: { hash: { length: 8 } } } }\n  b.person: { columns: { id: keep, email: { fake: internet.email } } }\n',
  ],
  [
    "a partition attached, whose own rule (a glob's keep) gives way to its parent's",
    (data) => `${PERSON('public.other')}${PERSON('public.m').replace(');', ') PARTITION BY RANGE (id);')}${PERSON('public.m_low')}${data('public.other', people('other', 1))}ALTER TABLE ONLY public.m ATTACH PARTITION public.m_low FOR VALUES FROM (1) TO (1000);\n${data('public.m_low', people('secret', 1))}`,
    'version: 1\ntables:\n  public.other: { columns: { id: keep, email: { fake: internet.email } } }\n  public.m: { columns: { id: keep, email: { fake: internet.email } } }\n  "public.m_*": keep\n',
  ],
];

describe('--jobs on a dump of INSERT statements', () => {
  it.each([
    ['--inserts', ['--inserts']],
    ['--column-inserts', ['--column-inserts']],
    ['--rows-per-insert=25', ['--rows-per-insert=25']],
    ['--inserts --load-via-partition-root', ['--inserts', '--load-via-partition-root']],
    ['--column-inserts --load-via-partition-root', ['--column-inserts', '--load-via-partition-root']],
  ])('%s: --jobs 2 and 3 write the bytes and counts of --jobs 1, through the workers; the output restores and matches the source in SQL', async (name, args) => {
    const dump = pgDump(SRC, args);
    const one = await run(dump, 1);
    expect(one.error).toBeNull();
    expect(one.result!.workerPieces).toBe(0);
    for (const [jobs, mixed] of [[2, false], [3, false], [2, true]] as const) {
      const many = await run(dump, jobs, mixed);
      const what = `${name} --jobs ${jobs}${mixed ? ', this thread too' : ''}`;
      expect(many.error, what).toBeNull();
      // person's statements alone make ~40 pieces of 64 KiB
      expect(many.result!.workerPieces, what).toBeGreaterThan(mixed ? 0 : 20);
      expect(many.out.equals(one.out), what).toBe(true);
      expect(many.result!.tables, what).toEqual(one.result!.tables);
    }
    const db = `jobs_ins_out_${name.replace(/[^a-z0-9]+/g, '_')}`.slice(0, 60);
    const r = restore(db, one.out);
    expect(r.status, r.stderr).toBe(0);
    // kept columns as they were, rewritten ones with no address left, filtered rows gone: as SQL says
    expect(rowsOf(db, 'SELECT id, notes FROM person ORDER BY id')).toBe(rowsOf(SRC, 'SELECT id, notes FROM person ORDER BY id'));
    expect(rowsOf(db, "SELECT count(*) FROM person WHERE email LIKE '%@gmail.com' OR full_name LIKE '%O''Brien%'").trim()).toBe('0');
    expect(rowsOf(db, 'SELECT count(*) FROM (SELECT id % 3000, count(DISTINCT email) FROM person GROUP BY 1 HAVING count(DISTINCT email) > 1) x').trim()).toBe('0');
    expect(rowsOf(db, 'SELECT * FROM country ORDER BY code')).toBe(rowsOf(SRC, 'SELECT * FROM country ORDER BY code'));
    expect(rowsOf(db, 'SELECT id, at FROM audit ORDER BY id')).toBe(rowsOf(SRC, "SELECT id, at FROM audit WHERE at NOT IN ('2020-01-05', '2020-01-06') ORDER BY id"));
    expect(rowsOf(db, 'SELECT tableoid::regclass, id, level FROM reading ORDER BY id')).toBe(rowsOf(SRC, 'SELECT tableoid::regclass, id, level FROM reading ORDER BY id'));
    expect(rowsOf(db, "SELECT count(*) FROM reading WHERE who LIKE '%@gmail.com'").trim()).toBe('0');
  }, 120_000);

  // what a piece cannot carry stays where it was: a comment the policy may rewrite, a SET after which a
  // worker would read the next statements otherwise
  it.each([
    ['a comment among the statements', (s: string) => s.replace(/\nINSERT INTO public\.person VALUES \(6000,/, '\n-- a note from olivia.obrien@gmail.com\nINSERT INTO public.person VALUES (6000,')],
    ['a SET among the statements', (s: string) => s.replace(/\nINSERT INTO public\.person VALUES \(6000,/, '\nSET standard_conforming_strings = on;\nINSERT INTO public.person VALUES (6000,')],
  ])('%s: the bytes and the outcome of --jobs 1', async (_, edit) => {
    const text = pgDump(SRC, ['--inserts']).toString('utf8');
    const edited = Buffer.from(edit(text), 'utf8');
    expect(edited.length).toBeGreaterThan(text.length);
    const one = await run(edited, 1);
    const two = await run(edited, 2);
    expect(two.error?.message ?? null).toBe(one.error?.message ?? null);
    expect(two.out.equals(one.out)).toBe(true);
    if (!one.error) expect(two.result!.workerPieces).toBeGreaterThan(0);
  }, 60_000);

  it.each([
    ['COPY', []],
    ['--inserts', ['--inserts']],
  ])('rules compiled without a key (a random one): the workers write the pseudonyms this thread writes (%s)', async (_, args) => {
    const dump = pgDump(SRC, args);
    const compiled = compileRules(await readRules({ files: [rules] }));
    const one = await run(dump, 1, false, compiled);
    const two = await run(dump, 2, false, compiled);
    expect(two.result!.workerPieces).toBeGreaterThan(20);
    expect(two.out.equals(one.out)).toBe(true);
    // another random key: other pseudonyms (the comparison above could not pass by accident)
    const other = await run(dump, 1, false, compileRules(await readRules({ files: [rules] })));
    expect(other.out.equals(one.out)).toBe(false);
  }, 60_000);

  it.each(LATE_CHANGES.flatMap(([what, dump, yaml]) => (['COPY', 'INSERT'] as const).map((form) => [form, what, dump, yaml] as const)))(
    '%s rows after %s, learnt once the workers had read the schema: rewritten here, as --jobs 1 does; nothing leaks',
    async (form, _what, dump, yaml) => {
      const rules = join(dir, `late-${++inputs}.yaml`);
      writeFileSync(rules, yaml);
      const source = { files: [rules] };
      const file = join(dir, `late-${inputs}.sql`);
      writeFileSync(file, `${HAND_HEAD}${dump(FORMS[form])}${HAND_FOOT}`);
      const outs: Buffer[] = [];
      for (const jobs of [1, 2]) {
        const parts: Buffer[] = [];
        const sink = new Writable({ write: (c: Buffer, _e, done) => (parts.push(Buffer.from(c)), done()) });
        await rewriteStream(createReadStream(file, { highWaterMark: 4096 }), sink, { rules: compileRules(await readRules(source), KEY), rulesSource: source, jobs, localFirstBytes: 0, waitForWorkers: true, workersOnly: true, pieceBytes: 1024 }).done;
        outs.push(Buffer.concat(parts));
      }
      expect(outs[0]!.toString()).not.toMatch(/secret\d+@gmail\.com/);
      expect(outs[1]!.equals(outs[0]!)).toBe(true);
    },
    60_000,
  );

  it('a bad statement in a piece a worker rewrites: the error --jobs 1 gives, at the same line, table named', async () => {
    const text = pgDump(SRC, ['--inserts']).toString('utf8');
    const at = text.indexOf('INSERT INTO public.person VALUES (7777,');
    expect(at).toBeGreaterThan(0);
    const bad = Buffer.from(`${text.slice(0, at)}INSERT INTO public.person VALUES (7777, 'one value too few', NULL);${text.slice(text.indexOf('\n', at))}`, 'utf8');
    const one = await run(bad, 1);
    const two = await run(bad, 2);
    expect(one.error).toBeInstanceOf(AnonymiseError);
    expect(one.error!.position.table).toBe('public.person');
    expect(one.error!.position.line).toBe(text.slice(0, at).split('\n').length);
    expect(two.error).toBeInstanceOf(AnonymiseError);
    expect([two.error!.code, two.error!.detail, two.error!.position]).toEqual([one.error!.code, one.error!.detail, one.error!.position]);
    // what went out before it is whole statements, then the marker that stops a restore
    const cli = runCli(['-q', '-r', rules, '--jobs', '2', '-'], { key: KEY, input: bad });
    expect(cli.status).toBe(3);
    expect(cli.stderr).toMatch(/input line \d+, table public\.person: row has 3 values/);
    expect(cli.stdout.toString()).toMatch(/ABORTED[^\n]*\n?$/);
  }, 60_000);

  it('the command line: --jobs 2 and --jobs 1 write the same file and report', () => {
    const dump = join(dir, 'inserts.sql');
    writeFileSync(dump, pgDump(SRC, ['--column-inserts']));
    const outs = [1, 2].map((j) => {
      const out = join(dir, `cli-${j}.sql`);
      const r = runCli(['-q', '-r', rules, '--jobs', String(j), '-o', out, '--report', `${out}.json`, dump], { key: KEY });
      expect(r.status, r.stderr).toBe(0);
      return out;
    });
    expect(readFileSync(outs[1]!).equals(readFileSync(outs[0]!))).toBe(true);
    const tables = (f: string) => (JSON.parse(readFileSync(`${f}.json`, 'utf8')) as { tables: unknown }).tables;
    expect(tables(outs[1]!)).toEqual(tables(outs[0]!));
  }, 60_000);
});
