/**
 * A json rule has two walks: over the value's bytes (the common case, no JavaScript string for the
 * document) and over its text (everything else, and the one that names errors). They must agree byte
 * for byte: whatever the bytes walk returns is what the text walk would have written, and where it
 * declines (undefined) the engine runs the text walk.
 */
import fc from 'fast-check';
import { WINDOW } from '../src/pseudonym/memo.js';
import { describe, expect, it } from 'vitest';
import { compileRules, readRules } from '../src/engine/run.js';
import type { ColumnAction, RowAccess, TablePlan } from '../src/contract/plan.js';
import { RowCursor } from '../src/dump/row-cursor.js';
import { encodeField, unescapeField } from '../src/dump/copy-codec.js';

const KEY = 'json-bytes-test-key';

const RULES = {
  star: `
version: 1
tables:
  public.t:
    columns:
      doc:
        json:
          email: { fake: internet.email }
          name: { fake: person.fullName }
          token: { hash: { length: 16 } }
          msg: { scrub: [email, phone, postcode] }
          gone: null
          fixed: { value: "fixed é\\n" }
          nested.inner: { fake: person.firstName }
          list: { fake: person.lastName }
          # keys a document can only hold with an escape: compared decoded, never as raw bytes
          "q\\"k": { value: "quote" }
          "b\\\\k": { value: "backslash" }
          "*": keep
`,
  // no "*": a key the rules do not name stops the run (the text walk says which)
  strict: `
version: 1
unknown: fail
tables:
  public.t:
    columns:
      doc:
        json:
          email: { fake: internet.email }
          nested: { json: { inner: { hash: { length: 8 } }, "*": keep } }
          other: keep
`,
  // a rule on the whole document: every scalar under it, keys kept
  whole: `
version: 1
tables:
  public.t:
    columns:
      doc: { json: { "*": { fake: person.firstName } } }
`,
  nullsReplace: `
version: 1
tables:
  public.t:
    columns:
      doc: { json: { email: { fake: internet.email, nulls: replace }, "*": keep }, nulls: replace }
`,
};

async function actionOf(yaml: string): Promise<ColumnAction> {
  const rules = compileRules(await readRules({ text: [{ name: 'json-bytes.yaml', yaml }] }), KEY);
  const plan = rules.plan('public.t', ['doc'], () => undefined);
  if (plan.mode !== 'rewrite' || !plan.actions[0]) throw new Error('no action for doc');
  return plan.actions[0];
}

function rowOf(text: string | null, bytes: Buffer | null = text === null ? null : Buffer.from(text, 'utf8')): RowAccess {
  return {
    bytes: () => bytes,
    text: () => text,
    output: () => {
      throw new Error('a json rule reads no output');
    },
  };
}

type Outcome = { value: string | null } | { error: string };

function textWalk(action: ColumnAction, text: string | null): Outcome {
  try {
    return { value: action(rowOf(text), 0) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** The bytes walk's answer, decoded at once (it is a view, valid until the next call). */
function bytesWalk(action: ColumnAction, text: string | null, bytes?: Buffer): string | null | undefined {
  const b = action.bytes!(rowOf(text, bytes), 0);
  return b === undefined || b === null ? b : b.toString('utf8');
}

// keys the rules name, keys they do not, and keys that need escapes
// (and keys that begin or end like a rule's: a key is matched whole, JsonByteCursor.stringIs)
const key = fc.constantFrom('email', 'name', 'token', 'msg', 'gone', 'fixed', 'nested', 'inner', 'list', 'other', 'x', 'é', 'em\\u0061il', 'a"b', 'tab\t', '', 'emails', 'emai', 'nam', 'q"k', 'b\\k', 'q');
// strings rich in what JSON escapes and what the detectors look for
const text = fc.string({
  unit: fc.oneof(
    fc.constantFrom('"', '\\', '/', '\n', '\t', '\u0001', '\u001f', '\u007f', 'é', '漢', '🎉', '\ud800', '@', '.', ' ', '0', '7', 'SW1A 1AA', 'jane@example.org', '07700 900123', 'ann@mail.net', '0161 496 0000', '10.0.0.1'),
    fc.string({ maxLength: 1 }),
  ),
  maxLength: 30,
});
const scalar = fc.oneof(text, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));
const value = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.array(fc.tuple(key, tie('value')), { maxLength: 5 }).map((pairs) => {
    const o: Record<string, unknown> = {};
    for (const [k, v] of pairs) o[k === 'em\\u0061il' ? 'email' : k] = v;
    return o;
  }),
})).value;

