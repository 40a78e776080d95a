import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeField, encodeField, unescapeField } from '../src/dump/copy-codec.js';

// strings rich in the characters COPY text format gives meaning to
const awkward = fc.string({
  unit: fc.oneof(
    fc.constantFrom('\t', '\n', '\r', '\\', '\\N', '\\.', 'N', '.', '\b', '\f', '\v', 'x', '0', '7', 'é', '漢', '🎉'),
    fc.string({ maxLength: 1 }),
  ),
  maxLength: 40,
});

describe('COPY text codec', () => {
  it('decode(encode(s)) === s for any string', () => {
    fc.assert(fc.property(awkward, (s) => decodeField(encodeField(s)) === s), { numRuns: 20000 });
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => decodeField(encodeField(s)) === s), { numRuns: 5000 });
  });

  it('never writes a raw tab, newline or CR, and NULL only as \\N', () => {
    fc.assert(fc.property(awkward, (s) => !/[\t\n\r]/.test(encodeField(s)) && encodeField(s) !== '\\N'));
    expect(encodeField(null)).toBe('\\N');
    expect(encodeField('\\N')).toBe('\\\\N');
  });

  it.each([
    ['plain', 'plain'],
    ['\\N', null],
    ['a\\tb', 'a\tb'],
    ['\\n\\r\\b\\f\\v\\\\', '\n\r\b\f\v\\'],
    ['\\101\\60\\7', 'A0\x07'],
    ['\\x41\\x4a\\x4', 'AJ\x04'],
    ['\\xg', 'xg'],
    ['\\q\\.', 'q.'],
    ['x\\N', 'xN'],
    ['', ''],
  ])('decodes %j', (field, value) => {
    expect(decodeField(field)).toBe(value);
  });

  it('refuses a lone backslash at the end of a field', () => {
    const b = Buffer.from('abc\\');
    expect(() => unescapeField(b, 0, b.length)).toThrow(/backslash at end of field/);
  });

  it('returns a view of the input when there is nothing to unescape', () => {
    const b = Buffer.from('xx hello yy');
    const v = unescapeField(b, 3, 8)!;
    expect(v.toString()).toBe('hello');
    expect(v.buffer).toBe(b.buffer);
  });
});
