/**
 * Nothing personal leaves from outside the rows: a real database with a marker e-mail, phone number
 * and password planted in comments, DDL literals, function bodies (BEGIN ATOMIC too), policies,
 * publications, partition bounds, enum labels, index predicates, trigger WHENs, settings, role
 * passwords and names, user-mapping and server options, and a subscription's connection string;
 * dumped by the real pg_dump 15 (COPY and INSERT forms) and pg_dumpall. Under full rules either the
 * run stops before its first byte naming the object, or the output holds no marker and restores.
 */
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { compileRules, readRules, rewriteBuffer } from '../src/engine/run.js';
import { AnonymiseError } from '../src/errors.js';
import { DumpRewriter } from '../src/dump/rewriter.js';
import { foundAny, scanDump } from '../src/commands/scan.js';
import { createDb, pgDump, pgEnv, psql, restore } from './support/db.js';
import { startCluster, stopCluster, type PgInfo } from './support/pg-cluster.js';

const EMAIL = 'marker.person@leak-test.org';
const PHONE = '07911 123456';
const PASSWORD = 'Hunter2Secret';
const MARKERS = [EMAIL, PHONE, PASSWORD];
const DB = 'outside_markers';

const SETUP = `
CREATE ROLE outside_owner LOGIN PASSWORD '${PASSWORD}';
CREATE ROLE "${EMAIL}" LOGIN PASSWORD '${PASSWORD}';
COMMENT ON ROLE outside_owner IS 'owner: ${EMAIL}';
ALTER ROLE outside_owner SET application_name = '${PHONE}';
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL DEFAULT '${EMAIL}' CHECK (email <> '${PHONE}'), phone text);
COMMENT ON TABLE users IS 'ask ${EMAIL}';
COMMENT ON COLUMN users.phone IS 'e.g. ${PHONE}';
INSERT INTO users SELECT g, 'user' || g || '@mail-test.org', '07911 1000' || lpad(g::text, 2, '0') FROM generate_series(1, 50) g;
INSERT INTO users VALUES (99, '${EMAIL}', '${PHONE}');
CREATE DOMAIN contact AS text CHECK (VALUE <> '${EMAIL}');
CREATE VIEW staff AS SELECT * FROM users WHERE email = '${EMAIL}';
CREATE MATERIALIZED VIEW callers AS SELECT id FROM users WHERE phone = '${PHONE}';
CREATE FUNCTION notify() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN '${EMAIL}'; END $$;
CREATE FUNCTION atomic_f() RETURNS int LANGUAGE sql BEGIN ATOMIC INSERT INTO users VALUES (1000, '${EMAIL}', '${PHONE}'); SELECT 1; END;
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY pol ON users USING (email <> '${EMAIL}');
CREATE TYPE mood AS ENUM ('${EMAIL}', 'ok');
CREATE INDEX users_idx ON users (id) WHERE email <> '${EMAIL}';
CREATE TABLE parted (k text, v int) PARTITION BY LIST (k);
CREATE TABLE parted_m PARTITION OF parted FOR VALUES IN ('${EMAIL}');
CREATE FUNCTION trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER t BEFORE UPDATE ON users FOR EACH ROW WHEN (NEW.email <> '${EMAIL}') EXECUTE FUNCTION trg();
CREATE PUBLICATION pub FOR TABLE users WHERE (email <> '${EMAIL}');
CREATE FOREIGN DATA WRAPPER dummy;
CREATE SERVER srv FOREIGN DATA WRAPPER dummy OPTIONS (host 'db', password '${PASSWORD}');
CREATE USER MAPPING FOR outside_owner SERVER srv OPTIONS (user 'app', password '${PASSWORD}');
CREATE SUBSCRIPTION sub CONNECTION 'host=db dbname=x user=app password=${PASSWORD}' PUBLICATION pub WITH (connect = false, slot_name = NONE);
ALTER DATABASE ${DB} SET application_name = '${PHONE}';
`;

