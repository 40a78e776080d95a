/** The rewriter on small hand-made dumps: fail-closed checks, positions in errors, INSERT handling. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileRules, readRules, rewriteBuffer } from '../src/engine/run.js';
import { AnonymiseError } from '../src/errors.js';
import { DumpRewriter } from '../src/dump/rewriter.js';
import { encodeField } from '../src/dump/copy-codec.js';
import { compileScrubber } from '../src/pseudonym/detectors.js';
import { KeyRing } from '../src/pseudonym/keys.js';

const HEAD = "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\n";
const FOOT = '\n--\n-- PostgreSQL database dump complete\n--\n\n';
const USERS = 'CREATE TABLE public.users (\n    id integer NOT NULL,\n    email text,\n    name text\n);\n\n';
const NOTES = 'CREATE TABLE public.notes (\n    id integer NOT NULL,\n    body text\n);\n\n';
const USERS_DATA = 'COPY public.users (id, email, name) FROM stdin;\n1\ta@gmail.com\tAnn\n2\t\\N\tBo\n\\.\n';

async function rules(yaml: string) {
  return compileRules(await readRules({ text: [{ name: 'r.yaml', yaml: `version: 1\n${yaml}` }] }), 'secret');
}
async function run(dump: string, yaml: string) {
  return rewriteBuffer(Buffer.from(dump), { rules: await rules(yaml) });
}
/** Runs and returns the error and whatever reached the sink before it. */
async function fail(dump: string | (string | Buffer)[], yaml: string): Promise<{ error: AnonymiseError; written: string }> {
  const out: Buffer[] = [];
  const rw = new DumpRewriter({ rules: await rules(yaml) }, (c) => out.push(Buffer.from(c)));
  try {
    for (const chunk of Array.isArray(dump) ? dump : [dump]) rw.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    rw.end();
  } catch (e) {
    if (e instanceof AnonymiseError) {
      // as rewriteStream does: what was rewritten goes out, then the trailer (nothing while held back)
      rw.abort(e.message);
      return { error: e, written: Buffer.concat(out).toString() };
    }
    throw e;
  }
  throw new Error('no error');
}

const FULL = 'tables:\n  users: { columns: { id: keep, email: { fake: internet.email, unique: true }, name: { value: X } } }\n';

describe('fail closed', () => {
  it('stops before any output when a table in the schema has no rule', async () => {
    const { error, written } = await fail(HEAD + USERS + NOTES + USERS_DATA + FOOT, FULL);
    expect(error.code).toBe('UNCLASSIFIED');
    expect(error.exitCode).toBe(3);
    expect(error.message).toMatch(/^input line \d+, table public\.notes: 1 table is not classified/);
    expect(written).toBe('');
  });

  it('stops before any output when a column has no rule', async () => {
    const { error, written } = await fail(HEAD + USERS + USERS_DATA + FOOT, 'tables:\n  users: { columns: { id: keep, email: keep } }\n');
    expect(error.message).toMatch(/table public\.users, column name: 1 column is not classified/);
    expect(written).toBe('');
  });

  it('checks a --data-only dump at each COPY header, before that table is written', async () => {
    const dump = [HEAD + USERS_DATA, 'COPY public.notes (id, body) FROM stdin;\n1\tsecret text\n\\.\n' + FOOT];
    const { error, written } = await fail(dump, FULL);
    expect(error.message).toMatch(/^input line 12, table public\.notes: table is not classified/);
    expect(written).toContain('user');
    expect(written).not.toContain('secret text');
    expect(written).toMatch(/-- anonymise-dump: ABORTED: input line 12, table public\.notes: table is not classified[^\n]*\n$/);
  });

  it('a rule naming a column the table lacks is a rules error (exit 2) before output', async () => {
    const { error, written } = await fail(HEAD + USERS + USERS_DATA + FOOT, 'tables:\n  users: { columns: { id: keep, email: { template: "{mail}" }, name: keep } }\n');
    expect(error.code).toBe('RULES');
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/^r\.yaml:3: template of public\.users\.email names column mail/);
    expect(written).toBe('');
  });

  it('unknown: null empties unnamed tables and nulls unnamed columns', async () => {
    const out = (await run(HEAD + USERS + NOTES + USERS_DATA + 'COPY public.notes (id, body) FROM stdin;\n1\tx\n\\.\n' + FOOT, 'unknown: null\ntables:\n  users: { columns: { id: keep } }\n')).output.toString();
    expect(out).toContain('COPY public.users (id, email, name) FROM stdin;\n1\t\\N\t\\N\n2\t\\N\t\\N\n\\.\n');
    expect(out).toContain('COPY public.notes (id, body) FROM stdin;\n\\.\n');
  });

  it('a json key that no rule names stops the run under unknown: fail, without printing the value', async () => {
    const dump = HEAD + 'CREATE TABLE public.f (\n    d jsonb\n);\n\nCOPY public.f (d) FROM stdin;\n{"name": "Ann", "hobby": "secret"}\n\\.\n' + FOOT;
    const { error } = await fail(dump, 'tables:\n  f: { columns: { d: { json: { name: { fake: person.fullName } } } } }\n');
    expect(error.message).toBe('input line 13, table public.f, column d: json key hobby is not classified by the rules (unknown: fail; name it or add "*")');
  });

  it.each([
    ['{"contact": {"name": "Ann", "mobilePhone": "x"}}', 'contact.mobilePhone'],
    ['{"contact": {"name": "Ann", "jane@example.com": "x"}}', 'contact.<a key of 16 characters>'],
    ['{"contact": {"name": "Ann", "Jane Smith": "x"}}', 'contact.<a key of 10 characters>'],
    ['{"contact": {"name": "Ann", "07700900123": "x"}}', 'contact.<a key of 11 characters>'],
    ['{"contact": {"name": "Ann", "SW1A 1AA": "x"}}', 'contact.<a key of 8 characters>'],
    ['{"Zoë": {"x": 1}}', '<a key of 3 characters>'],
  ])('an unlisted json key from the data is named only when it looks like code: %s', async (doc, path) => {
    const dump = HEAD + `CREATE TABLE public.f (\n    d jsonb\n);\n\nCOPY public.f (d) FROM stdin;\n${doc}\n\\.\n` + FOOT;
    const { error } = await fail(dump, 'tables:\n  f: { columns: { d: { json: { contact.name: { fake: person.fullName } } } } }\n');
    expect(error.message).toBe(`input line 13, table public.f, column d: json key ${path} is not classified by the rules (unknown: fail; name it or add "*")`);
  });
});

