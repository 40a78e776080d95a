/**
 * `--jobs N` on a plain dump: COPY rows rewritten by workers in pieces, written back in order. The
 * output and the report are the bytes `--jobs 1` gives, for a dump with a table cut into several
 * pieces, kept, dropped and filtered tables, and pg_dumpall; a bad row is reported at the same line;
 * and without a key (one random key for the run) a value gets one pseudonym in every piece, in plain
 * dumps and in archives alike.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { scratch } from './support/scratch.js';
import { createDb, pgEnv, psql, restore } from './support/db.js';
import { runCli } from './support/cli.js';
import { compileRules, readRules, rewriteStream } from '../src/engine/run.js';
import { ParallelPlain } from '../src/dump/parallel-copy.js';
import { PlainPieces } from '../src/engine/plain-pieces.js';
import { AnonymiseError } from '../src/errors.js';
import type { BlockContext, CopyRows } from '../src/dump/rows.js';
import type { Output } from '../src/dump/output.js';
import type { TablePlan } from '../src/contract/plan.js';
import type { SchemaModel } from '../src/dump/schema-model.js';

const KEY = 'plain-jobs-test-Nv6pQ2xW8mR4tK';
let dir: string;
let rules: string;
let plain: string;

const tables = (report: string) => (JSON.parse(readFileSync(report, 'utf8')) as { tables: unknown }).tables;

beforeAll(() => {
  dir = scratch('ad-plain-jobs-');
  createDb('plain_jobs_src');
  // person: ~7 MB of rows, three or four 2 MiB pieces; the same e-mail in rows far apart (other pieces)
  psql('plain_jobs_src', `CREATE TABLE person (id int PRIMARY KEY, email text NOT NULL, full_name text, notes text);
    INSERT INTO person SELECT g, 'person' || (g % 5000) || '@gmail.com', 'Olivia Smith ' || g, repeat('a note ', 8) FROM generate_series(1, 100000) g;
    CREATE TABLE country (code text PRIMARY KEY, name text); INSERT INTO country VALUES ('GB', 'United Kingdom'), ('FR', 'France');
    CREATE TABLE session (key text PRIMARY KEY, data text); INSERT INTO session SELECT 's' || g, 'payload ' || g FROM generate_series(1, 500) g;
    CREATE TABLE audit (id int, actor text, at date); INSERT INTO audit SELECT g, 'actor' || g || '@gmail.com', date '2020-01-01' + g % 900 FROM generate_series(1, 30000) g;`);
  rules = join(dir, 'rules.yaml');
  writeFileSync(
    rules,
    'version: 1\ntables:\n  public.person:\n    columns:\n      "*": keep\n      email: { fake: internet.email }\n      full_name: { fake: person.fullName }\n      notes: { template: "note {id}" }\n  public.country: keep\n  public.session: drop\n  public.audit:\n    drop_where: { at: ["2020-01-05", "2020-01-06"] }\n    columns:\n      "*": keep\n      actor: { hash: { length: 16 } }\n',
  );
  plain = join(dir, 'src.sql');
  const d = spawnSync(join(inject('pg').bin, 'pg_dump'), ['-f', plain, '-d', 'plain_jobs_src'], { env: pgEnv() });
  if (d.status !== 0) throw new Error(d.stderr.toString());
}, 120_000);

describe('--jobs on a plain dump', () => {
  it('--jobs 2 and 3 write the bytes and the report --jobs 1 writes, and the output restores', () => {
    const runs = [1, 2, 3].map((j) => {
      const out = join(dir, `out-${j}.sql`);
      const r = runCli(['-q', '-r', rules, '--jobs', String(j), '-o', out, '--report', `${out}.json`, plain], { key: KEY });
      expect(r.status, r.stderr).toBe(0);
      return out;
    });
    for (const out of runs.slice(1)) {
      expect(readFileSync(out).equals(readFileSync(runs[0]!))).toBe(true);
      expect(tables(`${out}.json`)).toEqual(tables(`${runs[0]}.json`));
    }
    expect(restore('plain_jobs_out', readFileSync(runs[1]!)).status).toBe(0);
    expect(psql('plain_jobs_out', "SELECT count(*), count(*) FILTER (WHERE email LIKE '%@gmail.com') FROM person").trim()).toBe('100000|0');
  }, 120_000);

  it('without a key: one random key for the run, so a value has one pseudonym in every piece (plain and custom archive)', () => {
    const fc = join(dir, 'src.dump');
    expect(spawnSync(join(inject('pg').bin, 'pg_dump'), ['-Fc', '-f', fc, '-d', 'plain_jobs_src'], { env: pgEnv() }).status).toBe(0);
    for (const [form, input] of [['plain', plain], ['custom', fc]] as const) {
      const out = join(dir, `random-${form}`);
      const r = runCli(['-q', '-r', rules, '--jobs', '2', '-o', out, input]);
      expect(r.status, r.stderr).toBe(0);
      const db = `plain_jobs_random_${form}`;
      if (form === 'plain') expect(restore(db, readFileSync(out)).status).toBe(0);
      else {
        createDb(db);
        expect(spawnSync(join(inject('pg').bin, 'pg_restore'), ['--exit-on-error', '-d', db, out], { env: pgEnv() }).status).toBe(0);
      }
      // rows 1 and 5001, 10001… held the same address: one pseudonym for all of them
      expect(psql(db, 'SELECT count(*) FROM (SELECT id % 5000 AS k, count(DISTINCT email) AS n FROM person GROUP BY 1) g WHERE n > 1').trim(), form).toBe('0');
    }
  }, 120_000);

  it.each([
    ['rows rewritten here first, then pieces (--jobs left to its default on a big file)', 3 * 1024 * 1024],
    ['this thread and one worker from the first row', 0],
  ])('%s: the bytes of one thread', async (_, localFirstBytes) => {
    const source = { files: [rules] };
    const run = async (jobs: number) => {
      const parts: Buffer[] = [];
      const sink = new Writable({ write: (c: Buffer, _e, done) => (parts.push(c), done()) });
      const h = rewriteStream(createReadStream(plain), sink, { rules: compileRules(await readRules(source), KEY), rulesSource: source, jobs, localFirstBytes, waitForWorkers: true });
      const r = await h.done;
      return { out: Buffer.concat(parts), tables: r.tables };
    };
    const one = await run(1);
    const two = await run(2);
    expect(two.out.equals(one.out)).toBe(true);
    expect(two.tables).toEqual(one.tables);
  }, 120_000);

  it.each([
    [4, true],
    [20, false],
  ])('%i MiB of text before the first COPY: held for the workers: %s (an --inserts dump has no COPY, and is not held whole)', (mib, held) => {
    const starts: number[] = [];
    const p = new ParallelPlain({ start: (b) => starts.push(b.length), pieceBuffer: (n) => Buffer.alloc(n), send: () => {}, pieceBytes: 1 << 20, localFirstBytes: 0, prepare: () => {}, busy: () => false }, { flush: () => {} } as unknown as Output);
    for (let i = 0; i < mib; i++) p.keep(Buffer.alloc(1 << 20, 0x20));
    const plan = { mode: 'rewrite', columns: ['a'], search: null } as unknown as TablePlan;
    const c = { table: 'public.t', reader: { line: 1 } } as unknown as BlockContext;
    const schema = { tables: new Map([['public.t', {}]]), version: 0 } as unknown as SchemaModel;
    const rows = p.rows(c, plan, Buffer.from('COPY public.t (a) FROM stdin;\n'), mib << 20, false, schema, () => ({}) as CopyRows);
    expect(rows !== null).toBe(held);
    expect(starts).toEqual(held ? [mib << 20] : []);
  });

  it('a worker is busy while it starts (this thread rewrites the rows meanwhile), then free; with waitForWorkers, free at once', async () => {
    const pieces = (waitForWorkers: boolean) => {
      const p = new PlainPieces({ jobs: 2, localFirstBytes: 0, waitForWorkers, rules: { files: [rules] }, key: Buffer.from(KEY), place: () => {} });
      p.start(Buffer.from('SET client_encoding = \'UTF8\';\n'));
      return p;
    };
    const gated = pieces(false);
    expect(gated.busy()).toBe(false); // no worker yet: the first rows start one
    gated.prepare();
    expect(gated.busy()).toBe(true);
    const since = Date.now();
    while (gated.busy() && Date.now() - since < 20_000) await new Promise((r) => setTimeout(r, 5));
    expect(gated.busy()).toBe(false);
    await gated.close();
    const waiting = pieces(true);
    waiting.prepare();
    expect(waiting.busy()).toBe(false);
    await waiting.close();
  }, 30_000);

  it.each([2, 3])('a bad row in a piece a worker rewrites (--jobs %i, rows waiting for the workers): the error --jobs 1 gives, at the same line', async (jobs) => {
    const text = readFileSync(plain, 'utf8');
    const at = text.indexOf('\n77777\t');
    const bad = join(dir, `bad-lib-${jobs}.sql`);
    writeFileSync(bad, `${text.slice(0, at + 1)}77777\tone field too few\n${text.slice(text.indexOf('\n', at + 1) + 1)}`);
    const source = { files: [rules] };
    const run = async (j: number) => {
      const sink = new Writable({ write: (_c: Buffer, _e, done) => done() });
      const h = rewriteStream(createReadStream(bad), sink, { rules: compileRules(await readRules(source), KEY), rulesSource: source, jobs: j, localFirstBytes: 0, waitForWorkers: true, pieceBytes: 256 * 1024 });
      return h.done.then(
        () => null,
        (e: unknown) => e as AnonymiseError,
      );
    };
    const one = await run(1);
    const many = await run(jobs);
    expect(one).toBeInstanceOf(AnonymiseError);
    expect(one!.position.table).toBe('public.person');
    expect(many).toBeInstanceOf(AnonymiseError);
    expect([many!.code, many!.detail, many!.position]).toEqual([one!.code, one!.detail, one!.position]);
  }, 60_000);

  it('a --data-only dump with --schema: --jobs 2 writes what --jobs 1 writes, typed values within their types, and it restores', () => {
    createDb('plain_jobs_typed');
    psql('plain_jobs_typed', `CREATE TABLE reading (id int PRIMARY KEY, level smallint, ratio numeric(4,2));
      INSERT INTO reading SELECT g, (g % 32000)::smallint, ((g % 9999) / 100.0)::numeric(4,2) FROM generate_series(1, 150000) g;`);
    const data = join(dir, 'typed-data.sql');
    const schema = join(dir, 'typed-schema.sql');
    for (const [file, only] of [[data, '--data-only'], [schema, '--schema-only']])
      expect(spawnSync(join(inject('pg').bin, 'pg_dump'), [only, '-f', file, '-d', 'plain_jobs_typed'], { env: pgEnv() }).status).toBe(0);
    const typedRules = join(dir, 'typed.yaml');
    writeFileSync(typedRules, 'version: 1\ntables:\n  public.reading:\n    columns:\n      id: keep\n      level: { noise: { ratio: 0.5 } }\n      ratio: { noise: { ratio: 0.5 } }\n');
    const outs = [1, 2].map((j) => {
      const out = join(dir, `typed-${j}.sql`);
      const r = runCli(['-q', '-r', typedRules, '--schema', schema, '--jobs', String(j), '-o', out, data], { key: KEY });
      expect(r.status, r.stderr).toBe(0);
      return readFileSync(out);
    });
    expect(outs[1]!.equals(outs[0]!)).toBe(true);
    expect(restore('plain_jobs_typed_out', Buffer.concat([readFileSync(schema), outs[1]!])).status).toBe(0);
    expect(psql('plain_jobs_typed_out', 'SELECT count(*) FROM reading').trim()).toBe('150000');
  }, 120_000);

  it('two bad rows, one among audit\'s rows and one among person\'s: --jobs 2 and 3 name the first, as --jobs 1 does', () => {
    const text = readFileSync(plain, 'utf8');
    let bad = text;
    for (const id of ['97777', '27777']) {
      const at = bad.indexOf(`\n${id}\t`);
      bad = `${bad.slice(0, at + 1)}${id}\tone field too few\n${bad.slice(bad.indexOf('\n', at + 1) + 1)}`;
    }
    const file = join(dir, 'two-bad.sql');
    writeFileSync(file, bad);
    const [one, two, three] = [1, 2, 3].map((j) => runCli(['-q', '-r', rules, '--jobs', String(j), '-o', join(dir, `two-bad-${j}.sql`), file], { key: KEY }));
    expect(one!.status).toBe(3);
    expect(one!.stderr).toMatch(/input line \d+, table public\.audit: row has \d+ fields/);
    expect(two!.stderr).toBe(one!.stderr);
    expect(three!.stderr).toBe(one!.stderr);
  }, 120_000);

  it('a bad row deep in a piece: the same message, line and exit as --jobs 1, and no output file', () => {
    const text = readFileSync(plain, 'utf8');
    const at = text.indexOf('\n77777\t');
    expect(at).toBeGreaterThan(0);
    const bad = join(dir, 'bad.sql');
    writeFileSync(bad, `${text.slice(0, at + 1)}77777\tone field too few\n${text.slice(text.indexOf('\n', at + 1) + 1)}`);
    const [one, two] = [1, 2].map((j) => runCli(['-q', '-r', rules, '--jobs', String(j), '-o', join(dir, `bad-${j}.sql`), bad], { key: KEY }));
    expect(one!.status).toBe(3);
    expect(two!.status).toBe(3);
    expect(two!.stderr).toBe(one!.stderr);
    expect(one!.stderr).toMatch(/input line \d+, table public\.person: row has \d+ fields/);
    for (const j of [1, 2]) expect(() => readFileSync(join(dir, `bad-${j}.sql`))).toThrow();
    // on stdout: what came before, then the marker that stops a restore
    const onStdout = runCli(['-q', '-r', rules, '--jobs', '2', bad], { key: KEY });
    expect(onStdout.status).toBe(3);
    expect(onStdout.stdout.toString()).toMatch(/ABORTED[^\n]*\n?$/);
  }, 120_000);

  it.each([
    ['COPY', []],
    ['--inserts', ['--inserts']],
  ])('pg_dumpall (%s): the same bytes with --jobs 2 as with 1', (form, extra) => {
    const others = psql('postgres', 'SELECT datname FROM pg_database WHERE NOT datistemplate').trim().split('\n').filter((d) => d && !['postgres', 'plain_jobs_src'].includes(d));
    const all = join(dir, `all-${form.replace(/\W/g, '')}.sql`);
    expect(spawnSync(join(inject('pg').bin, 'pg_dumpall'), ['--no-role-passwords', ...extra, '-f', all, ...others.map((o) => `--exclude-database=${o}`)], { env: pgEnv() }).status).toBe(0);
    const allRules = join(dir, 'all.yaml');
    writeFileSync(allRules, `version: 1\nunknown: keep\ndatabases:\n  plain_jobs_src:\n${readFileSync(rules, 'utf8').split('\n').slice(1).map((l) => (l ? `    ${l}` : l)).join('\n')}`);
    const [a, b] = [1, 2].map((j) => runCli(['-q', '-r', allRules, '--jobs', String(j), all], { key: KEY }));
    expect(a!.status, a!.stderr).toBe(0);
    expect(b!.status, b!.stderr).toBe(0);
    expect(b!.stdout.equals(a!.stdout)).toBe(true);
    expect(a!.stdout.toString()).not.toMatch(/person\d+@gmail\.com/);
  }, 120_000);
});
