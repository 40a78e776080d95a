/**
 * The catalogue of bad and hostile inputs, through the real command line: each gets its exit code,
 * one line on stderr naming the input line (and table), no stack trace, no data value, no -o file.
 */
import { spawn, spawnSync } from 'node:child_process';
import { scratch } from './support/scratch.js';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { beforeAll, describe, expect, it } from 'vitest';
import { pgDump, restore } from './support/db.js';
import { BIN, runCli } from './support/cli.js';

const SAMPLE = readFileSync('fixtures/sample/sample.sql');
const RULES = 'rules/examples/council.yaml';
// values from the sample that must never show in a message
const SECRETS = ['@gmail.com', 'pbkdf2_sha256', 'Olivia', 'HP19'];

let tmp: string;
beforeAll(() => {
  tmp = scratch('anonymise-dump-bad-');
});

function cli(input: Buffer, extra: string[] = []) {
  const out = join(tmp, `out-${Math.random().toString(36).slice(2)}.sql`);
  const r = runCli(['-r', RULES, '-o', out, ...extra, '-'], { input, key: 'bad-input-k7Q2mZp9xR4v' });
  return { status: r.status, stderr: r.stderr, out };
}

function expectCleanFailure(r: ReturnType<typeof cli>, code: number, re: RegExp) {
  expect(r.status).toBe(code);
  expect(r.stderr).toMatch(/^anonymise-dump: [^\n]+\n$/); // one line, no stack trace
  expect(r.stderr).toMatch(re);
  for (const s of SECRETS) expect(r.stderr).not.toContain(s);
  expect(existsSync(r.out)).toBe(false);
  expect(readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
}

/** The sample cut just after the first occurrence of `marker` (plus `extra` bytes). */
function cutAfter(marker: string, extra = 0): Buffer {
  const at = SAMPLE.indexOf(marker);
  if (at < 0) throw new Error(`marker not in the sample: ${marker}`);
  return SAMPLE.subarray(0, at + marker.length + extra);
}

describe('truncated dumps', () => {
  it.each([
    ['mid-COPY, between rows', () => cutAfter('\tpbkdf2_sha256$390000$'), /table public\.users_user: input ends inside COPY data/],
    ['mid-statement', () => cutAfter('CREATE TABLE public.users_user (\n    id integer'), /input ends inside a statement/],
    ['mid-escape', () => Buffer.concat([cutAfter('COPY public.users_user'), Buffer.from(' (id) FROM stdin;\n1\\')]), /input ends inside COPY data/],
    ['mid-UTF-8 sequence', () => cutAfter('Se', 1), /input ends inside COPY data/],
    ['after a whole statement (pg_dump died)', () => cutAfter('SET row_security = off;\n'), /dump complete/],
  ])('%s: exit 3', (_name, input, re) => {
    expectCleanFailure(cli(input()), 3, re);
  });
});

describe('not a plain dump', () => {
  it.each([
    ['empty input', Buffer.alloc(0), /input is empty/],
    ['binary noise', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]), /NUL byte/],
    ['a tar archive', Buffer.concat([Buffer.alloc(257, 0x41), Buffer.from('ustar'), Buffer.alloc(300, 0x41)]), /tar archive.*pg_restore -f -/],
    ['lz4', Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18]), Buffer.alloc(64, 1)]), /lz4-compressed/],
    ['xz', Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), Buffer.alloc(64, 1)]), /xz-compressed/],
    // files people pipe by mistake: named by shape, their text never echoed (Olivia is a secret above)
    ['a JSON export', Buffer.from('[{"first_name": "Olivia", "email": "olivia@gmail.com"}]\n'), /does not look like pg_dump output \(it reads as JSON\)/],
    ['a CSV', Buffer.from('first_name,email\nOlivia,olivia@gmail.com\n'), /does not look like pg_dump output \(it reads as CSV\)/],
    ["psql's table output", Buffer.from(' first_name |      email\n------------+------------------\n Olivia     | olivia@gmail.com\n(1 row)\n'), /\(it reads as psql's table output\)/],
    ['plain prose', Buffer.from('Olivia rang about HP19 on Tuesday\n'), /does not look like pg_dump output \(no SQL statement ends in it\)/],
  ])('%s: exit 3', (_name, input, re) => {
    expectCleanFailure(cli(input), 3, re);
  });

  it('a line longer than --max-line-bytes: exit 3, memory bounded', () => {
    const r = cli(Buffer.concat([SAMPLE.subarray(0, 200), Buffer.alloc(5 << 20, 0x78)]), ['--max-line-bytes', '1048576']);
    expectCleanFailure(r, 3, /statement is longer than 1048576 bytes/);
  });

  it('a CSV with a line longer than --max-line-bytes is named a CSV, not a long statement', () => {
    const r = cli(Buffer.concat([Buffer.from('first_name,email\nOlivia,'), Buffer.alloc(2 << 20, 0x61)]), ['--max-line-bytes', '1048576']);
    expectCleanFailure(r, 3, /line 1: .*it reads as CSV/);
  });
});

