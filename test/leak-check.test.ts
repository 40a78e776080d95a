/** scan --against: original values of rewritten columns, read from the source database, looked for in the dump. */
import { spawnSync } from 'node:child_process';
import { scratch } from './support/scratch.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, psql } from './support/db.js';
import { SAMPLE, COUNCIL, runCliText } from './support/cli.js';

const cli = (args: string[]) => runCliText(args, { key: 'leak-k7Q2mZp9xR4v' });

describe('scan --against (leak check)', () => {
  let url: string;
  const dir = scratch('anonymise-dump-leak-');
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
    writeFileSync(rules, `version: 1\nextends: [${COUNCIL}]\ntables:\n  django_admin_log: keep\n`);
    const out = join(dir, 'leaky.sql');
    expect(cli(['-q', '-r', rules, '-o', out, SAMPLE]).status).toBe(0);
    const r = cli(['scan', out, '--against', url, '-r', rules]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^LEAK public\.users_user\.email: \d+ of 40 original values appear in the dump \(in public\.[a-z_]+\.[a-z_]+(, [^)]+)?\)$/m);
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

  it('finds originals planted outside the rows (comment, view, CHECK, statistics-like array), phones and inet values', () => {
    createDb('leak_outside');
    psql('leak_outside', `
      CREATE TABLE people (id int PRIMARY KEY, email text, phone text, ip inet, name text);
      INSERT INTO people VALUES (1, 'jane.leaky@gmail.com', '07911 654321', '81.2.69.160', 'Jane Leaky'), (2, 'bob.other@gmail.com', '+44 20 7946 0001', '2a00:1450:4009:81f::200e', 'Bob Other');
      CREATE TABLE notes (id int, body text);
      INSERT INTO notes VALUES (1, 'call 07911 654321 from 81.2.69.160'), (2, '"{\\"contact\\": \\"bob.other@gmail.com\\"}"');
      COMMENT ON TABLE people IS 'owner jane.leaky@gmail.com';
      CREATE VIEW janes AS SELECT * FROM people WHERE name = 'Jane Leaky';
      ALTER TABLE people ADD CONSTRAINT not_bob CHECK (phone <> '+44 20 7946 0001') NOT VALID;`);
    const pg = inject('pg');
    const src = `postgresql://postgres@/leak_outside?host=${encodeURIComponent(pg.host)}&port=${pg.port}`;
    const rules = join(dir, 'outside.yaml');
    // the rows are rewritten; outside them everything is kept, and notes (free text) too: all of it must be found
    writeFileSync(rules, 'version: 1\noutside: { literals: keep, comments: keep }\ntables:\n  people: { columns: { id: keep, email: { fake: internet.email }, phone: { fake: phone.number }, ip: { fake: internet.ipv4 }, name: { fake: person.fullName } } }\n  notes: keep\n');
    const dump = join(dir, 'outside-src.sql');
    const dumped = spawnSync(join(pg.bin, 'pg_dump'), ['-d', 'leak_outside', '-f', dump], { env: { ...process.env, PGHOST: pg.host, PGPORT: String(pg.port), PGUSER: 'postgres' } });
    expect(dumped.status).toBe(0);
    const out = join(dir, 'outside-out.sql');
    expect(cli(['-q', '-r', rules, '-o', out, dump]).status).toBe(0);
    const r = cli(['scan', out, '--against', src, '-r', rules, '--strict', '--json']);
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout);
    // the comment's address and the double-encoded JSON's
    expect(report.columns['public.people.email'].found).toBe(2);
    // where: the statements by their kind (an object's own name can be a person's), rows by column
    expect(report.columns['public.people.email'].where.some((w: string) => / \(outside the rows\)$/.test(w))).toBe(true);
    expect(report.columns['public.people.name'].where).toEqual(['VIEW (outside the rows)']);
    // a phone in a kept note and in a CHECK: low entropy, so `possible`
    expect(report.columns['public.people.phone'].found + report.columns['public.people.phone'].possible).toBe(2);
    // the inet compared as the dump writes it (81.2.69.160, not 81.2.69.160/32)
    expect(report.columns['public.people.ip'].found).toBe(1);
    // the name in the view
    expect(report.columns['public.people.name'].found).toBe(1);
    expect(r.stdout).not.toMatch(/jane|bob|07911|81\.2/i);
  });

  it('needs the rules, and says so', () => {
    expect(cli(['scan', SAMPLE, '--against', url]).status).toBe(2);
  });

  it('looks for the names scrub [name] replaced inside other text, where plain scan would only count them', () => {
    const pg = inject('pg');
    createDb('leak_names');
    psql('leak_names', `CREATE TABLE note (id int PRIMARY KEY, body text, signed_by text);
      INSERT INTO note SELECT g, 'Spoke to ' || (ARRAY['Olivia Patel','George Williams','Amelia Davies'])[1 + g % 3] || ' about the bins', (ARRAY['Olivia Patel','George Williams','Amelia Davies'])[1 + g % 3] || ' (resident)' FROM generate_series(1, 12) g;`);
    const src = `postgresql://postgres@/leak_names?host=${encodeURIComponent(pg.host)}&port=${pg.port}`;
    const dump = join(dir, 'names-src.sql');
    expect(spawnSync(join(pg.bin, 'pg_dump'), ['-d', 'leak_names', '-f', dump], { env: { ...process.env, PGHOST: pg.host, PGPORT: String(pg.port), PGUSER: 'postgres' } }).status).toBe(0);
    const rules = join(dir, 'names.yaml');
    const out = join(dir, 'names-out.sql');
    // the body's names are scrubbed (Patel, Williams, Davies: family names faker lacks); the signature kept by mistake
    writeFileSync(rules, 'version: 1\ntables:\n  note: { columns: { id: keep, body: { scrub: [name] }, signed_by: keep } }\n');
    expect(cli(['-q', '-r', rules, '-o', out, dump]).status).toBe(0);
    expect(readFileSync(out, 'utf8')).not.toMatch(/Spoke to (Olivia Patel|George Williams|Amelia Davies)/);
    const r = cli(['scan', out, '--against', src, '-r', rules]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^LEAK public\.note\.body: 3 of 3 original values appear in the dump \(in public\.note\.signed_by\)$/m);
    expect(r.stdout).not.toMatch(/Patel|Williams|Davies/);
    // with the signature scrubbed too, nothing is found
    writeFileSync(rules, 'version: 1\ntables:\n  note: { columns: { id: keep, body: { scrub: [name] }, signed_by: { scrub: [name] } } }\n');
    expect(cli(['-q', '-r', rules, '-o', out, dump]).status).toBe(0);
    expect(cli(['scan', out, '--against', src, '-r', rules]).status).toBe(0);
  });
});
