/**
 * One archive across machines: plan → run --plan --shard I (N processes standing in for machines) →
 * assemble, on custom and directory archives of a database with a table large enough to be cut into
 * several units, kept and dropped tables, and a large object. The assembled archive is byte for byte
 * the one `run --jobs 2` writes with the same rules and key, its report the same, and it restores.
 * A missing, duplicated, foreign or changed part, another key, or other rules is refused with nothing
 * written.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { scratch } from './support/scratch.js';
import { createDb, pgEnv, pgRestore, psql } from './support/db.js';
import { runCli } from './support/cli.js';

const KEY = 'shards-test-Lp3xV7nQ2mK9wR5t';
let dir: string;
let rules: string;

const cli = (args: string[], env: Record<string, string> = {}, key = KEY) => runCli(args, { key, env });
/** Two archives the same bytes: a custom file, or a directory's files one by one. */
const same = (a: string, b: string): boolean => {
  if (!existsSync(a) || !existsSync(b)) return false;
  if (!statSync(a).isDirectory()) return readFileSync(a).equals(readFileSync(b));
  const names = readdirSync(a).sort();
  return JSON.stringify(names) === JSON.stringify(readdirSync(b).sort()) && names.every((n) => readFileSync(join(a, n)).equals(readFileSync(join(b, n))));
};

beforeAll(() => {
  dir = scratch('ad-shards-');
  createDb('shards_src');
  // person: ~9 MB of rows, cut into several 2 MiB pieces and so into several units
  psql('shards_src', `CREATE TABLE person (id int PRIMARY KEY, email text UNIQUE NOT NULL, full_name text, notes text);
    INSERT INTO person SELECT g, 'person' || g || '@gmail.com', 'Olivia Smith ' || g, repeat('a note about nothing much ', 2) FROM generate_series(1, 90000) g;
    CREATE TABLE country (code text PRIMARY KEY, name text); INSERT INTO country VALUES ('GB', 'United Kingdom'), ('FR', 'France');
    CREATE TABLE session (key text PRIMARY KEY, data text); INSERT INTO session SELECT 's' || g, 'payload ' || g FROM generate_series(1, 500) g;
    SELECT lo_from_bytea(0, 'a large object'::bytea);`);
  rules = join(dir, 'rules.yaml');
  // a preset too: what a shard loads must be every file the plan read, presets included
  writeFileSync(rules, 'version: 1\nextends: [django]\ntables:\n  public.person:\n    columns:\n      "*": keep\n      email: { fake: internet.email, unique: true }\n      full_name: { fake: person.fullName }\n  public.country: keep\n  public.session: drop\n  pg_catalog.pg_largeobject: keep\n');
  for (const [name, args] of [['src.dump', ['-Fc']], ['src.dir', ['-Fd']]] as const) {
    const r = spawnSync(join(inject('pg').bin, 'pg_dump'), [...args, '-f', join(dir, name), '-d', 'shards_src'], { env: pgEnv() });
    if (r.status !== 0) throw new Error(r.stderr.toString());
  }
}, 120_000);

