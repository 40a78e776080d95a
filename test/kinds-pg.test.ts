/**
 * The rule kinds through real PostgreSQL: a database dumped, rewritten, restored, and each rule's
 * effect checked in SQL.
 */
import { writeFileSync } from 'node:fs';
import { scratch } from './support/scratch.js';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { checkDump, compileRules, readRules, rewriteBuffer } from '../src/engine/run.js';
import { createDb, pgDump, psql, restore } from './support/db.js';

const KEY = 'kinds-test-key-k7Q2mZp9';
const tmp = scratch('anonymise-dump-kinds-pg-');
// the js rule's module, beside the rules file that names it
writeFileSync(join(tmp, 'transforms.mjs'), "export const initials = (v) => v.split(' ').map((w) => w[0]).join('');\n");

describe('the new kinds through real PostgreSQL', () => {
  let dump: Buffer;
  beforeAll(() => {
    createDb('kinds_src');
    psql('kinds_src', `CREATE TABLE visits (id int PRIMARY KEY, person int, at timestamptz, amount numeric(8,2), pay int);
      INSERT INTO visits SELECT g, g % 5, timestamptz '2020-01-01 09:00+00' + g * interval '3 days 2 hours', 100 + g, 1000 + 10 * g FROM generate_series(1, 50) g;
      CREATE TABLE people (id int PRIMARY KEY, born date, seen timestamptz, salary numeric(10,2), age int, postcode varchar(8), ip inet, colour text, ref text, nick text);
      INSERT INTO people SELECT g, date '1950-01-01' + g * 97, timestamptz '2024-02-29 13:45:12.5+00' + g * interval '7 hours', 20000 + g * 123.45, 18 + g % 60,
        (ARRAY['SW1A 1AA','LS1 4DY','M1 1AE'])[1 + g % 3], ('81.2.69.' || g)::inet, 'c' || g, 'REF-' || lpad(g::text, 6, '0'), 'Nick Name ' || g FROM generate_series(1, 40) g;`);
    dump = pgDump('kinds_src');
  });

  it('restores, and each rule did what it says, checked in SQL', async () => {
    const yaml = `version: 1
tables:
  people:
    columns:
      id: keep
      born: { generalise: year }
      seen: { generalise: hour }
      salary: { generalise: { step: 1000 } }
      age: { generalise: { step: 10 } }
      postcode: { generalise: postcode_district }
      ip: { generalise: { ip_prefix: 24 } }
      colour: { pick: { from: [red, green, blue] } }
      ref: { replace: { pattern: "\\\\d", with: "0" } }
      nick: { js: "./transforms.mjs#initials" }
  visits:
    columns:
      id: keep
      person: keep
      at: { date_shift: { max_days: 365, by: person } }
      amount: { when: [ { if: { person: [0] }, then: { value: "0.00" } } ], else: { noise: { ratio: 0.1 } } }
      pay: { noise: { ratio: 0.05 } }
`;
    const rules = compileRules(await readRules({ text: [{ name: join(tmp, 'people.yaml'), yaml }], js: 'run' }), KEY);
    const { output } = rewriteBuffer(dump, { rules });
    const r = restore('kinds_out', output);
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.status).toBe(0);
    const q = (sql: string) => psql('kinds_out', sql).trim();
    expect(q("SELECT count(*) FROM people WHERE extract(month FROM born) = 1 AND extract(day FROM born) = 1")).toBe('40');
    expect(q("SELECT count(*) FROM people p JOIN (SELECT 1) x ON true WHERE extract(minute FROM seen) = 0 AND extract(second FROM seen) = 0")).toBe('40');
    expect(q('SELECT count(*) FROM people WHERE salary::numeric % 1000 = 0 AND age % 10 = 0')).toBe('40');
    expect(q("SELECT string_agg(DISTINCT postcode, ',' ORDER BY postcode) FROM people")).toBe('LS1,M1,SW1A');
    expect(q("SELECT count(*) FROM people WHERE host(ip) = '81.2.69.0'")).toBe('40');
    expect(q("SELECT count(*) FROM people WHERE colour IN ('red','green','blue')")).toBe('40');
    expect(q("SELECT count(*) FROM people WHERE ref = 'REF-000000'")).toBe('40');
    // the js function ran on every value
    expect(q("SELECT count(*) FROM people WHERE nick = 'NN' || left(id::text, 1)")).toBe('40');
    // the generalised year is the source's year, and the bound holds: each value within its step below the source
    psql('kinds_src', 'SELECT 1');
    expect(q('SELECT min(extract(year FROM born))::int FROM people')).toBe(psql('kinds_src', 'SELECT min(extract(year FROM born))::int FROM people').trim());
    // date_shift by person: every interval between two visits of one person is exact, and every visit moved
    const intervals = "SELECT string_agg(d::text, ',' ORDER BY person, id) FROM (SELECT person, id, at - lag(at) OVER (PARTITION BY person ORDER BY id) AS d FROM visits) x";
    expect(q(intervals)).toBe(psql('kinds_src', intervals).trim());
    const moved = psql('kinds_src', "SELECT string_agg(at::text, ',' ORDER BY id) FROM visits").trim().split(',');
    const now = q("SELECT string_agg(at::text, ',' ORDER BY id) FROM visits").split(',');
    expect(now.every((t, i) => t !== moved[i])).toBe(true);
    // noise within its bound, numeric scale and integers kept
    const src = psql('kinds_src', "SELECT string_agg(amount::text || '/' || pay, ',' ORDER BY id) FROM visits").trim().split(',');
    const out = q("SELECT string_agg(amount::text || '/' || pay, ',' ORDER BY id) FROM visits").split(',');
    // when: the branch per row — person 0's amounts are 0.00, the others noised
    expect(q('SELECT count(*) FROM visits WHERE person = 0 AND amount = 0')).toBe(psql('kinds_src', 'SELECT count(*) FROM visits WHERE person = 0').trim());
    out.forEach((o, i) => {
      const [a, p] = o.split('/').map(Number);
      const [sa, sp] = src[i]!.split('/').map(Number);
      if (a === 0) return;
      expect(Math.abs(a! - sa!)).toBeLessThanOrEqual(sa! * 0.1 + 0.01);
      expect(Math.abs(p! - sp!)).toBeLessThanOrEqual(sp! * 0.05 + 1);
      expect(o.split('/')[0]).toMatch(/^\d+\.\d{2}$/);
    });
    // same key, same output
    expect(rewriteBuffer(dump, { rules }).output.equals(output)).toBe(true);
  });
});

