/** The statement classifier, table-driven: every kind pg_dump 13–18 and pg_dumpall write, and what is not one. */
import { describe, expect, it } from 'vitest';
import { classify, objectLabel, tocHeader } from '../src/dump/statements.js';
import { applyOutside, type OutsideContext } from '../src/dump/outside.js';
import { DEFAULT_OUTSIDE } from '../src/contract/outside-policy.js';
import { tokenize } from '../src/dump/sql-tokens.js';

const kind = (sql: string) => classify(tokenize(sql));

describe('classify', () => {
  it.each([
    ['SET statement_timeout = 0;', 'settings'],
    ["SELECT pg_catalog.set_config('search_path', '', false);", 'settings'],
    ['RESET ROLE;', 'settings'],
    ['BEGIN;', 'transaction'],
    ['COMMIT;', 'transaction'],
    ["SELECT pg_catalog.setval('public.t_id_seq', 42, true);", 'sequence'],
    ["SELECT pg_catalog.lo_create('16401');", 'large-object'],
    ['SELECT pg_catalog.lo_open(\'16401\', 131072);', 'large-object'],
    ['SELECT pg_catalog.lo_close(0);', 'large-object'],
    ["SELECT * FROM pg_catalog.pg_restore_relation_stats('version', '180003'::integer);", 'statistics'],
    ["SELECT * FROM pg_catalog.pg_restore_attribute_stats('version', '180003'::integer);", 'statistics'],
    ["SELECT * FROM pg_catalog.pg_restore_extended_stats('version', '190000'::integer);", 'statistics'],
    ["COMMENT ON TABLE public.t IS 'x';", 'comment'],
    ["SECURITY LABEL FOR selinux ON TABLE public.t IS 'x';", 'comment'],
    ["CREATE ROLE alice;", 'role'],
    ["ALTER ROLE alice WITH LOGIN PASSWORD 'x';", 'role'],
    ['CREATE USER bob;', 'role'],
    ["CREATE USER MAPPING FOR bob SERVER s OPTIONS (password 'x');", 'user-mapping'],
    ["CREATE SERVER s FOREIGN DATA WRAPPER w OPTIONS (host 'h');", 'server'],
    ['CREATE FOREIGN DATA WRAPPER w;', 'server'],
    ["CREATE SUBSCRIPTION sub CONNECTION 'host=h' PUBLICATION p WITH (connect = false);", 'subscription'],
    ['CREATE TABLE public.t (a int);', 'ddl'],
    ['CREATE UNLOGGED TABLE public.t (a int);', 'ddl'],
    ['CREATE UNIQUE INDEX i ON public.t USING btree (a);', 'ddl'],
    ['CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;', 'ddl'],
    ['CREATE MATERIALIZED VIEW v AS SELECT 1;', 'ddl'],
    ['CREATE TEXT SEARCH CONFIGURATION c (PARSER = p);', 'ddl'],
    ['CREATE DEFAULT CONVERSION c FOR \'LATIN1\' TO \'UTF8\' FROM f;', 'ddl'],
    ['ALTER DEFAULT PRIVILEGES FOR ROLE a GRANT SELECT ON TABLES TO b;', 'ddl'],
    ['CREATE CONSTRAINT TRIGGER t AFTER INSERT ON x FROM y FOR EACH ROW EXECUTE FUNCTION f();', 'ddl'],
    ['ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (a);', 'ddl'],
    ['ALTER LARGE OBJECT 16401 OWNER TO alice;', 'ddl'],
    ['GRANT ALL ON SCHEMA public TO alice;', 'ddl'],
    ['REVOKE ALL ON SCHEMA public FROM PUBLIC;', 'ddl'],
    ['REFRESH MATERIALIZED VIEW public.v;', 'ddl'],
    ['DROP TABLE IF EXISTS public.t;', 'ddl'],
    ["UPDATE pg_catalog.pg_database SET datistemplate = false WHERE datname = 'x';", 'ddl'],
    ['INSERTED_NOTE;', 'unknown'],
    ['DELETE FROM public.t;', 'unknown'],
    ['SELECT 1;', 'unknown'],
    ['SELECT pg_catalog.pg_sleep(1);', 'unknown'],
    ['CREATE WIDGET w;', 'unknown'],
    ['"quoted" first word;', 'unknown'],
  ])('%s → %s', (sql, expected) => {
    expect(kind(sql).kind).toBe(expected);
  });

  it('names an unknown statement by a command word only, never by other text', () => {
    expect(kind('DELETE FROM public.t;').verb).toBe('DELETE');
    expect(kind('jane FROM x;').verb).toBe('');
  });

  it('reads the object of the last pg_dump header, with its schema', () => {
    const h = tocHeader('\n--\n-- Name: users pol; Type: POLICY; Schema: public; Owner: app\n--\n\n');
    expect(h && objectLabel(h)).toBe('POLICY public.users pol');
    const g = tocHeader('--\n-- Name: srv; Type: SERVER; Schema: -; Owner: app\n--\n');
    expect(g && objectLabel(g)).toBe('SERVER srv');
    expect(tocHeader('-- just a comment\n')).toBeNull();
  });
});