describe.each([
  ['custom', 'src.dump'],
  ['directory', 'src.dir'],
])('a sharded run of a %s archive', (form, input) => {
  const at = (n: string) => join(dir, `${form}-${n}`);
  const src = () => join(dir, input);

  it('plan → 3 shards (one by $JOB_COMPLETION_INDEX) → assemble: byte for byte the one-machine run, the same report, and it restores', () => {
    const plan = cli(['plan', '-r', rules, '--shards', '3', '-o', at('plan.json'), src()]);
    expect(plan.status, plan.stderr).toBe(0);
    const units = (JSON.parse(readFileSync(at('plan.json'), 'utf8')) as { units: { shard: number; dumpId: number }[] }).units;
    expect(new Set(units.map((u) => u.shard)).size).toBe(3);
    expect(units.length).toBeGreaterThan(3);
    for (const i of [0, 1]) expect(cli(['-q', '-r', rules, '--plan', at('plan.json'), '--shard', String(i), '-o', at(`part${i}`), src()]).status).toBe(0);
    // the index from the batch system, the rules from the plan (no -r)
    const byIndex = cli(['-q', '--plan', at('plan.json'), '-o', at('part2'), src()], { JOB_COMPLETION_INDEX: '2' });
    expect(byIndex.status, byIndex.stderr).toBe(0);
    const asm = cli(['assemble', '-q', '--plan', at('plan.json'), '-o', at('assembled'), '--report', at('assembled.json'), at('part0'), at('part1'), at('part2')]);
    expect(asm.status, asm.stderr).toBe(0);
    const one = cli(['-q', '-r', rules, '--jobs', '2', '-o', at('one'), '--report', at('one.json'), src()]);
    expect(one.status, one.stderr).toBe(0);
    expect(same(at('assembled'), at('one'))).toBe(true);
    const tables = (f: string) => (JSON.parse(readFileSync(f, 'utf8')) as { tables: unknown }).tables;
    expect(tables(at('assembled.json'))).toEqual(tables(at('one.json')));
    const restored = pgRestore(`shards_out_${form}`, at('assembled'));
    expect(restored.status, restored.stderr).toBe(0);
    expect(psql(`shards_out_${form}`, "SELECT count(*), count(*) FILTER (WHERE email LIKE '%@gmail.com') FROM person").trim()).toBe('90000|0');
  }, 180_000);

  it.each([
    ['a missing part', (p: string[]) => p.slice(0, 2), /the part of shard 2 is missing/],
    ['a part given twice', (p: string[]) => [...p, p[0]!], /unit \d+ is also in/],
    ['a changed part', (p: string[]) => {
      const copy = `${p[1]}-changed`;
      cpSync(p[1]!, copy, { recursive: true });
      const data = readFileSync(join(copy, 'data'));
      data[data.length >> 1]! ^= 0xff;
      writeFileSync(join(copy, 'data'), data);
      return [p[0]!, copy, p[2]!];
    }, /does not match its digest/],
  ])('assemble refuses %s, and writes nothing', (name, parts, message) => {
    const out = at(`refused-${name.replace(/\W/g, '')}`);
    const r = cli(['assemble', '-q', '--plan', at('plan.json'), '-o', out, ...parts([0, 1, 2].map((i) => at(`part${i}`)))]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });

  it('a part of another plan, another key, or other rules is refused', () => {
    expect(cli(['plan', '-q', '-r', rules, '--shards', '2', '-o', at('other-plan.json'), src()]).status).toBe(0);
    const foreign = cli(['assemble', '-q', '--plan', at('other-plan.json'), '-o', at('x'), at('part0'), at('part1')]);
    expect(foreign.status).toBe(2);
    expect(foreign.stderr).toMatch(/a part of another plan/);
    const key = cli(['-q', '-r', rules, '--plan', at('plan.json'), '--shard', '0', '-o', at('y')], {}, 'another-key-Qw8eR4tY6uI2oP0a');
    expect(key.status).toBe(2);
    expect(key.stderr).toMatch(/is not the key the plan was made with/);
    const edited = join(dir, `${form}-edited.yaml`);
    writeFileSync(edited, readFileSync(rules, 'utf8').replace('public.session: drop', 'public.session: keep'));
    const otherRules = cli(['-q', '-r', edited, '--plan', at('plan.json'), '--shard', '0', '-o', at('z'), src()]);
    expect(otherRules.status).toBe(2);
    expect(otherRules.stderr).toMatch(/the rules are not the plan's/);
    for (const n of ['x', 'y', 'z']) expect(existsSync(at(n))).toBe(false);
  });
});

describe('sharded runs refuse what needs one machine', () => {
  it('a subset, a random key, stdin', () => {
    const subset = join(dir, 'subset.yaml');
    writeFileSync(subset, `${readFileSync(rules, 'utf8')}subset:\n  - table: public.person\n    where: "id < 10"\n`);
    const r = cli(['plan', '-r', subset, '--shards', '2', '-o', join(dir, 'p.json'), join(dir, 'src.dump')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/subset/);
    const nokey = runCli(['plan', '-r', rules, '--shards', '2', '-o', join(dir, 'p.json'), join(dir, 'src.dump')]);
    expect(nokey.status).toBe(2);
    expect(nokey.stderr).toMatch(/every shard must pseudonymise alike/);
    // what is about an output belongs to assemble
    const report = cli(['-q', '-r', rules, '--plan', join(dir, 'custom-plan.json'), '--shard', '0', '--report', join(dir, 'r.json'), '-o', join(dir, 'rp'), join(dir, 'src.dump')]);
    expect(report.status).toBe(2);
    expect(report.stderr).toMatch(/--report is not for a shard/);
    const stdin = runCli(['plan', '-r', rules, '--shards', '2', '-o', join(dir, 'p.json'), '-'], { key: KEY });
    expect(stdin.status).toBe(2);
    expect(stdin.stderr).toMatch(/not stdin/);
  });
});
