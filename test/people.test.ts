/**
 * find and forget, end to end: a Django/Wagtail-like database (test/sql/people.sql) with every kind of
 * reference to one person — Django's undeclared cascades (the presets' relations), declared CASCADE two
 * levels deep and through a self-reference, SET NULL, a generic relation, a session's payload, her
 * address in form JSON and her user name in a search query and a revision's JSON — dumped by the real
 * pg_dump in every form, forgotten by the CLI, restored with ON_ERROR_STOP / --exit-on-error and
 * compared in SQL with the same deletions done by PostgreSQL itself on the source.
 */
import { spawnSync } from 'node:child_process';
import { scratch } from './support/scratch.js';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, pgBin, pgEnv, pgRestore, psql, restore } from './support/db.js';
import { runCliText } from './support/cli.js';

const SRC = 'people_src';
const ORACLE = 'people_oracle';
const KEY = 'people-test-key-0123456789abcdef';
const JANE = 'public.users_user.email=jane.doe+news@example.org';
/** her identifiers as they may appear anywhere: the address with and without its +tag, the user name */
const HERS = /jane\.doe(\+news)?@example\.org|jane\.o'{1,2}doe7/i;

let dir: string;
let rules: string;

const cli = (args: string[]) => runCliText(args, { key: KEY, inheritEnv: true });

/** Every user table's rows as text, by table. */
function rows(db: string): Map<string, string[]> {
  const tables = psql(db, "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY 1").trim().split('\n');
  // bytea as the text it holds, so that her address in it is seen as hers
  const select = (t: string) => (t === 'o_attachment' ? `SELECT (id, convert_from(data, 'UTF8'))::text FROM public.${t} ORDER BY 1` : `SELECT t::text FROM public.${t} t ORDER BY 1`);
  return new Map(tables.map((t) => [t, psql(db, select(t)).split('\n').filter(Boolean)]));
}