describe('bad input gets a positioned error with no data in it', () => {
  it.each([
    ['a row with too few fields', 'COPY public.users (id, email, name) FROM stdin;\n1\tsecret@x.com\n\\.\n', /^input line 15, table public\.users: row has 2 fields, the COPY header lists 3$/],
    ['a row with too many fields', 'COPY public.users (id, email, name) FROM stdin;\n1\ta\tb\tsecret@x.com\n\\.\n', /^input line 15, table public\.users: row has 4 fields/],
    ['an invalid escape', 'COPY public.users (id, email, name) FROM stdin;\n1\tsecret@x.com\\\tb\n\\.\n' + FOOT, /^input line 15, table public\.users, column email: invalid COPY escape: backslash at end of field$/],
    ['input cut inside COPY data', 'COPY public.users (id, email, name) FROM stdin;\n1\tsecret@x.com\tb\n', /^input line 16, table public\.users: input ends inside COPY data/],
    ['input cut inside a statement', "SELECT 'secret@x.com", /input ends inside a statement/],
    ['invalid UTF-8 in a rewritten field', Buffer.from('COPY public.users (id, email, name) FROM stdin;\n1\tsecret\xff@x.com\tb\n\\.\n' + FOOT, 'latin1'), /^input line 15, table public\.users, column email: invalid byte sequence for encoding UTF8$/],
    // a long field is read where it lies once its batch of rows is valid (RowCursor.span): this one's
    // invalid byte leaves it to its own check, in the second row of the batch too
    ['invalid UTF-8 in a long rewritten field', Buffer.from(`COPY public.users (id, email, name) FROM stdin;\n1\tok@x.com\tb\n2\tsecret${'x'.repeat(120)}\xff@x.com\tb\n\\.\n` + FOOT, 'latin1'), /^input line 16, table public\.users, column email: invalid byte sequence for encoding UTF8$/],
  ])('%s', async (_name, body, re) => {
    const { error } = await fail([HEAD + USERS, body], FULL);
    expect(error.message).toMatch(re);
    expect(error.message).not.toContain('secret');
  });

  it('a dump without its "dump complete" footer is truncated', async () => {
    const { error } = await fail(HEAD + USERS + USERS_DATA, FULL);
    expect(error.message).toMatch(/dump complete/);
  });

  it('refuses NUL bytes', async () => {
    const { error } = await fail(HEAD + USERS + 'x\0', FULL);
    expect(error.code).toBe('NOT_PLAIN_DUMP');
  });

  it('bounds the length of a line', async () => {
    const out: Buffer[] = [];
    const rw = new DumpRewriter({ rules: await rules(FULL), maxLineBytes: 4096 }, (c) => out.push(c));
    rw.write(Buffer.from(HEAD + USERS + 'COPY public.users (id, email, name) FROM stdin;\n1\t'));
    expect(() => {
      for (let i = 0; i < 10; i++) rw.write(Buffer.alloc(1024, 0x61));
    }).toThrow(/line is longer than 4096 bytes/);
  });
});

