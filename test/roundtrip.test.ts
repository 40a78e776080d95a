/**
 * Round trips through a real PostgreSQL: build a database full of awkward data, dump it with the
 * real pg_dump, rewrite the dump, restore it with psql -v ON_ERROR_STOP=1, and compare with SQL.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileRules, readRules, rewriteBuffer } from '../src/engine/run.js';
import { createDb, pgDump, psql, restore } from './support/db.js';

const RULES = 'test/rules/awkward.yaml';
const SECRET = 'roundtrip-secret';


let rulesData: Awaited<ReturnType<typeof readRules>>;
function anonymise(input: Buffer | Buffer[], secret = SECRET): Buffer {
  return rewriteBuffer(input, { rules: compileRules(rulesData, secret) }).output;
}

const q = (db: string, sql: string) => psql(db, sql).trimEnd();

beforeAll(async () => {
  rulesData = await readRules({ files: [RULES] });
  createDb('awkward');
  psql('awkward', readFileSync('test/sql/awkward.sql', 'utf8'));
});

// one feature suite, run over every form pg_dump writes data in
describe.each([
  ['COPY', []],
  ['--inserts', ['--inserts']],
  ['--column-inserts', ['--column-inserts']],
  ['--rows-per-insert=3', ['--rows-per-insert=3']],
])('an anonymised dump of awkward data (%s)', (form, args) => {
  let dump: Buffer;
  let output: Buffer;
  const outDb = `awkward_out_${form.replace(/\W+/g, '_')}`;
  const q = (db: string, sql: string) => psql(db === 'awkward_out' ? outDb : db, sql).trimEnd();
  beforeAll(() => {
    dump = pgDump('awkward', args);
    output = anonymise(dump);
    const r = restore(outDb, output);
    if (r.status !== 0) throw new Error(`restore failed: ${r.stderr}`);
  });

  it('restores with ON_ERROR_STOP and keeps kept tables equal', () => {
    for (const sql of [
      'SELECT * FROM page ORDER BY id',
      'SELECT * FROM public."order items" ORDER BY id',
      'SELECT id, tags FROM users_user ORDER BY id',
      'SELECT id, created, body FROM events ORDER BY id',
      'SELECT id, action FROM feedback WHERE action <> \'spam\' ORDER BY id',
    ]) {
      expect(q('awkward_out', sql), sql).toBe(q('awkward', sql));
    }
  });

  it('rewrites every rewritten column, and keeps NULL NULL and empty empty', () => {
    expect(q('awkward_out', 'SELECT DISTINCT password FROM users_user')).toBe('!');
    const cols = ['email', 'first_name', 'last_name', 'phone', 'username'];
    for (const c of cols) {
      const src = q('awkward', `SELECT id, ${c} FROM users_user ORDER BY id`).split('\n');
      const out = q('awkward_out', `SELECT id, ${c} FROM users_user ORDER BY id`).split('\n');
      expect(out.length).toBe(src.length);
      src.forEach((line, i) => {
        const v = line.slice(line.indexOf('|') + 1);
        const w = out[i]!.slice(out[i]!.indexOf('|') + 1);
        if (v === '') expect(w, `${c} row ${i}`).toBe('');
        else expect(w, `${c} row ${i}`).not.toBe(v);
      });
    }
    expect(q('awkward_out', 'SELECT count(*) FROM users_user WHERE phone IS NULL')).toBe(q('awkward', 'SELECT count(*) FROM users_user WHERE phone IS NULL'));
    expect(q('awkward_out', 'SELECT count(*) FROM users_user WHERE photo IS NULL')).toBe('6');
    expect(q('awkward_out', "SELECT phone FROM users_user WHERE id = 1")).toBe('#########456');
    expect(q('awkward_out', "SELECT string_agg(username, ',' ORDER BY id) FROM users_user")).toBe('user.1,user.2,user.3,user.4,user.5,user.6');
  });

  it('keeps UNIQUE columns unique and uses reserved domains', () => {
    expect(q('awkward_out', 'SELECT count(DISTINCT email) = count(*) FROM users_user')).toBe('t');
    expect(q('awkward_out', "SELECT count(*) FROM users_user WHERE email !~ '@example\\.(com|org|net)$'")).toBe('0');
    // the generated column is recomputed from the new e-mail on restore
    expect(q('awkward_out', "SELECT count(*) FROM users_user WHERE email_domain NOT IN ('example.com', 'example.org', 'example.net')")).toBe('0');
  });

  it('gives the same pseudonym for the same value in every table and in JSON', () => {
    const email = q('awkward_out', 'SELECT email FROM users_user WHERE id = 1');
    expect(q('awkward_out', 'SELECT email FROM public.contact WHERE id = 1')).toBe(email);
    expect(q('awkward_out', 'SELECT email FROM other.contact WHERE id = 1')).toBe(email);
    expect(q('awkward_out', "SELECT attendee_email FROM events WHERE id = 1")).toBe(email);
    expect(q('awkward_out', "SELECT profile->>'email' FROM users_user WHERE id = 1")).toBe(email);
  });

  it('applies json rules by key and path, keeping other keys and exact numbers', () => {
    expect(q('awkward_out', "SELECT profile->>'age', profile->>'big', profile->'address'->>'city' FROM users_user WHERE id = 1")).toBe('31|12345678901234567890|London');
    expect(q('awkward_out', "SELECT profile->'address'->>'postcode' <> 'SW1A 1AA', profile->'kids'->0->>'name' <> 'Bo', profile->>'name' <> 'Alice Smith' FROM users_user WHERE id = 1")).toBe('t|t|t');
    expect(q('awkward_out', "SELECT profile->'email' FROM users_user WHERE id = 2")).toBe('null');
    expect(q('awkward_out', "SELECT profile FROM users_user WHERE id = 4")).toBe('[]');
  });

  it('handles quoted, mixed-case and comma names, partitions and drop rules', () => {
    expect(q('awkward_out', 'SELECT "Id", "e-mail" IS NULL, length("note, internal") FROM "Sales"."Customer" ORDER BY 1')).toBe('1|f|12\n2|t|12\n3|f|0');
    expect(q('awkward_out', 'SELECT count(*) FROM "Sales"."Customer" WHERE "Full Name" IN (\'Grace Hopper\', \'Ada Lovelace\')')).toBe('0');
    expect(q('awkward_out', 'SELECT count(*) FROM events_2024 WHERE attendee_email = \'gina@gmail.com\'')).toBe('0');
    expect(q('awkward_out', 'SELECT count(*) FROM events WHERE attendee_email IS NULL')).toBe('1');
    expect(q('awkward_out', 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM feedback')).toBe('2,3,4');
    expect(q('awkward_out', 'SELECT count(*) FROM session')).toBe('0');
    expect(q('awkward_out', "SELECT coalesce(v, '<null>') FROM single ORDER BY v NULLS LAST")).toBe('\n*\n*\n**\n<null>');
  });

  it('scrubs free text: matches replaced, the rest of the text kept', () => {
    const issue = q('awkward_out', 'SELECT issue FROM feedback WHERE id = 2');
    expect(issue).toMatch(/^Please email me at \S+@example\.com or call 07700 900\d{3}, I live at ZZ\d\d \d[A-Z]{2}$/);
    expect(q('awkward_out', 'SELECT issue FROM feedback WHERE id = 4')).toMatch(/^see https:\/\/example\.com\/\w+ from 2001:db8::/);
    const notes = q('awkward_out', 'SELECT notes FROM users_user WHERE id = 4');
    expect(notes).toContain('fake header\nCOPY public.users_user (id, email) FROM stdin;\n1\t');
    expect(notes).not.toContain('victim@gmail.com');
    expect(q('awkward_out', 'SELECT notes FROM users_user WHERE id IN (1,2,3,5) ORDER BY id')).toBe(q('awkward', 'SELECT notes FROM users_user WHERE id IN (1,2,3,5) ORDER BY id'));
  });

  it('leaves no original value of a rewritten column anywhere in the output', () => {
    const text = output.toString('utf8');
    for (const secret of ['alice.smith@gmail.com', 'Bob.Jones@Hotmail.co.uk', 'carol@btinternet.com', 'victim@gmail.com', 'Grace Hopper', 'grace@navy.mil', 'gina@gmail.com', 'harry.potter@hogwarts.ac.uk', 'SW1A 2AA', 'spam@spam.biz', 'secret session', 'pbkdf2$x', '07700 123456', 'private.example-council']) {
      expect(text.includes(secret), secret).toBe(false);
    }
  });

  it('gives identical output however the input is cut into chunks', () => {
    const step = Math.max(1, Math.floor(dump.length / 400));
    for (let at = 1; at < dump.length; at += step) {
      const out = anonymise([dump.subarray(0, at), dump.subarray(at)]);
      if (!out.equals(output)) expect.fail(`output differs when the input is split at byte ${at}`);
    }
    const bytes: Buffer[] = [];
    for (let i = 0; i < dump.length; i++) bytes.push(dump.subarray(i, i + 1));
    expect(anonymise(bytes).equals(output)).toBe(true);
  });

  it('is deterministic for a secret, and different for another', () => {
    expect(anonymise(dump).equals(output)).toBe(true);
    const other = anonymise(dump, 'another-secret');
    expect(other.equals(output)).toBe(false);
  });

  it('copies the dump byte for byte with unknown: keep and no tables', async () => {
    const rules = compileRules(await readRules({ text: [{ name: 'keep.yaml', yaml: 'version: 1\nunknown: keep\n' }] }), 'k');
    expect(rewriteBuffer(dump, { rules }).output.equals(dump)).toBe(true);
    for (const extra of [['--data-only'], ['--schema-only']]) {
      const d = pgDump('awkward', [...args, ...extra]);
      expect(rewriteBuffer(d, { rules }).output.equals(d), extra.join(' ')).toBe(true);
    }
  });

  it('gives the same pseudonyms as the COPY form', () => {
    const fingerprint = (db: string) => psql(db, 'SELECT email, first_name, last_name, profile FROM users_user ORDER BY id');
    expect(fingerprint(outDb)).toBe(fingerprint('awkward_out_COPY'));
    expect(psql(outDb, 'SELECT * FROM feedback ORDER BY id')).toBe(psql('awkward_out_COPY', 'SELECT * FROM feedback ORDER BY id'));
  });
});

describe('a LATIN1 database', () => {
  let latin: Buffer;
  beforeAll(() => {
    createDb('latin', 'LATIN1');
    psql('latin', "SET client_encoding = 'UTF8'; CREATE TABLE people (id integer PRIMARY KEY, name text, note text); INSERT INTO people VALUES (1, 'Zoë Ñandú', 'café crème'), (2, 'José', E'tab\\there'), (3, NULL, '');");
    latin = pgDump('latin');
  });

  it('is written in LATIN1 and passes through byte for byte', async () => {
    expect(latin.toString('latin1')).toContain("SET client_encoding = 'LATIN1'");
    expect(latin.includes(Buffer.from('caf\xe9 cr\xe8me', 'latin1'))).toBe(true);
    const rules = compileRules(await readRules({ text: [{ name: 'keep.yaml', yaml: 'version: 1\nunknown: keep\n' }] }), 'k');
    expect(rewriteBuffer(latin, { rules }).output.equals(latin)).toBe(true);
  });

  it('decodes and re-encodes rewritten fields in LATIN1', async () => {
    const yaml = 'version: 1\ntables:\n  people:\n    columns:\n      id: keep\n      name: { fake: person.fullName }\n      note: { mask: { keep_start: 4 } }\n';
    const out = rewriteBuffer(latin, { rules: compileRules(await readRules({ text: [{ name: 'r.yaml', yaml }] }), 's') }).output;
    const r = restore('latin_out', out, 'LATIN1');
    expect(r.status, r.stderr).toBe(0);
    expect(q('latin_out', "SET client_encoding = 'UTF8'; SELECT id, note FROM people ORDER BY id")).toBe('1|café******\n2|tab\t****\n3|');
    expect(q('latin_out', "SELECT count(*) FROM people WHERE name = 'Zoë Ñandú' OR name = 'José'")).toBe('0');
    expect(q('latin_out', 'SELECT name IS NULL FROM people WHERE id = 3')).toBe('t');
  });
});

describe('client encodings whose characters hold a backslash byte', () => {
  // 表 is 0x95 0x5c in Shift-JIS and ソ is 0x83 0x5c: read byte by byte, each would start an escape
  const TEXT = '表ソ能 \\ tab\there 申し込み';
  it.each(['SJIS', 'BIG5', 'GBK', 'UHC', 'GB18030'])('%s: rewritten and kept columns come back exact (COPY and INSERT forms)', async (encoding) => {
    const { createDb, pgDump, psql, restore } = await import('./support/db.js');
    const { compileRules, readRules, rewriteBuffer } = await import('../src/engine/run.js');
    const db = `enc_${encoding.toLowerCase()}`;
    createDb(db);
    // in BIG5, 許 and 功 end in 0x5c; UHC's trail bytes never are 0x5c, but the same code reads it
    const text = { SJIS: TEXT, BIG5: '許功蓋 \\ tab\there 中文', UHC: '한국어 \\ tab\there 서울', GBK: TEXT.replace('ソ', '中'), GB18030: TEXT.replace('ソ', '中') }[encoding]!;
    psql(db, `CREATE TABLE people (id int, email text, note text); INSERT INTO people VALUES (1, 'enc.person@gmail.com', E'${text.replace(/\\/g, '\\\\').replace(/\t/g, '\\t')}'), (2, 'two@gmail.com', '${text.replace(/[\\\t]/g, '')}');`);
    const rules = compileRules(await readRules({ text: [{ name: 'r.yaml', yaml: 'version: 1\ntables:\n  people: { columns: { id: keep, email: { fake: internet.email }, note: { mask: { keep_start: 1, keep_end: 0 } } } }\n' }] }), 'a key of at least sixteen bytes');
    for (const args of [[], ['--inserts']]) {
      const dump = pgDump(db, ['-E', encoding, ...args]);
      const { output } = rewriteBuffer(dump, { rules });
      expect(output.toString('latin1')).not.toContain('gmail.com');
      const out = `${db}_out${args.length}`;
      const r = restore(out, output);
      expect(r.stderr).not.toMatch(/ERROR/);
      // mask kept the first character and replaced every other one: the same number of characters
      expect(psql(out, 'SELECT id, left(note, 1), length(note) = (SELECT length(note) FROM people p2 WHERE p2.id = people.id) FROM people ORDER BY id;').trim()).toBe(
        psql(db, 'SELECT id, left(note, 1), true FROM people ORDER BY id;').trim(),
      );
      expect(psql(out, "SELECT count(*) FROM people WHERE note ~ '^.\\*+$';").trim()).toBe('2');
    }
  });
});
