/**
 * Custom and directory archives, in and out: the awkward-data database and a large object, dumped by
 * the real pg_dump 15 as -Fc (gzip and -Z 0, --inserts), -Fd (gzip, -Z 0, -j 2); rewritten by the CLI
 * into the same format, into the other one and into plain; restored with the real pg_restore (-j 2,
 * --exit-on-error) and compared table by table, in SQL, with the plain path's result.
 */
import { spawnSync } from 'node:child_process';
import { scratch } from './support/scratch.js';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, copyFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileRules, readRules, rewriteBuffer } from '../src/engine/run.js';
import { openPath } from '../src/archive/open.js';
import { rewriteArchive } from '../src/archive/rewrite.js';
import { createDb, pgBin, pgDump, pgEnv, pgRestore, psql, restore } from './support/db.js';
import { ArchiveWriter, Cursor, readHeader, readToc, writeHeader, writeToc } from '../src/archive/format.js';
import { runCli } from './support/cli.js';

const RULES = 'test/rules/awkward.yaml';
const KEY = 'archive-test-key-0123456789abcdef';
const SRC = 'arch_src';

let dir: string;
let plainDigest: string;

function cli(args: string[], input?: Buffer) {
  const quiet = ['scan', 'check', 'init', 'find', 'forget'].includes(args[0]!) ? [] : ['-q'];
  return runCli([...quiet, ...args], { input, key: KEY, inheritEnv: true });
}

function dumpTo(path: string, args: string[]): void {
  const r = spawnSync(pgBin('pg_dump'), [...args, '-f', path, '-d', SRC], { env: pgEnv() });
  if (r.status !== 0) throw new Error(`pg_dump failed: ${r.stderr}`);
}