describe('INSERT statements', () => {
  const INS = "INSERT INTO public.users VALUES (1, 'a@gmail.com', 'Ann');\n";
  const MULTI = "INSERT INTO public.users (id, email, name) VALUES\n\t(1, 'a@gmail.com', 'Ann'),\n\t(2, NULL, 'O''Bo'),\n\t(3, 'c@x.org', 'Cy');\n";
  it('rewrites values in place and copies the rest of the statement', async () => {
    const out = (await run(HEAD + USERS + INS + FOOT, FULL)).output.toString();
    expect(out).toMatch(/\nINSERT INTO public\.users VALUES \(1, '[a-z0-9.]+@example\.(com|org|net)', 'X'\);\n/);
    expect(out).not.toContain('a@gmail.com');
  });
  it('removes dropped rows from a multi-row INSERT, and the statement when none is left', async () => {
    const y = (f: string) => `tables:\n  users:\n    ${f}\n    columns: { id: keep, email: { value: e }, name: keep }\n`;
    const two = (await run(HEAD + USERS + MULTI + FOOT, y('drop_where: { id: [2] }'))).output.toString();
    expect(two).toContain("INSERT INTO public.users (id, email, name) VALUES\n\t(1, 'e', 'Ann'),\n\t(3, 'e', 'Cy');\n");
    const first = (await run(HEAD + USERS + MULTI + FOOT, y('drop_where: { id: [1] }'))).output.toString();
    expect(first).toContain("VALUES\n\t(2, 'e', 'O''Bo'),\n\t(3, 'e', 'Cy');\n");
    const none = (await run(HEAD + USERS + MULTI + FOOT, y('keep_where: { id: [9] }'))).output.toString();
    expect(none).not.toContain('INSERT');
    expect(none).toContain('dump complete');
  });
  it('passes kept tables and removes dropped ones', async () => {
    expect((await run(HEAD + USERS + INS + FOOT, 'tables:\n  users: keep\n')).output.toString()).toContain(INS.trim());
    const out = (await run(HEAD + USERS + INS + FOOT, 'tables:\n  users: drop\n')).output.toString();
    expect(out).not.toContain('INSERT');
    expect(out).toContain('dump complete');
  });
  it('reads E-strings and writes backslashes right when standard_conforming_strings is off', async () => {
    const dump = HEAD.replace('standard_conforming_strings = on', 'standard_conforming_strings = off') + USERS +
      String.raw`INSERT INTO public.users VALUES (1, E'a\\b\'c', 'x');` + '\n' + FOOT;
    const out = (await run(dump, 'tables:\n  users: { columns: { id: keep, email: keep, name: { template: "{email}!" } } }\n')).output.toString();
    expect(out).toContain(String.raw`INSERT INTO public.users VALUES (1, E'a\\b\'c', E'a\\b''c!');`);
  });
  it('a --data-only INSERT without a column list needs column_order', async () => {
    const { error } = await fail(HEAD + INS + FOOT, FULL);
    expect(error.message).toMatch(/^input line 8, table public\.users: INSERT has no column list .*column_order.*--column-inserts/);
    const ordered = (await run(HEAD + INS + FOOT, FULL.replace('users: {', 'users: { column_order: [id, email, name],'))).output.toString();
    expect(ordered).toMatch(/VALUES \(1, '[a-z0-9.]+@example\.(com|org|net)', 'X'\);/);
  });
  it.each([
    // the table lost `name` and gained `notes` since column_order was written: same count, values moved
    ['an e-mail address', "INSERT INTO public.users VALUES (1, 'Ann', 'ann.lee@gmail.com');\n", /which the rules keep, holds an e-mail address/],
    ['a card number', "INSERT INTO public.users VALUES (1, 'Ann', '4111 1111 1111 1111');\n", /which the rules keep, holds a payment card number/],
    ['a National Insurance number', "INSERT INTO public.users VALUES (2, 'Bo', 'AB 12 34 56 C');\n", /holds a National Insurance number/],
  ])('a column_order that no longer matches the data is not trusted: %s under a kept column stops the run', async (_kind, row, re) => {
    const yaml = 'tables:\n  users: { column_order: [id, email, notes], columns: { id: keep, email: { fake: internet.email }, notes: keep } }\n';
    const { error, written } = await fail(HEAD + row + FOOT, yaml);
    expect(error.code).toBe('UNCLASSIFIED');
    expect(error.message).toMatch(/^input line 8, table public\.users, column notes: column_order may no longer match the data: /);
    expect(error.message).toMatch(re);
    expect(error.message).toContain('--column-inserts');
    expect(error.message).not.toMatch(/gmail|4111|AB 12/);
    expect(written).not.toMatch(/gmail|4111|AB 12/);
  });
  it('a column_order that matches: kept values that are no e-mail, card or NI number pass, our own fakes too', async () => {
    const yaml = 'tables:\n  users: { column_order: [id, email, notes], columns: { id: keep, email: { fake: internet.email }, notes: keep } }\n';
    const out = (await run(HEAD + "INSERT INTO public.users VALUES (1, 'ann.lee@gmail.com', 'rang on 12 May; see x@example.com');\n" + FOOT, yaml)).output.toString();
    expect(out).not.toContain('ann.lee@gmail.com');
    expect(out).toContain("'rang on 12 May; see x@example.com');");
  });
  it('a value count that does not match the columns is an error with a position', async () => {
    const { error } = await fail(HEAD + USERS + "INSERT INTO public.users VALUES (1, 'secret@x.com');\n" + FOOT, FULL);
    expect(error.message).toBe("input line 14, table public.users: row has 2 values, the INSERT's table has 3 columns");
  });
});

