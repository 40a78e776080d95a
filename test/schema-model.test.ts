/**
 * The schema model on real pg_dump 15 output of schemas real applications have: inherited tables
 * (old-style partitioning, multiple inheritance), typed tables, a column named like a keyword,
 * partitions whose column order differs from their root's under --load-via-partition-root,
 * --on-conflict-do-nothing, DEFAULT VALUES rows, older dumps' search_path. Every form either rewrites
 * the right values (checked in SQL after a restore) or stops before its first byte naming the table.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { compileRules, readRules, rewriteBuffer } from '../src/engine/run.js';
import { AnonymiseError } from '../src/errors.js';
import { DumpRewriter } from '../src/dump/rewriter.js';
import { createDb, dumpForms, pgDump, psql, restore } from './support/db.js';

const DB = 'schema_model';
const SETUP = `
CREATE TABLE log (id int, email text, at date);
CREATE TABLE log_2016 () INHERITS (log);
CREATE TABLE tagged (tag text, email text);
CREATE TABLE both_parents (extra text) INHERITS (log, tagged);
INSERT INTO log_2016 VALUES (1, 'inherit.one@gmail.com', '2016-01-01');
INSERT INTO both_parents VALUES (2, 'both.two@gmail.com', '2016-02-02', 't', 'extra');
CREATE TYPE person AS (name text, email text);
CREATE TABLE people OF person;
INSERT INTO people VALUES ('Ann', 'typed.ann@gmail.com');
CREATE TABLE kw (id int, exclude text, email text);
INSERT INTO kw VALUES (1, 'not personal', 'keyword.kw@gmail.com');
CREATE TABLE measure (id int, email text, region text) PARTITION BY LIST (region);
CREATE TABLE measure_uk (region text, email text, id int);
ALTER TABLE measure ATTACH PARTITION measure_uk FOR VALUES IN ('uk');
INSERT INTO measure VALUES (1, 'partition.uk@gmail.com', 'uk');
CREATE TABLE nocols ();
INSERT INTO nocols DEFAULT VALUES;
`;

const RULES = `version: 1
unknown: fail
tables:
  log: { columns: { id: keep, email: { fake: internet.email }, at: keep } }
  log_2016: { columns: { id: keep, email: { fake: internet.email }, at: keep } }
  tagged: { columns: { tag: keep, email: { fake: internet.email } } }
  both_parents: { columns: { id: keep, email: { fake: internet.email }, at: keep, tag: keep, extra: keep } }
  people: { columns: { name: { value: X }, email: { fake: internet.email } } }
  kw: { columns: { id: keep, exclude: keep, email: { fake: internet.email } } }
  measure: { columns: { id: keep, email: { fake: internet.email }, region: keep } }
  nocols: keep
`;

const ORIGINALS = /[a-z.]+@gmail\.com/g;

async function rules(yaml = RULES) {
  return compileRules(await readRules({ text: [{ name: 'rules.yaml', yaml }] }), 'a key of at least sixteen bytes');
}

describe('the schema model on real dumps', () => {
  let dumps: Record<string, Buffer> = {};
  beforeAll(() => {
    createDb(DB);
    psql(DB, SETUP);
    dumps = dumpForms(DB, {
      copy: [],
      inserts: ['--inserts'],
      'inserts via root': ['--inserts', '--load-via-partition-root'],
      'on conflict': ['--inserts', '--on-conflict-do-nothing'],
      'column-inserts': ['--column-inserts'],
    });
  });

  it('--inserts --load-via-partition-root: a partition\'s rows in its own column order under the root\'s name are rewritten by column', async () => {
    const original = dumps['inserts via root']!.toString();
    // pg_dump 15's own output: the partition's order under INSERT INTO root (it does not restore as it is)
    expect(original).toContain("INSERT INTO public.measure VALUES ('uk', 'partition.uk@gmail.com', 1);");
    const text = rewriteBuffer(dumps['inserts via root']!, { rules: await rules() }).output.toString();
    expect(text.match(ORIGINALS) ?? []).toEqual([]);
    expect(text).toMatch(/INSERT INTO public\.measure VALUES \('uk', '[^']+@example\.(com|org|net)', 1\);/);
  });

  it.each(['copy', 'inserts', 'on conflict', 'column-inserts'])('%s: every personal value rewritten, the right column each time, and it restores', async (form) => {
    const { output } = rewriteBuffer(dumps[form]!, { rules: await rules() });
    const text = output.toString();
    expect(text.match(ORIGINALS) ?? []).toEqual([]);
    const db = `schema_model_${form.replace(/ /g, '_').replace('-', '_')}`;
    const r = restore(db, output);
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.status).toBe(0);
    // values stayed in their own columns: keys, dates and regions kept, e-mails faked
    expect(psql(db, 'SELECT id, at FROM ONLY log_2016;').trim()).toBe('1|2016-01-01');
    expect(psql(db, "SELECT id, at, tag, extra, email LIKE '%@example.%' FROM both_parents;").trim()).toBe('2|2016-02-02|t|extra|t');
    expect(psql(db, "SELECT name, email LIKE '%@example.%' FROM people;").trim()).toBe('X|t');
    expect(psql(db, "SELECT exclude, email LIKE '%@example.%' FROM kw;").trim()).toBe('not personal|t');
    expect(psql(db, "SELECT id, region, email LIKE '%@example.%' FROM measure;").trim()).toBe('1|uk|t');
    expect(psql(db, 'SELECT count(*) FROM nocols;').trim()).toBe('1');
  });

  it('a child whose parent the dump does not define stops before the first byte, naming it', async () => {
    const onlyChild = pgDump(DB, ['--inserts', '-t', 'log_2016']);
    const out: Buffer[] = [];
    const rw = new DumpRewriter({ rules: await rules() }, (c) => out.push(c));
    let error: unknown;
    try {
      rw.write(onlyChild);
      rw.end();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AnonymiseError);
    expect((error as AnonymiseError).message).toMatch(/table public\.log_2016: .*which column a value belongs to is unknown/);
    expect(out).toEqual([]);
  });

  it('older pg_dump output: unqualified names live in the schema search_path names first', async () => {
    const dump =
      "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n" +
      'SET search_path = hr, pg_catalog;\n\nCREATE TABLE employees (\n    id integer,\n    email text\n);\n\n' +
      "INSERT INTO employees VALUES (1, 'old.style@gmail.com');\n\n--\n-- PostgreSQL database dump complete\n--\n\n";
    const yaml = 'version: 1\ntables:\n  hr.employees: { columns: { id: keep, email: { fake: internet.email } } }\n';
    const { output, result } = rewriteBuffer(Buffer.from(dump), { rules: await rules(yaml) });
    expect(output.toString()).not.toContain('old.style@gmail.com');
    expect(result.tables.map((t) => t.table)).toEqual(['hr.employees']);
    // under public.* rules alone, hr.employees is unclassified: never read as public.employees
    await expect(rules('version: 1\ntables:\n  public.employees: { columns: { id: keep, email: keep } }\n').then((r) => rewriteBuffer(Buffer.from(dump), { rules: r }))).rejects.toMatchObject({ code: 'UNCLASSIFIED' });
  });

  it.each([
    ['SET search_path', 'SET search_path = b, pg_catalog;'],
    ['set_config', "SELECT pg_catalog.set_config('search_path', 'b', false);"],
  ])('the same unqualified INSERT header under another search_path (%s) names another table: its own rules', async (_, switchTo) => {
    // no `-- Data for Name:` comments (a hand-made or stripped dump): only the search_path tells the tables apart
    const dump =
      "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n" +
      'CREATE TABLE a.person (\n    id integer,\n    email text\n);\nCREATE TABLE b.person (\n    id integer,\n    email text\n);\n' +
      "SET search_path = a, pg_catalog;\nINSERT INTO person VALUES (1, 'kept@example.org');\n" +
      `${switchTo}\nINSERT INTO person VALUES (2, 'b.person@gmail.com');\nINSERT INTO person VALUES (3, 'b.other@gmail.com');\n` +
      '\n--\n-- PostgreSQL database dump complete\n--\n\n';
    const yaml = 'version: 1\ntables:\n  a.person: keep\n  b.person: { columns: { id: keep, email: { fake: internet.email } } }\n';
    const { output, result } = rewriteBuffer(Buffer.from(dump), { rules: await rules(yaml) });
    expect(output.toString()).toContain('kept@example.org');
    expect(output.toString()).not.toMatch(/b\.(person|other)@gmail\.com/);
    expect(result.tables.map((t) => [t.table, t.rowsIn])).toEqual([['a.person', 1], ['b.person', 2]]);
  });

  it('a table created again with its columns in another order: the same INSERT header bytes, read again', async () => {
    const dump =
      "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n" +
      'CREATE TABLE public.person (\n    id integer,\n    note text,\n    email text\n);\n' +
      "INSERT INTO public.person VALUES (1, 'a note', 'first@gmail.com');\n" +
      'DROP TABLE public.person;\nCREATE TABLE public.person (\n    id integer,\n    email text,\n    note text\n);\n' +
      "INSERT INTO public.person VALUES (2, 'second@gmail.com', 'another note');\n" +
      '\n--\n-- PostgreSQL database dump complete\n--\n\n';
    const yaml = 'version: 1\ntables:\n  public.person: { columns: { id: keep, note: keep, email: { fake: internet.email } } }\n';
    const { output } = rewriteBuffer(Buffer.from(dump), { rules: await rules(yaml) });
    expect(output.toString()).not.toMatch(/(first|second)@gmail\.com/);
    expect(output.toString()).toContain("'another note');");
  });

  it('column_order that differs from the CREATE TABLE is a rules error', async () => {
    const yaml = RULES.replace('kw: { columns:', 'kw: { column_order: [id, email, exclude], columns:');
    const r = await rules(yaml);
    expect(() => rewriteBuffer(dumps.inserts!, { rules: r })).toThrow(/column_order of public\.kw differs/);
  });
});

describe('a --data-only dump says nothing of partitions', () => {
  it('a table that may be a partition of a rewritten table, covered only by a glob or unknown: keep, stops the run', async () => {
    createDb('schema_data_only');
    psql('schema_data_only', `CREATE TABLE measure (id int, email text, region text) PARTITION BY LIST (region);
      CREATE TABLE measure_uk PARTITION OF measure FOR VALUES IN ('uk');
      INSERT INTO measure VALUES (1, 'data.only@gmail.com', 'uk');`);
    const dump = pgDump('schema_data_only', ['--data-only']);
    const glob = 'version: 1\ntables:\n  measure: { columns: { id: keep, email: { fake: internet.email }, region: keep } }\n  "public.*": keep\n';
    await expect(rules(glob).then((r) => rewriteBuffer(dump, { rules: r }))).rejects.toThrow(/table public\.measure_uk: .*partition of public\.measure/);
    await expect(rules(glob.replace('  "public.*": keep\n', '').replace('version: 1\n', 'version: 1\nunknown: keep\n')).then((r) => rewriteBuffer(dump, { rules: r }))).rejects.toMatchObject({ code: 'UNCLASSIFIED' });
    // named, it follows its own rule
    const named = `${glob}  measure_uk: { columns: { id: keep, email: { fake: internet.email }, region: keep } }\n`;
    expect(rewriteBuffer(dump, { rules: await rules(named) }).output.toString()).not.toContain('data.only@gmail.com');
  });
});