describe('rows', () => {
  it('an invalid byte sequence in a rewritten field: exit 3 naming the column', () => {
    const bad = Buffer.from(SAMPLE.toString('latin1').replace(/(\n\d+\tpbkdf2[^\t]*\t[^\t]*\t[tf]\t[^\t]*\t)/, '$1\xff'), 'latin1');
    const rules = join(tmp, 'fake-names.yaml');
    writeFileSync(rules, `version: 1\nextends: [${process.cwd()}/${RULES}]\ntables:\n  users_user:\n    columns:\n      first_name: { fake: person.firstName }\n`);
    expectCleanFailure(cli(bad, ['-r', rules]), 3, /table public\.users_user, column first_name: invalid byte sequence for encoding UTF8/);
  });

  it('a CRLF-converted dump is rewritten and restores', () => {
    const crlf = Buffer.from(SAMPLE.toString('utf8').replace(/\n/g, '\r\n'));
    const r = spawnSync(process.execPath, [BIN, '-q', '-r', RULES, '-'], { input: crlf, env: { PATH: process.env.PATH } });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(r.stdout.toString()).toContain('\r\n1\t!\t');
    const res = restore('crlf_out', r.stdout);
    expect(res.status, res.stderr).toBe(0);
  });
});

describe('pipes and signals', () => {
  it('exits quietly when the reader goes away (| head)', () => {
    const r = spawnSync('/bin/bash', ['--noprofile', '--norc', '-c', `set -o pipefail; node ${BIN} -q -r ${RULES} fixtures/sample/sample.sql | head -c 100 >/dev/null; echo "status=\${PIPESTATUS[0]}"`], {
      env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: 'bad-input-k7Q2mZp9xR4v' },
    });
    expect(r.stdout.toString()).toBe('status=0\n');
    expect(r.stderr.toString()).toBe('');
  });

  // what a command writes to stdout is its product: a full disk or a closed stdout is said, never lost
  const viaShell = (args: string, redirect: string) =>
    spawnSync('/bin/bash', ['--noprofile', '--norc', '-c', `node ${BIN} ${args} ${redirect}; echo "status=$?"`], {
      env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: 'bad-input-k7Q2mZp9xR4v' },
    });
  it.each([
    ['run, disk full', `-q -r ${RULES} fixtures/sample/sample.sql`, '>/dev/full', 3, /cannot write the output \(ENOSPC: no space left on the device\)/],
    ['run --gzip, disk full', `-q --gzip -r ${RULES} fixtures/sample/sample.sql`, '>/dev/full', 3, /cannot write the output \(ENOSPC/],
    ['scan, disk full', 'scan fixtures/sample/sample.sql', '>/dev/full', 3, /cannot write the output \(ENOSPC/],
    ['check, disk full', `check -r ${RULES} fixtures/sample/sample.sql`, '>/dev/full', 3, /cannot write the output \(ENOSPC/],
    ['init, disk full', 'init fixtures/sample/sample.sql', '>/dev/full', 3, /cannot write the output \(ENOSPC/],
    ['find --json, disk full', 'find --json --where public.users_user.id=3 fixtures/sample/sample.sql', '>/dev/full', 3, /cannot write the output \(ENOSPC/],
    ['run, stdout closed', `-q -r ${RULES} fixtures/sample/sample.sql`, '>&-', 2, /standard output is closed: the anonymised dump would be lost; give -o FILE/],
    ['init, stdout closed', 'init fixtures/sample/sample.sql', '>&-', 2, /standard output is closed: the draft rules would be lost; redirect stdout/],
  ] as const)('%s: one line, the documented status', (_name, args, redirect, status, re) => {
    const r = viaShell(args, redirect);
    const err = r.stderr.toString().replace(/^anonymise-dump: note: .*\n/m, '');
    expect(r.stdout.toString()).toBe(`status=${status}\n`);
    expect(err).toMatch(/^anonymise-dump: [^\n]+\n$/);
    expect(err).toMatch(re);
  });

  it('a custom archive written to a full disk: one line, exit 3 (it hung, exit 13)', () => {
    expect(restore('bad_input_archive', SAMPLE).status).toBe(0);
    const archive = join(tmp, 'sample.dump');
    writeFileSync(archive, pgDump('bad_input_archive', ['-Fc']));
    for (const extra of ['', '--jobs 2']) {
      const r = viaShell(`-q ${extra} -r ${RULES} ${archive}`, '>/dev/full');
      expect(r.stdout.toString()).toBe('status=3\n');
      expect(r.stderr.toString()).toMatch(/^anonymise-dump: cannot write the output \(ENOSPC[^\n]*\n$/);
    }
  });

  it('> /dev/null is not a closed stdout: the run completes', () => {
    const r = viaShell(`-q -r ${RULES} fixtures/sample/sample.sql`, '>/dev/null');
    expect(r.stdout.toString()).toBe('status=0\n');
    expect(r.stderr.toString()).toBe('');
  });

  it.each([['SIGTERM', 143], ['SIGINT', 130]] as const)('%s removes the -o temporary file', async (signal, code) => {
    const dir = scratch('anonymise-dump-sig-');
    const out = join(dir, 'safe.sql');
    const child = spawn(process.execPath, [BIN, '-q', '-r', RULES, '-o', out, '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.write(SAMPLE.subarray(0, 20000)); // the rest never comes
    for (let i = 0; i < 100 && readdirSync(dir).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(readdirSync(dir).length).toBe(1); // the temporary file exists while it runs
    child.kill(signal);
    const [status] = await once(child, 'exit');
    expect(status).toBe(code);
    expect(readdirSync(dir)).toEqual([]);
    expect(stderr).toMatch(new RegExp(`interrupted by ${signal}; no output file written`));
  });
});
