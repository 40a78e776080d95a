/**
 * pg_dump 18 custom archives (format 1.16: relkind in the TOC, BLOB METADATA and BLOBS entries), from
 * the real pg_dump 18.3 in PGlite's WASM build (test/support/pg18-dump.ts), gzip and -Z 0, with
 * statistics and a large object. Rewritten into -Fc and into plain by the CLI; each result is read as
 * pg_restore prints it, loaded into PostgreSQL 18 (PGlite) and compared in SQL, table by table, with the
 * plain path's (pg_dump 18 plain output through the same rules and key). PostgreSQL 15's pg_restore
 * cannot read archive 1.16, so our own reader reads the -Fc output back.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { scratch } from './support/scratch.js';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PGlite } from '@electric-sql/pglite';
import { compileRules, readRules, rewriteBuffer } from '../src/engine/run.js';
import { openPath, plainBytes } from '../src/archive/open.js';
import { definitionSql, ownerStatement, type TocEntry } from '../src/archive/format.js';
import { pgDump18, withoutMetaCommands } from './support/pg18-dump.js';
import { runCli } from './support/cli.js';

const SOURCE = `
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, profile jsonb);
INSERT INTO users SELECT g, 'person' || g || '@mail-test.org', 'Person ' || g, jsonb_build_object('email', 'person' || g || '@mail-test.org', 'n', g) FROM generate_series(1, 300) g;
CREATE TABLE page (id int PRIMARY KEY, title text, owner_id int REFERENCES users (id));
INSERT INTO page SELECT g, 'Page ' || g, 1 + g % 300 FROM generate_series(1, 100) g;
COMMENT ON TABLE page IS 'pages, owned by users';
CREATE ROLE reader;
-- three large objects with one owner and one ACL: pg_dump 17+ lists them in one BLOB METADATA entry,
-- and writes their GRANT once, for the first, in a LARGE OBJECTS ACL entry
SELECT lo_from_bytea(0, convert_to(t, 'UTF8')) FROM unnest(ARRAY['a large object', 'another', 'a third']) t;
DO $$ DECLARE o oid; BEGIN FOR o IN SELECT oid FROM pg_largeobject_metadata LOOP EXECUTE format('GRANT SELECT ON LARGE OBJECT %s TO reader', o); END LOOP; END $$;
ANALYZE;
`;

const RULES = `version: 1
unknown: fail
tables:
  users:
    columns:
      id: keep
      email: { fake: internet.email, unique: true }
      name: { fake: person.fullName }
      profile: { json: { email: { fake: internet.email }, n: keep } }
  page: keep
  pg_catalog.pg_largeobject: keep
`;

const KEY = 'pg18-archive-test-key-0123456789';
const originals = (text: string) => text.match(/person\d+@mail-test\.org/g) ?? [];

let dir: string;
let rulesFile: string;
let plainDigest: string;
const archives: Record<string, string> = {};

const cli = (args: string[]) => runCli(['-q', '-r', rulesFile, ...args], { key: KEY, inheritEnv: true });

/** Every table's rows and the large objects, digested, after loading `sql` into a new PostgreSQL 18. */
async function digestOf(sql: string): Promise<string> {
  const pg = await PGlite.create();
  try {
    await pg.exec('CREATE ROLE reader;');
    await pg.exec(withoutMetaCommands(sql));
    const rows: string[] = [];
    // the dump leaves search_path empty
    for (const t of ['users', 'page']) {
      const r = await pg.query<{ n: number; d: string }>(`SELECT count(*)::int AS n, md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS d FROM public.${t} t`);
      rows.push(`${t} ${r.rows[0]!.n} ${r.rows[0]!.d}`);
    }
    const lo = await pg.query<{ n: number; d: string }>("SELECT count(*)::int AS n, string_agg(lo_get(oid)::text || ' ' || pg_get_userbyid(lomowner) || ' ' || lomacl::text, ',' ORDER BY oid) AS d FROM pg_largeobject_metadata");
    rows.push(`lo ${lo.rows[0]!.n} ${lo.rows[0]!.d}`);
    const comment = await pg.query<{ c: string }>("SELECT obj_description('public.page'::regclass) AS c");
    rows.push(`comment ${comment.rows[0]!.c}`);
    return rows.join('\n');
  } finally {
    await pg.close();
  }
}

async function asPlain(path: string): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of plainBytes(await openPath(path))) parts.push(c);
  return Buffer.concat(parts).toString('utf8');
}

beforeAll(async () => {
  dir = scratch('ad-pg18-archive-');
  rulesFile = join(dir, 'rules.yaml');
  writeFileSync(rulesFile, RULES);
  const pg = await PGlite.create();
  await pg.exec(SOURCE);
  const plain = await pgDump18(pg, ['--statistics']);
  for (const [name, args] of [
    ['gzip', ['-Fc']],
    ['none', ['-Fc', '-Z', '0']],
  ] as const) {
    archives[name] = join(dir, `${name}.dump`);
    writeFileSync(archives[name]!, await pgDump18(pg, ['--statistics', ...args]));
  }
  await pg.close();
  const rules = compileRules(await readRules({ files: [rulesFile] }), KEY);
  const out = rewriteBuffer(plain, { rules }).output.toString('utf8');
  expect(originals(out)).toEqual([]);
  plainDigest = await digestOf(out);
  expect(plainDigest).toMatch(/^lo 3 .*reader=r\/postgres/m);
}, 180_000);

