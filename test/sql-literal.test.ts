import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LitKind, decodeLiteral, encodeLiteral, encodeLiteralInto, literalRoom } from '../src/dump/sql-literal.js';
import { InsertValues } from '../src/dump/insert-parser.js';

const awkward = fc.string({ unit: fc.oneof(fc.constantFrom("'", "''", '\\', '\\\\', '\n', '\t', 'E', 'é', '🎉', ';', ')', ','), fc.string({ maxLength: 1 })), maxLength: 30 });

function roundTrip(s: string, scs: boolean): string | null {
  const lit = encodeLiteral(Buffer.from(s), scs);
  const kind = lit[0] === 0x45 ? LitKind.EString : scs ? LitKind.String : LitKind.EString;
  return decodeLiteral(lit, 0, lit.length, kind)!.toString();
}

describe('SQL literal codec', () => {
  it('decode(encode(s)) === s, with standard_conforming_strings on and off', () => {
    fc.assert(fc.property(awkward, (s) => roundTrip(s, true) === s && roundTrip(s, false) === s), { numRuns: 20000 });
  });

  it('encodeLiteral: the quotes (and backslashes, standard_conforming_strings off) doubled, E before when any is', () => {
    // the byte-by-byte encoder it replaced, as the oracle
    const oracle = (b: Buffer, scs: boolean) => {
      const e = !scs && b.includes(0x5c);
      const out: number[] = e ? [0x45, 0x27] : [0x27];
      for (const x of b) out.push(...(x === 0x27 || (e && x === 0x5c) ? [x, x] : [x]));
      return Buffer.from([...out, 0x27]);
    };
    const long = fc.array(awkward, { maxLength: 40 }).map((a) => a.join(''));
    fc.assert(
      fc.property(fc.oneof(awkward, long), fc.boolean(), fc.nat(7), (s, scs, at) => {
        const b = Buffer.from(s);
        const out = Buffer.alloc(at + literalRoom(b.length), 0xff);
        const end = encodeLiteralInto(b, scs, out, at);
        return out.subarray(at, end).equals(oracle(b, scs)) && encodeLiteral(b, scs).equals(oracle(b, scs)) && out.subarray(0, at).every((x) => x === 0xff);
      }),
      { numRuns: 20000 },
    );
  });

  it('the VALUES reader finds every value of any row of such strings', () => {
    fc.assert(
      fc.property(fc.array(fc.option(awkward), { minLength: 1, maxLength: 6 }), fc.boolean(), (values, scs) => {
        const lits = values.map((v) => (v === null ? 'NULL' : encodeLiteral(Buffer.from(v), scs).toString()));
        const sql = Buffer.from(` (${lits.join(', ')}),\n\t(42, true);`);
        const r = new InsertValues();
        r.parse(sql, 0, sql.length, scs);
        if (r.tuples !== 2 || r.count !== values.length + 2) return false;
        return values.every((v, i) => {
          const d = decodeLiteral(sql, r.starts[i]!, r.ends[i]!, r.kinds[i]!);
          return v === null ? d === null : d!.toString() === v;
        });
      }),
      { numRuns: 5000 },
    );
  });

  it.each([
    ["'it''s'", LitKind.String, "it's"],
    ["E'a\\nb\\tc\\\\d\\'e'", LitKind.EString, "a\nb\tc\\d'e"],
    ["E'\\101\\x42\\u00e9\\U0001F389'", LitKind.EString, 'ABé🎉'],
    ["B'0101'", LitKind.BitString, '0101'],
    ['-12.5e3', LitKind.Bare, '-12.5e3'],
  ])('decodes %s', (lit, kind, value) => {
    const b = Buffer.from(lit);
    expect(decodeLiteral(b, 0, b.length, kind)!.toString()).toBe(value);
  });
});
