/**
 * The row cursor's COPY fields: whatever order a rule reads them in, and however the buffer under the
 * rows is reused, a field reads as the COPY codec decodes it alone. The cursor finds backslashes with
 * one search that serves the rows after it, so these cover what that search may get wrong: a field
 * before the one the search began at (a template reads an earlier column), a backslash past the rows
 * (stale bytes), and a buffer refilled in place.
 */
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RowCursor } from '../src/dump/row-cursor.js';
import { encodeField, unescapeField } from '../src/dump/copy-codec.js';
import type { TablePlan } from '../src/contract/plan.js';

type RewritePlan = Extract<TablePlan, { mode: 'rewrite' }>;

const COLUMNS = ['a', 'b', 'c'];

function cursor(maxValueBytes = 1 << 20): RowCursor {
  const c = new RowCursor(maxValueBytes, () => ({ table: 'public.t' }));
  const plan: RewritePlan = { mode: 'rewrite', rule: 'test', columns: COLUMNS, actions: COLUMNS.map(() => null), filter: null };
  c.prepare(plan);
  return c;
}

/** COPY text of rows of values, and where each row starts and stops */
function copyText(rows: string[][]): { bytes: Buffer; spans: [number, number][] } {
  const spans: [number, number][] = [];
  let text = '';
  for (const r of rows) {
    const start = Buffer.byteLength(text);
    text += r.map((v) => encodeField(v)).join('\t');
    spans.push([start, Buffer.byteLength(text)]);
    text += '\n';
  }
  return { bytes: Buffer.from(text), spans };
}

/** Reads every field of every row in the given column order; each must equal the codec's own decoding. */
function readAll(c: RowCursor, buf: Buffer, spans: [number, number][], order: number[]): void {
  for (const [start, stop] of spans) {
    expect(c.copyRow(buf, start, stop)).toBe(COLUMNS.length);
    for (const col of order) {
      const want = unescapeField(buf, c.starts[col]!, c.ends[col]!);
      // a span, where there is one, is the value's bytes too
      const src = c.span(col);
      if (src) expect(src.toString('hex', c.spanStart, c.spanEnd)).toBe(want?.toString('hex'));
      expect(c.bytes(col)?.toString('hex') ?? null).toBe(want?.toString('hex') ?? null);
    }
  }
}

