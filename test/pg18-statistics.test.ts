/**
 * pg_dump 18 `--statistics` (the real pg_dump 18.3, in PGlite's WASM build): the most-common values and
 * histograms of a rewritten column are removed, every statistic of a dropped or filtered table goes,
 * the rest stays, and the output restores into PostgreSQL 18 (PGlite) with the statistics it kept.
 */
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { PGlite } from '@electric-sql/pglite';
import { pgDump } from '@electric-sql/pglite-tools/pg_dump';
import { compileRules, readRules, rewriteBuffer } from '../src/engine/run.js';
import { scanDump } from '../src/commands/scan.js';
import { withoutMetaCommands } from './support/pg18-dump.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratch } from './support/scratch.js';
import { runCliText } from './support/cli.js';

const SOURCE = `
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, phone text, city text);
INSERT INTO users SELECT g, 'person' || g || '@mail-test.org', '07911 1234' || lpad(g::text, 2, '0'), CASE WHEN g % 2 = 0 THEN 'Leeds' ELSE 'York' END FROM generate_series(1, 50) g;
CREATE TABLE audit (id int, who text);
INSERT INTO audit SELECT g, 'person' || g || '@mail-test.org' FROM generate_series(1, 20) g;
CREATE TABLE tags (id int, tags text[]);
INSERT INTO tags SELECT g, ARRAY['person' || g || '@mail-test.org', 'x'] FROM generate_series(1, 20) g;
CREATE INDEX users_lower_email ON users (lower(email));
ANALYZE;
`;

const RULES = `version: 1
unknown: fail
outside: { literals: scrub }
tables:
  users: { columns: { id: keep, email: { fake: internet.email, unique: true }, phone: { fake: phone.number }, city: keep } }
  audit: drop
  tags: { columns: { id: keep, tags: null } }
`;

const originals = (text: string) => text.match(/person\d+@mail-test\.org/g) ?? [];

describe('pg_dump 18 --statistics', () => {
  let dump: Buffer;
  beforeAll(async () => {
    const pg = await PGlite.create();
    await pg.exec(SOURCE);
    const file = await pgDump({ pg, args: ['--statistics'] });
    dump = Buffer.from(await file.arrayBuffer());
    await pg.close();
  }, 120_000);

  it('the source dump holds the addresses in its statistics, and scan finds them there', async () => {
    const stats = dump.toString().split('\n').filter((l) => l.includes("'histogram_bounds'") || l.includes("'most_common_vals'") || l.includes("'most_common_elems'"));
    expect(stats.some((l) => originals(l).length > 0)).toBe(true);
    const res = await scanDump(Readable.from([dump]));
    expect(res.objects['STATISTICS DATA public.users']?.found.email).toBeGreaterThan(0);
  });

  it('removes the values of rewritten columns and every statistic of a dropped table, keeps the rest, and restores', async () => {
    const rules = compileRules(await readRules({ text: [{ name: 'r.yaml', yaml: RULES }] }), 'a key of at least sixteen bytes');
    const { output, result } = rewriteBuffer(dump, { rules });
    const text = output.toString();
    expect(originals(text)).toEqual([]);
    expect(text).not.toMatch(/'relname', 'audit'/);
    // kept column: its statistics stay whole
    expect(text).toMatch(/'attname', 'city',[\s\S]*?'most_common_vals', '\{Leeds,York\}'::text/);
    // rewritten column: the counts stay, the values go
    const email = /pg_restore_attribute_stats\(\n(?:\t[^\n]*\n)*?\t'attname', 'email',\n((?:\t[^\n]*\n)*?)\);/.exec(text);
    expect(email).not.toBeNull();
    expect(email![1]).toMatch(/'null_frac'/);
    expect(email![1]).not.toMatch(/histogram_bounds|most_common/);
    expect(result.outside.statisticsStripped).toBeGreaterThanOrEqual(3); // email, phone, tags.tags, the index expression
    expect(result.outside.statisticsDropped).toBeGreaterThanOrEqual(2); // audit's relation and column statistics

    const target = await PGlite.create();
    await target.exec(withoutMetaCommands(text));
    const rows = await target.query<{ n: number }>('SELECT count(*)::int AS n FROM public.users');
    expect(rows.rows[0]!.n).toBe(50);
    const kept = await target.query<{ v: string | null }>("SELECT most_common_vals::text AS v FROM pg_stats WHERE tablename = 'users' AND attname = 'city'");
    expect(kept.rows[0]!.v).toBe('{Leeds,York}');
    const gone = await target.query<{ h: string | null }>("SELECT histogram_bounds::text AS h FROM pg_stats WHERE tablename = 'users' AND attname = 'email'");
    expect(gone.rows[0]?.h ?? null).toBeNull();
    await target.close();
  }, 120_000);

  it('statistics: drop removes them all; keep keeps them (for unknown: keep, byte for byte)', async () => {
    const drop = compileRules(await readRules({ text: [{ name: 'r.yaml', yaml: `${RULES}` .replace('outside: { literals: scrub }', 'outside: { literals: scrub, statistics: drop }') }] }), 'a key of at least sixteen bytes');
    expect(rewriteBuffer(dump, { rules: drop }).output.toString()).not.toContain('pg_restore_');
    const keep = compileRules(await readRules({ text: [{ name: 'r.yaml', yaml: 'version: 1\nunknown: keep\n' }] }), 'k');
    expect(rewriteBuffer(dump, { rules: keep }).output.equals(dump)).toBe(true);
  });

  // a subset or forget keeps some rows: the whole table's statistics would still name the others
  // (person37's address among the histogram bounds of a subset of ten users, a forgotten person's too)
  it.each([
    ['a subset', (dir: string) => ['-r', join(dir, 'subset.yaml'), join(dir, 'in.sql')], /person(?:[2-9]\d|1[1-9])@/],
    ['forget', (dir: string) => ['forget', '--where', 'public.users.id=37', '-o', join(dir, 'out.sql'), join(dir, 'in.sql')], /person37@/],
  ])('%s drops the statistics of the tables whose rows it changes, and the output restores', async (_what, args, outsider) => {
    const dir = scratch('ad-pg18-stats-');
    writeFileSync(join(dir, 'in.sql'), dump);
    writeFileSync(join(dir, 'subset.yaml'), `${RULES}subset:\n  - { table: public.users, where: { id: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] } }\n  - { table: public.tags }\n`);
    const r = runCliText(args(dir), { key: 'pg18-stats-k7Q2mZp9xR4v' });
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status, r.stderr).toBe(0);
    const text = args(dir).includes('forget') ? (await import('node:fs')).readFileSync(join(dir, 'out.sql'), 'utf8') : r.stdout;
    expect(text).toContain('pg_restore_'); // statistics of tables left whole stay
    expect(text).not.toMatch(outsider);
    expect(text).not.toMatch(/'relname', 'users'/);
    const target = await PGlite.create();
    await target.exec(withoutMetaCommands(text));
    const stats = await target.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stats WHERE tablename = 'users'");
    expect(stats.rows[0]!.n).toBe(0);
    await target.close();
  }, 120_000);
});
