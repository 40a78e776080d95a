/**
 * Subsets in the rules, end to end on the find/forget database (test/sql/people.sql): seeds by filter,
 * by keyed sample and whole; parents followed (and children, with parents_and_children); the output
 * restored with ON_ERROR_STOP, which checks every foreign key as pg_dump adds them after the data,
 * and compared with SQL on the source.
 */
import { spawnSync } from 'node:child_process';
import { scratch } from './support/scratch.js';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, pgBin, pgEnv, pgRestore, psql, restore } from './support/db.js';
import { BIN, runCli } from './support/cli.js';

const SRC = 'subset_src';
const KEY = 'subset-test-key-0123456789abcdef';

let dir: string;
let plain: string;

const cli = (args: string[], key = KEY) => runCli(['-q', ...args], { key, inheritEnv: true });

function rules(name: string, body: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, `version: 1\nunknown: keep\n${body}`);
  return path;
}

const n = (db: string, sql: string) => Number(psql(db, sql).trim());

/** The plain dump through the rules `body` (a subset), restored into `db`: both must succeed. */
function restoredSubset(name: string, body: string, db: string): void {
  const r = cli(['-r', rules(name, body), plain]);
  expect(r.status, r.stderr).toBe(0);
  const rr = restore(db, r.stdout);
  expect(rr.status, rr.stderr).toBe(0);
}