describe('RowCursor: COPY fields read in any order, from a buffer used again', () => {
  it.each([
    ['in order, no backslash anywhere', [['x', 'y', 'z'], ['u', 'v', 'w']], [0, 1, 2]],
    ['in order, an escape in a later row', [['x', 'y', 'z'], ['u', 'v\nv', 'w']], [0, 1, 2]],
    ['the last field first, then the earlier ones', [['x', 'y\t', 'z'], ['u\\', 'v', 'w\r']], [2, 0, 1]],
    ['an earlier field holding the escape the search passed', [['a\nb', 'y', 'z']], [1, 2, 0]],
    ['only the middle field', [['q', 'r\\s', 't'], ['q', 'r', 't']], [1]],
  ])('%s', (_name, rows, order) => {
    const { bytes, spans } = copyText(rows);
    readAll(cursor(), bytes, spans, order);
  });

  it('a buffer refilled in place: newBytes() makes the cursor search its new bytes', () => {
    const c = cursor();
    const first = copyText([['aaaa', 'bbbb', 'cccc'], ['dddd', 'eeee', 'ffff']]);
    const second = copyText([['aaaa', 'bbbb', 'cccc'], ['dddd', 'e\ne', 'ffff']]);
    expect(second.bytes.length).toBe(first.bytes.length);
    const buf = Buffer.alloc(second.bytes.length);
    first.bytes.copy(buf);
    readAll(c, buf, first.spans, [0, 1, 2]);
    second.bytes.copy(buf);
    c.newBytes();
    readAll(c, buf, second.spans.slice(1), [0, 1, 2]);
  });

  it('property: any rows, any read order, refills in place between batches', () => {
    const value = fc.string({ unit: fc.constantFrom('a', 'b', '\\', '\t', '\n', '\r', 'é', ' '), maxLength: 6 });
    const batch = fc.array(fc.tuple(value, value, value), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(fc.array(batch, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(2), { minLength: 1, maxLength: 5 }), (batches, order) => {
        const c = cursor();
        const buf = Buffer.alloc(4096, 0x5c); // stale bytes past the rows: backslashes
        for (const rows of batches) {
          const { bytes, spans } = copyText(rows);
          buf.fill(0x5c);
          bytes.copy(buf);
          c.newBytes();
          readAll(c, buf, spans, order);
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('RowCursor.span: a value read where it lies, without a view', () => {
  const long = 'x'.repeat(200);
  it.each([
    ['plain ASCII', 'jane@example.org', true],
    ['empty', '', true],
    ['an escape to undo', 'a\tb', false],
    ['non-ASCII (checked by bytes())', 'Zoë', false],
    ['NULL', null, false],
    ['long (one native check is cheaper)', long, false],
  ])('%s', (_name, value, spanned) => {
    const c = cursor();
    const { bytes, spans } = copyText([[value === null ? 'a' : value, 'b', 'c']]);
    const row = value === null ? Buffer.from('\\N\tb\tc') : bytes;
    expect(c.copyRow(row, 0, value === null ? row.length : spans[0]![1])).toBe(3);
    const src = c.span(0);
    expect(src !== null).toBe(spanned);
    if (src) expect(src.toString('utf8', c.spanStart, c.spanEnd)).toBe(value);
  });

  // rows read as a batch (newBytes(buf, from, to), as the COPY handlers do): a long value gets a span
  // where the batch's bytes, up to the block's end, are valid UTF-8, checked once for the batch
  it.each([
    ['long ASCII', [[long, 'b', 'c']], '', 0, true],
    ['long, not ASCII', [[`${long}Zoë`, 'b', 'c']], '', 0, true],
    ['long, with an invalid byte in another row of the batch', [[long, 'b', 'c'], ['a', 'b', 'c']], '', -4, false],
    ['long, with an invalid byte past the block\'s end', [[long, 'b', 'c']], '\\.\n\xff', 0, true],
    ['long, an escape in it', [[`${long}\t`, 'b', 'c']], '', 0, false],
    ['long, the batch ending inside a character of a partial line', [[long, 'b', 'c']], 'Zo\xc3', 0, true],
  ])('%s', (_name, rows, after, invalidAt, spanned) => {
    const c = cursor();
    const { bytes, spans } = copyText(rows);
    const buf = Buffer.concat([bytes, Buffer.from(after, 'latin1')]);
    // a byte of the second row made invalid (a kept column's, say): the batch is not valid as a whole
    if (invalidAt < 0) buf[bytes.length + invalidAt] = 0xff;
    c.newBytes(buf, 0, buf.length);
    expect(c.copyRow(buf, spans[0]![0], spans[0]![1])).toBe(3);
    const src = c.span(0);
    expect(src !== null).toBe(spanned);
    if (src) expect(src.toString('utf8', c.spanStart, c.spanEnd)).toBe(rows[0]![0]);
    // bytes() reads it the same either way
    expect(c.bytes(0)?.toString('hex')).toBe(unescapeField(buf, c.starts[0]!, c.ends[0]!)?.toString('hex'));
  });

  it('property: in a batch, a span is always valid UTF-8 and the codec\'s value, whatever bytes are invalid where', () => {
    const unit = fc.constantFrom('a', 'é', '漢', '\\', '\t', ' ', 'x'.repeat(40));
    const value = fc.string({ unit, maxLength: 5 });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(value, value, value), { minLength: 1, maxLength: 5 }),
        fc.option(fc.nat(), { nil: undefined }),
        fc.array(fc.nat(2), { minLength: 1, maxLength: 4 }),
        (rows, invalid, order) => {
          const c = cursor();
          const { bytes, spans } = copyText(rows);
          const buf = Buffer.concat([bytes, Buffer.from('\\.\n\xff\xfe', 'latin1')]);
          // one byte made invalid somewhere in the rows (never a tab or a line feed: the rows' shape stays)
          if (invalid !== undefined && bytes.length > 0) {
            const at = invalid % bytes.length;
            if (buf[at] !== 0x09 && buf[at] !== 0x0a) buf[at] = 0xff;
          }
          c.newBytes(buf, 0, buf.length);
          for (const [start, stop] of spans) {
            expect(c.copyRow(buf, start, stop)).toBe(3);
            for (const col of order) {
              const src = c.span(col);
              if (!src) continue;
              const range = src.subarray(c.spanStart, c.spanEnd);
              expect(isUtf8(range)).toBe(true);
              expect(range.toString('hex')).toBe(unescapeField(buf, c.starts[col]!, c.ends[col]!)?.toString('hex'));
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('no span for a value over --max-value-bytes: bytes() refuses it', () => {
    const c = cursor(8);
    const { bytes, spans } = copyText([['ninebytes', 'b', 'c']]);
    c.copyRow(bytes, 0, spans[0]![1]);
    expect(c.span(0)).toBeNull();
    expect(() => c.bytes(0)).toThrow(/larger than 8 bytes/);
  });

  it('invalid UTF-8 gets no span, and bytes() names it', () => {
    const c = cursor();
    const row = Buffer.from([0x61, 0xff, 0x62, 0x09, 0x62, 0x09, 0x63]);
    c.copyRow(row, 0, row.length);
    expect(c.span(0)).toBeNull();
    expect(() => c.bytes(0)).toThrow(/invalid byte sequence/);
  });
});