describe('noise through real PostgreSQL', () => {
  it('on smallint, numeric(4,2) and a domain with a CHECK: every value moved, and the output restores', async () => {
    createDb('noise_src');
    psql('noise_src', `CREATE DOMAIN percent AS integer CHECK (VALUE >= 0 AND VALUE <= 100);
      CREATE TABLE m (id int PRIMARY KEY, s smallint, n numeric(4,2), p percent);
      INSERT INTO m SELECT i, CASE WHEN i % 2 = 0 THEN 32767 ELSE i END, CASE WHEN i % 3 = 0 THEN 99.99 ELSE i / 10.0 END, CASE WHEN i % 4 = 0 THEN 100 ELSE i % 100 END FROM generate_series(1, 200) i;`);
    const yaml = 'version: 1\ntables:\n  m: { columns: { id: keep, s: { noise: { ratio: 0.9 } }, n: { noise: { ratio: 0.5 } }, p: { noise: { ratio: 0.01 } } } }\n';
    const rules = compileRules(await readRules({ text: [{ name: join(tmp, 'noise.yaml'), yaml }] }), KEY);
    const { output } = rewriteBuffer(pgDump('noise_src'), { rules });
    const r = restore('noise_out', output);
    expect(r.status, r.stderr).toBe(0);
    const values = (db: string, col: string) => psql(db, `SELECT ${col}::text FROM m ORDER BY id`).trim().split('\n');
    for (const col of ['s', 'n', 'p']) {
      const before = values('noise_src', col);
      const after = values('noise_out', col);
      expect(after.length, col).toBe(200);
      expect(after.filter((v, i) => v === before[i]), col).toEqual([]);
    }
  });

  it("on columns under the table's CHECKs (inline, named, BETWEEN, negative bounds, a partition's parent): inside them, and the output restores", async () => {
    createDb('noise_check_src');
    psql('noise_check_src', `CREATE TABLE c (id int PRIMARY KEY, age int CHECK (age BETWEEN 0 AND 120), score numeric(5,1), t int NOT NULL,
        CONSTRAINT score_range CHECK (score >= -10.5 AND score <= 10.5), CONSTRAINT t_pos CHECK (0 < t));
      INSERT INTO c SELECT i, CASE WHEN i % 2 = 0 THEN 120 ELSE 0 END, CASE WHEN i % 2 = 0 THEN 10.5 ELSE -10.5 END, 1 + i % 2 FROM generate_series(1, 100) i;
      CREATE TABLE pt (id int, v int, CHECK (v <= 50)) PARTITION BY RANGE (id);
      CREATE TABLE pt_1 PARTITION OF pt FOR VALUES FROM (0) TO (1000);
      INSERT INTO pt SELECT i, 50 FROM generate_series(1, 100) i;`);
    const yaml = `version: 1
tables:
  c: { columns: { id: keep, age: { noise: { ratio: 0.5 } }, score: { noise: { ratio: 0.5 } }, t: { noise: { ratio: 0.5 } } } }
  pt: { columns: { id: keep, v: { noise: { ratio: 0.5 } } } }
`;
    const rules = compileRules(await readRules({ text: [{ name: join(tmp, 'noise-check.yaml'), yaml }] }), KEY);
    const { output } = rewriteBuffer(pgDump('noise_check_src'), { rules });
    const r = restore('noise_check_out', output);
    expect(r.status, r.stderr).toBe(0);
    const values = (db: string, sql: string) => psql(db, sql).trim().split('\n');
    for (const [col, table] of [['age', 'c'], ['score', 'c'], ['t', 'c'], ['v', 'pt']]) {
      const q = `SELECT ${col}::text FROM ${table} ORDER BY id`;
      const before = values('noise_check_src', q);
      const after = values('noise_check_out', q);
      expect(after.length, col).toBe(100);
      expect(after.filter((v, i) => v === before[i]), col).toEqual([]);
    }
  });

  it.each([
    ['an OR', 'v int CHECK (v < 0 OR v > 10)'],
    ['another column', 'v int, w int, CHECK (v < w)'],
    ['a function', 'v int CHECK (abs(v) < 10)'],
    ['a date', "v date CHECK (v >= '1900-01-01')"],
  ])('a CHECK it cannot stay inside (%s) refuses noise before the first byte, naming the column', async (_what, cols) => {
    const db = `noise_refuse_${Math.random().toString(36).slice(2, 8)}`;
    createDb(db);
    psql(db, `CREATE TABLE r (id int, ${cols});`);
    const noise = cols.startsWith('v date') ? '{ noise: { days: 30 } }' : '{ noise: { ratio: 0.1 } }';
    const yaml = `version: 1\nunknown: keep\ntables:\n  r: { columns: { v: ${noise} } }\n`;
    const rules = compileRules(await readRules({ text: [{ name: join(tmp, 'noise-refuse.yaml'), yaml }] }), KEY);
    expect(() => rewriteBuffer(pgDump(db), { rules })).toThrow(/noise-refuse\.yaml:4: noise on public\.r\.v cannot keep/);
  });

  it.each([
    ['generalise a step under a lower bound it does not keep', 'v int CHECK (v >= 18)', '{ generalise: { step: 10 } }', /generalise \{ step: 10 \} on public\.r\.v: a CHECK/],
    ['generalise a step under a strict lower bound', 'v int CHECK (v > 0)', '{ generalise: { step: 10 } }', /generalise \{ step: 10 \} on public\.r\.v: a CHECK/],
    ['generalise a date under a CHECK', "v date CHECK (v >= '2020-03-15')", '{ generalise: year }', /generalise: year on public\.r\.v cannot keep a date inside the CHECKs/],
    ['date_shift under a CHECK', "v date CHECK (v >= '2020-03-15')", '{ date_shift: { max_days: 30 } }', /date_shift on public\.r\.v cannot keep the date inside the CHECKs/],
  ])('%s: refused before the first byte', async (_what, cols, rule, re) => {
    const db = `gen_refuse_${Math.random().toString(36).slice(2, 8)}`;
    createDb(db);
    psql(db, `CREATE TABLE r (id int, ${cols});`);
    const yaml = `version: 1\nunknown: keep\ntables:\n  r: { columns: { v: ${rule} } }\n`;
    const rules = compileRules(await readRules({ text: [{ name: join(tmp, 'gen-refuse.yaml'), yaml }] }), KEY);
    expect(() => rewriteBuffer(pgDump(db), { rules })).toThrow(re);
  });

  it('generalise a step whose lower bound is a multiple of it: every floor passes the CHECK, and the output restores', async () => {
    createDb('gen_check_src');
    psql('gen_check_src', 'CREATE TABLE g (id int PRIMARY KEY, age int CHECK (age >= 20 AND age <= 120)); INSERT INTO g SELECT i, 20 + i FROM generate_series(1, 100) i;');
    const yaml = 'version: 1\ntables:\n  g: { columns: { id: keep, age: { generalise: { step: 10 } } } }\n';
    const rules = compileRules(await readRules({ text: [{ name: join(tmp, 'gen-ok.yaml'), yaml }] }), KEY);
    const { output } = rewriteBuffer(pgDump('gen_check_src'), { rules });
    const r = restore('gen_check_out', output);
    expect(r.status, r.stderr).toBe(0);
    expect(psql('gen_check_out', 'SELECT min(age) || \' \' || max(age) || \' \' || count(*) FILTER (WHERE age % 10 <> 0) FROM g').trim()).toBe('20 120 0');
  });
});