/** The document as someone might have written it: spacing, \u escapes, numbers as typed. */
const written = fc.tuple(value, fc.constantFrom(0, 1, 2), fc.boolean()).map(([v, indent, escapeAll]) => {
  let s = JSON.stringify(v, null, indent) ?? 'null';
  if (escapeAll) s = s.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return s;
});

// documents no generator above makes: errors, odd numbers, odd spacing, escapes the text walk decodes
const awkward = [
  '{}', '[]', 'null', '"top"', '12', ' {"email" : "a@b.c" } ', '{"email":"a\\u0040b.c"}', '{"email":"\\ud83c\\udf89"}',
  '{"email":"\\ud800"}', '{"nested":{"inner":"x","y":[1,2,{"inner":"z"}]}}', '{"msg":"call 07700 900123 or SW1A 1AA"}',
  '{"n":-0.5e+10,"m":1E3,"k":0}', '{"n":01}', '{"n":1.}', '{"n":-}', '{"email":"a\tb"}', '{"email":"a\u0001b"}', '{"email":"x"',
  '{"email":"x"}}', '{"email" "x"}', "{'email':'x'}", '{"email":"\\x"}', '{"email":"\\u12"}', '', ' ', '{"email":"x",}',
  '[1,2,]', '{"gone":{"deep":[1,{"a":2}]},"fixed":[true,false,null]}', '{"list":["a",["b",null],{"c":"d"}]}',
  '{"a":1}\n', '\t[ "x" ]\r\n', '{"email":null,"name":null}', '{"token":"é漢🎉"}', `${'['.repeat(600)}${']'.repeat(600)}`,
  `{"nested":${'['.repeat(520)}1${']'.repeat(520)}}`,
  // a rule's key that holds `"` or `\` written raw: not JSON, and not that key
  '{"q"k":"v"}', '{"b\\k":"v"}', '{"q\\"k":"v","b\\\\k":"w"}',
  // scrubbed text long enough to be checked by an expression and written natively: plain, and with each
  // character JSON.stringify writes otherwise than as it is, alone
  ...['', '\\"', '\\\\', '\\u007f', 'é', '\\t', '\\u0001', '🎉'].map((odd) => `{"msg":"write to SW1A 1AA about the ${odd} parking permit"}`),
];