beforeAll(() => {
  dir = scratch('ad-subset-');
  createDb(SRC);
  psql(SRC, readFileSync('test/sql/people.sql', 'utf8'));
  plain = join(dir, 'src.sql');
  const r = spawnSync(pgBin('pg_dump'), ['-f', plain, '-d', SRC], { env: pgEnv() });
  if (r.status !== 0) throw new Error(r.stderr.toString());
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('subsets', () => {
  it('staff users and, with parents_and_children, everything that refers to them, with every row they need', () => {
    const db = 'subset_staff';
    restoredSubset('staff', 'subset:\n  - { table: public.users_user, where: { is_staff: [true] } }\nsubset_follow: parents_and_children\n', db);
    const staff = 'SELECT id FROM users_user WHERE is_staff';
    // every child of a staff user is there, as in the source
    for (const [table, col] of [['django_admin_log', 'user_id'], ['b_profile', 'user_id'], ['wagtailcore_page', 'owner_id'], ['d_upload', 'uploaded_by_id'], ['e_activity', 'user_id']])
      expect(n(db, `SELECT count(*) FROM ${table} WHERE ${col} IN (${staff})`), table).toBe(n(SRC, `SELECT count(*) FROM ${table} WHERE ${col} IN (${staff})`));
    // children of children: notes of their profiles, replies to their comments, revisions of their pages
    expect(n(db, 'SELECT count(*) FROM a_note')).toBe(n(SRC, `SELECT count(*) FROM a_note WHERE profile_id IN (SELECT id FROM b_profile WHERE user_id IN (${staff}))`));
    expect(n(db, 'SELECT count(*) FROM wagtailcore_pagerevision WHERE page_id IN (SELECT id FROM wagtailcore_page WHERE owner_id IN (SELECT id FROM users_user WHERE is_staff))')).toBe(
      n(SRC, `SELECT count(*) FROM wagtailcore_pagerevision WHERE page_id IN (SELECT id FROM wagtailcore_page WHERE owner_id IN (${staff}))`),
    );
    // not reached: no rows
    expect(n(db, 'SELECT count(*) FROM wagtailsearch_query')).toBe(0);
    // users besides staff are there only as parents of kept rows (revisions' authors, comments' parents' authors)
    expect(n(db, 'SELECT count(*) FROM users_user WHERE NOT is_staff')).toBeGreaterThan(0);
    expect(n(db, 'SELECT count(*) FROM users_user')).toBeLessThan(n(SRC, 'SELECT count(*) FROM users_user'));
  });

  it('parents only: seed comments bring their authors and the comments they reply to, nothing else', () => {
    const db = 'subset_parents';
    restoredSubset('replies', 'subset:\n  - { table: public.c_comment, where: { user_id: [2] } }\n', db);
    const want = n(SRC, 'WITH RECURSIVE k AS (SELECT id, parent_id FROM c_comment WHERE user_id = 2 UNION SELECT c.id, c.parent_id FROM c_comment c JOIN k ON c.id = k.parent_id) SELECT count(*) FROM k');
    expect(n(db, 'SELECT count(*) FROM c_comment')).toBe(want);
    expect(n(db, 'SELECT count(*) FROM users_user')).toBe(n(db, 'SELECT count(DISTINCT user_id) FROM c_comment'));
    expect(n(db, 'SELECT count(*) FROM django_admin_log')).toBe(0);
  });

  it('parents found as PostgreSQL compares keys: a citext login in another case, a numeric invoice at another scale', () => {
    const db = 'subset_typed';
    restoredSubset('typed', 'subset:\n  - { table: public.k_login, where: { id: [1, 2, 3, 4, 5, 6] } }\n  - { table: public.m_line, where: { id: [1, 2, 3, 4, 5, 6] } }\n', db);
    // restored with every foreign key checked (restoredSubset); and exactly the parents SQL names
    expect(n(db, 'SELECT count(*) FROM k_account')).toBe(n(SRC, 'SELECT count(*) FROM k_account WHERE login IN (SELECT account FROM k_login WHERE id <= 6)'));
    expect(n(db, 'SELECT count(*) FROM m_invoice')).toBe(n(SRC, 'SELECT count(*) FROM m_invoice WHERE no IN (SELECT invoice FROM m_line WHERE id <= 6)'));
    // the seeds do refer to their parents in other spellings
    expect(n(db, 'SELECT count(*) FROM k_login l JOIN k_account a ON a.login = l.account WHERE l.account::text <> a.login::text')).toBeGreaterThan(0);
    expect(n(db, 'SELECT count(*) FROM m_line l JOIN m_invoice i ON i.no = l.invoice WHERE l.invoice::text <> i.no::text')).toBeGreaterThan(0);
  });

  it("a seed's filter compares as PostgreSQL's WHERE does: citext in any case, numeric by value", () => {
    const db = 'subset_typed_where';
    restoredSubset('typedwhere', 'subset:\n  - { table: public.k_login, where: { account: [lOgIn3] } }\n  - { table: public.m_invoice, where: { no: ["4.50", "5.5000"] } }\n', db);
    const logins = n(SRC, "SELECT count(*) FROM k_login WHERE account = 'lOgIn3'");
    expect(logins).toBe(3); // login3, LOGIN3 and Login3 in the source
    expect(n(db, 'SELECT count(*) FROM k_login')).toBe(logins);
    expect(psql(db, 'SELECT string_agg(no::text, \',\' ORDER BY no) FROM m_invoice WHERE no IN (4.5, 5.5)').trim()).toBe('4.50,5.50');
    expect(n(db, 'SELECT count(*) FROM m_invoice')).toBe(2); // seeds bring their parents (users), not their children
  });

  it("over init's draft: a framework's lookup tables are kept whole, the rest follows the seeds, and it restores", () => {
    const draft = runCli(['init', plain], { key: KEY });
    expect(draft.status).toBe(0);
    const text = draft.stdout.toString();
    expect(text).toMatch(/^  public\.django_content_type: keep /m);
    const path = join(dir, 'init-subset.yaml');
    writeFileSync(path, text.replace('version: 1\n', 'version: 1\nsubset:\n  - { table: public.users_user, where: { id: [1, 2] } }\n'));
    const r = cli(['-r', path, plain]);
    expect(r.status, r.stderr.toString()).toBe(0);
    const db = 'subset_init_draft';
    const rr = restore(db, r.stdout);
    expect(rr.status, rr.stderr).toBe(0);
    expect(n(db, 'SELECT count(*) FROM django_content_type')).toBe(n(SRC, 'SELECT count(*) FROM django_content_type'));
    expect(n(db, 'SELECT count(*) FROM users_user')).toBe(2);
  });

  it('a seed table whose rule keeps it is filtered by its seed all the same', () => {
    const db = 'subset_keep_seed';
    restoredSubset('keepseed', 'tables:\n  public.wagtailsearch_query: keep\nsubset:\n  - { table: public.wagtailsearch_query, where: { id: [1, 2, 3] } }\n', db);
    expect(psql(db, 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM wagtailsearch_query').trim()).toBe('1,2,3');
  });

  it("follows the rules' relations as forget does: a session's user (an id inside its encoded payload) is kept with it", () => {
    const db = 'subset_sessions';
    restoredSubset('sessions', 'relations:\n  public.django_session.session_data: { references: public.users_user.id, decode: django_session }\nsubset:\n  - { table: public.django_session, percent: 50 }\n', db);
    const sessions = n(db, 'SELECT count(*) FROM django_session');
    expect(sessions).toBeGreaterThan(10);
    const userOf = "convert_from(decode(split_part(s.session_data, ':', 1), 'base64'), 'UTF8')::json->>'_auth_user_id'";
    // every kept session's user is there, and no other user
    expect(n(db, `SELECT count(*) FROM django_session s WHERE NOT EXISTS (SELECT 1 FROM users_user u WHERE u.id::text = ${userOf})`)).toBe(0);
    expect(n(db, 'SELECT count(*) FROM users_user')).toBe(n(db, `SELECT count(DISTINCT ${userOf}) FROM django_session s`));
  });

  it('a 5 % sample of users is keyed: the same key gives the same bytes, another key other rows; a whole table stays whole', () => {
    const path = rules('five', 'tables:\n  public.django_content_type: keep\nsubset:\n  - { table: public.users_user, percent: 5 }\n  - { table: public.django_admin_log, percent: 30 }\n');
    const a = cli(['-r', path, plain]);
    const b = cli(['-r', path, plain]);
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout.equals(b.stdout)).toBe(true);
    const c = cli(['-r', path, plain], 'another-subset-key-0123456789abcd');
    expect(c.stdout.equals(a.stdout)).toBe(false);
    const db = 'subset_five';
    const rr = restore(db, a.stdout);
    expect(rr.status, rr.stderr).toBe(0);
    expect(n(db, 'SELECT count(*) FROM django_content_type')).toBe(2);
    const logs = n(db, 'SELECT count(*) FROM django_admin_log');
    expect(logs).toBeGreaterThan(20);
    expect(logs).toBeLessThan(110);
  });

  it('works on a custom archive, restoring with pg_restore --exit-on-error', () => {
    const archive = join(dir, 'src.dump');
    const d = spawnSync(pgBin('pg_dump'), ['-Fc', '-f', archive, '-d', SRC], { env: pgEnv() });
    expect(d.status).toBe(0);
    const out = join(dir, 'sub.dump');
    const r = cli(['-r', rules('arch', 'subset:\n  - { table: public.users_user, where: { is_staff: [true] } }\nsubset_follow: parents_and_children\n'), archive, '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    const rr = pgRestore('subset_archive', out);
    expect(rr.status, rr.stderr).toBe(0);
    expect(n('subset_archive', 'SELECT count(*) FROM django_admin_log')).toBe(n('subset_staff', 'SELECT count(*) FROM django_admin_log'));
  });

  it('refuses stdin, and a seed table the dump lacks', () => {
    const s = spawnSync(process.execPath, [BIN, '-q', '-r', rules('stdin', 'subset:\n  - { table: public.users_user, percent: 5 }\n')], { input: readFileSync(plain), env: { ...process.env, ANONYMISE_DUMP_SECRET: KEY } });
    expect(s.status).toBe(2);
    expect(s.stderr.toString()).toMatch(/give a file, not stdin/);
    const r = cli(['-r', rules('nosuch', 'subset:\n  - { table: public.nope, percent: 5 }\n'), plain]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/nosuch\.yaml:\d+: subset: the dump has no table public\.nope/);
  });

  it.each([
    ['subset_follow: everything\n', /subset_follow must be parents or parents_and_children/],
    ['subset:\n  - { table: public.users_user, percent: 0 }\n', /percent must be a number above 0/],
    ['subset:\n  - { where: { a: [1] } }\n', /a subset entry needs table/],
    ['subset:\n  - { table: public.users_user, where: { nope: [1] } }\n', /subset: table public\.users_user has no column nope/],
  ])('rules error for %j', (body, message) => {
    const r = cli(['-r', rules(`bad${Math.random().toString(36).slice(2)}`, body), plain]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
