/**
 * Drafts that are right the first time: a database with what real applications hold — full names in a
 * `name` column, street addresses, a search cache whose personal rows lie past row 1,000, an admin log
 * naming users, hex colours, uuids, cidr and inet, JSON in a text column, and tables that are empty
 * here (API tokens, a change log, journal comments). For every dump form: init → check → run →
 * restore with ON_ERROR_STOP, scan --fail-on-pii passes on the output, and no personal column is kept.
 */
import { spawnSync } from 'node:child_process';
import { scratch } from './support/scratch.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, dumpForms, pgDump, pgEnv, psql, restore } from './support/db.js';
import { runCli } from './support/cli.js';

const KEY = 'init-real-k7Q2mZp9xR4v';
const DB = 'init_real';
const cli = (args: string[], input?: Buffer) => runCli(args, { input, key: KEY });

const SETUP = `
CREATE TABLE people (id int PRIMARY KEY, name varchar(100) NOT NULL, address text, colour varchar(6), ref uuid, net cidr, seen_from inet, prefs text);
INSERT INTO people SELECT g,
  (ARRAY['Olivia Smith','George Jones','Amelia Taylor','Harry Brown','Isla Wilson'])[1 + g % 5],
  (g % 90 + 1) || ' ' || (ARRAY['High Street','Church Road','Station Lane'])[1 + g % 3] || E'\\nLeeds\\nLS1 4DY',
  (ARRAY['ff66ff','00aa11','123456'])[1 + g % 3], (lpad(g::text, 8, '0') || '-0123-4567-8901-234567890123')::uuid,
  ('10.' || (g % 200) || '.0.0/16')::cidr, ('81.2.69.' || (g % 250))::inet, '{"contact": "p' || g || '@gmail.com"}'
FROM generate_series(1, 60) g;
CREATE TABLE staff (id int PRIMARY KEY, date_of_birth date NOT NULL, salary numeric(10,2), ni_number varchar(13));
INSERT INTO staff SELECT g, date '1960-01-01' + g * 211, 20000 + g * 321.5, 'AB' || lpad(g::text, 6, '0') || 'C' FROM generate_series(1, 30) g;
CREATE TABLE search_cache (id int PRIMARY KEY, q text);
INSERT INTO search_cache SELECT g, CASE WHEN g > 1100 AND g % 50 = 0 THEN 'call 07911 1234' || lpad((g % 100)::text, 2, '0') || ' or mail late' || g || '@gmail.com' ELSE 'parking permit ' || g END FROM generate_series(1, 1300) g;
CREATE TABLE admin_log (id int PRIMARY KEY, object_id text, object_repr varchar(200), username varchar(150));
INSERT INTO admin_log SELECT g, g::text, 'jsmith' || g, 'editor' || g FROM generate_series(1, 20) g;
CREATE TABLE api_token (key varchar(40) PRIMARY KEY, created timestamptz);
CREATE TABLE change_log (id int PRIMARY KEY, prechange_data jsonb, postchange_data jsonb NOT NULL);
CREATE TABLE journal (id int PRIMARY KEY, comments text);
`;

const ORIGINALS = [/@gmail\.com/, /07911 1234/, /Olivia Smith|George Jones|Amelia Taylor/, /\d+ (High Street|Church Road|Station Lane)/, /81\.2\.69\./];

