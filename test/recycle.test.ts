/**
 * Reused buffers (io/buffer-pool.ts) never change the output: a run whose input chunks and output
 * buffers go back to pools that poison them (so a byte read after its buffer went back shows) writes
 * the bytes a run with fresh buffers writes, for a plain dump (one thread and workers, two chunk sizes,
 * a sink that writes late) and a custom archive (kept blocks copied as views, rewritten ones), and a
 * consumer that never gives buffers back (a stream that keeps what it is given) gets them intact.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratch } from './support/scratch.js';
import { createDb, pgBin, pgEnv, psql } from './support/db.js';
import { compileRules, readRules, rewriteStream } from '../src/engine/run.js';
import { BufferPool } from '../src/io/buffer-pool.js';
import { readFileAhead, readFileChunks } from '../src/io/input.js';
import { openCustom } from '../src/archive/reader.js';
import { rewriteArchive } from '../src/archive/rewrite.js';

const KEY = 'recycle-test-key-Qm3vX9tLp2Wz';
let dir: string;
let rulesPath: string;
let plain: string;
let custom: string;

beforeAll(() => {
  dir = scratch('ad-recycle-');
  createDb('recycle_src');
  // person (~9 MB, rewritten: enough rows that a worker, started meanwhile, gets pieces, and buffers go
  // back and forth; a name in seven holds a tab, which COPY writes as \t: an escape a reused buffer's
  // stale bytes must not hide), ledger (~2 MB, kept: long runs of the input passed on as views), and 160 small
  // tables whose schema text alone passes 64 KiB (held back until the first row, as views)
  const small = Array.from({ length: 160 }, (_, i) => `CREATE TABLE t${i} (id int PRIMARY KEY, label text); COMMENT ON TABLE t${i} IS 'lookup table number ${i} of the catalogue';`).join('\n');
  psql('recycle_src', `${small}
    CREATE TABLE person (id int PRIMARY KEY, email text NOT NULL, full_name text, notes text);
    INSERT INTO person SELECT g, 'person' || g || '@example.org', 'Olivia' || CASE WHEN g % 7 = 0 THEN E'\\t' ELSE ' ' END || 'Smith ' || g, repeat('a note ', 6) FROM generate_series(1, 120000) g;
    CREATE TABLE ledger (id int PRIMARY KEY, memo text); INSERT INTO ledger SELECT g, repeat(md5(g::text), 2) FROM generate_series(1, 25000) g;`);
  rulesPath = join(dir, 'rules.yaml');
  writeFileSync(rulesPath, 'version: 1\nunknown: keep\ntables:\n  public.person:\n    columns:\n      "*": keep\n      email: { fake: internet.email }\n      full_name: { hash: { length: 12 } }\n');
  plain = join(dir, 'src.sql');
  custom = join(dir, 'src.dump');
  for (const [file, args] of [[plain, []], [custom, ['-Fc']]] as const) {
    const d = spawnSync(pgBin('pg_dump'), [...args, '-f', file, '-d', 'recycle_src'], { env: pgEnv() });
    if (d.status !== 0) throw new Error(d.stderr.toString());
  }
}, 120_000);

async function rules() {
  return compileRules(await readRules({ files: [rulesPath] }), KEY);
}

/** A sink that keeps the chunks it is given as they are (no copy), as a PassThrough's buffer does. */
function keeper(): { sink: Writable; bytes: () => Buffer } {
  const kept: Buffer[] = [];
  const sink = new Writable({
    write(c: Buffer, _e, done) {
      kept.push(c);
      done();
    },
  });
  return { sink, bytes: () => Buffer.concat(kept) };
}

async function plainRun(chunk: number, jobs: number, how: 'fresh' | 'recycled' | 'kept'): Promise<{ out: Buffer; input?: BufferPool; output?: BufferPool }> {
  // pieces of 128 KiB: the person table goes to the worker in ~25 of them, so that buffers go back and forth
  const common = { rules: await rules(), jobs, rulesSource: { files: [rulesPath] }, localFirstBytes: 0, pieceBytes: 128 * 1024, waitForWorkers: true };
  if (how === 'recycled') {
    const input = new BufferPool(chunk, { poison: true });
    const output = new BufferPool(256 * 1024, { poison: true });
    const file = join(dir, `plain-${chunk}-${jobs}.sql`);
    const sink = createWriteStream(file);
    await rewriteStream(readFileChunks(plain, chunk, input), sink, { ...common, recycle: true, outputPool: output }).done;
    sink.end();
    await once(sink, 'close');
    return { out: readFileSync(file), input, output };
  }
  const input = how === 'kept' ? new BufferPool(chunk, { poison: true }) : undefined;
  const k = keeper();
  await rewriteStream(readFileChunks(plain, chunk, input), k.sink, common).done;
  return { out: k.bytes(), input };
}

