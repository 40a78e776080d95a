/** scan --against: original values of rewritten columns, read from the source database, looked for in the dump. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, psql } from './support/db.js';

const BIN = 'bin/anonymise-dump.js';
const SAMPLE = 'fixtures/sample/sample.sql';
const COUNCIL = 'rules/examples/council.yaml';
const cli = (args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ANONYMISE_DUMP_SECRET: 'leak' }, maxBuffer: 1 << 26 });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
};

describe('scan --against (leak check)', () => {
  let url: string;
  const dir = mkdtempSync(join(tmpdir(), 'anonymise-dump-leak-'));
  beforeAll(() => {
    createDb('council_src');
    psql('council_src', readFileSync('fixtures/sample/sample-db.sql', 'utf8'));
    const pg = inject('pg');
    url = `postgresql://postgres@/council_src?host=${encodeURIComponent(pg.host)}&port=${pg.port}`;
  });

  it('finds nothing in a dump made with the council rules', () => {
    const out = join(dir, 'safe.sql');
    expect(cli(['-q', '-r', COUNCIL, '-o', out, SAMPLE]).status).toBe(0);
    const r = cli(['scan', out, '--against', url, '-r', COUNCIL]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/against \d+ original values of \d+ rewritten or dropped columns: no leak found/);
  });

  it('finds the e-mail addresses a kept column still carries, and names the column, not the values', () => {
    const rules = join(dir, 'leaky.yaml');
    writeFileSync(rules, `version: 1\nextends: [${process.cwd()}/${COUNCIL}]\ntables:\n  django_admin_log: keep\n`);
    const out = join(dir, 'leaky.sql');
    expect(cli(['-q', '-r', rules, '-o', out, SAMPLE]).status).toBe(0);
    const r = cli(['scan', out, '--against', url, '-r', rules]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^LEAK public\.users_user\.email: \d+ of 40 original values appear in the dump$/m);
    expect(r.stdout).not.toMatch(/@gmail|@hotmail|@btinternet/);
    const raw = cli(['scan', SAMPLE, '--against', url, '-r', COUNCIL, '--json']);
    expect(raw.status).toBe(1);
    const report = JSON.parse(raw.stdout);
    // an address held by two rewritten columns counts once, for the first one read
    const emails = report.columns['public.users_user.email'];
    const repr = report.columns['public.django_admin_log.object_repr'];
    expect(emails.found).toBe(emails.originals);
    expect(emails.originals + repr.originals).toBe(40);
    expect(repr.found).toBe(repr.originals);
  });

  it('needs the rules, and says so', () => {
    expect(cli(['scan', SAMPLE, '--against', url]).status).toBe(2);
  });
});
