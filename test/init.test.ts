import { spawnSync } from 'node:child_process';
import { scratch } from './support/scratch.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { createDb, pgDump, pgEnv, psql, restore } from './support/db.js';
import { SAMPLE, runCliText } from './support/cli.js';

const cli = (args: string[]) => runCliText(args, { key: 'init-k7Q2mZp9xR4v' });

describe('init', () => {
  const draft = cli(['init', SAMPLE]);
  const dir = scratch('anonymise-dump-init-');
  const rules = join(dir, 'draft.yaml');
  writeFileSync(rules, draft.stdout);

  it('names every table and column, with a reason, and passes check as written', () => {
    expect(draft.status, draft.stderr).toBe(0);
    const check = cli(['check', '-r', rules, SAMPLE]);
    expect(check.status, check.stdout).toBe(0);
    expect(check.stdout).toMatch(/13 tables checked: 0 unclassified table\(s\), 0 unclassified column\(s\)/);
    for (const line of draft.stdout.split('\n').filter((l) => /^ {6}\S/.test(l))) expect(line).toMatch(/ {2}# \S/);
  });

  it.each([
    ['users_user', 'email', /^ {6}email: \{ fake: internet\.email, unique: true \} +# the name says e-mail address; UNIQUE/m],
    ['users_user', 'username', /^ {6}username: \{ template: "user\.\{id\}" \}/m],
    ['users_user', 'password', /^ {6}password: \{ value: "!" \}/m],
    ['users_user', 'first_name', /^ {6}first_name: \{ fake: person\.firstName \}/m],
    ['wagtailforms_formsubmission', 'form_data', /^ {6}form_data: \{ json: \{ name: \{ fake: person\.fullName \}, email: \{ fake: internet\.email \}, phone: \{ fake: phone\.number, locale: en_GB \}, message: \{ scrub: \[postcode\] \}, "\*": keep \} \}/m],
    ['feedback_feedbackcomment', 'issue', /^ {6}issue: \{ scrub: \[email, phone, postcode, address\] \} +# text; free text: sampled values hold email 5\/15, phone 5\/15, postcode 5\/15, address 5\/15/m],
    ['django_admin_log', 'object_repr', /^ {6}object_repr: \{ template: "object \{object_id\}" \} +# the name says an object's text repr/m],
    ['django_session', '(table)', /^ {2}public\.django_session: drop/m],
    ['wagtailcore_page', 'title', /^ {6}title: keep +# character varying\(255\); nothing personal in 12 sampled values/m],
  ])('suggests for %s.%s', (_t, _c, re) => {
    expect(draft.stdout).toMatch(re);
  });

  it('the draft, run as written, gives a dump that restores', () => {
    const out = cli(['-q', '-r', rules, SAMPLE]);
    expect(out.status, out.stderr).toBe(0);
    const r = restore('init_out', out.raw);
    expect(r.status, r.stderr).toBe(0);
    expect(out.stdout).not.toContain('@gmail.com');
  });
});

describe('init --db', () => {
  it('drafts the same rules from a live database (catalog + a sample streamed by cursor) as from its dump', () => {
    createDb('council_init');
    psql('council_init', readFileSync('fixtures/sample/sample-db.sql', 'utf8'));
    const pg = inject('pg');
    const url = `postgresql://postgres@/council_init?host=${encodeURIComponent(pg.host)}&port=${pg.port}`;
    const fromDb = cli(['init', '--db', url]);
    expect(fromDb.status, fromDb.stderr).toBe(0);
    expect(fromDb.stdout).not.toContain(pg.host); // the URL (it may hold a password) is never echoed
    const rulesOnly = (text: string) => text.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/ +#.*$/, ''));
    expect(rulesOnly(fromDb.stdout)).toEqual(rulesOnly(cli(['init', SAMPLE]).stdout));
    const dir = scratch('anonymise-dump-initdb-');
    writeFileSync(join(dir, 'db.yaml'), fromDb.stdout);
    expect(cli(['check', '-r', join(dir, 'db.yaml'), SAMPLE]).status).toBe(0);
  });
});

describe('a database that cannot be reached', () => {
  // init --db and scan --against connect the same way: one line, the server's words or the network's,
  // the form of URL that works, and never the URL (it may hold a password)
  const cases: [string, (pg: { host: string; port: number }) => { url: string; env: Record<string, string> }, RegExp][] = [
    ['a database that does not exist', (pg) => ({ url: 'postgresql:///no_such_db', env: { PGHOST: pg.host, PGPORT: String(pg.port), PGUSER: 'postgres' } }), /the server says "database "no_such_db" does not exist" \(3D000\)/],
    ['a role that does not exist', (pg) => ({ url: `postgresql://nobody_here:hunter2secret@/postgres?host=${encodeURIComponent(pg.host)}&port=${pg.port}`, env: {} }), /the server says "role "nobody_here" does not exist" \(28000\)/],
    ['a port nothing listens on', () => ({ url: 'postgresql://nobody_here:hunter2secret@127.0.0.1:9/postgres', env: {} }), /nothing is listening at 127\.0\.0\.1 port 9 \(ECONNREFUSED\)/],
    ['a socket directory with no server', () => ({ url: 'postgresql:///postgres', env: { PGHOST: '/nonexistent-socket-dir' } }), /no server socket .*\(ENOENT\)/],
    ['a dump path where a database URL goes', () => ({ url: SAMPLE, env: {} }), /expected a postgresql:\/\/ URL/],
  ];
  it.each(cases)('%s', (_what, target, message) => {
    const pg = inject('pg');
    const { url, env } = target(pg);
    for (const args of [['init', '--db', url], ['scan', '--against', url, '-r', 'rules/examples/council.yaml', SAMPLE]]) {
      const r = runCliText(args, { key: 'init-k7Q2mZp9xR4v', env });
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain('postgresql:///DBNAME takes host, port and user from PGHOST');
      expect(r.stderr).not.toContain('hunter2secret');
      expect(r.stdout).toBe('');
    }
  });
});

describe('init on JSON whose keys hold dots or personal data', () => {
  it('escapes a dotted key so the rule means the key, never copies a key that is data, and its draft leaves no original', () => {
    createDb('init_json_keys');
    psql('init_json_keys', `CREATE TABLE forms (id int PRIMARY KEY, data jsonb, index jsonb);
      INSERT INTO forms SELECT g, jsonb_build_object('contact.email', 'dotted' || g || '@gmail.com', 'topic', 'parking'),
        jsonb_build_object('keyed' || g || '@gmail.com', g) FROM generate_series(1, 20) g;`);
    const dir = scratch('anonymise-dump-init-json-');
    const dump = join(dir, 'src.sql');
    writeFileSync(dump, pgDump('init_json_keys'));
    const draft = cli(['init', dump]);
    expect(draft.status).toBe(0);
    expect(draft.stdout).not.toMatch(/@gmail\.com/);
    expect(draft.stdout).toMatch(/data: \{ json: \{ "contact\\\\.email": \{ fake: internet\.email \}/);
    expect(draft.stdout).toMatch(/index: \{ value: "\{\}" \}/);
    const rulesFile = join(dir, 'draft.yaml');
    writeFileSync(rulesFile, draft.stdout);
    const out = cli(['-q', '-r', rulesFile, dump]);
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).not.toMatch(/@gmail\.com/);
    expect(restore('init_json_keys_out', out.raw).status).toBe(0);
  });
});

describe('init on a --data-only dump, which does not say the types', () => {
  it('drafts a MAC address by its name and a network by its prefix, and the rows restore into the schema', () => {
    const pg = inject('pg');
    const dir = scratch('ad-init-dataonly-');
    createDb('init_dataonly_src');
    psql('init_dataonly_src', `CREATE TABLE dev (id int PRIMARY KEY, mac_address macaddr, hw_address macaddr8, net cidr, ip_address inet);
      INSERT INTO dev SELECT g, ('08:00:2b:01:02:' || lpad(to_hex(g), 2, '0'))::macaddr, ('08:00:2b:01:02:03:04:' || lpad(to_hex(g), 2, '0'))::macaddr8,
        ('10.' || g || '.0.0/16')::cidr, ('81.2.69.' || g)::inet FROM generate_series(1, 20) g;`);
    const dump = (args: string[]) => pgDump('init_dataonly_src', args);
    const data = join(dir, 'data.sql');
    writeFileSync(data, dump(['--data-only']));
    const draft = cli(['init', data]);
    expect(draft.status).toBe(0);
    expect(draft.stdout).toMatch(/mac_address: \{ fake: internet\.mac \}/);
    expect(draft.stdout).toMatch(/hw_address: \{ fake: internet\.mac \}/);
    writeFileSync(join(dir, 'rules.yaml'), draft.stdout);
    const out = cli(['-q', '-r', join(dir, 'rules.yaml'), data]);
    expect(out.status, out.stderr).toBe(0);
    expect(restore('init_dataonly_out', dump(['--schema-only'])).status).toBe(0);
    const r = spawnSync(join(pg.bin, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'init_dataonly_out'], { input: out.stdout, env: pgEnv(), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    // no original value of any of them is left
    for (const col of ['mac_address', 'hw_address', 'net', 'ip_address']) {
      const originals = psql('init_dataonly_src', `SELECT string_agg(quote_literal(${col}::text), ',') FROM dev`).trim();
      expect(psql('init_dataonly_out', `SELECT count(*) FROM dev WHERE ${col}::text IN (${originals})`).trim(), col).toBe('0');
    }
  });
});

describe('init on JSON nested five levels deep', () => {
  it('drafts the leaf by its whole path, and the run replaces it there', () => {
    const dir = scratch('ad-init-deep-');
    createDb('init_deep_src');
    psql('init_deep_src', `CREATE TABLE event (id int PRIMARY KEY, payload jsonb NOT NULL);
      INSERT INTO event SELECT g, jsonb_build_object('a', jsonb_build_object('b', jsonb_build_object('c', jsonb_build_object('d', jsonb_build_object('email', 'deep' || g || '@gmail.com', 'kind', 'signup'))))) FROM generate_series(1, 20) g;`);
    const dump = join(dir, 'src.sql');
    writeFileSync(dump, pgDump('init_deep_src'));
    const draft = cli(['init', dump]);
    expect(draft.status).toBe(0);
    expect(draft.stdout).toMatch(/payload: \{ json: \{ a\.b\.c\.d\.email: \{ fake: internet\.email \}, "\*": keep \} \}/);
    writeFileSync(join(dir, 'rules.yaml'), draft.stdout);
    const out = cli(['-q', '-r', join(dir, 'rules.yaml'), dump]);
    expect(out.status, out.stderr).toBe(0);
    expect(restore('init_deep_out', Buffer.from(out.stdout)).status).toBe(0);
    expect(psql('init_deep_out', "SELECT count(*) FROM event WHERE payload->'a'->'b'->'c'->'d'->>'email' LIKE '%@example.%' AND payload->'a'->'b'->'c'->'d'->>'kind' = 'signup'").trim()).toBe('20');
  });
});

describe('a --data-only custom archive, given its schema', () => {
  it('init drafts from it, and run --schema rewrites it (workers too) into rows that restore into the schema; an archive with its own schema refuses --schema', () => {
    const pg = inject('pg');
    const dir = scratch('ad-dataonly-archive-');
    createDb('dataonly_fc_src');
    psql('dataonly_fc_src', `CREATE TABLE dev (id int PRIMARY KEY, mac_address macaddr, net cidr, score smallint CHECK (score BETWEEN 0 AND 100), email text UNIQUE);
      INSERT INTO dev SELECT g, ('08:00:2b:01:' || lpad(to_hex(g / 256), 2, '0') || ':' || lpad(to_hex(g % 256), 2, '0'))::macaddr, ('10.' || (g % 250) || '.0.0/16')::cidr, g % 101, 'dev' || g || '@gmail.com' FROM generate_series(1, 3000) g;`);
    const env = pgEnv();
    const archive = join(dir, 'data.dump');
    const schemaFile = join(dir, 'schema.sql');
    expect(spawnSync(join(pg.bin, 'pg_dump'), ['-Fc', '--data-only', '-f', archive, '-d', 'dataonly_fc_src'], { env }).status).toBe(0);
    expect(spawnSync(join(pg.bin, 'pg_dump'), ['--schema-only', '-f', schemaFile, '-d', 'dataonly_fc_src'], { env }).status).toBe(0);
    const draft = cli(['init', '--schema', schemaFile, archive]);
    expect(draft.status, draft.stderr).toBe(0);
    writeFileSync(join(dir, 'rules.yaml'), draft.stdout);
    for (const jobs of ['1', '2']) {
      const out = join(dir, `out-${jobs}.dump`);
      const r = cli(['-q', '-r', join(dir, 'rules.yaml'), '--schema', schemaFile, '--jobs', jobs, '-o', out, archive]);
      expect(r.status, r.stderr).toBe(0);
      const target = `dataonly_fc_out_${jobs}`;
      expect(restore(target, readFileSync(schemaFile)).status).toBe(0);
      const rr = spawnSync(join(pg.bin, 'pg_restore'), ['--exit-on-error', '-d', target, out], { env, encoding: 'utf8' });
      expect(rr.status, rr.stderr).toBe(0);
      expect(psql(target, "SELECT count(*), count(*) FILTER (WHERE email LIKE '%@gmail.com') FROM dev").trim()).toBe('3000|0');
    }
    expect(readFileSync(join(dir, 'out-1.dump')).equals(readFileSync(join(dir, 'out-2.dump')))).toBe(true);
    // an archive that holds its CREATE TABLEs takes no --schema
    const whole = join(dir, 'whole.dump');
    expect(spawnSync(join(pg.bin, 'pg_dump'), ['-Fc', '-f', whole, '-d', 'dataonly_fc_src'], { env }).status).toBe(0);
    const refused = cli(['-q', '-r', join(dir, 'rules.yaml'), '--schema', schemaFile, '-o', join(dir, 'x.dump'), whole]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/this archive holds its schema/);
  });
});

describe('init on JSON with nested objects', () => {
  it('drafts a rule per nested key (contact.email, contact.name), never one fake for the whole object, and the output keeps its shape', () => {
    const dir = scratch('ad-init-nested-');
    createDb('init_nested_src');
    psql('init_nested_src', `CREATE TABLE submission (id int PRIMARY KEY, form_data jsonb NOT NULL);
      INSERT INTO submission SELECT g, jsonb_build_object('contact', jsonb_build_object('email', 'person' || g || '@gmail.com', 'name', (ARRAY['Olivia Smith','George Jones','Amelia Taylor'])[1 + g % 3]), 'topic', 'bins') FROM generate_series(1, 30) g;`);
    const dump = join(dir, 'src.sql');
    writeFileSync(dump, pgDump('init_nested_src'));
    const draft = cli(['init', dump]);
    expect(draft.status).toBe(0);
    const rule = /form_data: \{ json: \{ (.*), "\*": keep \} \}/.exec(draft.stdout)?.[1];
    expect(rule?.split(', ').sort()).toEqual(['contact.email: { fake: internet.email }', 'contact.name: { fake: person.fullName }']);
    writeFileSync(join(dir, 'rules.yaml'), draft.stdout);
    const out = cli(['-q', '-r', join(dir, 'rules.yaml'), dump]);
    expect(out.status, out.stderr).toBe(0);
    expect(restore('init_nested_out', Buffer.from(out.stdout)).status).toBe(0);
    expect(psql('init_nested_out', "SELECT count(*) FROM submission WHERE jsonb_typeof(form_data->'contact') = 'object' AND form_data->'contact'->>'email' LIKE '%@example.%' AND form_data->>'topic' = 'bins'").trim()).toBe('30');
    expect(psql('init_nested_out', "SELECT count(*) FROM submission WHERE form_data::text ~ '(gmail|Olivia Smith|George Jones|Amelia Taylor)'").trim()).toBe('0');
  });
});

describe('init on names copied into another column', () => {
  it('scrubs the names a rewritten column holds where another column copies them (a business named after its owner), and the leak check passes', () => {
    const pg = inject('pg');
    const dir = scratch('ad-init-copied-');
    createDb('init_copied_src');
    psql('init_copied_src', `CREATE TABLE customer (id int PRIMARY KEY, company_name varchar(40) NOT NULL, contact_name varchar(30));
      CREATE TABLE shipment (id int PRIMARY KEY, customer_id int REFERENCES customer, ship_name varchar(40), weight int);
      INSERT INTO customer VALUES (1, 'Oliver Hughes Bakery', 'Oliver Hughes'), (2, 'Harbour Supplies', 'Amelia Wright'),
        (3, 'The Corner Shop', 'George Patel'), (4, 'Emily Davies Flowers', 'Emily Davies');
      INSERT INTO shipment SELECT g, 1 + g % 4, (ARRAY['Oliver Hughes Bakery','Harbour Supplies','The Corner Shop','Emily Davies Flowers'])[1 + g % 4], g FROM generate_series(1, 40) g;`);
    const dump = join(dir, 'src.sql');
    writeFileSync(dump, pgDump('init_copied_src'));
    const draft = cli(['init', dump]);
    expect(draft.status).toBe(0);
    // the contact is rewritten, and both columns that copy its names are scrubbed, with the reason
    expect(draft.stdout).not.toMatch(/contact_name: keep/);
    for (const col of ['company_name', 'ship_name']) expect(draft.stdout).toMatch(new RegExp(`${col}: \\{ scrub: \\[name\\] \\}.*name\\(s\\) that public\\.customer\\.contact_name replaces`));
    // a column copying no name stays kept
    expect(draft.stdout).toMatch(/weight: keep/);
    expect(draft.stdout).not.toMatch(/Oliver|Hughes|Davies/);
    writeFileSync(join(dir, 'rules.yaml'), draft.stdout);
    const out = cli(['-q', '-r', join(dir, 'rules.yaml'), '-o', join(dir, 'out.sql'), dump]);
    expect(out.status, out.stderr).toBe(0);
    expect(restore('init_copied_out', readFileSync(join(dir, 'out.sql'))).status).toBe(0);
    expect(psql('init_copied_out', "SELECT count(*) FROM shipment WHERE ship_name ~ '(Oliver Hughes|Emily Davies)'").trim()).toBe('0');
    expect(psql('init_copied_out', "SELECT count(*) FROM customer WHERE company_name IN ('Harbour Supplies', 'The Corner Shop')").trim()).toBe('2');
    const url = `postgresql://postgres@/init_copied_src?host=${encodeURIComponent(pg.host)}&port=${pg.port}`;
    const leak = cli(['scan', join(dir, 'out.sql'), '--against', url, '-r', join(dir, 'rules.yaml')]);
    expect(leak.status, leak.stdout).toBe(0);
  });
});