describe('applyOutside', () => {
  const ctx = (over: Partial<OutsideContext> = {}): OutsideContext => ({
    policy: { ...DEFAULT_OUTSIDE, objects: [] },
    literals: 'fail',
    unknownFails: true,
    exposure: (t) => (t === 'public.users' ? { rows: 'all', kept: (c) => c === 'city', allKept: false } : t === 'public.gone' ? { rows: 'none', kept: () => false, allKept: false } : null),
    overlay: false,
    scrub: (s) => s.replace(/[a-z.]+@[a-z.]+/g, 'x@example.com'),
    rolePseudonym: (n) => `role_${n.length}`,
    ...over,
  });
  const apply = (sql: string, c = ctx(), label = 'OBJ') => applyOutside(sql, classify(tokenize(sql)), label, c);
  const stats = (rel: string, att: string) =>
    `SELECT * FROM pg_catalog.pg_restore_attribute_stats(\n\t'version', '180003'::integer,\n\t'schemaname', 'public',\n\t'relname', '${rel}',\n\t'attname', '${att}',\n\t'null_frac', '0'::real,\n\t'most_common_vals', '{a@b.org}'::text,\n\t'histogram_bounds', '{c@d.org}'::text\n);`;

  it.each([
    ['a kept column keeps its statistics', stats('users', 'city'), 'keep', null],
    ['a rewritten column loses its values, keeps its counts', stats('users', 'email'), 'rewrite', /'null_frac', '0'::real\n\);$/],
    ['a dropped table loses all its statistics', stats('gone', 'email'), 'drop', null],
    ['an unknown relation (an index) loses its values', stats('users_idx', 'lower'), 'rewrite', /^((?!most_common|histogram).)*$/s],
  ])('statistics: %s', (_n, sql, action, re) => {
    const r = apply(sql);
    expect(r.action).toBe(action);
    if (re) expect(r.text).toMatch(re);
  });

  it.each([
    ["ALTER ROLE alice WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:abc';", 'ALTER ROLE alice WITH LOGIN PASSWORD NULL;'],
    ["CREATE USER MAPPING FOR bob SERVER s OPTIONS (\n    \"user\" 'bob',\n    password 'hunter2'\n);", "CREATE USER MAPPING FOR bob SERVER s OPTIONS (\n    \"user\" 'bob',\n    password 'anonymise-dump:redacted'\n);"],
    ["CREATE SUBSCRIPTION sub CONNECTION 'host=db password=hunter2 dbname=x' PUBLICATION p WITH (connect = false);", "CREATE SUBSCRIPTION sub CONNECTION 'host=db dbname=x' PUBLICATION p WITH (connect = false);"],
    ["CREATE SUBSCRIPTION sub CONNECTION 'postgresql://app:hunter2@db/x' PUBLICATION p;", "CREATE SUBSCRIPTION sub CONNECTION 'postgresql://app@db/x' PUBLICATION p;"],
  ])('secrets never pass: %s', (sql, expected) => {
    const r = apply(sql);
    expect(r.text).toBe(expected);
    expect(r.counts.secretsRemoved).toBeGreaterThan(0);
  });

  it('a literal with personal data: fail names the fix, scrub rewrites in place, an object override wins', () => {
    const sql = "CREATE VIEW v AS SELECT * FROM t WHERE email = 'jane@mail.org';";
    expect(apply(sql).stop).toMatch(/outside\.literals: scrub.*"OBJ"/);
    expect(apply(sql, ctx({ literals: 'scrub' })).text).toBe("CREATE VIEW v AS SELECT * FROM t WHERE email = 'x@example.com';");
    const keep = ctx({ policy: { ...DEFAULT_OUTSIDE, objects: [{ pattern: 'OBJ', re: /^OBJ$/, action: 'keep' }] } });
    expect(apply(sql, keep).action).toBe('keep');
    expect(apply(sql, keep).stop).toBeUndefined();
  });

  it('an e-mail in a role name gets the advice for role names, one in a string or comment the advice for literals', () => {
    expect(apply('CREATE ROLE "jane@mail.org";').stop).toMatch(/a name looks like an e-mail address.*outside\.roles: pseudonymise/);
    expect(apply("ALTER ROLE \"jane@mail.org\" SET application_name = 'bob@mail.org';").stop).toMatch(/a string constant or comment/);
  });

  it('role names become pseudonyms wherever a dump names a role', () => {
    const c = ctx({ policy: { ...DEFAULT_OUTSIDE, roles: 'pseudonymise', objects: [] } });
    expect(apply('ALTER TABLE public.t OWNER TO alice;', c).text).toBe('ALTER TABLE public.t OWNER TO "role_5";');
    expect(apply('GRANT SELECT ON TABLE public.t TO alice, bob;', c).text).toBe('GRANT SELECT ON TABLE public.t TO "role_5", "role_3";');
    expect(apply('GRANT admins TO alice GRANTED BY postgres;', c).text).toBe('GRANT "role_6" TO "role_5" GRANTED BY postgres;');
    expect(apply('REVOKE ALL ON SCHEMA public FROM PUBLIC;', c).action).toBe('keep');
  });
});