describe('recycled buffers, plain dump', () => {
  it.each([
    [64 * 1024, 1],
    [64 * 1024, 2],
    [256 * 1024, 1],
    [256 * 1024, 2],
  ])('chunks of %i bytes, --jobs %i: the bytes fresh buffers give, with buffers reused', async (chunk, jobs) => {
    const fresh = await plainRun(chunk, jobs, 'fresh');
    const recycled = await plainRun(chunk, jobs, 'recycled');
    expect(recycled.out.equals(fresh.out)).toBe(true);
    // one thread: one input chunk (read when the last is done with) and two output buffers serve the
    // whole run; with workers, a piece holds its chunks until it is sent, and the workers write most of the output
    expect(recycled.input!.reused).toBeGreaterThan(10);
    if (jobs === 1) expect([recycled.input!.made, recycled.output!.made]).toEqual([1, 2]);
    if (jobs === 1) expect(recycled.output!.reused).toBeGreaterThan(10);
    // the rules did rewrite, and kept what they keep
    expect(fresh.out.includes('person1@example.org')).toBe(false);
    expect(fresh.out.includes(Buffer.from('\t' + 'c4ca4238a0b923820dcc509a6f75849b'.repeat(2)))).toBe(true);
  }, 120_000);

  it.each([1, 2])('a slow sink, done with each chunk only at its callback, --jobs %i: the bytes fresh buffers give', async (jobs) => {
    const fresh = await plainRun(64 * 1024, jobs, 'fresh');
    const parts: Buffer[] = [];
    // each write lands 2 ms late, so that chunks wait in the stream's buffer: one given back or moved to
    // a worker too early would be read after it changed
    const sink = new Writable({
      highWaterMark: 1 << 20,
      write(c: Buffer, _e, done) {
        setTimeout(() => {
          parts.push(Buffer.from(c));
          done();
        }, 2);
      },
    });
    const input = new BufferPool(64 * 1024, { poison: true });
    const output = new BufferPool(256 * 1024, { poison: true });
    await rewriteStream(readFileChunks(plain, 64 * 1024, input), sink, { rules: await rules(), jobs, rulesSource: { files: [rulesPath] }, localFirstBytes: 0, pieceBytes: 128 * 1024, waitForWorkers: true, recycle: true, outputPool: output }).done;
    sink.end();
    await once(sink, 'finish');
    expect(Buffer.concat(parts).equals(fresh.out)).toBe(true);
    expect(input.reused).toBeGreaterThan(5);
  }, 120_000);

  it('a sink that keeps what it is given: nothing is reused, nothing changes', async () => {
    const fresh = await plainRun(64 * 1024, 2, 'fresh');
    const kept = await plainRun(64 * 1024, 2, 'kept');
    expect(kept.input!.reused).toBe(0);
    expect(kept.out.equals(fresh.out)).toBe(true);
  }, 120_000);
});

describe('recycled buffers, custom archive', () => {
  async function archiveRun(chunk: number, jobs: number, pool: BufferPool | undefined, to: 'file' | 'stdout'): Promise<Buffer> {
    const archive = await openCustom(readFileAhead(custom, chunk, pool), custom);
    const common = { rules: await rules(), rulesSource: { files: [rulesPath] }, jobs, format: 'custom' as const };
    if (to === 'file') {
      const out = join(dir, `archive-${chunk}-${jobs}-${pool ? 'pooled' : 'fresh'}.dump`);
      await rewriteArchive(archive, { ...common, output: out });
      return readFileSync(out);
    }
    const k = keeper();
    await rewriteArchive(archive, { ...common, output: null, stdout: k.sink });
    return k.bytes();
  }

  it.each([
    [16 * 1024, 1],
    [64 * 1024, 1],
    [64 * 1024, 2],
  ])('chunks of %i bytes, --jobs %i, to a file: the bytes fresh buffers give, with chunks reused', async (chunk, jobs) => {
    const fresh = await archiveRun(chunk, jobs, undefined, 'file');
    const pool = new BufferPool(chunk, { poison: true });
    const pooled = await archiveRun(chunk, jobs, pool, 'file');
    expect(pooled.equals(fresh)).toBe(true);
    expect(pool.reused).toBeGreaterThan(5);
    // and it restores: the kept table whole, the rewritten one rewritten
    const db = `recycle_out_${chunk}_${jobs}`;
    createDb(db);
    const file = join(dir, `restore-${chunk}-${jobs}.dump`);
    writeFileSync(file, pooled);
    const r = spawnSync(pgBin('pg_restore'), ['--exit-on-error', '-d', db, file], { env: pgEnv(), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(psql(db, "SELECT count(*), count(*) FILTER (WHERE email LIKE '%@example.org' AND email ~ '^person[0-9]+@') FROM person").trim()).toBe('120000|0');
    expect(psql(db, 'SELECT count(*), md5(string_agg(memo, \',\' ORDER BY id)) = (SELECT md5(string_agg(repeat(md5(g::text), 2), \',\' ORDER BY g)) FROM generate_series(1, 25000) g) FROM ledger').trim()).toBe('25000|t');
  }, 120_000);

  it('to a stream that keeps what it is given: kept blocks are not reused under it', async () => {
    const fresh = await archiveRun(64 * 1024, 1, undefined, 'stdout');
    const pooled = await archiveRun(64 * 1024, 1, new BufferPool(64 * 1024, { poison: true }), 'stdout');
    expect(pooled.equals(fresh)).toBe(true);
  }, 120_000);
});

// a PassThrough as the plain sink, recycle off (the library default): what a caller's stream keeps is intact
describe('recycle is off unless asked for', () => {
  it('a PassThrough sink read after the run gets the dump whole', async () => {
    const pool = new BufferPool(64 * 1024, { poison: true });
    const pass = new PassThrough({ highWaterMark: 1 << 30 });
    await rewriteStream(readFileChunks(plain, 64 * 1024, pool), pass, { rules: await rules() }).done;
    pass.end();
    const parts: Buffer[] = [];
    for await (const c of pass) parts.push(c as Buffer);
    const fresh = await plainRun(64 * 1024, 1, 'fresh');
    expect(Buffer.concat(parts).equals(fresh.out)).toBe(true);
  }, 120_000);
});