describe('init on what real applications hold', () => {
  const dir = scratch('anonymise-dump-init-real-');
  let dumps: Record<string, Buffer> = {};
  beforeAll(() => {
    createDb(DB);
    psql(DB, SETUP);
    dumps = dumpForms(DB, { copy: [], inserts: ['--inserts'], 'column-inserts': ['--column-inserts'] });
  });

  it.each(['copy', 'inserts', 'column-inserts'])('%s: init, check, run and restore; nothing personal kept', (form) => {
    const dump = dumps[form]!;
    const draft = cli(['init', '-'], dump);
    expect(draft.status, draft.stderr).toBe(0);
    const text = draft.stdout.toString();
    for (const re of ORIGINALS) expect(text).not.toMatch(re);
    // the draft keeps none of the personal columns, empty tables included
    for (const col of ['name', 'address', 'seen_from', 'prefs', 'q', 'object_repr', 'username', 'key', 'prechange_data', 'postchange_data', 'comments'])
      expect(text, col).not.toMatch(new RegExp(`^ {6}${col}: keep\\b`, 'm'));
    // and keeps what is not personal, fitting each column's type
    expect(text).toMatch(/^ {6}colour: keep\b/m);
    expect(text).toMatch(/^ {6}ref: keep\b/m);
    // a date of birth keeps its year, a salary its size
    expect(text).toMatch(/^ {6}date_of_birth: \{ generalise: year \} +# the name says date of birth/m);
    expect(text).toMatch(/^ {6}salary: \{ noise: \{ ratio: 0\.1 \} \}/m);
    // JSON in a text column: a rule per key
    expect(text).toMatch(/^ {6}prefs: \{ json: \{ contact: \{ fake: internet\.email \}, "\*": keep \} \}/m);
    const rules = join(dir, `${form}.yaml`);
    writeFileSync(rules, text);
    const check = cli(['check', '-r', rules, '-'], dump);
    expect(check.status, check.stdout.toString()).toBe(0);
    const out = cli(['-q', '-r', rules, '-'], dump);
    expect(out.status, out.stderr).toBe(0);
    const output = out.stdout.toString();
    for (const re of ORIGINALS) expect(output).not.toMatch(re);
    const db = `init_real_${form.replace('-', '_')}`;
    const r = restore(db, out.stdout);
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(psql(db, 'SELECT count(*) FROM people;').trim()).toBe('60');
    expect(psql(db, "SELECT count(*) FROM staff WHERE extract(doy FROM date_of_birth) = 1;").trim()).toBe('30');
    expect(psql(db, "SELECT count(*) FROM people WHERE colour IN ('ff66ff','00aa11','123456');").trim()).toBe('60');
    const gate = cli(['scan', '-', '--fail-on-pii'], out.stdout);
    expect(gate.status, gate.stdout.toString() + '\n' + text).toBe(0);
  });

  it('--data-only: empty tables are named too; --data-only --inserts without column lists is a clear error', () => {
    const dataOnly = pgDump(DB, ['--data-only']);
    const draft = cli(['init', '-'], dataOnly);
    expect(draft.status, draft.stderr).toBe(0);
    for (const t of ['api_token', 'change_log', 'journal', 'people']) expect(draft.stdout.toString()).toMatch(new RegExp(`^ {2}public\\.${t}:`, 'm'));
    const rules = join(dir, 'data-only.yaml');
    writeFileSync(rules, draft.stdout);
    expect(cli(['check', '-r', rules, '-'], dataOnly).status).toBe(0);
    const bad = cli(['init', '-'], pgDump(DB, ['--data-only', '--inserts']));
    expect(bad.status).toBe(3);
    expect(bad.stderr).toMatch(/init cannot name the columns of \d+ table\(s\) \(public\.[a-z_]+.*--column-inserts/);
    expect(bad.stdout.length).toBe(0);
  });

  it('pg_dumpall: one databases: section per database, and its draft passes check', () => {
    createDb('init_real_two');
    psql('init_real_two', "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'write to a@gmail.com');");
    const bin = inject('pg').bin;
    const globals = spawnSync(join(bin, 'pg_dumpall'), ['--globals-only'], { env: pgEnv(), maxBuffer: 1 << 28 }).stdout.toString();
    const footer = '--\n-- PostgreSQL database cluster dump complete\n--\n\n';
    const all = Buffer.from(globals.replace(footer, '') + pgDump(DB, ['--create']).toString() + pgDump('init_real_two', ['--create']).toString() + footer);
    const draft = cli(['init', '-'], all);
    expect(draft.status, draft.stderr).toBe(0);
    const text = draft.stdout.toString();
    expect(text).toMatch(/^databases:\n {2}init_real:\n {4}tables:\n {6}public\.admin_log:/m);
    expect(text).toMatch(/^ {2}init_real_two:\n {4}tables:\n {6}public\.notes:/m);
    const rules = join(dir, 'all.yaml');
    writeFileSync(rules, text);
    const check = cli(['check', '-r', rules, '-'], all);
    expect(check.status, check.stdout.toString()).toBe(0);
  });
});