describe('rows', () => {
  it('drop_where and keep_where compare original values; null matches NULL', async () => {
    const y = (f: string) => `tables:\n  users:\n    ${f}\n    columns: { id: keep, email: { hash: {} }, name: keep }\n`;
    const rows = async (yaml: string) => (await run(HEAD + USERS + USERS_DATA + FOOT, yaml)).output.toString().match(/^\d\t.*$/gm)!.map((l) => l[0]);
    expect(await rows(y('drop_where: { name: [Ann] }'))).toEqual(['2']);
    expect(await rows(y('drop_where: { email: [null] }'))).toEqual(['1']);
    expect(await rows(y('keep_where: { name: [Bo, Zed] }'))).toEqual(['2']);
  });

  it('templates see output values, never the original of a rewritten column', async () => {
    const out = (await run(HEAD + USERS + USERS_DATA + FOOT, 'tables:\n  users: { columns: { id: keep, email: { value: "hidden" }, name: { template: "{{{email}}}-{id}" } } }\n')).output.toString();
    expect(out).toContain('1\thidden\t{hidden}-1\n2\thidden\t{hidden}-2\n');
  });

  it('keeps a CRLF-converted dump restorable: CR stays in the line ending', async () => {
    const dump = (HEAD + USERS + USERS_DATA + FOOT).replace(/\n/g, '\r\n');
    const out = (await run(dump, FULL)).output.toString();
    expect(out).toMatch(/\r\n1\t[a-z0-9.]+@example\.(com|org|net)\tX\r\n2\t\\N\tX\r\n\\\.\r\n/);
  });

  it('reports rows in, out, dropped and values changed', async () => {
    const { result } = (await run(HEAD + USERS + USERS_DATA + FOOT, 'tables:\n  users: { drop_where: { id: [2] }, columns: { id: keep, email: { fake: internet.email }, name: { value: Ann } } }\n'));
    expect(result.tables).toEqual([
      { table: 'public.users', rule: 'public.users', mode: 'rewrite', rowsIn: 2, rowsOut: 1, rowsDropped: 1, changed: { email: 1, name: 0 } },
    ]);
  });
});

describe('json rules rewrite by span', () => {
  const J = 'CREATE TABLE public.f (\n    d json\n);\n\n';
  const rewrite = async (doc: string, keys: string) => {
    const copyText = doc.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t');
    const out = (await run(HEAD + J + `COPY public.f (d) FROM stdin;\n${copyText}\n\\.\n` + FOOT, `tables:\n  f: { columns: { d: { json: { ${keys} } } } }\n`)).output.toString();
    const line = out.split('COPY public.f (d) FROM stdin;\n')[1]!.split('\n')[0]!;
    return line.replace(/\\(.)/g, (_, c: string) => ({ n: '\n', t: '\t' })[c] ?? c);
  };
  it.each([
    // what the rules do not touch keeps its bytes: spacing, key order, repeated keys, exact numbers
    ['{ "a" : 1.50e3 ,"b":"x", "a": [1,  2] }', 'b: { value: Y }, "*": keep', '{ "a" : 1.50e3 ,"b":"Y", "a": [1,  2] }'],
    ['{"n": 12345678901234567890, "s": "secret"}', 's: null, "*": keep', '{"n": 12345678901234567890, "s": null}'],
    // a leaf rule applies to every scalar under its key; numbers and booleans become strings
    ['{"p": {"x": 12, "y": [true, "zz", null]}}', 'p: { mask: { keep_start: 1 } }', '{"p": {"x": "1*", "y": ["t***", "z*", null]}}'],
    ['{"p": [null]}', 'p: { mask: null, nulls: replace }', '{"p": [""]}'],
    // a fixed value replaces the whole subtree
    ['{"p": {"x": 1, "y": [2]}, "q": 3}', 'p: { value: V }, q: keep', '{"p": "V", "q": 3}'],
    // dotted paths reach into objects, also through arrays of objects
    ['[{"u": {"mail": "a@b", "k": 1}}, {"u": {"mail": "c@d"}}]', 'u.mail: { value: m }, "*": keep', '[{"u": {"mail": "m", "k": 1}}, {"u": {"mail": "m"}}]'],
    // escapes in keys and values are decoded before matching; new values are written as JSON strings
    ['{"na\\u006de": "Zo\\u00eb \\"Z\\"", "t": "tab\\there"}', 'name: { value: "q\\"\\\\ \\n" }, "*": keep', '{"na\\u006de": "q\\"\\\\ \\n", "t": "tab\\there"}'],
    ['"just a string"', '"*": { value: s }', '"s"'],
    ['{}', '"*": { value: s }', '{}'],
    ['[]', 'a: keep', '[]'],
  ])('%s with { %s }', async (doc, keys, expected) => {
    expect(await rewrite(doc, keys)).toBe(expected);
    expect(() => JSON.parse(expected)).not.toThrow();
  });

  it.each(['{"a": 1', '{"a" 1}', '[1, 2,]', '{"a": tru}', '{"a": 1} x', '"\\q"'])('%s is refused as not JSON, without printing it', async (doc) => {
    const { error } = await fail(HEAD + J + `COPY public.f (d) FROM stdin;\n${doc.replace(/\\/g, '\\\\')}\n\\.\n` + FOOT, 'tables:\n  f: { columns: { d: { json: { a: keep, "*": keep } } } }\n');
    expect(error.message).toMatch(/^input line 13, table public\.f, column d: a json rule met a value that is not JSON \(invalid JSON at character \d+\)$/);
  });

  it('rewrites a large document in one pass, with and without backslashes in its strings', async () => {
    const items = Array.from({ length: 20000 }, (_, i) => ({ k: i % 1000 === 0 ? `a\\b"${i}` : `v${i}`, secret: `s${i}` }));
    const doc = JSON.stringify(items);
    const out = await rewrite(doc, 'secret: { value: x }, "*": keep');
    expect(out).toBe(JSON.stringify(items.map((it) => ({ k: it.k, secret: 'x' }))));
  });

  it('refuses nesting deeper than 512 levels', async () => {
    const deep = '['.repeat(600) + ']'.repeat(600);
    const { error } = await fail(HEAD + J + `COPY public.f (d) FROM stdin;\n${deep}\n\\.\n` + FOOT, 'tables:\n  f: { columns: { d: { json: { "*": keep } } } }\n');
    expect(error.message).toMatch(/not JSON/);
  });
});

