import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteDraft } from '../src/text/byte-draft.js';

describe('ByteDraft', () => {
  it('writes numbers as String() and hex as toString(16) would', () => {
    const d = new ByteDraft();
    fc.assert(
      fc.property(fc.nat(), fc.integer(), (n, h) => {
        d.reset();
        d.decimal(n);
        d.byte(0x2f);
        d.hex32(h);
        expect(d.text()).toBe(`${n}/${(h >>> 0).toString(16).padStart(8, '0')}`);
      }),
      { numRuns: 5000 },
    );
  });

  it('grows past its first buffer, and its views are the bytes written whatever their length', () => {
    const d = new ByteDraft();
    const piece = Buffer.from('abcdefghijklmnopqrstuvwxyzé');
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(piece.length), fc.nat(piece.length)), { maxLength: 40 }), (cuts) => {
        d.reset();
        const want: Buffer[] = [];
        for (const [a, b] of cuts) {
          const [s, e] = a <= b ? [a, b] : [b, a];
          d.put(piece, s, e);
          want.push(piece.subarray(s, e));
        }
        // a long piece too, copied natively
        d.put(Buffer.alloc(100, 0x41));
        want.push(Buffer.alloc(100, 0x41));
        expect(d.view().equals(Buffer.concat(want))).toBe(true);
        expect(d.equals(Buffer.concat(want), 0, d.len)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it.each([
    ['plain text', 'Ann Smith', true],
    ['a tab', 'a\tb', false],
    ['a vertical tab', 'a\vb', false],
    ['DEL and bytes past ASCII', 'a\x7fé', true],
  ])('putPlain: %s', (_, text, plain) => {
    const d = new ByteDraft();
    d.put(Buffer.from('x'));
    const b = Buffer.from(`[${text}]`);
    expect(d.putPlain(b, 1, b.length - 1)).toBe(plain);
    if (plain) expect(d.text()).toBe(`x${text}`);
  });

  it('compares its bytes with a range of another buffer', () => {
    const d = new ByteDraft();
    d.put(Buffer.from('Thomas'));
    const row = Buffer.from('7\tThomas\tThomaz\tThom');
    expect([d.equals(row, 2, 8), d.equals(row, 9, 15), d.equals(row, 16, 20)]).toEqual([true, false, false]);
  });
});