/** The plain text of any form of dump, for a search of every byte. */
function text(path: string): string {
  if (statSync(path).isDirectory() || readFileSync(path).subarray(0, 5).toString('latin1') === 'PGDMP') {
    const r = spawnSync(pgBin('pg_restore'), ['-f', '-', path], { maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(r.stderr.toString());
    return r.stdout.toString();
  }
  const b = readFileSync(path);
  return (b[0] === 0x1f ? gunzipSync(b) : b).toString();
}

function dump(path: string, args: string[]): void {
  const r = spawnSync(pgBin('pg_dump'), [...args, '-f', path, '-d', SRC], { env: pgEnv() });
  if (r.status !== 0) throw new Error(`pg_dump failed: ${r.stderr}`);
}

beforeAll(() => {
  dir = scratch('ad-people-');
  const sql = readFileSync('test/sql/people.sql', 'utf8');
  createDb(SRC);
  psql(SRC, sql);
  // the oracle: the same database, and the deletions Django (and the constraints) would make
  createDb(ORACLE);
  psql(ORACLE, sql);
  psql(
    ORACLE,
    `BEGIN;
     DELETE FROM django_admin_log WHERE user_id = 7;
     DELETE FROM django_session WHERE convert_from(decode(split_part(session_data, ':', 1), 'base64'), 'UTF8')::json->>'_auth_user_id' = '7';
     UPDATE wagtailcore_page SET owner_id = NULL WHERE owner_id = 7;
     UPDATE wagtailcore_pagerevision SET user_id = NULL WHERE user_id = 7;
     DELETE FROM users_user WHERE id = 7;
     COMMIT;`,
  );
  rules = join(dir, 'rules.yaml');
  writeFileSync(rules, 'version: 1\nextends: [django, wagtail]\nrelations:\n  public.django_session.session_data: { references: public.users_user.id }\n');
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The restored output equals the oracle, except that values that held her identifiers hold none. */
function expectForgotten(db: string): void {
  const want = rows(ORACLE);
  const got = rows(db);
  expect([...got.keys()]).toEqual([...want.keys()]);
  for (const [table, w] of want) {
    const g = got.get(table)!;
    expect(g.length, table).toBe(w.length);
    expect(g.filter((r) => HERS.test(r)), table).toEqual([]);
    // every row that named no one is exactly as PostgreSQL's own deletion left it
    expect(g.filter((r) => w.includes(r)).length, table).toBe(w.filter((r) => !HERS.test(r)).length);
  }
  expect(psql(db, "SELECT obj_description('public.d_upload'::regclass)")).not.toMatch(HERS);
}

describe.each([
  ['plain', [] as string[], 'plain'],
  ['plain, gzip', [], 'gzip'],
  ['--inserts', ['--inserts'], 'plain'],
  ['--column-inserts', ['--column-inserts'], 'plain'],
  ['-Fc', ['-Fc'], 'archive'],
  ['-Fd', ['-Fd'], 'archive'],
])('forget on a dump written with %s', (name, args, kind) => {
  const slug = name.replace(/\W+/g, '_');
  let input: string;
  let output: string;
  let res: ReturnType<typeof cli>;
  beforeAll(() => {
    input = join(dir, `in_${slug}${kind === 'gzip' ? '.sql.gz' : ''}`);
    dump(input, args);
    if (kind === 'gzip') writeFileSync(input, gzipSync(readFileSync(input)));
    output = join(dir, `out_${slug}${kind === 'gzip' ? '.sql.gz' : ''}`);
    res = cli(['forget', '--where', JANE, '-r', rules, input, '-o', output]);
  }, 60_000);

  it('exits 0 and reports counts, never a value', () => {
    expect(res.status, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/1 row matched/);
    expect(res.stderr).toMatch(/public\.users_user: 1 of 60 rows removed/);
    expect(res.stderr).not.toMatch(HERS);
  });

  it('leaves none of her identifiers anywhere in the output, in its own form', () => {
    const t = text(output);
    expect(t).not.toMatch(HERS);
    expect(t).toContain('user8@example.org'); // others' stay
    if (kind === 'gzip') expect(readFileSync(output)[0]).toBe(0x1f);
    if (kind === 'archive') expect(existsSync(output)).toBe(true);
  });

  it('restores, and every table equals PostgreSQL\'s own deletion of her', () => {
    const db = `people_out_${slug}`.toLowerCase();
    const r = kind === 'archive' ? pgRestore(db, output, ['-j', '2']) : restore(db, kind === 'gzip' ? gunzipSync(readFileSync(output)) : readFileSync(output));
    expect(r.status, r.stderr).toBe(0);
    expectForgotten(db);
  });
});

describe('find', () => {
  let plain: string;
  beforeAll(() => {
    plain = join(dir, 'find.sql');
    dump(plain, []);
  });

  it('counts her rows and those that refer to her as SQL on the source does, and where her identifiers appear', () => {
    const r = cli(['find', '--json', '--where', JANE, '-r', rules, plain]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(HERS);
    const res = JSON.parse(r.stdout) as { tables: { table: string; matched: number; removed: number; referring: number }[]; occurrences: { table: string; column: string; values: number }[]; conditions: { rows: number }[] };
    const count = (sql: string) => Number(psql(SRC, sql).trim());
    const found = new Map(res.tables.map((t) => [t.table, t]));
    const by = { get: (t: string) => found.get(t) ?? { table: t, matched: 0, removed: 0, referring: 0 } };
    // the data gives every kind of row something to count
    expect(count('SELECT count(*) FROM wagtailcore_pagerevision WHERE user_id = 7')).toBeGreaterThan(0);
    expect(res.conditions[0]!.rows).toBe(1);
    expect(by.get('public.users_user')!.matched).toBe(1);
    expect(by.get('public.django_admin_log')!.removed).toBe(count('SELECT count(*) FROM django_admin_log WHERE user_id = 7'));
    expect(by.get('public.django_session')!.removed).toBe(
      count("SELECT count(*) FROM django_session WHERE convert_from(decode(split_part(session_data, ':', 1), 'base64'), 'UTF8')::json->>'_auth_user_id' = '7'"),
    );
    expect(by.get('public.wagtailcore_page')!.referring).toBe(count('SELECT count(*) FROM wagtailcore_page WHERE owner_id = 7'));
    expect(by.get('public.wagtailcore_pagerevision')!.referring).toBe(count('SELECT count(*) FROM wagtailcore_pagerevision WHERE user_id = 7'));
    expect(by.get('public.b_profile')!.removed).toBe(1);
    expect(by.get('public.a_note')!.removed).toBe(count('SELECT count(*) FROM a_note WHERE profile_id = 7'));
    expect(by.get('public.c_comment')!.removed).toBe(
      count('WITH RECURSIVE gone AS (SELECT id FROM c_comment WHERE user_id = 7 UNION SELECT c.id FROM c_comment c JOIN gone g ON c.parent_id = g.id) SELECT count(*) FROM gone'),
    );
    expect(by.get('public.d_upload')!.referring).toBe(count('SELECT count(*) FROM d_upload WHERE uploaded_by_id = 7'));
    // a partitioned table's foreign key holds for its partitions' rows
    expect(by.get('public.e_activity_2023')!.removed + by.get('public.e_activity_2024')!.removed).toBe(count('SELECT count(*) FROM e_activity WHERE user_id = 7'));
    expect(count('SELECT count(*) FROM e_activity_2024 WHERE user_id = 7')).toBeGreaterThan(0);
    // admin-log entries about her (a generic relation) by other users: kept, their object_repr names her
    const about = count("SELECT count(*) FROM django_admin_log WHERE object_id = '7' AND content_type_id = 1 AND user_id <> 7");
    expect(by.get('public.django_admin_log')!.referring).toBe(about);
    const occ = new Map(res.occurrences.map((o) => [`${o.table}.${o.column}`, o.values]));
    expect(occ.get('public.django_admin_log.object_repr')).toBe(count("SELECT count(*) FROM django_admin_log WHERE object_repr ILIKE 'jane.doe@example.org' AND user_id <> 7"));
    expect(occ.get('public.wagtailforms_formsubmission.form_data')).toBe(count("SELECT count(*) FROM wagtailforms_formsubmission WHERE form_data::text ~* 'jane\\.doe(\\+news)?@example\\.org'"));
    expect(occ.get('public.wagtailsearch_query.query_string')).toBe(1);
    expect(occ.get('public.wagtailcore_pagerevision.content')).toBe(count("SELECT count(*) FROM wagtailcore_pagerevision WHERE content::text LIKE '%jane.o''doe7%'"));
  });

  it('a condition on a partitioned table matches its partitions\' rows', () => {
    const r = cli(['find', '--json', '--where', 'public.e_activity.what=did 75', '--where', 'e_activity.id=3', plain]);
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { conditions: { rows: number }[]; tables: { table: string; matched: number }[] };
    expect(res.conditions.map((c) => c.rows)).toEqual([1, 1]);
    expect(res.tables.filter((t) => t.matched).map((t) => t.table).sort()).toEqual(['public.e_activity_2023', 'public.e_activity_2024']);
  });

  it.each([
    ['a citext key in another case', 'public.k_account.login=LOGIN5', "SELECT count(*) FROM k_account WHERE login = 'LOGIN5'"],
    ['a citext column of many rows', 'public.k_login.account=lOgIn4', "SELECT count(*) FROM k_login WHERE account = 'lOgIn4'"],
    ['a numeric at another scale', 'public.m_invoice.no=6.5000', 'SELECT count(*) FROM m_invoice WHERE no = 6.5000'],
  ])('a condition compares as PostgreSQL does: %s', (_what, where, sql) => {
    const want = Number(psql(SRC, sql).trim());
    expect(want).toBeGreaterThan(0);
    const r = cli(['find', '--json', '--where', where, plain]);
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { conditions: { rows: number }[] }).conditions[0]!.rows).toBe(want);
  });

  it('exports her rows per table as CSV and JSON, mode 0600, and they hold what the source holds', () => {
    const out = join(dir, 'sar');
    const r = cli(['find', '--where', JANE, '-r', rules, '--export', out, plain]);
    expect(r.status, r.stderr).toBe(0);
    const files = readdirSync(out).sort();
    expect(files).toContain('public.users_user.csv');
    for (const f of files) expect(statSync(join(out, f)).mode & 0o777).toBe(0o600);
    expect(statSync(out).mode & 0o777).toBe(0o700);
    const users = JSON.parse(readFileSync(join(out, 'public.users_user.json'), 'utf8')) as Record<string, string>[];
    expect(users).toHaveLength(1);
    expect(users[0]!.email).toBe('Jane.Doe+news@Example.org');
    const log = JSON.parse(readFileSync(join(out, 'public.django_admin_log.json'), 'utf8')) as unknown[];
    expect(log.length).toBe(Number(psql(SRC, "SELECT count(*) FROM django_admin_log WHERE user_id = 7 OR (object_id = '7' AND content_type_id = 1)").trim()));
    const csv = readFileSync(join(out, 'public.users_user.csv'), 'utf8').trim().split('\r\n');
    expect(csv[0]).toBe('"id","password","username","first_name","last_name","email","is_staff"');
    expect(csv[1]).toContain('"jane.o\'doe7"');
    // an existing export is never overwritten
    expect(cli(['find', '--where', JANE, '-r', rules, '--export', out, plain]).status).toBe(2);
  });
});

describe('a --data-only --inserts dump, with its schema given (--schema)', () => {
  it('find answers and forget leaves what the same deletion in SQL leaves, table by table', () => {
    const data = join(dir, 'data-only-inserts.sql');
    const schemaFile = join(dir, 'data-only-schema.sql');
    dump(data, ['--data-only', '--inserts']);
    dump(schemaFile, ['--schema-only']);
    // without its schema the dump names no columns: refused, saying what to give
    const bare = cli(['find', '--where', JANE, '-r', rules, data]);
    expect(bare.status).not.toBe(0);
    const found = cli(['find', '--where', JANE, '-r', rules, '--schema', schemaFile, '--json', data]);
    expect(found.status, found.stderr).toBe(0);
    expect((JSON.parse(found.stdout) as { conditions: { rows: number }[] }).conditions[0]!.rows).toBe(1);
    const out = join(dir, 'data-only-inserts.out.sql');
    const r = cli(['forget', '--where', JANE, '-r', rules, '--schema', schemaFile, data, '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    // restored as pg_restore would: the tables, the rows, then the constraints
    const target = 'people_out_dataonly';
    createDb(target);
    for (const [f, section] of [[join(dir, 'pre.sql'), 'pre-data'], [out, null], [join(dir, 'post.sql'), 'post-data']] as const) {
      if (section) dump(f, [`--section=${section}`]);
      const rr = spawnSync(pgBin('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', target, '-f', f], { env: pgEnv(), encoding: 'utf8' });
      expect(rr.status, rr.stderr).toBe(0);
    }
    // (the comment on d_upload that names her came from the schema file, which is not what forget wrote)
    psql(target, 'COMMENT ON TABLE public.d_upload IS NULL');
    expectForgotten(target);
    // an archive holds its schema
    const fc = join(dir, 'with-schema.dump');
    dump(fc, ['-Fc']);
    const refused = cli(['find', '--where', JANE, '--schema', schemaFile, fc]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/--schema is for a plain --data-only dump/);
  });
});

describe('forget, more', () => {
  let plain: string;
  beforeAll(() => {
    plain = join(dir, 'more.sql');
    dump(plain, []);
  });

  it.each([
    ['plain', [] as string[]],
    ['-Fc', ['-Fc']],
    ['-Fd', ['-Fd']],
  ])('her identifiers inside large objects are found by find and replaced by forget (%s); other large objects stay byte for byte, and it restores', (form, args) => {
    const db = `people_lo_${form.replace('-', '')}`;
    {
      createDb(db);
      psql(db, `CREATE TABLE u (id int PRIMARY KEY, email text);
        INSERT INTO u VALUES (1, 'jane.doe@example.org'), (2, 'bob@example.net');
        SELECT lo_from_bytea(9001, convert_to('letter to Jane.Doe@example.org re: council tax', 'UTF8'));
        SELECT lo_from_bytea(9002, convert_to('minutes of the meeting; bob@example.net attended', 'UTF8'));`);
    }
    const src = join(dir, `lo-${form}`);
    const d = spawnSync(pgBin('pg_dump'), [...args, '-f', src, '-d', db], { env: pgEnv() });
    expect(d.status, d.stderr.toString()).toBe(0);
    // find counts the large object that holds her address, and only that one
    const found = cli(['find', src, '--where', 'public.u.email=jane.doe@example.org', '--json']);
    expect(found.status, found.stderr).toBe(0);
    expect((JSON.parse(found.stdout.toString()) as { occurrences: unknown[] }).occurrences).toContainEqual({ table: 'pg_catalog.pg_largeobject', column: 'data', values: 1 });
    const out = join(dir, `lo-out-${form}`);
    const r = cli(['forget', '--where', 'public.u.email=jane.doe@example.org', src, '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(text(out)).not.toMatch(/6a616e652e646f65|4a616e652e446f65/); // her address as hex, in either case
    const target = `people_lo_out_${form.replace('-', '')}`;
    const rr = form === 'plain' ? restore(target, readFileSync(out)) : pgRestore(target, out);
    expect(rr.status, rr.stderr).toBe(0);
    const lo = (oid: number) => psql(target, `SELECT convert_from(lo_get(${oid}), 'UTF8')`).trim();
    expect(lo(9001)).toMatch(/^letter to [0-9a-f]+@a\.invalid re: council tax$/);
    expect(lo(9002)).toBe(psql(db, "SELECT convert_from(lo_get(9002), 'UTF8')").trim());
  });

  it("a relations: rule on a partitioned table decides its partitions' own constraints, as SQL's cascade would", () => {
    const db = 'people_partfk';
    createDb(db);
    psql(db, `CREATE TABLE u (id int PRIMARY KEY, email text);
      INSERT INTO u SELECT i, 'user' || i || '@example.net' FROM generate_series(1, 5) i;
      CREATE TABLE ev (id int, user_id int, at date) PARTITION BY RANGE (at);
      CREATE TABLE ev_2023 PARTITION OF ev FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
      CREATE TABLE ev_2024 PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
      -- constraints of each partition's own (as older schemas have them), NO ACTION: nothing decides them
      ALTER TABLE ev_2023 ADD FOREIGN KEY (user_id) REFERENCES u (id);
      ALTER TABLE ev_2024 ADD FOREIGN KEY (user_id) REFERENCES u (id);
      INSERT INTO ev SELECT i, 1 + i % 5, date '2023-06-01' + i * 5 FROM generate_series(1, 100) i;`);
    const src = join(dir, 'partfk.sql');
    const d = spawnSync(pgBin('pg_dump'), ['-f', src, '-d', db], { env: pgEnv() });
    expect(d.status, d.stderr.toString()).toBe(0);
    const out = join(dir, 'partfk-out.sql');
    expect(cli(['forget', '--where', 'public.u.id=3', src, '-o', out]).status).toBe(3); // undecided without the rule
    const relations = join(dir, 'partfk.yaml');
    writeFileSync(relations, 'version: 1\nunknown: keep\nrelations:\n  public.ev.user_id: { on_forget: cascade }\n');
    const r = cli(['forget', '--where', 'public.u.id=3', '-r', relations, src, '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    const restored = restore('people_partfk_out', readFileSync(out));
    expect(restored.status, restored.stderr).toBe(0);
    psql(db, 'DELETE FROM ev WHERE user_id = 3; DELETE FROM u WHERE id = 3;');
    for (const q of ['SELECT count(*) FROM ev_2023', 'SELECT count(*) FROM ev_2024', 'SELECT count(*) FROM u', "SELECT string_agg(id::text, ',' ORDER BY id) FROM ev"])
      expect(psql('people_partfk_out', q), q).toBe(psql(db, q));
  });

  it('stops on a reference nothing decides (Django\'s NO ACTION, no preset), naming it; --cascade removes along it', () => {
    const out = join(dir, 'undecided.sql');
    const r = cli(['forget', '--where', JANE, plain, '-o', out]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/constraint django_admin_log_user_id_fkey \(ON DELETE NO ACTION\)|constraint wagtailcore_page_owner_id_fkey \(ON DELETE NO ACTION\)|constraint wagtailcore_pagerevision_user_id_fkey \(ON DELETE NO ACTION\)/);
    expect(r.stderr).toMatch(/--cascade/);
    expect(existsSync(out)).toBe(false);
    const c = cli(['forget', '--cascade', '--where', JANE, plain, '-o', out]);
    expect(c.status, c.stderr).toBe(0);
    const db = 'people_cascade';
    const rr = restore(db, readFileSync(out));
    expect(rr.status, rr.stderr).toBe(0);
    expect(psql(db, 'SELECT count(*) FROM wagtailcore_page WHERE owner_id IS NULL').trim()).toBe(psql(SRC, 'SELECT count(*) FROM wagtailcore_page WHERE owner_id IS NULL').trim());
    // pages she owned went, and what cascades from them (revisions, form submissions' pages)
    expect(psql(db, 'SELECT count(*) FROM wagtailcore_page').trim()).toBe(psql(SRC, 'SELECT count(*) FROM wagtailcore_page WHERE owner_id IS DISTINCT FROM 7').trim());
  });

  it('find shows a reference nothing decides as undecided (forget stops there), not as a cascade', () => {
    const r = cli(['find', '--json', '--where', JANE, plain]);
    expect(r.status, r.stderr).toBe(0);
    const found = JSON.parse(r.stdout.toString()) as { tables: { table: string; relations: { name: string; action: string }[] }[] };
    const rel = found.tables.flatMap((t) => t.relations).find((x) => x.name === 'wagtailcore_page_owner_id_fkey');
    expect(rel?.action).toBe('undecided');
    const text = cli(['find', '--where', JANE, plain]);
    expect(text.stdout.toString()).toMatch(/along wagtailcore_page_owner_id_fkey \(nothing says what to do: forget stops here unless --cascade/);
    expect(text.stdout.toString()).toMatch(/refer \(forget removes them with --cascade\)/);
  });

  it('stops when a set_null reference is NOT NULL', () => {
    const bad = join(dir, 'notnull.yaml');
    writeFileSync(bad, 'version: 1\nextends: [django, wagtail]\nrelations:\n  public.django_admin_log.user_id: { on_forget: set_null }\n  public.django_session.session_data: { references: public.users_user.id }\n');
    const r = cli(['forget', '--where', JANE, '-r', bad, plain, '-o', join(dir, 'nn.sql')]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/django_admin_log\.user_id is NOT NULL/);
  });

  it('a condition that matches nobody writes the input byte for byte, and is answered: exit 1 naming the request, unless allowed', () => {
    const out = join(dir, 'unmatched.sql');
    const r = cli(['forget', '--where', JANE, '--where', 'public.users_user.email=nobody@example.org', '-r', rules, plain, '-o', out]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/--where 2 \(public\.users_user\.email\): matched nothing/);
    expect(r.stderr).toMatch(/1 of 2 requests matched nothing \(--where 2\): check it, or give --allow-unmatched/);
    expect(r.stderr).not.toMatch(/nobody/);
    const alone = cli(['forget', '--where', 'public.users_user.email=nobody@example.org', '--allow-unmatched', '-r', rules, plain, '-o', join(dir, 'unmatched2.sql')]);
    expect(alone.status, alone.stderr).toBe(0);
    expect(readFileSync(join(dir, 'unmatched2.sql')).equals(readFileSync(plain))).toBe(true);
    const found = cli(['find', '--where', 'public.users_user.email=nobody@example.org', '-r', rules, plain]);
    expect(found.status).toBe(1);
    expect(found.stdout).toMatch(/--where 1 \(public\.users_user\.email\): matched nothing/);
  });

  it('a value too common to name one person is not searched, and says so; --identifier and --no-identifier decide', () => {
    // user 3's user name is one word: her rows go, but the word is left in other people's text
    psql(SRC, "UPDATE users_user SET username = 'admin' WHERE id = 3; INSERT INTO wagtailsearch_query VALUES (900, 'admin');");
    try {
      const input = join(dir, 'common.sql');
      dump(input, []);
      const who = 'public.users_user.id=3';
      const base = cli(['forget', '--where', who, '-r', rules, input, '-o', join(dir, 'common-out.sql')]);
      expect(base.status, base.stderr).toBe(0);
      expect(base.stderr).toMatch(/1 value of the matched rows too common to name one person .* not searched for elsewhere: give one with --identifier/);
      expect(readFileSync(join(dir, 'common-out.sql'), 'utf8')).toMatch(/^900\tadmin$/m);
      const added = cli(['forget', '--where', who, '--identifier', 'admin', '-r', rules, input, '-o', join(dir, 'common-added.sql')]);
      expect(added.status, added.stderr).toBe(0);
      expect(added.stderr).not.toMatch(/too common/);
      expect(readFileSync(join(dir, 'common-added.sql'), 'utf8')).not.toMatch(/^900\tadmin$/m);
      // and a value taken from her rows may be left alone: her address stays in the newsletter table
      const kept = cli(['forget', '--where', JANE, '--no-identifier', 'Jane.Doe+news@Example.org', '--no-identifier', 'jane.o\'doe7', '-r', rules, plain, '-o', join(dir, 'kept.sql')]);
      expect(kept.status, kept.stderr).toBe(0);
      expect(readFileSync(join(dir, 'kept.sql'), 'utf8')).toMatch(/Reviewed by jane\.o''doe7|Reviewed by jane\.o'doe7/);
    } finally {
      psql(SRC, "DELETE FROM wagtailsearch_query WHERE id = 900; UPDATE users_user SET username = 'user3.name' WHERE id = 3;");
    }
  });

  it('SQL structure is never data: a column name or an owner given as identifiers stays, and the output restores', () => {
    const out = join(dir, 'structure.sql');
    const r = cli(['forget', '--where', JANE, '--identifier', 'owner_id', '--identifier', 'postgres', '-r', rules, plain, '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text).toMatch(/OWNER TO postgres;/);
    expect(text).toMatch(/owner_id integer/);
    const db = 'people_structure';
    const rr = restore(db, readFileSync(out));
    expect(rr.status, rr.stderr).toBe(0);
    expectForgotten(db);
  });

  it('forgets many people from a file, in many backups at once (-o DIR), each a report entry', () => {
    const people = join(dir, 'people.txt');
    const emails = Array.from({ length: 25 }, (_, i) => `user${i * 2 + 10}@example.org`);
    writeFileSync(people, `# erasure requests\n\n${emails.map((e) => `users_user.email=${e}`).join('\n')}\nusers_user.email=jane.doe+news@example.org\n`);
    const custom = join(dir, 'many.dump');
    dump(custom, ['-Fc']);
    const outDir = join(dir, 'many-out');
    mkdirSync(outDir);
    const report = join(dir, 'many.json');
    const r = cli(['forget', '--people', people, '-r', rules, plain, custom, '-o', outDir, '--report', report]);
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(readFileSync(report, 'utf8')) as { dumps: { matched: number; output: string }[] };
    expect(rep.dumps.map((d) => d.matched)).toEqual([26, 26]);
    for (const f of ['more.sql', 'many.dump']) {
      const t = text(join(outDir, f));
      for (const e of emails) expect(t).not.toContain(e);
      expect(t).not.toMatch(HERS);
    }
    const rr = restore('people_many', readFileSync(join(outDir, 'more.sql')));
    expect(rr.status, rr.stderr).toBe(0);
    expect(psql('people_many', 'SELECT count(*) FROM users_user').trim()).toBe('34');
  });

  it('refuses a --data-only dump: what refers to the rows is unknown', () => {
    const dataOnly = join(dir, 'data-only.sql');
    dump(dataOnly, ['--data-only']);
    const out = join(dir, 'data-only-out.sql');
    const r = cli(['forget', '--where', JANE, '-r', rules, dataOnly, '-o', out]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/table public\.users_user: the dump does not define this table \(a --data-only dump\?\)/);
    expect(existsSync(out)).toBe(false);
  });

  it.each([
    [['forget', '--where', JANE, '-o', '/tmp/x.sql', '-'], /not stdin/],
    [['find', '--where', 'users_user.nope=1', 'IN'], /has no column nope/],
    [['find', '--where', 'public.no_such.email=a@b.c', 'IN'], /has no table public\.no_such/],
    [['find', '--where', 'no-equals-sign', 'IN'], /expected schema\.table\.column=value/],
    [['find', 'IN'], /--where/],
  ])('refuses %j with a one-line usage error', (args, message) => {
    const r = cli((args as string[]).map((a) => (a === 'IN' ? plain : a)));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('reads the schema and only the rows it needs after the first pass, and gives what whole passes give', async () => {
    const { People, parseCondition } = await import('../src/relations/people.js');
    const { forgetOverlay } = await import('../src/relations/forget-judge.js');
    const { passSource } = await import('../src/commands/people.js');
    const { KeyRing } = await import('../src/pseudonym/keys.js');
    const { compileRules, readRules } = await import('../src/engine/run.js');
    const compiled = compileRules(await readRules({ files: [rules] }), KEY);
    const found = async (withRanges: boolean) => {
      const source = passSource(plain);
      const read: number[] = [];
      if (withRanges) {
        const ranges = source.ranges!;
        source.ranges = (r) => (read.push(r.reduce((n, [a, b]) => n + b - a, 0)), ranges(r));
      } else delete source.ranges;
      const p = new People('find', source, { conditions: [parseCondition(JANE, 'w')], rules: compiled, relations: compiled.data.relations, sip: new KeyRing(KEY).sip('x') });
      await p.resolve();
      const counts: string[] = [];
      await p.run('all', { overlay: forgetOverlay(p, (t, _c, _r, f) => void (f.removed && counts.push(t)), false) });
      return { counts: counts.sort().join(','), read, passes: p.passes };
    };
    const whole = await found(false);
    const parts = await found(true);
    expect(parts.counts).toBe(whole.counts);
    expect(parts.counts).toContain('public.a_note');
    expect(parts.read.length).toBeGreaterThan(0);
    // the schema and a few tables: less than the file (this small database is mostly schema)
    for (const n of parts.read) expect(n).toBeLessThan(statSync(plain).size);
  });

  it('stops if the file changes between passes, leaving no output', async () => {
    const { passSource } = await import('../src/commands/people.js');
    const copy = join(dir, 'changing.sql');
    writeFileSync(copy, readFileSync(plain));
    const source = passSource(copy);
    writeFileSync(copy, Buffer.concat([readFileSync(plain), Buffer.from('-- more\n')]));
    await expect(async () => {
      for await (const _ of source()) void _;
    }).rejects.toThrow(/changed between two passes/);
  });

  it('gives the same bytes twice with the same key', () => {
    const a = join(dir, 'det-a.sql');
    const b = join(dir, 'det-b.sql');
    expect(cli(['forget', '-q', '--where', JANE, '-r', rules, plain, '-o', a]).status).toBe(0);
    expect(cli(['forget', '-q', '--where', JANE, '-r', rules, plain, '-o', b]).status).toBe(0);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
  });
});