describe('comments are free text, wherever they are', () => {
  const HEAD = "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\n";
  const FOOT = '\n--\n-- PostgreSQL database dump complete\n--\n\n';
  const dump =
    HEAD +
    '-- note: ask jane.comment@gmail.com before restoring\nCREATE TABLE public.t (\n    id integer -- owner: bob.inner@gmail.com\n);\n\n' +
    '-- rows checked by carl.data@gmail.com\nCOPY public.t (id) FROM stdin;\n1\n\\.\n\n' +
    '/* written by dana.insert@gmail.com */\nINSERT INTO public.t VALUES (2);\n' +
    FOOT;
  const run = async (outside: string) => {
    const { compileRules, readRules, rewriteBuffer } = await import('../src/engine/run.js');
    const rules = compileRules(await readRules({ text: [{ name: 'r.yaml', yaml: `version: 1\n${outside}tables:\n  t: keep\n` }] }), 'a key of at least sixteen bytes');
    return rewriteBuffer(Buffer.from(dump), { rules }).output.toString();
  };

  it('scrubs e-mails in comments between statements, before data, and inside a statement (comments: scrub, literals: scrub)', async () => {
    const out = await run('outside: { literals: scrub }\n');
    expect(out).not.toMatch(/jane\.comment|bob\.inner|carl\.data|dana\.insert/);
    expect(out).toMatch(/-- note: ask \S+@example\.com before restoring/);
    expect(out).toContain('INSERT INTO public.t VALUES (2);');
  });

  it('a comment inside a statement counts as a finding under literals: fail; comments: keep keeps the free ones', async () => {
    // the e-mail is in a comment inside the statement, not in a role's name: the advice says so
    await expect(run('')).rejects.toThrow(/a string constant or comment holds what looks like personal data or a secret \(email\)/);
    const kept = await run('outside: { literals: keep, comments: keep }\n');
    expect(kept).toContain('jane.comment@gmail.com');
    expect(kept).toContain('bob.inner@gmail.com');
  });
});