describe('json rules, any document (fast-check)', () => {
  const action = async (keys: string) => {
    const r = await rules(`tables:\n  f: { columns: { d: { json: { ${keys} } } } }\n`);
    const plan = r.plan('public.f', ['d'], () => undefined);
    if (plan.mode !== 'rewrite') throw new Error('expected a rewrite plan');
    return (doc: string) => plan.actions[0]!({ text: () => doc, bytes: () => Buffer.from(doc), output: () => doc }, 0);
  };
  it('keeps every byte of a document the rules keep, and writes valid JSON of the same shape when they mask it', async () => {
    const keep = await action('"*": keep');
    const mask = await action('"*": { mask: null }');
    const shape = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(shape) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)])) : v === null ? null : 's';
    fc.assert(
      fc.property(fc.json(), fc.constantFrom('', ' ', '\n\t '), (doc, pad) => {
        const text = pad + doc + pad;
        expect(keep(text)).toBe(text);
        expect(shape(JSON.parse(mask(text)!))).toEqual(shape(JSON.parse(text)));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('long units across many chunks', () => {
  // both once read the whole carry again per line or per chunk; they must pass whole, byte for byte
  const T = 'CREATE TABLE public.t (\n    id integer,\n    body text\n);\n\n';
  const cut = (b: Buffer, n: number) => Array.from({ length: Math.ceil(b.length / n) }, (_, i) => b.subarray(i * n, (i + 1) * n));
  it.each([
    ['a multi-line INSERT string', `INSERT INTO public.t VALUES (1, '${Array.from({ length: 50000 }, (_, i) => `line ${i}; it's`).join('\n').replace(/'/g, "''")}');\n`],
    ['a long COPY line', `COPY public.t (id, body) FROM stdin;\n1\t${'x'.repeat(3_000_000)}\n2\ty\n\\.\n`],
  ])('%s, cut into 4 KiB chunks', async (_, data) => {
    const dump = Buffer.from(HEAD + T + data + FOOT);
    const { output } = rewriteBuffer(cut(dump, 4096), { rules: await rules('unknown: keep\n') });
    expect(output.equals(dump)).toBe(true);
    const rewritten = rewriteBuffer(cut(dump, 4096), { rules: await rules('tables:\n  t: { columns: { id: keep, body: { value: z } } }\n') }).output.toString();
    expect(rewritten).toMatch(/(VALUES \(1, 'z'\);|\n1\tz\n2\tz\n)/);
  });
});

describe('a scrubbed column', () => {
  // fields the detectors cannot match are written as their bytes, undecoded (scrubLeaves); every field,
  // so kept or not, must be what the scrubber makes of its text, COPY-encoded
  const KINDS = ['email', 'phone', 'postcode', 'ip', 'url'];
  const scrubber = compileScrubber(KINDS, new KeyRing('secret'));
  const text = fc.string({
    unit: fc.oneof(
      fc.constantFrom('pot hole ', 'green', ' ', 'é', '漢', '🎉', '\t', '\n', '\\', '\u0001', '\u000b', '@', ':', '0', 'ann@mail.net', '0161 496 0000', 'SW1A 1AA', '10.0.0.1', 'https://x.org', 'x'.repeat(90)),
      fc.string({ maxLength: 1 }),
    ),
    maxLength: 12,
  });
  const dumpOf = (bodies: string[]) =>
    `${HEAD}${NOTES}COPY public.notes (id, body) FROM stdin;\n${bodies.map((b, i) => `${i}\t${encodeField(b)}\n`).join('')}\\.\n${FOOT}`;
  const RULES = `tables:\n  notes: { columns: { id: keep, body: { scrub: [${KINDS.join(', ')}] } } }\n`;

  it('writes each field as the scrubber makes it, however the dump is cut', async () => {
    const r = await rules(RULES);
    const cut = (b: Buffer, n: number) => Array.from({ length: Math.ceil(b.length / n) }, (_, i) => b.subarray(i * n, (i + 1) * n));
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 300 }), (bodies, size) => {
        const out = rewriteBuffer(cut(Buffer.from(dumpOf(bodies)), size), { rules: r }).output.toString();
        expect(out).toBe(dumpOf(bodies.map(scrubber)));
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ['a field with a raw vertical tab (pg_dump writes \\v) is written as the scrubber makes it', '1\tno digits \u000b here\n', '1\tno digits \\v here\n'],
    ['a field with a raw control character COPY keeps', '1\tno digits \u0001 here\n', '1\tno digits \u0001 here\n'],
    ['a field with nothing to find', '1\tplease fix the pot hole\n', '1\tplease fix the pot hole\n'],
  ])('%s', async (_what, row, want) => {
    const dump = (r: string) => `${HEAD}${NOTES}COPY public.notes (id, body) FROM stdin;\n${r}\\.\n${FOOT}`;
    expect((await run(dump(row), RULES)).output.toString()).toBe(dump(want));
  });

  it('cuts a value longer than its varchar column allows, as the scrubber does, even with nothing to find', async () => {
    const short = NOTES.replace('body text', 'body character varying(10)');
    const dump = (r: string) => `${HEAD}${short}COPY public.notes (id, body) FROM stdin;\n${r}\\.\n${FOOT}`;
    expect((await run(dump('1\tplease fix the pot hole\n2\tpot hole\n'), RULES)).output.toString()).toBe(dump('1\tplease fix\n2\tpot hole\n'));
  });
});

describe('statement keywords', () => {
  it('reads the statements it acts on in any case, and only as whole words', async () => {
    const dump = HEAD + 'create table public.users (\n    id integer NOT NULL,\n    email text,\n    name text\n);\n\n' +
      "insert into public.users values (1, 'a@gmail.com', 'Ann');\nInsert Into public.users (id, email, name) Values (2, 'b@gmail.com', 'Bo');\n" + FOOT;
    const out = (await run(dump, FULL)).output.toString();
    expect(out).not.toContain('gmail');
    expect(out).toContain("insert into public.users values (1, '");
    expect(out.match(/'X'\)/g)).toHaveLength(2);
    // an unknown first word is no statement of ours, even if it begins like one: under unknown: fail
    // it stops the run (it is not examined), under unknown: keep it passes as it is
    const other = HEAD + USERS + 'INSERTED_NOTE;\nCOPYRIGHT;\n' + FOOT;
    await expect(run(other, FULL)).rejects.toMatchObject({ code: 'OUTSIDE_ROWS', position: { line: 14 } });
    expect((await run(other, 'unknown: keep\n' + FULL)).output.toString()).toBe(other);
  });
});

