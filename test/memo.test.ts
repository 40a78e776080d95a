import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeMemo, KEY_MAX, REST, WINDOW } from '../src/pseudonym/memo.js';

/** a stand-in fake that tells its inputs apart and counts its calls */
function counted() {
  const calls = { n: 0 };
  const fn = (v: Buffer, start = 0, end = v.length) => {
    calls.n++;
    return `fake(${v.toString('latin1', start, end)})`;
  };
  return { calls, fn };
}

describe('FakeMemo', () => {
  it('gives what the function gives, for any values at any offsets, repeated or not', () => {
    // few distinct values, so that most lookups repeat one; and many, so that slots are taken over
    const value = fc.oneof(fc.constantFrom('Ann', 'Bo', '', 'Zoë', 'Ann ', 'ann', 'x'.repeat(KEY_MAX), 'x'.repeat(KEY_MAX + 1)), fc.string({ maxLength: 40 }));
    fc.assert(
      fc.property(fc.array(fc.tuple(value, fc.nat(5), fc.nat(5)), { maxLength: 300 }), (items) => {
        const { fn } = counted();
        const memo = new FakeMemo(fn);
        for (const [v, before, after] of items) {
          const bytes = Buffer.from(v, 'utf8');
          const buf = Buffer.concat([Buffer.alloc(before, 0x41), bytes, Buffer.alloc(after, 0x42)]);
          if (memo.get(buf, before, before + bytes.length) !== fn(buf, before, before + bytes.length)) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it('gives each of 50,000 distinct values its own fake, though many share a slot', () => {
    const { fn } = counted();
    const memo = new FakeMemo(fn);
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < 50_000; i++) {
        const v = Buffer.from(`person ${i}`);
        expect(memo.get(v)).toBe(`fake(person ${i})`);
      }
  });

  it.each([
    ['a name', 'Jane Smith', true],
    ['a value of KEY_MAX bytes', 'x'.repeat(KEY_MAX), true],
    ['a longer value (not kept)', 'x'.repeat(KEY_MAX + 1), false],
    ['the empty value', '', true],
  ])('%s met again is served from the table: %s', (_what, v, served) => {
    const { calls, fn } = counted();
    const memo = new FakeMemo(fn);
    for (let i = 0; i < 10; i++) expect(memo.get(Buffer.from(v))).toBe(`fake(${v})`);
    expect(calls.n).toBe(served ? 1 : 10);
  });

  it('rests after a window of values that do not repeat, then is tried again', () => {
    const { calls, fn } = counted();
    const memo = new FakeMemo(fn);
    for (let i = 0; i < WINDOW; i++) memo.get(Buffer.from(`distinct ${i}`));
    // resting: a repeated value is computed each time, and rightly
    calls.n = 0;
    for (let i = 0; i < 1000; i++) expect(memo.get(Buffer.from('Jane'))).toBe('fake(Jane)');
    expect(calls.n).toBe(1000);
    for (let i = 1000; i < REST * WINDOW; i++) memo.get(Buffer.from('Jane'));
    // in use again
    calls.n = 0;
    for (let i = 0; i < 1000; i++) expect(memo.get(Buffer.from('Jane'))).toBe('fake(Jane)');
    expect(calls.n).toBe(1);
  });

  it('stays in use while values repeat', () => {
    const { calls, fn } = counted();
    const memo = new FakeMemo(fn);
    const names = Array.from({ length: 300 }, (_, i) => Buffer.from(`name ${i}`));
    for (let i = 0; i < 20 * WINDOW; i++) memo.get(names[i % names.length]!);
    expect(calls.n).toBe(names.length);
  });
});
