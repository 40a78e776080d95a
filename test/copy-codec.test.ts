import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeField, encodeField, unescapeField } from '../src/dump/copy-codec.js';
import { Output } from '../src/dump/output.js';
import { UTF8_CODEC } from '../src/text/encoding.js';

// strings rich in the characters COPY text format gives meaning to
const awkward = fc.string({
  unit: fc.oneof(
    fc.constantFrom('\t', '\n', '\r', '\\', '\\N', '\\.', 'N', '.', '\b', '\f', '\v', 'x', '0', '7', 'é', '漢', '🎉'),
    fc.string({ maxLength: 1 }),
  ),
  maxLength: 40,
});

describe('the output writes a value as the codec encodes it', () => {
  // short ASCII values take a loop of their own (output.ts): every escape, the length limit on both
  // sides, a character past ASCII anywhere in it
  const around = fc.string({ unit: fc.constantFrom('a', '\n', '\\', '\t', '\r', '\b', '\f', '\v', '\x01', '\x7f', 'é', '🎉'), minLength: 58, maxLength: 70 });
  it('for any text, shorter or longer than the loop takes, ASCII or not', () => {
    const chunks: Buffer[] = [];
    const out = new Output((c) => void chunks.push(Buffer.from(c)), 256);
    fc.assert(
      fc.property(fc.oneof(awkward, around), fc.nat({ max: 300 }), (text, before) => {
        chunks.length = 0;
        // a value that does not fit what is left of the buffer: written after a flush
        for (let i = 0; i < before; i++) out.byte(0x78);
        out.copyValue(text, UTF8_CODEC);
        out.flush();
        expect(Buffer.concat(chunks).toString('utf8')).toBe('x'.repeat(before) + encodeField(text));
      }),
      { numRuns: 5000 },
    );
  });
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

describe('COPY escapes read by character (SJIS, BIG5, GBK, UHC, GB18030)', () => {
  it.each(['SJIS', 'BIG5', 'GBK', 'UHC', 'GB18030'])('%s: unescape(escape(bytes)) === bytes, a 0x5c trail byte never an escape', async (name) => {
    const { codecFor } = await import('../src/text/encoding.js');
    const { escapeInto, escapedLength, unescapeField } = await import('../src/dump/copy-codec.js');
    const codec = codecFor(name);
    if ('unsupported' in codec) throw new Error(name);
    const chars = ['表', 'ソ', '許', '功', '中', '한', '\\', '\t', '\n', '\r', 'a', 'N', '.', ' '];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...chars), { maxLength: 40 }), (parts) => {
        const text = parts.filter((c) => codec.decode(codec.encode(c)) === c).join('');
        const raw = codec.encode(text);
        const out = Buffer.alloc(escapedLength(raw, codec.charLength));
        expect(escapeInto(raw, out, 0, codec.charLength)).toBe(out.length);
        const back = unescapeField(out, 0, out.length, codec.charLength);
        expect(back && codec.decode(back)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });
});