describe.each(['gzip', 'none'])('pg_dump 18 -Fc (compression %s)', (compression) => {
  it('is archive 1.16 with statistics, INSERT-form data and a large object, holding the addresses', async () => {
    const bytes = readFileSync(archives[compression]!);
    expect(bytes.subarray(0, 8).equals(Buffer.from([0x50, 0x47, 0x44, 0x4d, 0x50, 1, 16, 0]))).toBe(true);
    const text = await asPlain(archives[compression]!);
    expect(originals(text).length).toBeGreaterThan(300);
    expect(text).toMatch(/pg_restore_attribute_stats/);
    expect(text).toMatch(/^INSERT INTO public\.users /m);
    // as pg_restore 18 prints them: each large object created, owned and granted on its own
    expect(text.match(/^SELECT pg_catalog\.lo_create\('\d+'\);$/gm)).toHaveLength(3);
    expect(text.match(/^ALTER LARGE OBJECT \d+ OWNER TO "?postgres"?;$/gm)).toHaveLength(3);
    expect(text.match(/^GRANT SELECT ON LARGE OBJECT \d+ TO reader;$/gm)).toHaveLength(3);
    expect(text).toMatch(/Type: BLOB METADATA/);
  });

  it.each(['custom', 'directory'])('rewritten to --format %s reads back as the plain path\'s result, with no address left', async (format) => {
    const out = join(dir, `out_${compression}_${format}`);
    const r = cli(['--format', format, '-o', out, archives[compression]!]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // the archive's version and sizes as they were (a directory archive's header is its toc.dat's)
    const head = readFileSync(format === 'custom' ? out : join(out, 'toc.dat')).subarray(0, 7);
    expect(head.equals(readFileSync(archives[compression]!).subarray(0, 7))).toBe(true);
    const text = await asPlain(out);
    expect(originals(text)).toEqual([]);
    expect(await digestOf(text)).toBe(plainDigest);
  });

  it('rewritten to plain loads into PostgreSQL 18 as the plain path\'s result', async () => {
    const r = cli(['--format', 'plain', archives[compression]!]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const text = r.stdout.toString('utf8');
    expect(originals(text)).toEqual([]);
    expect(await digestOf(text)).toBe(plainDigest);
  });
});

describe('archive 1.16 large-object entries as pg_restore writes them', () => {
  const entry = (over: Partial<TocEntry>): TocEntry => ({
    dumpId: 2, hadDumper: 0, tableoid: null, oid: null, tag: null, desc: null, section: 1, defn: null, dropStmt: null, copyStmt: null,
    namespace: null, tablespace: null, tableam: null, relkind: 0, owner: null, withOids: null, deps: [], dataState: 3, offset: 0, filename: null,
    ...over,
  });
  const blobs = entry({ dumpId: 1, desc: 'BLOB METADATA', tag: '7..9', defn: '7\n8\n9\n', owner: 'o"wner', dropStmt: '-- dummy' });
  const byId = new Map([[1, blobs]]);
  it.each([
    ['BLOB METADATA', blobs, "SELECT pg_catalog.lo_create('7');\nSELECT pg_catalog.lo_create('8');\nSELECT pg_catalog.lo_create('9');\n\n"],
    [
      'an ACL of several commands, a quoted role holding "LARGE OBJECT 1;"',
      entry({ desc: 'ACL', tag: 'LARGE OBJECTS 7..9', defn: 'REVOKE ALL ON LARGE OBJECT 7 FROM "x LARGE OBJECT 1;";\nGRANT SELECT ON LARGE OBJECT 7 TO r;\n', deps: ['1'] }),
      'REVOKE ALL ON LARGE OBJECT 7 FROM "x LARGE OBJECT 1;";\nREVOKE ALL ON LARGE OBJECT 8 FROM "x LARGE OBJECT 1;";\nREVOKE ALL ON LARGE OBJECT 9 FROM "x LARGE OBJECT 1;";\n\n' +
        'GRANT SELECT ON LARGE OBJECT 7 TO r;\nGRANT SELECT ON LARGE OBJECT 8 TO r;\nGRANT SELECT ON LARGE OBJECT 9 TO r;\n\n',
    ],
    ['any other entry: its definition', entry({ desc: 'TABLE', defn: 'CREATE TABLE t ();\n' }), 'CREATE TABLE t ();\n'],
  ])('%s', (_name, e, sql) => {
    expect(definitionSql(e, byId)).toBe(sql);
  });

  it('owners each large object of a BLOB METADATA entry', () => {
    expect(ownerStatement(blobs)).toBe('ALTER LARGE OBJECT 7 OWNER TO "o""wner";\nALTER LARGE OBJECT 8 OWNER TO "o""wner";\nALTER LARGE OBJECT 9 OWNER TO "o""wner";\n\n');
  });

  it.each([
    ['a BLOB METADATA entry that is not a list of OIDs', entry({ desc: 'BLOB METADATA', defn: "7\nSELECT 'x';\n" }), /is not a list of large-object OIDs/],
    ['an ACL entry whose commands name no large object', entry({ desc: 'ACL', tag: 'LARGE OBJECTS 7..9', defn: 'GRANT SELECT ON TABLE t TO r;\n', deps: ['1'] }), /not the ones pg_dump writes/],
    ['an ACL entry that depends on no BLOB METADATA entry', entry({ desc: 'ACL', tag: 'LARGE OBJECTS 7..9', defn: 'GRANT SELECT ON LARGE OBJECT 7 TO r;\n', deps: ['5'] }), /depends on no BLOB METADATA/],
  ])('%s is refused, naming the entry and no value', (_name, e, message) => {
    expect(() => definitionSql(e, byId)).toThrow(message);
    expect(() => definitionSql(e, byId)).toThrow(/^TOC entry 2 /);
  });
});
