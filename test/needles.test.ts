/** The identifier search and scrub (relations/needles.ts) and the key sets (relations/key-set.ts). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NeedleSearch, identifiers, textForms } from '../src/relations/needles.js';
import { KeySet, rowKey } from '../src/relations/key-set.js';
import { parseCondition } from '../src/relations/people.js';
import { identifierClass } from '../src/relations/identifier-values.js';
import { djangoSessionUserId } from '../src/relations/graph.js';
import { KeyRing } from '../src/pseudonym/keys.js';
import { deflateSync, inflateSync } from 'node:zlib';

const sip = () => new KeyRing('needles-test-key-0123456789').sip('forget-identifier');

describe('NeedleSearch', () => {
  it.each([
    ['few needles (Wu–Manber)', 1, 6],
    ['short needles (the automaton)', 1, 3],
    ['many needles (the automaton)', 70, 6],
  ])('finds the first occurrence as a folded indexOf would, at any start: %s', (_, copies, maxLength) => {
    const unit = fc.constantFrom('a', 'b', 'A', 'c', '@', 'é', '-');
    fc.assert(
      fc.property(fc.array(fc.string({ unit, minLength: maxLength === 3 ? 1 : 4, maxLength }), { minLength: 1, maxLength: 6 }), fc.string({ unit: fc.constantFrom('a', 'b', 'B', 'c', '@', 'é', ' ', '-'), maxLength: 80 }), fc.nat(10), (base, hay, from) => {
        // many needles: the same ones, padded out with others that never occur
        const needles = [...base, ...Array.from({ length: copies - 1 }, (_, i) => `zz${i}zz`)];
        const s = new NeedleSearch(needles);
        const buf = Buffer.from(hay, 'utf8');
        const folded = (b: Buffer) => Buffer.from(b.map((x) => (x >= 0x41 && x <= 0x5a ? x | 0x20 : x)));
        const start = Math.min(from, buf.length);
        // every occurrence, as [start, end)
        const spans: [number, number][] = [];
        for (const n of needles) {
          const nb = folded(Buffer.from(n, 'utf8'));
          for (let i = folded(buf).indexOf(nb, start); i !== -1; i = folded(buf).indexOf(nb, i + 1)) spans.push([i, i + nb.length]);
        }
        const got = s.find(buf, start, buf.length);
        if (spans.length === 0) expect(got).toBe(-1);
        else {
          // inside an occurrence, and none ends before it
          expect(spans.some(([a, b]) => a <= got && got < b)).toBe(true);
          expect(spans.every(([, b]) => b > got)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('finds nothing with no needles, and stops at end', () => {
    expect(new NeedleSearch([]).find(Buffer.from('abc'), 0, 3)).toBe(-1);
    expect(new NeedleSearch(['bc']).find(Buffer.from('abc'), 0, 2)).toBe(-1);
  });
});

describe('identifiers', () => {
  it.each([
    ['an address in any case', ['jane@example.org'], 'Mail JANE@Example.ORG now', 1],
    ['an address without its +tag', ['jane+news@example.org'], 'to jane@example.org.', 1],
    ['not inside a longer address', ['user1@example.org'], 'auser1@example.org and user1@example.org.uk', 0],
    ['a user name as a word', ['jdoe7'], 'by jdoe7, not jdoe77', 1],
    ['JSON-escaped non-ASCII', ['zoë.x@example.org'], '{"e": "zo\\u00eb.x@example.org"}', 1],
    ['shorter than 4 characters: never', ['abc'], 'abc abc', 0],
  ])('%s', (_, ids, text, hits) => {
    const r = identifiers(ids, sip()).scrub(text);
    expect(r.hits).toBe(hits);
    // the identifier is gone as a whole word; a longer word that holds it stays
    for (const id of ids) if (hits) expect(r.text).not.toMatch(new RegExp(`(?<![\\w.])${id.replace('+news', '').replace(/[.+]/g, '\\$&')}(?![\\w])`, 'i'));
    if (text.includes('jdoe77')) expect(r.text).toContain('jdoe77');
  });

  it('replaces an identifier by the same text everywhere, never longer, and JSON stays JSON', () => {
    const ids = identifiers(['jane.doe@example.org'], sip());
    const a = ids.scrub('{"email": "jane.doe@example.org", "cc": ["Jane.Doe@example.org"]}').text;
    const parsed = JSON.parse(a) as { email: string; cc: string[] };
    expect(parsed.email).toBe(parsed.cc[0]);
    expect(parsed.email.length).toBeLessThanOrEqual('jane.doe@example.org'.length);
    expect(identifiers(['jane.doe@example.org'], sip()).scrub('jane.doe@example.org').text).toBe(parsed.email);
  });

  it('searches COPY- and SQL-quoted forms of the bytes', () => {
    const ids = identifiers(["o'brien\\x1"], sip());
    expect(ids.search.find(Buffer.from("('o''brien\\x1')"), 0, 15)).not.toBe(-1);
    expect(ids.search.find(Buffer.from('1\to\'brien\\\\x1\n'), 0, 15)).not.toBe(-1);
  });

  it('lists the text forms', () => {
    expect(textForms('a+b@x.org')).toEqual(['a+b@x.org', 'a@x.org']);
  });
});

describe('identifiers in bytea', () => {
  const ids = () => identifiers(['jane.doe@example.org'], new KeyRing('bytea-test-key-0123456789ab').sip('x'));
  const hex = (t: string) => `\\x${Buffer.from(t, 'latin1').toString('hex')}`;
  it.each([
    ['an address inside the bytes', hex('From: jane.doe@example.org\n'), 1],
    ['in another case', hex('From: JANE.DOE@EXAMPLE.ORG'), 1],
    ['bytes that are not text around it', hex('\u0000\u00ffjane.doe@example.org\u0001'), 1],
    ['no address', hex('From: someone@example.net'), 0],
    ['escape format (not hex): left as it is', 'From: jane.doe@example.org', 0],
  ])('%s', (_what, value, hits) => {
    const r = ids().scrubBytea(value);
    expect(r.hits).toBe(hits);
    if (hits) {
      expect(r.text).toMatch(/^\\x([0-9a-f]{2})*$/);
      const text = Buffer.from(r.text.slice(2), 'hex').toString('latin1');
      expect(text).not.toMatch(/jane\.doe/i);
      expect(text).toMatch(/@a\.invalid/);
    } else expect(r.text).toBe(value);
  });
  it('the search finds the address in a row of hex', () => {
    const row = Buffer.from(`2\t\\\\x${Buffer.from('From: jane.doe@example.org').toString('hex')}\n`);
    expect(ids().search.find(row, 0, row.length)).not.toBe(-1);
  });
});

describe('identifierClass', () => {
  it.each([
    ['jane@example.org', false, 'identifier'],
    ['Jane', false, null],
    ['Jane', true, 'common'],
    ['admin', true, 'common'],
    ['postgres', true, 'common'],
    ["jane.o'doe7", true, 'identifier'],
    ['Jane Doe', true, 'identifier'],
    ['12345', true, null],
    ['2024-01-01', true, null],
    ['+44 7700 900123', false, 'identifier'],
    ['abc', true, 'common'],
  ])('%s (unique %s) → %s', (v, unique, want) => expect(identifierClass(v, unique)).toBe(want));
});

describe('conditions', () => {
  it.each([
    ['users_user.email=a@b.c', { table: 'public.users_user', column: 'email', value: 'a@b.c' }],
    ['app.users.id=7', { table: 'app.users', column: 'id', value: '7' }],
    ['t.c=x=y', { table: 'public.t', column: 'c', value: 'x=y' }],
  ])('%s', (text, want) => expect(parseCondition(text, '--where 1')).toMatchObject(want));
  it.each(['email=a@b.c', 'a.b.c.d=1', 't.c=', 'nothing'])('refuses %s without showing its value', (text) => {
    expect(() => parseCondition(text, '--where 1')).toThrow(/--where 1/);
    try {
      parseCondition(text, '--where 1');
    } catch (e) {
      if (text.includes('@')) expect((e as Error).message).not.toContain('a@b.c');
    }
  });
});

describe('KeySet', () => {
  it('holds what was added, across growth, and nothing else', () => {
    const s = new KeySet('t (id)');
    for (let i = 0; i < 50_000; i++) expect(s.add(String(i))).toBe(true);
    expect(s.add('49999')).toBe(false);
    expect(s.size).toBe(50_000);
    for (let i = 0; i < 50_000; i += 997) expect(s.has(String(i))).toBe(true);
    for (let i = 50_000; i < 60_000; i++) expect(s.has(String(i))).toBe(false);
    expect(s.bytes).toBe(131072 * 8);
  });
  it('spills past its memory to sorted runs on disk, and still holds exactly what was added', () => {
    const s = new KeySet('public.users_user (id)', 64 * 1024);
    for (let i = 0; i < 100_000; i++) expect(s.add(`k${i}`)).toBe(true);
    expect(s.spilled).toBeGreaterThan(80_000);
    expect(s.bytes).toBeLessThan(64 * 1024 + 200_000);
    for (let i = 0; i < 100_000; i += 7) expect(s.add(`k${i}`)).toBe(false);
    for (let i = 0; i < 100_000; i += 13) expect(s.has(`k${i}`)).toBe(true);
    let wrong = 0;
    for (let i = 100_000; i < 150_000; i++) if (s.has(`k${i}`)) wrong++;
    expect(wrong).toBe(0);
    expect(s.size).toBe(100_000);
    s.close();
    expect(s.has('k1')).toBe(false);
  });

  it('keys of several columns: NULL refers to nothing', () => {
    expect(rowKey(['1', null])).toBeNull();
    expect(rowKey(['1', '2'])).not.toBe(rowKey(['12', '']));
    expect(rowKey([null])).toBeNull();
  });
});

describe('django sessions', () => {
  const payload = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  it.each([
    ['signed (3.1+)', `${payload({ _auth_user_id: '42' })}:1abc:sig`, '42'],
    ['compressed', `.${deflateSync(Buffer.from(JSON.stringify({ _auth_user_id: 7 }))).toString('base64url')}:1abc:sig`, '7'],
    ['legacy hash:json', Buffer.from(`abcdef:${JSON.stringify({ _auth_user_id: '9' })}`).toString('base64'), '9'],
    ['anonymous', `${payload({ cart: [1] })}:1abc:sig`, null],
    ['not a session', 'hello world', null],
  ])('%s', (_, value, want) => expect(djangoSessionUserId(value, inflateSync)).toBe(want));
});
