/**
 * Never a crash, never a cut dump that restores: a value too large for a rule, disk full on stdout,
 * JSON nested deeper than json rules read, large objects under every command, and a pg_dumpall that
 * stopped at a later database. Each through the CLI: one line, a non-zero exit, no stack trace.
 */
import { spawnSync } from 'node:child_process';
import { scratch } from './support/scratch.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDb, pgDump, psql } from './support/db.js';
import { BIN, runCli } from './support/cli.js';

const KEY = 'robustness-k7Q2mZp9xR4v';
const tmp = scratch('anonymise-dump-robust-');
const cli = (args: string[], input?: Buffer) => runCli(args, { input, key: KEY });
const rulesFile = (name: string, yaml: string) => {
  const f = join(tmp, name);
  writeFileSync(f, `version: 1\n${yaml}`);
  return f;
};
const oneLine = (stderr: string) => {
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/internal error|at [^ ]+\.js:\d+|RangeError|heap/);
};

describe('robustness', () => {
  let big: Buffer;
  let lo: Buffer;
  beforeAll(() => {
    createDb('robust_big');
    psql('robust_big', "CREATE TABLE notes (id int, body text); INSERT INTO notes VALUES (1, repeat('x', 20 * 1024 * 1024)), (2, 'short');");
    big = pgDump('robust_big');
    createDb('robust_lo');
    psql('robust_lo', "CREATE TABLE docs (id int, blob oid); INSERT INTO docs VALUES (1, lo_from_bytea(0, 'a private letter to jane@gmail.com'));");
    lo = pgDump('robust_lo');
  });

  it('a value larger than --max-value-bytes in a rewritten column stops the run naming table and column; kept, it passes', () => {
    const r = cli(['-r', rulesFile('mask.yaml', 'tables:\n  notes: { columns: { id: keep, body: { mask: {} } } }\n'), '-'], big);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/table public\.notes, column body: a value larger than 16777216 bytes/);
    oneLine(r.stderr);
    // the cut output does not restore: the trailer is there
    expect(r.stdout.toString()).toMatch(/ABORTED/);
    const raised = cli(['--max-value-bytes', String(32 * 1024 * 1024), '-q', '-r', rulesFile('mask2.yaml', 'tables:\n  notes: { columns: { id: keep, body: { mask: {} } } }\n'), '-'], big);
    expect(raised.status).toBe(0);
    expect(raised.stdout.toString()).toContain('*'.repeat(1000));
    const kept = cli(['-q', '-r', rulesFile('keep.yaml', 'tables:\n  notes: keep\n'), '-'], big);
    expect(kept.status).toBe(0);
    expect(kept.stdout.equals(big)).toBe(true);
  });

  it('disk full on stdout: one line, exit 3', () => {
    const r = spawnSync('/bin/sh', ['-c', `${process.execPath} ${BIN} -q -r rules/examples/council.yaml fixtures/sample/sample.sql > /dev/full`], { env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: KEY } });
    expect(r.status).toBe(3);
    expect(r.stderr.toString()).toMatch(/cannot write the output \(ENOSPC/);
    oneLine(r.stderr.toString());
  });

  it('JSON nested deeper than json rules read: a clear error, and init and scan still work', () => {
    const deep = '['.repeat(3000) + ']'.repeat(3000);
    const dump = Buffer.from(
      "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\nCREATE TABLE public.j (\n    id integer,\n    doc jsonb\n);\n\n" +
        `COPY public.j (id, doc) FROM stdin;\n1\t{"a": ${deep}}\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n`,
    );
    const r = cli(['-r', rulesFile('deep.yaml', 'tables:\n  j: { columns: { id: keep, doc: { json: { a: keep, "*": keep } } } }\n'), '-'], dump);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/column doc: .*nested deeper than 512 levels/);
    oneLine(r.stderr);
    expect(cli(['init', '-'], dump).status).toBe(0);
    expect(cli(['scan', '-'], dump).status).toBe(0);
  });

  it('large objects: scan, init and check read the dump; run keeps or drops them by the rule', () => {
    expect(cli(['scan', '-'], lo).status).toBe(0);
    const draft = cli(['init', '-'], lo);
    expect(draft.status).toBe(0);
    const draftFile = join(tmp, 'lo-draft.yaml');
    writeFileSync(draftFile, draft.stdout);
    const withLo = rulesFile('lo.yaml', 'tables:\n  docs: keep\n  pg_catalog.pg_largeobject: drop\n');
    expect(cli(['check', '-r', withLo, '-'], lo).status).toBe(0);
    const run = cli(['-q', '-r', withLo, '-'], lo);
    expect(run.status).toBe(0);
    expect(run.stdout.toString()).not.toMatch(/lowrite/);
  });

  it('a pg_dumpall that stopped at a later database is refused, though an earlier one is complete', () => {
    const whole = Buffer.from(
      '--\n-- PostgreSQL database cluster dump\n--\n\nSET default_transaction_read_only = off;\n\n' +
        "\\connect a\n\n--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n\n--\n-- PostgreSQL database dump complete\n--\n\n" +
        "\\connect b\n\n--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n\n--\n-- PostgreSQL database dump complete\n--\n\n" +
        '--\n-- PostgreSQL database cluster dump complete\n--\n\n',
    );
    const keep = rulesFile('all.yaml', 'unknown: keep\n');
    expect(cli(['-q', '-r', keep, '-'], whole).status).toBe(0);
    // b's own dump is complete too: only the cluster's footer is missing
    const cut = whole.subarray(0, whole.indexOf('--\n-- PostgreSQL database cluster dump complete'));
    const r = cli(['-q', '-r', keep, '-'], cut);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/database cluster dump complete/);
  });
});