describe('json rules over bytes', () => {
  it.each((Object.keys(RULES) as (keyof typeof RULES)[]).flatMap((n) => [[n, 'in use'], [n, 'passed by']]))('%s, the fakes\' tables of repeats %s: the bytes walk writes what the text walk writes, or leaves it to it', async (name, tables) => {
    const action = await actionOf(RULES[name]);
    expect(action.bytes).toBeTypeOf('function');
    // distinct values: the fakes' tables are passed by (memo.ts), and the fakes written as bytes (fake-bytes.ts)
    if (tables === 'passed by') for (let i = 0; i < 2 * WINDOW; i++) textWalk(action, JSON.stringify({ email: `w${i}@x.org`, name: `N ${i}`, nested: { inner: `i${i}` }, list: [`l${i}`] }));
    let walked = 0;
    const agree = (doc: string) => {
      const expected = textWalk(action, doc);
      const got = bytesWalk(action, doc);
      if (got === undefined) return true;
      walked++;
      // what the bytes walk answers, the text walk answers too: never a document it would refuse
      expect(expected).toEqual({ value: got });
      return true;
    };
    for (const doc of awkward) agree(doc);
    fc.assert(fc.property(written, agree), { numRuns: 3000 });
    // the bytes walk is the common case, not a path that always declines
    expect(walked).toBeGreaterThan(name === 'strict' ? 100 : 1000);
  });

  it.each(Object.keys(RULES) as (keyof typeof RULES)[])('%s: a document read where it lies in a larger buffer (a span) walks as the same document alone', async (name) => {
    const action = await actionOf(RULES[name]);
    let spanned = 0;
    // around it, what a chunk holds: other fields and rows, quotes, braces and backslashes
    const around = fc.string({ unit: fc.constantFrom('"', '\\', '}', ']', 'x', '\t', '\n', 'é'), maxLength: 12 });
    fc.assert(
      fc.property(written, around, around, (doc, before, after) => {
        const bytes = Buffer.from(doc, 'utf8');
        // a span is a COPY field with no backslash in it (RowCursor.span)
        if (bytes.includes(0x5c)) return;
        const buf = Buffer.concat([Buffer.from(before), bytes, Buffer.from(after)]);
        const at = Buffer.byteLength(before);
        const row: RowAccess = { ...rowOf(doc), span: () => buf, spanStart: at, spanEnd: at + bytes.length };
        const text = (b: Buffer | null | undefined) => (b === undefined || b === null ? b : b.toString('utf8'));
        const got = text(action.bytes!(row, 0));
        const gotAsCopy = action.bytesAsCopy!();
        // the same document alone, as a COPY field with nothing to unescape
        const alone = text(action.bytes!({ ...rowOf(doc), asIs: () => true }, 0));
        expect(got).toEqual(alone);
        expect(gotAsCopy).toBe(action.bytesAsCopy!());
        if (got !== undefined) spanned++;
      }),
      { numRuns: 2000 },
    );
    expect(spanned).toBeGreaterThan(name === 'strict' ? 100 : 500);
  });

  it.each([
    ['keys that extend a rule\'s', '{"emails":"a@b.c","names":["x"],"tokens":1}'],
    ['keys that begin a rule\'s', '{"emai":"a@b.c","nam":"x","":2}'],
    ['a rule\'s key beside them', '{"emails":"a@b.c","email":"jane@example.org","emai":"x"}'],
    ['keys at the end of the document', '{"msg":"x","nested":{"inner":"y"}}'],
  ])('%s: the bytes walk reads them (it does not decline) and writes what the text walk writes', async (_, doc) => {
    const action = await actionOf(RULES.star);
    const got = bytesWalk(action, doc);
    expect(got).toBeTypeOf('string');
    expect(textWalk(action, doc)).toEqual({ value: got });
  });

  it.each([
    ['a key cut at the end', '{"email', '":"x"}'],
    ['a key whose quote lies past the end', '{"email":"a","name', '"}'],
    ['a key that runs on past a rule\'s', '{"emai', 'l":"x"}'],
    ['an empty key cut', '{"', '":1}'],
  ])('%s of a document in a larger buffer: nothing past the end is read as its key', async (_, doc, after) => {
    const action = await actionOf(RULES.star);
    const buf = Buffer.from(doc + after);
    const row: RowAccess = { ...rowOf(doc), span: () => buf, spanStart: 0, spanEnd: Buffer.byteLength(doc) };
    expect(action.bytes!(row, 0)).toBeUndefined();
    expect(textWalk(action, doc)).toHaveProperty('error');
  });

  it('declines what the text walk refuses, so that the text walk names it', async () => {
    const strict = await actionOf(RULES.strict);
    for (const doc of ['{"email":"x","unlisted":1}', '{"nested":{"inner":"x","other":"y"},"zz":[]}', '{"email":"x"', '{"email":"\\q"}', `${'['.repeat(600)}${']'.repeat(600)}`]) {
      expect(bytesWalk(strict, doc)).toBeUndefined();
      expect(textWalk(strict, doc)).toHaveProperty('error');
    }
    // and the message names the key by its shape when it might be personal, never the value
    const outcome = textWalk(strict, '{"jane@example.org":"secret value"}');
    expect(outcome).toHaveProperty('error');
    expect(JSON.stringify(outcome)).not.toMatch(/jane|secret/);
  });

  it('keeps a document no rule changes as the same bytes, and NULL as NULL (or to the text walk to replace)', async () => {
    const star = await actionOf(RULES.star);
    const doc = Buffer.from('{ "other": [1, 2.50, "é"],\n  "x": {"y": null} }');
    const b = star.bytes!(rowOf(doc.toString('utf8'), doc), 0);
    expect(b).toBeInstanceOf(Buffer);
    expect(Buffer.compare(b!, doc)).toBe(0);
    expect(star.bytes!(rowOf(null), 0)).toBeNull();
    const replace = await actionOf(RULES.nullsReplace);
    // a NULL document under nulls: replace is the text walk's to write
    expect(replace.bytes!(rowOf(null), 0)).toBeUndefined();
  });

  it('pseudonyms from bytes equal those from text: the same person gets the same fake in both walks and across documents', async () => {
    const star = await actionOf(RULES.star);
    const first = bytesWalk(star, '{"email":"jane@example.org","name":"Jane Smith","token":"t-1"}');
    const escaped = bytesWalk(star, '{"name":"Jane Smith","token":"t-\\u0031","email":"jane\\u0040example.org"}');
    const parse = (s: string | null | undefined) => JSON.parse(s!) as Record<string, string>;
    expect(parse(first)).toEqual(parse(escaped));
    expect(parse(first).email).not.toBe('jane@example.org');
    expect(parse(first).token).toMatch(/^[0-9a-f]{16}$/);
  });

  it('property: bytes it says need no COPY escape are their own COPY text (the document read from a COPY row)', async () => {
    const action = await actionOf(RULES.star);
    const plan = { mode: 'rewrite', rule: 'test', columns: ['doc'], actions: [action], filter: null } as Extract<TablePlan, { mode: 'rewrite' }>;
    const row = new RowCursor(1 << 20, () => ({ table: 'public.t' }));
    row.prepare(plan);
    let asCopy = 0;
    let escaped = 0;
    const holds = (doc: string) => {
      const field = Buffer.from(encodeField(doc));
      row.copyRow(field, 0, field.length);
      row.newBytes();
      const out = action.bytes!(row, 0);
      if (!out) return true;
      if (action.bytesAsCopy!()) {
        asCopy++;
        expect(encodeField(out.toString('utf8'))).toBe(out.toString('utf8'));
      } else escaped++;
      return true;
    };
    for (const doc of awkward) holds(doc);
    fc.assert(fc.property(written, holds), { numRuns: 2000 });
    // both answers are common
    expect(asCopy).toBeGreaterThan(100);
    expect(escaped).toBeGreaterThan(100);
  });

  it('a raw backspace, form feed or vertical tab in a field (which pg_dump never writes) is kept raw, and COPY reads it back the same', async () => {
    const action = await actionOf(RULES.star);
    const plan = { mode: 'rewrite', rule: 'test', columns: ['doc'], actions: [action], filter: null } as Extract<TablePlan, { mode: 'rewrite' }>;
    const row = new RowCursor(1 << 20, () => ({ table: 'public.t' }));
    row.prepare(plan);
    const field = Buffer.from('{"other":"a\bb\fc\vd","email":"jane@gmail.com"}');
    row.copyRow(field, 0, field.length);
    const out = action.bytes!(row, 0)!;
    expect(action.bytesAsCopy!()).toBe(true);
    // written as it is, it reads back as itself: the kept string's bytes and the fake's
    expect(unescapeField(out, 0, out.length)!.equals(out)).toBe(true);
    expect(out.toString('latin1')).toContain('"other":"a\bb\fc\vd"');
    expect(out.toString('utf8')).not.toContain('jane@gmail.com');
  });
});
