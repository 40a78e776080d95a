/**
 * risk: the equivalence classes of an OUTPUT over its quasi-identifiers, compared with what SQL computes
 * on the restored output — at level 0 (as it is) and at the coarser levels (dates to month and year,
 * postcodes to their district) — in plain and custom archives; the same numbers when the classes
 * spill to disk; --min-k as a gate; quasi-identifiers from the rules or the command line.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { scratch } from './support/scratch.js';
import { createDb, pgEnv, psql, restore } from './support/db.js';
import { runCli, runCliText } from './support/cli.js';

const KEY = 'risk-test-Tb6nW2qX9mK4vP8z';
let dir: string;
let rules: string;
let out: string;

type Level = { level: number; rules: Record<string, string>; classes: number; min_k: number; rows_below_k: number };
type Report = { k: number; tables: { table: string; rows: number; classes: number; min_k: number; rows_below_k: number; levels: Level[]; reaches_k_at: number | null }[] };

const DISTRICT = String.raw`CASE WHEN upper(regexp_replace(postcode, '\s', '', 'g')) ~ '^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$' THEN left(upper(regexp_replace(postcode, '\s', '', 'g')), -3) ELSE '' END`;
const GROUPINGS = [
  'postcode, birth_date, sex',
  `${DISTRICT}, date_trunc('month', birth_date), sex`,
  `${DISTRICT}, date_trunc('year', birth_date), sex`,
];

/** classes, min k and rows below k as SQL counts them on `db`. */
function sqlRisk(db: string, grouping: string, k: number, table = 'patient'): { classes: number; min_k: number; rows_below_k: number } {
  const [classes, minK, below] = psql(db, `SELECT count(*), min(n), coalesce(sum(n) FILTER (WHERE n < ${k}), 0) FROM (SELECT count(*) n FROM ${table} GROUP BY ${grouping}) c`).trim().split('|').map(Number);
  return { classes: classes!, min_k: minK!, rows_below_k: below! };
}

beforeAll(() => {
  dir = scratch('ad-risk-');
  createDb('risk_src');
  // skewed on purpose: a few crowded classes, many lone ones, NULLs among them
  psql('risk_src', `CREATE TABLE patient (id int PRIMARY KEY, email text, postcode text, birth_date date, sex text, notes text);
    INSERT INTO patient SELECT g, 'p' || g || '@gmail.com',
      CASE WHEN g % 97 = 0 THEN NULL ELSE (ARRAY['SW1A','M1','B33','LS1','EH1'])[1 + g % 5] || ' ' || (g % 3) || (ARRAY['AA','BD','XY'])[1 + (g / 7) % 3] END,
      CASE WHEN g % 89 = 0 THEN NULL ELSE date '1950-01-01' + ((g * 37) % 9000) END,
      (ARRAY['F','M','X'])[1 + (g % 11 = 0)::int + (g % 13 = 0)::int], 'note ' || g
    FROM generate_series(1, 3000) g;
    CREATE TABLE staff (id int PRIMARY KEY, postcode text, birth_date date, sex text);
    INSERT INTO staff SELECT g, (ARRAY['SW1A','M1','B33'])[1 + g % 3] || ' ' || (g % 10) || 'AB', date '1980-01-01' + ((g * 53) % 1826), (ARRAY['F','M'])[1 + (g / 3) % 2]
    FROM generate_series(1, 900) g;`);
  rules = join(dir, 'rules.yaml');
  writeFileSync(rules, 'version: 1\ntables:\n  public.patient:\n    quasi_identifiers: [postcode, birth_date, sex]\n    columns:\n      "*": keep\n      email: { fake: internet.email, unique: true }\n  public.staff:\n    quasi_identifiers: [postcode, birth_date, sex]\n    columns: { "*": keep }\n');
  const src = join(dir, 'src.sql');
  const d = spawnSync(join(inject('pg').bin, 'pg_dump'), ['-f', src, '-d', 'risk_src'], { env: pgEnv() });
  expect(d.status).toBe(0);
  out = join(dir, 'out.sql');
  const r = runCli(['-q', '-r', rules, '-o', out, src], { key: KEY });
  if (r.status !== 0) throw new Error(r.stderr);
  expect(restore('risk_out', readFileSync(out)).status).toBe(0);
});

const riskJson = (args: string[]) => {
  const r = runCliText(['risk', ...args, '--json']);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Report;
};

