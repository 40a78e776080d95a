/**
 * `check` proves restorability from the schema: each rule set that would pass `run` and then fail a
 * restore is reported, naming table, column and the fix; the fixed rules pass, run, and restore.
 */
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkDump, compileRules, readRules, rewriteBuffer } from '../src/engine/run.js';
import { createDb, pgDump, psql, restore } from './support/db.js';

const DB = 'restorability';
const SETUP = `
CREATE TABLE users (id int PRIMARY KEY, email varchar(254) UNIQUE NOT NULL, code varchar(12) UNIQUE, nick text UNIQUE,
  token varchar(8), name text NOT NULL, born date, tags text[], ip inet, prefs jsonb);
INSERT INTO users SELECT g, 'u' || g || '@gmail.com', 'C' || g, 'nick' || g, 't' || g, 'Name ' || g, '1980-01-01', ARRAY['a' || g || '@gmail.com'], ('81.2.69.' || g)::inet, '{"a": 1}' FROM generate_series(1, 30) g;
CREATE TABLE queries (id int PRIMARY KEY, text text);
INSERT INTO queries SELECT g, 'query ' || g FROM generate_series(1, 5) g;
CREATE TABLE picks (id int PRIMARY KEY, query_id int REFERENCES queries(id));
INSERT INTO picks SELECT g, g FROM generate_series(1, 5) g;
CREATE TABLE orders (id int PRIMARY KEY, user_email varchar(254) REFERENCES users(email));
INSERT INTO orders SELECT g, 'u' || g || '@gmail.com' FROM generate_series(1, 10) g;
`;

const BAD = `version: 1
tables:
  users:
    columns:
      id: keep
      email: { fake: internet.email }          # UNIQUE: not unique by construction
      code: { fake: internet.email, unique: true }   # varchar(12): too long
      nick: { hash: { length: 4 } }            # UNIQUE: 4 hex digits collide
      token: { hash: {} }                      # varchar(8): 16 hex digits
      name: null                               # NOT NULL
      born: { hash: {} }                       # a date
      tags: { fake: internet.email }           # text[]: an array
      ip: { fake: internet.ipv4, unique: true }  # inet: a token makes it invalid
      prefs: { value: "not json" }             # jsonb
  queries: drop
  picks: keep                                  # references dropped queries
  orders: { columns: { id: keep, user_email: keep } }   # references a rewritten email
`;

const GOOD = `version: 1
tables:
  users:
    columns:
      id: keep
      email: { fake: internet.email, unique: true }
      code: { template: "C{id}" }             # unique: over the primary key
      nick: { hash: { length: 16 } }
      token: { hash: { length: 8 } }
      name: { value: User }
      born: { value: "1970-01-01" }
      tags: { scrub: [email] }
      ip: { fake: internet.ipv4 }
      prefs: { value: "{}" }
  queries: drop
  picks: drop
  orders: { columns: { id: keep, user_email: { fake: internet.email, unique: true } } }
`;

async function rules(yaml: string) {
  return compileRules(await readRules({ text: [{ name: 'rules.yaml', yaml }] }), 'a key of at least sixteen bytes');
}

describe('check proves restorability', () => {
  let dump: Buffer;
  beforeAll(() => {
    createDb(DB);
    psql(DB, SETUP);
    dump = pgDump(DB);
  });

  it('reports each problem by table and column, with the fix', async () => {
    const res = await checkDump(Readable.from([dump]), await rules(BAD));
    const errors = res.restore.filter((p) => p.severity === 'error').map((p) => `${p.table}.${p.column}: ${p.message}`);
    const expectations: [string, RegExp][] = [
      ['public.users.email', /UNIQUE column gets fake internet\.email, .*add unique: true/],
      ['public.users.code', /character varying\(12\) holds at most 12 characters, fake internet\.email \(unique\) writes up to \d+/],
      ['public.users.nick', /UNIQUE column gets hash of 4 hex digits.*length: 16/],
      ['public.users.token', /at most 8 characters, hash of 16 hex digits writes up to 16: use hash: \{ length: 8 \}/],
      ['public.users.name', /NOT NULL column gets NULL/],
      ['public.users.born', /a date column cannot hold what hash of 16 hex digits writes/],
      ['public.users.tags', /a text\[\] column cannot hold .*scrub for the elements/],
      ['public.users.ip', /an? inet column cannot hold|inet column cannot hold/],
      ['public.users.prefs', /jsonb column cannot hold what value writes/],
      ['public.picks.query_id', /references public\.queries \(constraint picks_query_id_fkey\), whose rows the rules drop/],
      ['public.orders.user_email', /references public\.users\.email \(constraint orders_user_email_fkey\), which the rules rewrite/],
    ];
    for (const [where, re] of expectations) expect(errors.filter((e) => e.startsWith(`${where}:`)).some((e) => re.test(e)), `${where}\n${errors.join('\n')}`).toBe(true);
    expect(errors).toHaveLength(expectations.length);
  });

  it('the fixed rules pass check, run, and restore with every constraint', async () => {
    const r = await rules(GOOD);
    const res = await checkDump(Readable.from([dump]), r);
    expect(res.restore.filter((p) => p.severity === 'error')).toEqual([]);
    const { output } = rewriteBuffer(dump, { rules: r });
    const rs = restore('restorability_out', output);
    expect(rs.stderr).not.toMatch(/ERROR/);
    expect(rs.status).toBe(0);
    expect(psql('restorability_out', 'SELECT count(*) FROM orders o JOIN users u ON u.email = o.user_email;').trim()).toBe('10');
  });

  it('a template over an integer id has a known length: proved to fit, or reported', async () => {
    const fits = await checkDump(Readable.from([dump]), await rules(GOOD));
    expect(fits.restore.filter((p) => p.column === 'code')).toEqual([]); // "C" + at most 11 digits fits varchar(12)
    const long = await checkDump(Readable.from([dump]), await rules(GOOD.replace('code: { template: "C{id}" }', 'code: { template: "customer-{id}" }')));
    expect(long.restore.find((p) => p.column === 'code')?.message).toMatch(/at most 12 characters, template writes up to 20/);
  });

  it('the rules the issue found failing restores are each reported before the run', async () => {
    // and the bad rules really would fail the restore: check is not crying wolf
    const { output } = rewriteBuffer(dump, { rules: await rules(BAD) });
    expect(restore('restorability_bad', output).status).not.toBe(0);
  });
});