describe('skipKept (the passes of find, forget and subsets)', () => {
  it('writes a dump byte for byte however it is cut, skipping through kept tables to their end line', async () => {
    const { readFileSync } = await import('node:fs');
    const dump = readFileSync('fixtures/sample/sample.sql');
    const keep = await rules('unknown: keep\n');
    for (const size of [1, 2, 3, 7, 64, 1000, 4096]) {
      const out: Buffer[] = [];
      const rw = new DumpRewriter({ rules: keep, skipKept: true }, (c) => out.push(Buffer.from(c)));
      for (let i = 0; i < dump.length; i += size) rw.write(dump.subarray(i, i + size));
      rw.end();
      expect(Buffer.concat(out).equals(dump), `chunks of ${size}`).toBe(true);
    }
  });

  it('still finds the end of a table whose rows start with an escaped backslash-dot', async () => {
    const dump = `${HEAD}${USERS}COPY public.users (id, email, name) FROM stdin;\n1\t\\\\.x\tA\n\\\\.\t\\N\tB\n\\.\n${NOTES}COPY public.notes (id, body) FROM stdin;\n1\tn\n\\.\n${FOOT}`;
    const out: Buffer[] = [];
    const rw = new DumpRewriter({ rules: await rules('unknown: keep\n'), skipKept: true, observer: { wants: (t) => t === 'public.notes', row: () => {} } }, (c) => out.push(Buffer.from(c)));
    for (let i = 0; i < dump.length; i += 5) rw.write(Buffer.from(dump.slice(i, i + 5)));
    rw.end();
    expect(Buffer.concat(out).toString()).toBe(dump);
  });
});