describe('risk', () => {
  it.each([5, 2, 20])('k=%i: rows, classes, min_k and rows below k equal SQL on the restored output, at every level', (k) => {
    const rep = riskJson(['-r', rules, '--k', String(k), out]);
    const t = rep.tables.find((x) => x.table === 'public.patient')!;
    expect(t.rows).toBe(3000);
    for (const level of [0, 1, 2]) expect({ ...t.levels[level]!, level: undefined, rules: undefined }, `level ${level}`).toEqual({ level: undefined, rules: undefined, ...sqlRisk('risk_out', GROUPINGS[level]!, k) });
    expect(t.levels[1]!.rules).toEqual({ postcode: '{ generalise: postcode_district }', birth_date: '{ generalise: month }' });
    expect(t.levels[2]!.rules.birth_date).toBe('{ generalise: year }');
    expect(t.reaches_k_at).toBe(t.levels.find((l) => l.min_k >= k)?.level ?? null);
    // a table that a coarser level makes k-anonymous: years of birth among a few districts
    const staff = rep.tables.find((x) => x.table === 'public.staff')!;
    for (const level of [0, 1, 2]) expect({ ...staff.levels[level]!, level: undefined, rules: undefined }, `staff level ${level}`).toEqual({ level: undefined, rules: undefined, ...sqlRisk('risk_out', GROUPINGS[level]!, k, 'staff') });
    if (k <= 20) expect(staff.reaches_k_at).toBe(2);
  });

  it('the same numbers from a custom archive, from --quasi on the command line, and when the classes spill to disk', () => {
    const fc = join(dir, 'out.dump');
    const d = spawnSync(join(inject('pg').bin, 'pg_dump'), ['-Fc', '-f', fc, '-d', 'risk_out'], { env: pgEnv() });
    expect(d.status).toBe(0);
    const base = riskJson(['-r', rules, out]);
    expect(riskJson(['-r', rules, fc])).toEqual(base);
    expect(riskJson(['--quasi', 'public.patient=postcode,birth_date,sex', '--quasi', 'staff=postcode,birth_date,sex', out])).toEqual(base);
    expect(riskJson(['-r', rules, '--max-classes', '50', out])).toEqual(base);
  });

  it('spilled classes leave nothing in the temporary directory, when the run ends and when it fails part-way', () => {
    const tmp = scratch('ad-risk-tmp-');
    const text = readFileSync(out, 'utf8');
    // cut inside patient's rows, after its classes have spilled (more than 50 of them)
    const start = text.indexOf('COPY public.patient ');
    const cut = join(dir, 'cut.sql');
    writeFileSync(cut, text.slice(0, text.indexOf('\n', start + Math.floor((text.indexOf('\\.', start) - start) * 0.7)) + 1));
    const whole = runCliText(['risk', '-r', rules, '--max-classes', '50', out], { env: { TMPDIR: tmp } });
    expect(whole.status, whole.stderr).toBe(0);
    const failed = runCliText(['risk', '-r', rules, '--max-classes', '50', cut], { env: { TMPDIR: tmp } });
    expect(failed.status).toBe(3);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('--min-k gates: exit 1 below it, 0 at or above it; the table form names no value', () => {
    const rep = riskJson(['-r', rules, out]);
    const minK = Math.min(...rep.tables.map((t) => t.min_k));
    const fail = runCliText(['risk', '-r', rules, '--min-k', String(minK + 1), out]);
    expect(fail.status).toBe(1);
    expect(fail.stderr).toMatch(/below \d+ rows \(--min-k\)/);
    expect(fail.stdout).toMatch(/^table\s+rows\s+classes\s+min_k/);
    expect(fail.stdout).not.toMatch(/SW1A|@|19\d\d-/);
    expect(runCliText(['risk', '-r', rules, '--min-k', String(minK), out]).status).toBe(0);
  });

  it.each([
    ['no quasi-identifiers', [], /risk needs quasi-identifiers/],
    ['a column the table lacks', ['--quasi', 'public.patient=postcode,shoe_size'], /table public\.patient has no column shoe_size/],
    ['a table the dump lacks', ['--quasi', 'public.nobody=a'], /no rows of public\.nobody/],
  ])('%s: exit 2, one line', (_name, args, message) => {
    const r = runCliText(['risk', ...args, out]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });
});