describe('scrub into a column of limited length', () => {
  it("cuts what it writes at a varchar(n)'s limit: check proves it fits (no warning), and the output restores", async () => {
    createDb('scrub_len_src');
    psql('scrub_len_src', `CREATE TABLE n (id int PRIMARY KEY, note varchar(14), memo varchar(200));
      INSERT INTO n SELECT i, 'mail a' || i || '@b.co', 'ring Olivia Smith on 07911 123456, or olivia' || i || '@gmail.com' FROM generate_series(1, 50) i;`);
    const yaml = 'version: 1\ntables:\n  n: { columns: { id: keep, note: { scrub: [email] }, memo: { scrub: [email, phone, name] } } }\n';
    const rules = compileRules(await readRules({ text: [{ name: join(tmp, 'scrub-len.yaml'), yaml }] }), KEY);
    const dump = pgDump('scrub_len_src');
    const checked = await checkDump(Readable.from([dump]), rules);
    expect(checked.restore).toEqual([]);
    const { output } = rewriteBuffer(dump, { rules });
    const r = restore('scrub_len_out', output);
    expect(r.status, r.stderr).toBe(0);
    const notes = psql('scrub_len_out', 'SELECT note FROM n ORDER BY id').trim().split('\n');
    expect(notes).toHaveLength(50);
    expect(notes.every((v) => v.length <= 14 && v.startsWith('mail ') && !/a\d+@b\.co/.test(v))).toBe(true);
    expect(psql('scrub_len_out', "SELECT count(*) FROM n WHERE memo ~ '(Olivia|07911 123456|@gmail)'").trim()).toBe('0');
  });
});