const RULES = `version: 1
unknown: fail
tables:
  users: { columns: { id: keep, email: { fake: internet.email, unique: true }, phone: { fake: phone.number } } }
  parted: { columns: { k: { hash: { length: 12 } }, v: keep } }
`;

async function rules(yaml: string) {
  return compileRules(await readRules({ text: [{ name: 'rules.yaml', yaml }] }), 'a key of at least sixteen bytes');
}

/** Runs and reports the error and whether any byte reached the sink before it. */
async function attempt(dump: Buffer, yaml: string): Promise<{ error?: AnonymiseError; output: Buffer; wrote: boolean }> {
  const out: Buffer[] = [];
  const rw = new DumpRewriter({ rules: await rules(yaml) }, (c) => out.push(Buffer.from(c)));
  try {
    rw.write(dump);
    rw.end();
  } catch (e) {
    if (e instanceof AnonymiseError) return { error: e, output: Buffer.concat(out), wrote: out.length > 0 };
    throw e;
  }
  return { output: Buffer.concat(out), wrote: true };
}

function markersIn(text: string): string[] {
  return MARKERS.filter((m) => text.includes(m));
}

describe('what lies outside the rows (pg_dump 15)', () => {
  const dumps: Record<string, Buffer> = {};
  let dumpall: Buffer;
  let second: PgInfo;
  beforeAll(() => {
    psql('postgres', `DROP SUBSCRIPTION IF EXISTS sub; DROP ROLE IF EXISTS outside_owner; DROP ROLE IF EXISTS "${EMAIL}";`);
    createDb(DB);
    psql(DB, SETUP);
    dumps.copy = pgDump(DB);
    dumps.inserts = pgDump(DB, ['--inserts']);
    dumps['column-inserts'] = pgDump(DB, ['--column-inserts', '--rows-per-insert=7']);
    // pg_dumpall of this database and the roles only: other test files create databases meanwhile
    const bin = inject('pg').bin;
    const globals = spawnSync(join(bin, 'pg_dumpall'), ['--globals-only'], { env: pgEnv(), maxBuffer: 1 << 28 });
    if (globals.status !== 0) throw new Error(globals.stderr.toString());
    // as pg_dumpall lays them out: globals, each database, and the cluster's footer last
    const footer = '--\n-- PostgreSQL database cluster dump complete\n--\n\n';
    dumpall = Buffer.concat([Buffer.from(globals.stdout.toString().replace(footer, '')), pgDump(DB, ['--create']), Buffer.from(footer)]);
    second = startCluster();
  });
  afterAll(() => {
    if (second) stopCluster(second);
  });

  it('the unmodified dumps hold every marker, and scan reports each by place, never by value', async () => {
    for (const [form, dump] of Object.entries({ ...dumps, dumpall })) {
      expect(markersIn(dump.toString()), form).toEqual(MARKERS);
      const res = await scanDump(Readable.from([dump]));
      const objects = Object.keys(res.objects).filter((o) => foundAny({ ...res, tables: {}, objects: { [o]: res.objects[o]! } }, ['email', 'phone', 'secret']));
      expect(JSON.stringify(res)).not.toContain(EMAIL);
      const expected = ['COMMENT public.TABLE users', 'COMMENT public.COLUMN users.phone', 'VIEW public.staff', 'MATERIALIZED VIEW public.callers', 'FUNCTION public.notify()', 'FUNCTION public.atomic_f()', 'POLICY public.users pol', 'TYPE public.mood', 'INDEX public.users_idx', 'TRIGGER public.users t', 'PUBLICATION TABLE public.pub users', 'SERVER srv', 'USER MAPPING USER MAPPING outside_owner SERVER srv', 'SUBSCRIPTION sub', 'DOMAIN public.contact', 'TABLE public.users', 'TABLE ATTACH public.parted_m'];
      const prefix = form === 'dumpall' ? `${DB}/` : '';
      for (const o of expected) expect(objects, `${form}: ${o}`).toContain(prefix + o);
      if (form === 'dumpall') for (const o of ['ALTER ROLE', 'COMMENT ON', 'CREATE ROLE']) expect(objects, `${form}: ${o}`).toContain(o);
    }
  });

  it.each(['copy', 'inserts', 'column-inserts'])('%s form: with literals: fail the run stops before its first byte, naming the object', async (form) => {
    const r = await attempt(dumps[form]!, RULES);
    expect(r.error?.code).toBe('OUTSIDE_ROWS');
    expect(r.wrote).toBe(false);
    expect(r.error!.message).toMatch(/^input line \d+, object [A-Z]/);
    for (const m of MARKERS) expect(r.error!.message).not.toContain(m);
  });

  it.each(['copy', 'inserts', 'column-inserts'])('%s form: with literals: scrub no marker is left and the output restores', async (form) => {
    const { output, result } = rewriteBuffer(dumps[form]!, { rules: await rules(`${RULES}outside: { literals: scrub }\n`) });
    const text = output.toString();
    expect(markersIn(text)).toEqual([]);
    expect(result.outside).toMatchObject({ secretsRemoved: 3 });
    // the policy keeps what restores: the function is still one statement, its body intact but for the scrub
    expect(text).toMatch(/BEGIN ATOMIC\n INSERT INTO public\.users \(id, email, phone\)\n {3}VALUES \(1000, '[a-z]+\.[a-z0-9]+@example\.com'::text, '07700 900\d{3}'::text\);\n SELECT 1;\nEND;/);
    const db = `outside_${form.replace('-', '_')}_restored`;
    const r = restore(db, output);
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.status).toBe(0);
    expect(psql(db, 'SELECT count(*) FROM users;').trim()).toBe('51');
    expect(psql(db, "SELECT count(*) FROM users WHERE email LIKE '%@mail-test.org';").trim()).toBe('0');
    expect(psql(db, 'SELECT srvoptions::text FROM pg_foreign_server;')).not.toContain(PASSWORD);
  });

  it('check lists every statement that would stop the run, by object and line, never by value', async () => {
    const { checkDump } = await import('../src/engine/run.js');
    const res = await checkDump(Readable.from([dumps.copy!]), await rules(RULES));
    const objects = res.outside.map((f) => f.object);
    for (const o of ['FUNCTION public.notify()', 'VIEW public.staff', 'POLICY public.users pol', 'INDEX public.users_idx', 'TRIGGER public.users t', 'TYPE public.mood'])
      expect(objects).toContain(o);
    expect(res.outside.every((f) => f.line > 0)).toBe(true);
    for (const m of MARKERS) expect(JSON.stringify(res)).not.toContain(m);
    const clean = await checkDump(Readable.from([dumps.copy!]), await rules(`${RULES}outside: { literals: scrub }\n`));
    expect(clean.outside).toEqual([]);
  });

  it("init writes the policy out, with a scrub for each definition the scan flagged, and its draft runs clean", async () => {
    const { draftRules } = await import('../src/commands/init.js');
    const draft = draftRules(await scanDump(Readable.from([dumps.copy!]), { jsonKeys: true }), { source: 'test', sampleRows: 1000 });
    expect(draft).toMatch(/^outside: /m);
    expect(draft).toContain('"FUNCTION public.notify()": scrub');
    for (const m of MARKERS) expect(draft).not.toContain(m);
    const r = await attempt(dumps.copy!, draft);
    expect(r.error).toBeUndefined();
    expect(markersIn(r.output.toString())).toEqual([]);
  });

  it('check warns that pseudonymous roles must exist when the dump creates none (pg_dump, not pg_dumpall)', async () => {
    const { checkDump } = await import('../src/engine/run.js');
    const yaml = `${RULES}outside: { literals: scrub, roles: pseudonymise }\n`;
    const one = await checkDump(Readable.from([dumps.copy!]), await rules(yaml));
    expect(one.restore.some((p) => p.table === '(roles)' && p.severity === 'warning')).toBe(true);
    const all = await checkDump(Readable.from([dumpall]), await rules(yaml));
    expect(all.restore.some((p) => p.table === '(roles)')).toBe(false);
  });

  it('comments: keep and drop on request; objects: per-object overrides', async () => {
    const keep = rewriteBuffer(dumps.copy!, { rules: await rules(`${RULES}outside: { literals: scrub, comments: keep }\n`) }).output.toString();
    expect(keep).toContain(`COMMENT ON TABLE public.users IS 'ask ${EMAIL}';`);
    const drop = rewriteBuffer(dumps.copy!, { rules: await rules(`${RULES}outside: { literals: scrub, comments: drop }\n`) }).output.toString();
    expect(drop).not.toContain('COMMENT ON TABLE public.users');
    const one = await attempt(dumps.copy!, `${RULES}outside: { literals: scrub, objects: { "FUNCTION public.notify()": keep } }\n`);
    expect(one.output.toString()).toContain(`RETURN '${EMAIL}'`);
  });

  it('pg_dumpall: role passwords removed, role names pseudonymised, and the whole cluster restores', async () => {
    const blocked = await attempt(dumpall, RULES);
    expect(blocked.error?.code).toBe('OUTSIDE_ROWS');
    expect(blocked.wrote).toBe(false);
    expect(blocked.error!.message).not.toContain(EMAIL);
    const { output, result } = rewriteBuffer(dumpall, { rules: await rules(`${RULES}outside: { literals: scrub, roles: pseudonymise }\n`) });
    const text = output.toString();
    expect(markersIn(text)).toEqual([]);
    expect(text).not.toMatch(/outside_owner/);
    expect(result.outside?.rolesPseudonymised).toBeGreaterThan(5);
    expect(text).toMatch(/PASSWORD NULL/);
    // a fresh cluster: the roles must not exist yet
    const env = { ...process.env, PGHOST: second.host, PGPORT: String(second.port), PGUSER: 'postgres', PGDATABASE: 'postgres' };
    // pg_dumpall's own CREATE ROLE for the bootstrap superuser fails on any fresh cluster (its documented
    // behaviour): that one line goes; every other statement must restore
    const input = output.toString().replace(/^CREATE ROLE postgres;\n/m, '');
    const r = spawnSync(join(second.bin, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-'], { input, env, encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.status).toBe(0);
    const q = (db: string, sql: string) => spawnSync(join(second.bin, 'psql'), ['-X', '-At', '-d', db, '-c', sql], { env, encoding: 'utf8' }).stdout.trim();
    expect(q(DB, 'SELECT count(*) FROM users')).toBe('51');
    expect(q('postgres', "SELECT count(*) FROM pg_authid WHERE rolname LIKE 'role\\_%' AND rolpassword IS NULL")).not.toBe('0');
    // the same role gets the same pseudonym in every statement: ownership still resolves
    expect(q(DB, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'users'")).toBe('postgres');
  });

  it('scan --fail-on-pii passes on the scrubbed output; unknown: keep stays byte-identical', async () => {
    const { output } = rewriteBuffer(dumps.copy!, { rules: await rules(`${RULES}outside: { literals: scrub }\n`) });
    const res = await scanDump(Readable.from([output]));
    expect(Object.entries(res.objects).filter(([, s]) => s.found.email || s.found.phone || s.found.secret)).toEqual([]);
    // unknown: keep changes nothing but what holds personal data or secrets outside the rows
    const same = rewriteBuffer(dumps.copy!, { rules: await rules('version: 1\nunknown: keep\n') }).output.toString().split('\n');
    const before = dumps.copy!.toString().split('\n');
    expect(same.length).toBe(before.length);
    const changed = before.filter((l, i) => l !== same[i]);
    expect(changed.length).toBeGreaterThan(0);
    for (const l of changed) expect(l).toMatch(/^COMMENT ON|password/);
  });
});