describe('COPY block offsets (the first pass of find, forget and subsets)', () => {
  it('names where each block starts and ends in the input, however it is cut', async () => {
    const { readFileSync } = await import('node:fs');
    const dump = readFileSync('fixtures/sample/sample.sql');
    const keep = await rules('unknown: keep\n');
    let want: string | null = null;
    for (const size of [1, 3, 17, 4096, dump.length]) {
      const blocks: string[] = [];
      let open: { table: string; at: number } | null = null;
      const observer = {
        table: (e: { table: string; offset?: number }) => void (open = { table: e.table, at: e.offset! }),
        dataEnd: (table: string, end: number) => {
          expect(table).toBe(open!.table);
          blocks.push(dump.subarray(open!.at, end).toString());
        },
      };
      const rw = new DumpRewriter({ rules: keep, observer }, () => {});
      for (let i = 0; i < dump.length; i += size) rw.write(dump.subarray(i, i + size));
      rw.end();
      for (const b of blocks) {
        expect(b).toMatch(/^COPY public\.\S+ \(/);
        expect(b.endsWith('\n\\.\n')).toBe(true);
      }
      const joined = blocks.join('\u0000');
      want ??= joined;
      expect(joined, `chunks of ${size}`).toBe(want);
    }
    expect(want!.split('\u0000').length).toBeGreaterThan(5);
  });
});

describe('outsideIdentifiers (forget)', () => {
  it('scrubs a person\'s identifier from the comments before a data statement, as from other statements', async () => {
    const { identifiers } = await import('../src/relations/needles.js');
    const { KeyRing } = await import('../src/pseudonym/keys.js');
    const ids = identifiers(['jane.doe@example.org'], new KeyRing('k'.repeat(32)).sip('x'));
    const dump = `${HEAD}${USERS}COMMENT ON TABLE public.users IS 'ask jane.doe@example.org';\n\n--\n-- Data for Name: users; Type: TABLE DATA; Schema: public; Owner: jane.doe@example.org\n--\n\n${USERS_DATA}${FOOT}`;
    const keep = await rules('unknown: keep\noutside: { comments: keep, literals: keep }\n');
    const run = (withIds: boolean) => {
      const out: Buffer[] = [];
      const rw = new DumpRewriter({ rules: keep, outsideIdentifiers: withIds ? { find: (b, f, e) => ids.search.find(b, f, e), scrub: (t) => ids.scrub(t) } : undefined }, (c) => out.push(Buffer.from(c)));
      for (let i = 0; i < dump.length; i += 7) rw.write(Buffer.from(dump.slice(i, i + 7)));
      rw.end();
      return { text: Buffer.concat(out).toString(), scrubbed: rw.outsideCounts.identifiersScrubbed ?? 0 };
    };
    expect(run(false).text).toBe(dump);
    const r = run(true);
    expect(r.text).not.toContain('jane.doe@example.org');
    expect(r.scrubbed).toBe(2);
    expect(r.text).toContain(USERS_DATA);
  });
});

describe('the report counts what changed', () => {
  // 40,000 rows of ~45 bytes: the output buffer (256 KiB) is handed on several times in the middle of
  // the rows; a value the rule writes as it was must never count as changed, wherever the cut falls
  it.each([
    ['COPY', (rows: string[]) => `COPY public.users (id, email, name) FROM stdin;\n${rows.map((r) => r.replace(/,/g, '\t')).join('\n')}\n\\.\n`],
    ['INSERT', (rows: string[]) => rows.map((r) => `INSERT INTO public.users VALUES (${r.split(',').map((v, i) => (i === 0 ? v : `'${v}'`)).join(', ')});`).join('\n') + '\n'],
  ])('%s: a value written unchanged is never counted, one changed always is', async (_form, data) => {
    const rows = Array.from({ length: 40_000 }, (_, i) => `${i},same@example.org,Name ${i}`);
    const { result } = await run(HEAD + USERS + data(rows) + FOOT, 'tables:\n  users:\n    columns: { id: keep, email: { value: "same@example.org" }, name: { template: "Named {id}" } }\n');
    const users = result.tables.find((t) => t.table === 'public.users')!;
    expect(users.changed.email ?? 0).toBe(0);
    expect(users.changed.name).toBe(40_000);
  });
});

describe('a rule that names a column the table does not have', () => {
  const GENERATED = 'CREATE TABLE public.users (\n    id integer NOT NULL,\n    email text,\n    name text,\n    name_upper text GENERATED ALWAYS AS (upper(name)) STORED\n);\n\n';
  it.each([
    // a typo beside "*": keep would let every address through under keep
    ['a typo beside "*": keep', 'tables:\n  users:\n    columns: { emial: { fake: internet.email }, "*": keep }\n', /r\.yaml:4: column emial of public\.users: the table has no such column \(did you mean email\?\)/],
    ['a typo under unknown: keep', 'unknown: keep\ntables:\n  users:\n    columns: { nmae: null }\n', /column nmae of public\.users: the table has no such column \(did you mean name\?\)/],
    ['a name far from every column', 'tables:\n  users:\n    columns: { shoe_size: null, "*": keep }\n', /column shoe_size of public\.users: the table has no such column$/],
  ])('%s: a rules error before the first byte', async (_what, yaml, message) => {
    const { error, written } = await fail(HEAD + USERS + USERS_DATA + FOOT, yaml);
    expect(error.code).toBe('RULES');
    expect(error.message).toMatch(message);
    expect(written).toBe('');
  });

  it('a generated column, which no row carries, is a column the table has; a glob names columns some tables lack', async () => {
    const data = 'COPY public.users (id, email, name) FROM stdin;\n1\ta@gmail.com\tAnn\n\\.\n';
    const r = await run(HEAD + GENERATED + NOTES + data + FOOT, 'tables:\n  users:\n    columns: { name_upper: keep, email: { fake: internet.email }, "*": keep }\n  "public.*":\n    columns: { body: null, "*": keep }\n');
    expect(r.output.toString()).not.toContain('a@gmail.com');
  });
});

describe('json rules write their documents in every form of the dump', () => {
  // the rewritten document reaches the output as UTF-8 bytes: escaped for COPY, quoted for INSERT
  // (both settings of standard_conforming_strings), and encoded again when the dump is not UTF-8
  const doc = '{"a": "old", "k\\u00e9": "caf\u00e9\\t\\\\", "b": [1.50, "x\\"y"]}';
  const keys = 'a: { value: "q\\"\\\\ é" }, "*": keep';
  const expected = '{"a": "q\\"\\\\ é", "k\\u00e9": "café\\t\\\\", "b": [1.50, "x\\"y"]}';
  const T = 'CREATE TABLE public.f (\n    d jsonb\n);\n\n';
  const copyField = (s: string) => s.replace(/\\/g, '\\\\');
  it.each([
    ['COPY', HEAD, `COPY public.f (d) FROM stdin;\n${copyField(doc)}\n\\.\n`, `COPY public.f (d) FROM stdin;\n${copyField(expected)}\n\\.\n`, 'utf8'],
    ['INSERT, standard_conforming_strings on', HEAD, `INSERT INTO public.f VALUES ('${doc}');\n`, `INSERT INTO public.f VALUES ('${expected}');\n`, 'utf8'],
    ['INSERT, standard_conforming_strings off', HEAD.replace('= on', '= off'), `INSERT INTO public.f VALUES (E'${doc.replace(/\\/g, '\\\\')}');\n`, `INSERT INTO public.f VALUES (E'${expected.replace(/\\/g, '\\\\')}');\n`, 'utf8'],
    ['COPY in LATIN1', HEAD.replace("'UTF8'", "'LATIN1'"), `COPY public.f (d) FROM stdin;\n${copyField(doc)}\n\\.\n`, `COPY public.f (d) FROM stdin;\n${copyField(expected)}\n\\.\n`, 'latin1'],
    ['INSERT in LATIN1', HEAD.replace("'UTF8'", "'LATIN1'"), `INSERT INTO public.f VALUES ('${doc}');\n`, `INSERT INTO public.f VALUES ('${expected}');\n`, 'latin1'],
  ] as const)('%s', async (_form, head, data, want, encoding) => {
    const input = Buffer.from(head + T + data + FOOT, encoding);
    const { output } = await rewriteBuffer(input, { rules: await rules(`tables:\n  f: { columns: { d: { json: { ${keys} } } } }\n`) });
    expect(output.toString(encoding)).toBe(head + T + want + FOOT);
    // a document no rule changes: the same bytes
    const kept = await rewriteBuffer(input, { rules: await rules('tables:\n  f: { columns: { d: { json: { zz: { value: Z }, "*": keep } } } }\n') });
    expect(Buffer.compare(kept.output, input)).toBe(0);
  });
});

describe('fakes and hashes read the value as UTF-8 bytes', () => {
  // the pseudonym of a value is a function of its text, whatever the dump's encoding or escaping
  const T = 'CREATE TABLE public.p (\n    name text,\n    token text\n);\n\n';
  const yaml = 'tables:\n  p: { columns: { name: { fake: person.fullName, nulls: replace }, token: { hash: { length: 16 } } } }\n';
  const fields = async (head: string, data: string, encoding: BufferEncoding) => {
    const { output } = await rewriteBuffer(Buffer.from(head + T + data + FOOT, encoding), { rules: await rules(yaml) });
    return output.toString(encoding).split('FROM stdin;\n')[1]!.split('\n\\.\n')[0]!.split('\n').map((l) => l.split('\t'));
  };
  it('gives the same pseudonyms in UTF-8 and LATIN1, escaped or not, and replaces NULL where the rule says', async () => {
    const rows = 'COPY public.p (name, token) FROM stdin;\nZoë Ünal\tt-é\nZo\\303\\253 \\303\\234nal\tt-\\303\\251\n\\N\t\\N\n\\.\n';
    const utf8 = await fields(HEAD, rows, 'utf8');
    // in LATIN1 the escaped octets are Latin-1 bytes: ë is \353, Ü \334, é \351
    const latin1 = await fields(HEAD.replace("'UTF8'", "'LATIN1'"), rows.replace('Zo\\303\\253 \\303\\234nal\tt-\\303\\251', 'Zo\\353 \\334nal\tt-\\351'), 'latin1');
    expect(utf8[0]).toEqual(utf8[1]);
    expect(latin1).toEqual(utf8);
    expect(utf8[0]![0]).not.toBe('Zoë Ünal');
    expect(utf8[0]![1]).toMatch(/^[0-9a-f]{16}$/);
    // NULL: a fake under nulls: replace, the hash's NULL kept
    expect(utf8[2]![0]).not.toBe('\\N');
    expect(utf8[2]![1]).toBe('\\N');
  });
});

describe('fields read in any order', () => {
  // b's rule reads b first; c's template then reads a, which lies before it and holds an escape
  it('decodes an earlier field read after a later one', async () => {
    const T = 'CREATE TABLE public.o (\n    a text,\n    b text,\n    c text\n);\n\n';
    const data = 'COPY public.o (a, b, c) FROM stdin;\np\\tq\\\\r\tzz\tc\n\\.\n';
    const { output } = await rewriteBuffer(Buffer.from(HEAD + T + data + FOOT), { rules: await rules('tables:\n  o: { columns: { a: keep, b: { hash: { length: 8 } }, c: { template: "x{a}" } } }\n') });
    const row = output.toString().split('FROM stdin;\n')[1]!.split('\n')[0]!.split('\t');
    expect(row[0]).toBe('p\\tq\\\\r');
    expect(row[1]).toMatch(/^[0-9a-f]{8}$/);
    expect(row[2]).toBe('xp\\tq\\\\r');
  });
});