/** One line per table: its rows (as text, sorted) digested, and counted. */
function digest(db: string): string {
  const queries = psql(
    db,
    `SELECT format('SELECT %L || '' '' || count(*) || '' '' || coalesce(md5(string_agg(t::text, E''\\n'' ORDER BY t::text)), ''-'') FROM %I.%I t;', n.nspname || '.' || c.relname, n.nspname, c.relname)
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
  );
  return psql(db, queries) + psql(db, 'SELECT count(*), md5(string_agg(lo_get(oid)::text, \',\' ORDER BY oid)) FROM pg_largeobject_metadata');
}

beforeAll(async () => {
  dir = scratch('ad-archive-');
  createDb(SRC);
  psql(SRC, readFileSync('test/sql/awkward.sql', 'utf8'));
  psql(SRC, "SELECT lo_from_bytea(0, convert_to('a large object', 'UTF8'));");
  writeFileSync(join(dir, 'lo.yaml'), 'version: 1\ntables:\n  pg_catalog.pg_largeobject: keep\n');
  const rules = compileRules(await readRules({ files: [RULES, join(dir, 'lo.yaml')] }), KEY);
  const out = rewriteBuffer(pgDump(SRC), { rules }).output;
  const r = restore('arch_plain', out);
  if (r.status !== 0) throw new Error(`plain restore failed: ${r.stderr}`);
  plainDigest = digest('arch_plain');
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rulesArgs = () => ['-r', RULES, '-r', join(dir, 'lo.yaml')];

/** An uncompressed -Fd dump whose users_user rows at these indexes lose a field (their first tab); its entry's dump id. */
function damagedUsers(name: string, rowIndexes: number[]): { damaged: string; id: string } {
  const damaged = join(dir, name);
  dumpTo(damaged, ['-Fd', '-Z', '0']);
  const list = spawnSync(pgBin('pg_restore'), ['-l', damaged], { encoding: 'utf8' }).stdout;
  const id = /^(\d+); \d+ \d+ TABLE DATA public users_user /m.exec(list)![1]!;
  const file = join(damaged, `${id}.dat`);
  const rows = readFileSync(file, 'latin1').split('\n');
  expect(rows.length).toBeGreaterThan(Math.max(...rowIndexes) + 2);
  for (const i of rowIndexes) rows[i] = rows[i]!.replace('\t', ' ');
  writeFileSync(file, rows.join('\n'), 'latin1');
  return { damaged, id };
}

describe.each([
  ['-Fc', ['-Fc'], 'custom'],
  ['-Fc -Z 0', ['-Fc', '-Z', '0'], 'custom'],
  ['-Fd', ['-Fd'], 'directory'],
  ['-Fd -Z 0', ['-Fd', '-Z', '0'], 'directory'],
  ['-Fd -j 2', ['-Fd', '-j', '2'], 'directory'],
  ['-Fc --inserts', ['-Fc', '--inserts'], 'custom'],
  ['-Fd --column-inserts', ['-Fd', '--column-inserts'], 'directory'],
])('an archive dumped with %s', (name, args, kind) => {
  const slug = name.replace(/\W+/g, '_');
  let input: string;
  beforeAll(() => {
    input = join(dir, `in_${slug}`);
    dumpTo(input, args);
  });

  it.each([1, 2])('rewritten into its own format (--jobs %i) restores with pg_restore -j 2 and equals the plain path, table by table', (jobs) => {
    const out = join(dir, `out_${slug}_${jobs}`);
    const r = cli([...rulesArgs(), '--jobs', String(jobs), '-o', out, input]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(statSync(out).isDirectory()).toBe(kind === 'directory');
    const db = `arch_${slug}_${jobs}`.toLowerCase();
    const res = pgRestore(db, out);
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(digest(db)).toBe(plainDigest);
  });

  it('rewritten into the other format and into plain, the result is the same', () => {
    const other = kind === 'custom' ? 'directory' : 'custom';
    const out = join(dir, `other_${slug}`);
    const r = cli([...rulesArgs(), '--format', other, '-o', out, input]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const db = `arch_other_${slug}`.toLowerCase();
    expect(pgRestore(db, out).status).toBe(0);
    expect(digest(db)).toBe(plainDigest);
    const plain = cli([...rulesArgs(), '--format', 'plain', input]);
    expect(plain.status).toBe(0);
    const pdb = `arch_plain_${slug}`.toLowerCase();
    expect(restore(pdb, plain.stdout).status).toBe(0);
    expect(digest(pdb)).toBe(plainDigest);
  });

  it('kept tables are copied as they were (no decompression), and two runs write the same bytes', () => {
    const a = join(dir, `det_a_${slug}`);
    const b = join(dir, `det_b_${slug}`);
    expect(cli([...rulesArgs(), '--jobs', '1', '-o', a, input]).status).toBe(0);
    expect(cli([...rulesArgs(), '--jobs', '2', '-o', b, input]).status).toBe(0);
    if (kind === 'directory') {
      expect(readdirSync(a).sort()).toEqual(readdirSync(b).sort());
      for (const f of readdirSync(a)) expect(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), f).toBe(true);
      // public.page is kept whole by the rules: its data file is the input's own
      const list = spawnSync(pgBin('pg_restore'), ['-l', input], { encoding: 'utf8' }).stdout;
      const id = /^(\d+); \d+ \d+ TABLE DATA public page /m.exec(list)![1];
      const file = readdirSync(input).find((f) => f.startsWith(`${id}.dat`))!;
      expect(readFileSync(join(a, file)).equals(readFileSync(join(input, file)))).toBe(true);
    } else {
      expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    }
  });
});

describe.each([
  ['-Ft', ['-Ft']],
  ['-Ft --inserts', ['-Ft', '--inserts']],
])('a tar archive dumped with %s (read from its file)', (name, args) => {
  const slug = name.replace(/\W+/g, '_');
  let input: string;
  beforeAll(() => {
    input = join(dir, `in_${slug}.tar`);
    dumpTo(input, [...args]);
  });

  it.each(['custom', 'directory', 'plain'])('rewritten as %s restores and equals the plain path, table by table (large object included)', (format) => {
    const out = join(dir, `tar_out_${slug}_${format}`);
    const r = cli([...rulesArgs(), '--format', format, ...(format === 'plain' ? [] : ['-o', out]), input]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const db = `arch_tar_${slug}_${format}`.toLowerCase();
    const res = format === 'plain' ? restore(db, r.stdout) : pgRestore(db, out);
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(digest(db)).toBe(plainDigest);
  });

  it('rewritten into its own format (the default) restores with pg_restore, from the file and from a pipe, and equals the plain path; kept members are the input\'s bytes', () => {
    const out = join(dir, `tar_out_${slug}_tar`);
    const r = cli([...rulesArgs(), '-o', out, input]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const bytes = readFileSync(out);
    expect(bytes.toString('latin1', 257, 262)).toBe('ustar');
    const db = `arch_tar_${slug}_tar`.toLowerCase();
    const res = pgRestore(db, out, []);
    expect(res.stderr).toBe('');
    expect(digest(db)).toBe(plainDigest);
    // pg_restore reads a tar from a pipe forward only: the members must come in the order it needs them
    const piped = spawnSync(pgBin('pg_restore'), ['-f', '-'], { input: bytes, maxBuffer: 1 << 28 });
    expect(piped.status, piped.stderr.toString()).toBe(0);
    const pdb = `arch_tar_${slug}_piped`.toLowerCase();
    expect(restore(pdb, piped.stdout).status).toBe(0);
    expect(digest(pdb)).toBe(plainDigest);
    // public.page is kept whole by the rules: its member is the input's own bytes
    const list = spawnSync(pgBin('pg_restore'), ['-l', input], { encoding: 'utf8' }).stdout;
    const id = /^(\d+); \d+ \d+ TABLE DATA public page /m.exec(list)![1];
    const member = (tar: Buffer) => {
      for (let at = 0; at + 512 <= tar.length && tar[at] !== 0; ) {
        const size = parseInt(tar.toString('latin1', at + 124, at + 136).replace(/\0.*$/, ''), 8);
        if (tar.toString('latin1', at, at + 100).replace(/\0.*$/, '') === `${id}.dat`) return tar.subarray(at + 512, at + 512 + size);
        at += 512 + Math.ceil(size / 512) * 512;
      }
      throw new Error('no such member');
    };
    expect(member(bytes).equals(member(readFileSync(input)))).toBe(true);
  });

  it('--format tar from a custom archive is refused (tar data is uncompressed), nothing written', () => {
    const custom = join(dir, `tar_src_${slug}.dump`);
    dumpTo(custom, ['-Fc']);
    const out = join(dir, `tar_from_custom_${slug}`);
    const r = cli([...rulesArgs(), '--format', 'tar', '-o', out, custom]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--format tar is written from a tar archive only/);
    expect(existsSync(out)).toBe(false);
  });

  it("the report's bytesIn and bytesOut are the files' bytes, in and out", () => {
    const out = join(dir, `bytes_${slug}`);
    const report = join(dir, `bytes_${slug}.json`);
    expect(cli([...rulesArgs(), '-o', out, '--report', report, input]).status).toBe(0);
    const size = (p: string): number => (statSync(p).isDirectory() ? readdirSync(p).reduce((n, f) => n + size(join(p, f)), 0) : statSync(p).size);
    const rep = JSON.parse(readFileSync(report, 'utf8')) as { bytesIn: number; bytesOut: number };
    expect(rep.bytesIn).toBe(size(input));
    expect(rep.bytesOut).toBe(size(out));
  });

  it('check and scan read it', () => {
    expect(cli(['check', ...rulesArgs(), input]).status).toBe(0);
    const scan = cli(['scan', input]);
    expect(scan.status).toBe(0);
    expect(scan.stdout.toString()).toMatch(/public\.users_user\.email\s+\d+\s+[1-9]/);
  });
});

describe('tar archives that are cut, on stdin, or forgotten in', () => {
  let input: string;
  beforeAll(() => {
    input = join(dir, 'bad.tar');
    dumpTo(input, ['-Ft']);
  });
  // the last member (restore.sql) and the end blocks; a member cut in its middle; the end blocks alone
  it.each([
    ['inside its last members', (size: number) => size - 3000, /the tar archive ends inside its member|ends before its end blocks/],
    ['in the middle', (size: number) => Math.floor(size / 2), /the tar archive ends inside its member|ends before its end blocks/],
    ['at its end blocks', (size: number) => size - 1024, /ends before its end blocks \(truncated archive\?\)/],
  ])('cut %s is refused with exit 3 and no output', (_name, at, message) => {
    const cut = join(dir, `cut_${at(1e6)}.tar`);
    copyFileSync(input, cut);
    truncateSync(cut, at(statSync(input).size));
    const out = join(dir, `cut_out_${at(1e6)}`);
    const r = cli([...rulesArgs(), '--format', 'custom', '-o', out, cut]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });

  it('a signal while the tar is packed leaves no output and no temporary file', async () => {
    const rules = compileRules(await readRules({ files: [RULES, join(dir, 'lo.yaml')] }), KEY);
    const source = await openPath(input);
    if (source.kind !== 'archive') throw new Error('not an archive');
    const where = scratch('ad-tar-signal-');
    const out = join(where, 'out.tar');
    const stop = new AbortController();
    // every data entry written: the signal comes as the files are packed
    const run = rewriteArchive(source.archive, { rules, rulesSource: { files: [RULES, join(dir, 'lo.yaml')] }, format: 'tar', output: out, signal: stop.signal, onEntry: (done, total) => done === total && stop.abort(new Error('stopped')) });
    await expect(run).rejects.toThrow('stopped');
    expect(readdirSync(where)).toEqual([]);
  });

  it('a member pg_dump does not write is refused, without its name, and nothing written', () => {
    const altered = join(dir, 'altered.tar');
    copyFileSync(input, altered);
    writeFileSync(join(dir, 'jane.doe-notes.txt'), 'jane.doe@example.org\n');
    const t = spawnSync('tar', ['-rf', altered, '-C', dir, 'jane.doe-notes.txt']);
    expect(t.status, t.stderr.toString()).toBe(0);
    const out = join(dir, 'altered_out');
    const r = cli([...rulesArgs(), '--format', 'custom', '-o', out, altered]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/the tar archive holds a member pg_dump does not write/);
    expect(r.stderr).not.toMatch(/jane/);
    expect(existsSync(out)).toBe(false);
  });

  it('on stdin it is refused with the advice to give its path', () => {
    const r = cli([...rulesArgs(), '--format', 'plain'], readFileSync(input));
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/read from its file \(give its path\)/);
    expect(r.stdout.length).toBe(0);
  });

  it('forget writes it back as tar: it restores, without the person', () => {
    const out = join(dir, 'forget_out.tar');
    const r = cli(['forget', '-q', '--where', 'users_user.email=alice.smith@gmail.com', ...rulesArgs(), '-o', out, input]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(readFileSync(out).toString('latin1', 257, 262)).toBe('ustar');
    expect(pgRestore('arch_tar_forget', out, []).stderr).toBe('');
    expect(psql('arch_tar_forget', "SELECT count(*) FROM users_user WHERE lower(email) = 'alice.smith@gmail.com'").trim()).toBe('0');
    expect(Number(psql('arch_tar_forget', 'SELECT count(*) FROM users_user'))).toBe(Number(psql(SRC, 'SELECT count(*) FROM users_user')) - 1);
    expect(readFileSync(out).includes('alice.smith@gmail.com')).toBe(false);
  });
});

describe('tables cut into pieces of rows (what workers rewrite)', () => {
  it.each([
    ['-Fc', ['-Fc'], 'custom'],
    ['-Fc -Z 0', ['-Fc', '-Z', '0'], 'custom'],
    ['-Fd', ['-Fd'], 'directory'],
  ] as const)('%s: every table cut into pieces of a few rows restores equal to the plain path, and the same bytes for --jobs 1 and 2', async (name, args, format) => {
    const input = join(dir, `pieces_in_${name.replace(/\W+/g, '_')}`);
    dumpTo(input, [...args]);
    const rules = compileRules(await readRules({ files: [RULES, join(dir, 'lo.yaml')] }), KEY);
    const outputs: string[] = [];
    for (const [jobs, pieceBytes] of [[1, 97], [2, 97], [2, 1 << 20]] as const) {
      const out = join(dir, `pieces_out_${name.replace(/\W+/g, '_')}_${jobs}_${pieceBytes}`);
      const source = await openPath(input);
      if (source.kind !== 'archive') throw new Error('not an archive');
      await rewriteArchive(source.archive, { rules, rulesSource: { files: [RULES, join(dir, 'lo.yaml')] }, jobs, pieceBytes, format, output: out });
      const db = `arch_pieces_${name.replace(/\W+/g, '_')}_${jobs}_${pieceBytes}`.toLowerCase();
      const res = pgRestore(db, out);
      expect(res.stderr).toBe('');
      expect(digest(db)).toBe(plainDigest);
      outputs.push(out);
    }
    const bytes = (p: string) => (format === 'custom' ? [readFileSync(p)] : readdirSync(p).sort().map((f) => readFileSync(join(p, f))));
    const [a, b] = [bytes(outputs[0]!), bytes(outputs[1]!)];
    expect(a.length).toBe(b.length);
    a.forEach((x, i) => expect(x.equals(b[i]!)).toBe(true));
  });
});

describe('--compress-level', () => {
  it('sets the zlib level of rewritten tables only: kept data files stay the input\'s, and both levels restore the same', () => {
    const input = join(dir, 'level_in.dir');
    dumpTo(input, ['-Fd']);
    const list = spawnSync(pgBin('pg_restore'), ['-l', input], { encoding: 'utf8' }).stdout;
    const file = (table: string) => `${new RegExp(`^(\\d+); \\d+ \\d+ TABLE DATA public ${table} `, 'm').exec(list)![1]}.dat.gz`;
    // gzip's XFL byte says how hard zlib tried: 4 for level 1, 2 for level 9 (RFC 1952; zlib sets it from the level)
    const xfl = (path: string) => readFileSync(path)[8];
    for (const [level, flag] of [[undefined, 4], [9, 2]] as const) {
      const out = join(dir, `level_out_${level ?? 'default'}`);
      const r = cli([...rulesArgs(), ...(level ? ['--compress-level', String(level)] : []), '-o', out, input]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(xfl(join(out, file('users_user')))).toBe(flag);
      expect(readFileSync(join(out, file('page'))).equals(readFileSync(join(input, file('page'))))).toBe(true);
      const db = `arch_level_${level ?? 'default'}`;
      expect(pgRestore(db, out).stderr).toBe('');
      expect(digest(db)).toBe(plainDigest);
    }
  });

  it.each([
    [['--compress-level', '0'], /--compress-level must be an integer from 1 to 9/],
    [['--compress-level', '10'], /--compress-level must be an integer from 1 to 9/],
    [['--compress-level', '6', '--format', 'plain'], /this plain output is not compressed/],
    [['--compress-level', '6', '-Z0'], /this archive's data is not compressed/],
  ])('%j is refused with exit 2 and nothing written', (args, message) => {
    // -Z0: the same archive uncompressed (not an option of ours: it picks the input)
    const z0 = args.includes('-Z0');
    const input = join(dir, z0 ? 'level_bad_z0.dump' : 'level_bad.dump');
    if (!existsSync(input)) dumpTo(input, z0 ? ['-Fc', '-Z', '0'] : ['-Fc']);
    const r = cli([...rulesArgs(), ...args.filter((a) => a !== '-Z0'), '-o', join(dir, 'level_bad_out'), input]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout.length).toBe(0);
    expect(existsSync(join(dir, 'level_bad_out'))).toBe(false);
  });
});

describe('a damaged row in a later piece', () => {
  // pieces of one row: the damaged rows are in different pieces, rewritten by different workers, and the
  // one further on may fail first; the run names the first in the input, at its line in the entry
  it.each([1, 2])('--jobs %i names the first damaged row of the entry at its line, with no output', async (jobs) => {
    const { damaged, id } = damagedUsers(`damaged_pieces_${jobs}.dir`, [4, 2]); // rows 3 and 5 lose a field
    const rules = compileRules(await readRules({ files: [RULES, join(dir, 'lo.yaml')] }), KEY);
    const source = await openPath(damaged);
    if (source.kind !== 'archive') throw new Error('not an archive');
    const out = join(dir, `damaged_pieces_out_${jobs}`);
    const run = rewriteArchive(source.archive, { rules, rulesSource: { files: [RULES, join(dir, 'lo.yaml')] }, jobs, pieceBytes: 97, format: 'directory', output: out });
    // the COPY statement is line 1 of the entry: row 3 is line 4
    await expect(run).rejects.toThrow(new RegExp(`^TOC entry ${id} \\(TABLE DATA public users_user\\) line 4, table public\\.users_user: row has \\d+ fields`));
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});

describe('custom archives in pipes, pg_restore -t and -l, and no personal data left', () => {
  let input: string;
  beforeAll(() => {
    input = join(dir, 'pipe.dump');
    dumpTo(input, ['-Fc']);
  });

  it('stdin to stdout, as pg_dump writes to a pipe (no offsets), restores the same', () => {
    const r = cli(rulesArgs(), readFileSync(input));
    expect(r.status).toBe(0);
    expect(r.stdout.subarray(0, 5).toString()).toBe('PGDMP');
    const out = join(dir, 'piped.dump');
    writeFileSync(out, r.stdout);
    expect(pgRestore('arch_piped', out, []).status).toBe(0);
    expect(digest('arch_piped')).toBe(plainDigest);
  });

  it('pg_restore -l lists the same entries, and -t restores one table from a file output (its data offset is set)', () => {
    const out = join(dir, 'listed.dump');
    expect(cli([...rulesArgs(), '-o', out, input]).status).toBe(0);
    const names = (f: string) =>
      spawnSync(pgBin('pg_restore'), ['-l', f], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter((l) => /^\d+;/.test(l));
    expect(names(out)).toEqual(names(input));
    const res = pgRestore('arch_t', out, ['-t', 'users_user']);
    expect(res.status).toBe(0);
    expect(psql('arch_t', 'SELECT count(*) FROM users_user').trim()).toBe(psql(SRC, 'SELECT count(*) FROM users_user').trim());
    expect(psql('arch_t', 'SELECT string_agg(email, \',\' ORDER BY id) FROM users_user')).toBe(psql('arch_plain', 'SELECT string_agg(email, \',\' ORDER BY id) FROM users_user'));
  });

  it('scan finds the personal data in the input archive and none in the output; check and init read archives', () => {
    const out = join(dir, 'scanned.dump');
    expect(cli([...rulesArgs(), '-o', out, input]).status).toBe(0);
    expect(cli(['scan', '--fail-on-pii', 'email', input]).status).toBe(1);
    expect(cli(['scan', '--fail-on-pii', 'email', out]).status).toBe(0);
    const check = cli(['check', ...rulesArgs(), input]);
    expect(check.stdout.toString()).toMatch(/tables checked: 0 unclassified table\(s\), 0 unclassified column\(s\)/);
    const draft = cli(['init', input]);
    expect(draft.status).toBe(0);
    writeFileSync(join(dir, 'draft.yaml'), draft.stdout);
    expect(cli(['check', '-r', join(dir, 'draft.yaml'), input]).stdout.toString()).toMatch(/0 unclassified table\(s\), 0 unclassified column\(s\)/);
    // the leak check's source: the archive's own original e-mails must not appear in the output
    const originals = psql(SRC, 'SELECT string_agg(email, E\'\\n\') FROM users_user').trim().split('\n');
    const text = cli(['--format', 'plain', ...rulesArgs(), out]).stdout.toString();
    for (const e of originals) expect(text.includes(e), e).toBe(false);
  });
});

describe('fail closed: nothing written, exit 3 or 1, the entry named', () => {
  let custom: string;
  let directory: string;
  beforeAll(() => {
    custom = join(dir, 'fail.dump');
    directory = join(dir, 'fail.dir');
    dumpTo(custom, ['-Fc']);
    dumpTo(directory, ['-Fd']);
  });

  const noOutput = (out: string) => {
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  };

  it.each(['custom', 'directory'])('an unclassified table stops the %s run before anything is written', (which) => {
    const rules = join(dir, 'partial.yaml');
    writeFileSync(rules, 'version: 1\nunknown: fail\ntables:\n  users_user: keep\n');
    const out = join(dir, `unclassified_${which}`);
    const r = cli(['-r', rules, '-o', out, which === 'custom' ? custom : directory]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/not classified by the rules/);
    noOutput(out);
  });

  it('a custom archive cut short is refused, naming the entry whose data is cut', () => {
    const cut = join(dir, 'cut.dump');
    copyFileSync(custom, cut);
    // inside the data blocks (after the TOC), whatever the sizes
    truncateSync(cut, statSync(custom).size - 300);
    for (const jobs of ['1', '2']) {
      const out = join(dir, `cut_out_${jobs}`);
      const r = cli([...rulesArgs(), '--jobs', jobs, '-o', out, cut]);
      expect(r.status).toBe(3);
      expect(r.stderr).toMatch(/TOC entry \d+ \(TABLE DATA [^)]*\).*(truncated|cut short)/);
      noOutput(out);
    }
    // to stdout: what was written cannot be taken back, and pg_restore must not take it for a whole archive
    const piped = cli(rulesArgs(), readFileSync(cut));
    expect(piped.status).toBe(3);
    const partial = join(dir, 'partial-out.dump');
    writeFileSync(partial, piped.stdout);
    expect(pgRestore('arch_cut', partial, []).status).not.toBe(0);
  });

  it('a corrupt data file of a directory archive is refused, naming the entry', () => {
    const bad = join(dir, 'bad.dir');
    cpSync(directory, bad, { recursive: true });
    const list = spawnSync(pgBin('pg_restore'), ['-l', bad], { encoding: 'utf8' }).stdout;
    const id = /^(\d+); \d+ \d+ TABLE DATA public users_user /m.exec(list)![1];
    const file = join(bad, `${id}.dat.gz`);
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const out = join(dir, 'bad_out');
    const r = cli([...rulesArgs(), '-o', out, bad]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`TOC entry ${id} \\(TABLE DATA public users_user\\).*(corrupt|cut short)`));
    noOutput(out);
    rmSync(file);
    const r2 = cli([...rulesArgs(), '-o', out, bad]);
    expect(r2.status).toBe(3);
    expect(r2.stderr).toMatch(/its data file is missing from the archive directory/);
    noOutput(out);
  });

  it.each([1, 2])('a damaged row in a piece stops the run (--jobs %i), naming the entry and its line', (jobs) => {
    // the third row (line 4 of the entry, after its COPY statement) loses a field
    const { damaged, id } = damagedUsers(`damaged_${jobs}.dir`, [2]);
    const out = join(dir, `damaged_out_${jobs}`);
    const r = cli([...rulesArgs(), '--jobs', String(jobs), '-o', out, damaged]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`TOC entry ${id} \\(TABLE DATA public users_user\\) line 4, table public\\.users_user: row has \\d+ fields`));
    noOutput(out);
  });

  it('a data file name that is not one pg_dump writes (../x) is refused before anything is read or written', () => {
    const crafted = join(dir, 'crafted.dir');
    cpSync(directory, crafted, { recursive: true });
    const bytes = readFileSync(join(crafted, 'toc.dat'));
    const c = new Cursor(bytes);
    const header = readHeader(c);
    const toc = readToc(c, header);
    const victim = toc.find((e) => e.desc === 'TABLE DATA')!;
    victim.filename = '../outside.dat';
    writeFileSync(join(dir, 'outside.dat.gz'), readFileSync(join(crafted, readdirSync(crafted).find((f) => f.endsWith('.dat.gz'))!)));
    const w = new ArchiveWriter(header.intSize, header.offSize);
    writeHeader(w, header, header.format);
    writeToc(w, header, toc, header.format);
    writeFileSync(join(crafted, 'toc.dat'), w.take());
    for (const args of [['--format', 'directory', '-o', join(dir, 'crafted_out')], ['--format', 'plain']]) {
      const r = cli([...rulesArgs(), ...args, crafted]);
      expect(r.status).toBe(3);
      expect(r.stderr).toMatch(new RegExp(`TOC entry ${victim.dumpId} .*data file name is not one pg_dump writes`));
      expect(r.stdout.length).toBe(0);
    }
    expect(existsSync(join(dir, 'crafted_out'))).toBe(false);
    rmSync(join(dir, 'outside.dat.gz'));
    rmSync(crafted, { recursive: true });
  });

  it('an entry named with an e-mail address is named without it', () => {
    createDb('arch_named');
    psql('arch_named', 'CREATE TABLE "owner.person@leak-test.org" (id int); INSERT INTO "owner.person@leak-test.org" SELECT generate_series(1, 100);');
    const named = join(dir, 'named.dir');
    const r0 = spawnSync(pgBin('pg_dump'), ['-Fd', '-f', named, '-d', 'arch_named'], { env: pgEnv() });
    expect(r0.status).toBe(0);
    const file = readdirSync(named).find((f) => f.endsWith('.dat.gz'))!;
    const bytes = readFileSync(join(named, file));
    writeFileSync(join(named, file), bytes.subarray(0, bytes.length - 8));
    const r = cli(['scan', named]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/TOC entry \d+ \(TABLE DATA public <e-mail>\)/);
    expect(r.stderr).not.toMatch(/leak-test/);
  });

  it('an owner whose name looks like an e-mail address stops the run as in a plain dump, or is pseudonymised', () => {
    const marker = 'owner.person@leak-test.org';
    createDb('arch_owned');
    psql('postgres', `DROP ROLE IF EXISTS "${marker}"; CREATE ROLE "${marker}";`);
    psql('arch_owned', `CREATE TABLE t (id int); INSERT INTO t VALUES (1); ALTER TABLE t OWNER TO "${marker}";`);
    const owned = join(dir, 'owned.dump');
    expect(spawnSync(pgBin('pg_dump'), ['-Fc', '-f', owned, '-d', 'arch_owned'], { env: pgEnv() }).status).toBe(0);
    const keep = join(dir, 'owned-keep.yaml');
    writeFileSync(keep, 'version: 1\nunknown: fail\ntables:\n  public.t: keep\n');
    const plain = cli(['-r', keep], pgDump('arch_owned'));
    expect(plain.status).toBe(3);
    const out = join(dir, 'owned_out.dump');
    const r = cli(['-r', keep, '-o', out, owned]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/TOC entry \d+ \(TABLE public t\).*a name looks like an e-mail address/);
    expect(existsSync(out)).toBe(false);
    expect(cli(['check', '-r', keep, owned]).status).toBe(1);
    const pseudo = join(dir, 'owned-pseudo.yaml');
    writeFileSync(pseudo, 'version: 1\nunknown: fail\noutside: { roles: pseudonymise }\ntables:\n  public.t: keep\n');
    const ok = cli(['-r', pseudo, '-o', out, owned]);
    expect(ok.status).toBe(0);
    expect(readFileSync(out).includes(marker)).toBe(false);
    expect(readFileSync(out).includes('leak-test')).toBe(false);
    psql('postgres', `DROP DATABASE arch_owned; DROP ROLE "${marker}";`);
  });

  it('lz4 and zstd archives are refused, naming the method', () => {
    // pg_dump 16+ writes archive 1.15 with the algorithm in one byte where 1.14 has the level: the
    // same archive with that field rewritten is what pg_dump 16 -Fc -Z lz4 would have in its header
    const src = readFileSync(custom);
    for (const [alg, code] of [['lz4', 2], ['zstd', 3]] as const) {
      const v115 = Buffer.concat([src.subarray(0, 6), Buffer.from([15]), src.subarray(7, 11), Buffer.from([code]), src.subarray(16)]);
      const f = join(dir, `${alg}.dump`);
      writeFileSync(f, v115);
      const r = cli([...rulesArgs(), '-o', join(dir, `${alg}_out`), f]);
      expect(r.status).toBe(3);
      expect(r.stderr).toMatch(new RegExp(`compressed with ${alg}`));
      rmSync(f);
    }
  });

  it('no value from the archive in any message', () => {
    const rules = join(dir, 'bad-rule.yaml');
    writeFileSync(rules, 'version: 1\ntables:\n  "*": keep\n  users_user: { columns: { "*": keep, email: { mask: { keep_last: 99999999999 } } } }\n');
    const r = cli(['-r', rules, '-o', join(dir, 'msg_out'), custom]);
    expect(r.stderr).not.toMatch(/@gmail\.com|alice/i);
  });
});

describe('--tables: one part of a directory archive per run, merged into the whole', () => {
  it('two runs over disjoint tables, merged, restore as one run does', () => {
    const input = join(dir, 'split.dir');
    dumpTo(input, ['-Fd']);
    const a = join(dir, 'part_a');
    const b = join(dir, 'part_b');
    expect(cli([...rulesArgs(), '--tables', 'public.[a-m]*', '--tables', 'public.users_*', '--tables', 'public.page', '-o', a, input]).status).toBe(0);
    expect(cli([...rulesArgs(), '--tables', 'public.[n-oq-t]*', '--tables', 'Sales.*', '--tables', 'other.*', '--tables', 'pg_catalog.*', '-o', b, input]).status).toBe(0);
    expect(readFileSync(join(a, 'toc.dat')).equals(readFileSync(join(b, 'toc.dat')))).toBe(true);
    const merged = join(dir, 'merged');
    cpSync(a, merged, { recursive: true });
    for (const f of readdirSync(b)) if (!existsSync(join(merged, f))) copyFileSync(join(b, f), join(merged, f));
    const res = pgRestore('arch_merged', merged);
    expect(res.stderr).toBe('');
    expect(digest('arch_merged')).toBe(plainDigest);
    // one part alone is not a whole archive: pg_restore stops at the first missing file
    expect(pgRestore('arch_part', a).status).not.toBe(0);
  });
});
