/**
 * The rule kinds added through the registry — generalise, pick, replace, noise, date_shift, when, js —
 * table-driven on edge values (kinds-pg.test.ts takes them through real PostgreSQL).
 */
import { writeFileSync } from 'node:fs';
import { scratch } from './support/scratch.js';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileRules, readRules, rewriteBuffer } from '../src/engine/run.js';
import { KeyRing } from '../src/pseudonym/keys.js';
import { SipHash } from '../src/pseudonym/siphash.js';

const KEY = 'kinds-test-key-k7Q2mZp9';

/** One value through one column rule, on a one-row COPY dump. */
async function apply(rule: string, value: string | null, files: { path: string; yaml: string }[] = []): Promise<string | null> {
  const field = value === null ? '\\N' : value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t');
  const dump =
    "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\nCREATE TABLE public.t (\n    v text\n);\n\n" +
    `COPY public.t (v) FROM stdin;\n${field}\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n`;
  const yaml = `version: 1\ntables:\n  t: { columns: { v: ${rule} } }\n`;
  const rules = compileRules(await readRules({ text: [...files.map((f) => ({ name: f.path, yaml: f.yaml })), { name: join(tmp, 'r.yaml'), yaml }], js: 'run' }), KEY);
  const out = rewriteBuffer(Buffer.from(dump), { rules }).output.toString();
  const line = /COPY public\.t \(v\) FROM stdin;\n(.*)\n\\\./.exec(out)![1]!;
  return line === '\\N' ? null : line;
}
const tmp = scratch('anonymise-dump-kinds-');

describe('generalise', () => {
  it.each([
    ['year', '1987-06-14', '1987-01-01'],
    ['month', '1987-06-14', '1987-06-01'],
    ['day', '2024-02-29 23:59:59.999999+05:30', '2024-02-29 00:00:00+05:30'],
    ['hour', '2024-02-29 23:59:59', '2024-02-29 23:00:00'],
    ['year', '0044-03-15 BC', '0044-01-01 BC'],
    ['year', '2020-07-01 10:00:00-07 BC', '2020-01-01 00:00:00-07 BC'],
    ['year', 'infinity', 'infinity'],
    ['year', '-infinity', '-infinity'],
    ['{ step: 10 }', '37', '30'],
    ['{ step: 10 }', '-37', '-40'],
    ['{ step: 10 }', '37.25', '30.00'],
    ['{ step: 2.5 }', '3', '2'],
    ['{ step: 10 }', 'NaN', 'NaN'],
    ['postcode_district', 'SW1A 1AA', 'SW1A'],
    ['postcode_district', 'ls1  4dy', 'LS1'],
    ['postcode_district', 'not a postcode', ''],
    ['{ ip_prefix: 24 }', '81.2.69.160', '81.2.69.0'],
    ['{ ip_prefix: 16 }', '10.1.2.3/8', '10.0.0.0'],
    ['{ ipv6_prefix: 48 }', '2a00:1450:4009:81f::200e', '2a00:1450:4009:0:0:0:0:0'],
    ['{ ip_prefix: 24, ipv6_prefix: 48 }', '81.2.69.160', '81.2.69.0'],
    ['{ ip_prefix: 24, ipv6_prefix: 48 }', '2a00:1450:4009:81f::200e/64', '2a00:1450:4009:0:0:0:0:0'],
    ['{ ip_prefix: 24 }', '2a00:1450:4009:81f::200e', '2a00:1400:0:0:0:0:0:0'],
    ['{ ip_prefix: 0 }', '81.2.69.160', '0.0.0.0'],
  ])('generalise: %s of %j is %j', async (to, value, expected) => {
    expect(await apply(`{ generalise: ${to} }`, value)).toBe(expected);
  });

  it('keeps NULL and refuses bad parameters with file:line', async () => {
    expect(await apply('{ generalise: year }', null)).toBeNull();
    await expect(apply('{ generalise: decade }', 'x')).rejects.toThrow(/r\.yaml:3: .*generalise/);
    await expect(apply('{ generalise: { step: -1 } }', 'x')).rejects.toThrow(/r\.yaml:3: step must be a positive number/);
  });

  it.each([
    // a prefix as long as the address keeps it whole: refused, never accepted to change nothing
    ['{ ip_prefix: 32 }', /r\.yaml:3: ip_prefix .*32 would keep it whole/],
    ['{ ipv6_prefix: 128 }', /r\.yaml:3: ipv6_prefix .*128 would keep it whole/],
    ['{ step: 10, ip_prefix: 8 }', /r\.yaml:3: generalise takes step, or ip_prefix and ipv6_prefix/],
    ['{}', /r\.yaml:3: generalise takes step, or ip_prefix and ipv6_prefix/],
  ])('refuses generalise: %s', async (to, re) => {
    await expect(apply(`{ generalise: ${to} }`, '81.2.69.160')).rejects.toThrow(re);
  });

  it('an IPv4 address under a rule for IPv6 only stops the run naming the column, never the address', async () => {
    await expect(apply('{ generalise: { ipv6_prefix: 48 } }', '81.2.69.160')).rejects.toThrow(/column v: an IPv4 address, and this generalise gives only ipv6_prefix/);
    await expect(apply('{ generalise: { ipv6_prefix: 48 } }', '81.2.69.160')).rejects.not.toThrow(/81\.2/);
  });
});

describe('pick', () => {
  it('picks from the list, the same entry for the same original, from a file too', async () => {
    const a = await apply('{ pick: { from: [red, green, blue] } }', 'jane');
    expect(['red', 'green', 'blue']).toContain(a);
    expect(await apply('{ pick: { from: [red, green, blue] } }', 'jane')).toBe(a);
    const seen = new Set<string | null>();
    for (const v of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) seen.add(await apply('{ pick: { from: [red, green, blue] } }', v));
    expect(seen.size).toBeGreaterThan(1);
    writeFileSync(join(tmp, 'towns.txt'), 'Leeds\nYork\n\nHull\n');
    expect(['Leeds', 'York', 'Hull']).toContain(await apply('{ pick: { from: towns.txt } }', 'somewhere'));
    await expect(apply('{ pick: { from: missing.txt } }', 'x')).rejects.toThrow(/r\.yaml:3: pick from: missing\.txt: no such file/);
  });
});

describe('replace', () => {
  it.each([
    ['{ replace: { pattern: "REF-\\\\d{6}", with: "REF-XXXXXX" } }', 'case REF-123456 and REF-654321', 'case REF-XXXXXX and REF-XXXXXX'],
    ['{ replace: { pattern: "(\\\\w+)@(\\\\w+)", with: "$1 at $2" } }', 'jo@home', 'jo at home'],
    ['{ replace: { pattern: "x", with: "y" } }', 'no match here', 'no match here'],
  ])('%s on %j', async (rule, value, expected) => {
    expect(await apply(rule, value)).toBe(expected);
  });

  it('replaces each match by a keyed fake, the same for the same match', async () => {
    const out = await apply('{ replace: { pattern: "[A-Z][a-z]+ [A-Z][a-z]+", fake: person.fullName } }', 'Called by Jane Smith, then Jane Smith again');
    expect(out).not.toContain('Jane Smith');
    const m = /Called by (.+), then (.+) again/.exec(out!)!;
    expect(m[1]).toBe(m[2]);
    await expect(apply('{ replace: { pattern: "(", with: "x" } }', 'x')).rejects.toThrow(/r\.yaml:3: replace: the pattern is not a valid regular expression/);
    await expect(apply('{ replace: { pattern: "x" } }', 'x')).rejects.toThrow(/one of with or fake/);
  });
});

describe('noise and date_shift', () => {
  it.each([
    ['1987-06-14', 2],
    ['2024-02-29 13:45:12.5+05:30', 2],
    ['0044-03-15 BC', 2],
    ['2000-01-01 00:00:00', 2],
  ])('noise: { days: N } moves %j by 1..N days, never 0, keeping its format', async (value) => {
    const out = (await apply('{ noise: { days: 2 } }', value))!;
    expect(out).not.toBe(value);
    expect(out.length).toBe(value.length);
    expect(out.slice(10)).toBe(value.slice(10)); // time, zone and BC kept
  });

  it.each([
    ['100', /^(9\d|10\d|110)$/],
    ['-50', /^-(4[5-9]|5[0-5])$/],
    ['1234.50', /^1\d{3}\.\d{2}$/],
    ['NaN', /^NaN$/],
    ['infinity', /^infinity$/],
  ])('noise: { ratio: 0.1 } on %j stays within 10 %% and in its shape', async (value, re) => {
    expect(await apply('{ noise: { ratio: 0.1 } }', value)).toMatch(re);
  });

  /** Values through a rule on a column of `type` (with `prelude`'s CREATE DOMAIN before the table). */
  async function applyTyped(rule: string, type: string, values: string[], prelude = ''): Promise<string[]> {
    const dump =
      "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\n" +
      `${prelude}CREATE TABLE public.t (\n    v ${type}\n);\n\nCOPY public.t (v) FROM stdin;\n${values.join('\n')}\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n`;
    const rules = compileRules(await readRules({ text: [{ name: join(tmp, 'typed.yaml'), yaml: `version: 1\ntables:\n  t: { columns: { v: ${rule} } }\n` }] }), KEY);
    const out = rewriteBuffer(Buffer.from(dump), { rules }).output.toString();
    return /COPY public\.t \(v\) FROM stdin;\n([\s\S]*?)\n\\\./.exec(out)![1]!.split('\n');
  }

  it.each([
    // [type, values, lowest allowed, highest allowed]
    ['smallint', ['32767', '32000', '-32768', '1', '0'], -32768, 32767],
    ['numeric(4,2)', ['99.99', '99.50', '-99.99', '0.01', '10.00'], -99.99, 99.99],
    ['integer', ['2147483647', '5', '-2147483648'], -2147483648, 2147483647],
    ['public.percent', ['100', '0', '50', '99'], 0, 100],
  ])('noise on a %s stays inside its type and CHECKs, and never returns a value unchanged', async (type, values, lo, hi) => {
    const prelude = 'CREATE DOMAIN public.percent AS integer CONSTRAINT percent_check CHECK (((VALUE >= 0) AND (VALUE <= 100)));\n\n';
    for (const ratio of [0.9, 0.001]) {
      const out = await applyTyped(`{ noise: { ratio: ${ratio} } }`, type, values, prelude);
      out.forEach((o, i) => {
        expect(Number(o), `${values[i]} → ${o}`).toBeGreaterThanOrEqual(lo);
        expect(Number(o), `${values[i]} → ${o}`).toBeLessThanOrEqual(hi);
        expect(Number(o), `${values[i]} unchanged`).not.toBe(Number(values[i]));
        if (type.startsWith('numeric')) expect(o).toMatch(/^-?\d+\.\d{2}$/);
        else expect(o).toMatch(/^-?\d+$/);
      });
    }
  });

  it('generalise { step: 1 } on an integer column changes nothing, and is refused with file:line; on numeric it floors', async () => {
    await expect(applyTyped('{ generalise: { step: 1 } }', 'integer', ['5'])).rejects.toThrow(/typed\.yaml:3: generalise \{ step: 1 \} leaves every integer as it is/);
    await expect(applyTyped('{ generalise: { step: 0.5 } }', 'smallint', ['5'])).rejects.toThrow(/leaves every smallint as it is/);
    expect(await applyTyped('{ generalise: { step: 1 } }', 'numeric(6,2)', ['5.75'])).toEqual(['5.00']);
    expect(await applyTyped('{ generalise: { step: 10 } }', 'integer', ['57'])).toEqual(['50']);
  });

  it('infinity and NULL stay; the same value gives the same result', async () => {
    expect(await apply('{ date_shift: { max_days: 30 } }', 'infinity')).toBe('infinity');
    expect(await apply('{ date_shift: { max_days: 30 } }', null)).toBeNull();
    expect(await apply('{ date_shift: { max_days: 30 } }', '2024-02-29')).toBe(await apply('{ date_shift: { max_days: 30 } }', '2024-02-29'));
    await expect(apply('{ date_shift: { max_days: 30, by: nosuch } }', '2024-02-29')).rejects.toThrow(/date_shift of public\.t\.v names column nosuch/);
    await expect(apply('{ noise: { ratio: 2 } }', '1')).rejects.toThrow(/r\.yaml:3: noise ratio must be/);
  });
});

describe('when', () => {
  it('chooses the rule per row from other columns, else its default, and refuses unknown columns', async () => {
    const dump =
      "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\nCREATE TABLE public.t (\n    status text,\n    staff boolean,\n    name text\n);\n\n" +
      'COPY public.t (status, staff, name) FROM stdin;\nclosed\tf\tJane Smith\nopen\tt\tJohn Brown\nopen\tf\tAnn Lee\n\\N\tf\tBo Diddley\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n';
    const yaml = `version: 1\ntables:\n  t:\n    columns:\n      status: keep\n      staff: keep\n      name:\n        when:\n          - { if: { status: [closed] }, then: null }\n          - { if: { staff: [true] }, then: keep }\n          - { if: { status: [null] }, then: { value: unknown } }\n        else: { value: Someone }\n`;
    const rules = compileRules(await readRules({ text: [{ name: 'w.yaml', yaml }] }), KEY);
    const rows = /FROM stdin;\n([\s\S]*?)\\\./.exec(rewriteBuffer(Buffer.from(dump), { rules }).output.toString())![1]!.trim().split('\n');
    expect(rows).toEqual(['closed\tf\t\\N', 'open\tt\tJohn Brown', 'open\tf\tSomeone', '\\N\tf\tunknown']);
    const bad = compileRules(await readRules({ text: [{ name: 'w.yaml', yaml: yaml.replace('if: { staff:', 'if: { nosuch:') }] }), KEY);
    expect(() => rewriteBuffer(Buffer.from(dump), { rules: bad })).toThrow(/a when of public\.t\.name names column nosuch/);
  });
});

describe('js', () => {
  beforeAll(() => {
    writeFileSync(
      join(tmp, 'transforms.mjs'),
      [
        "export const initials = (v) => v.split(' ').map((w) => w[0]).join('');",
        'export const keyed = (v, row, ctx) => `${row.get("status")}-${ctx.hash(v, 8)}-${ctx.pick(["a", "b"], v)}-${ctx.fake("person.lastName", v).length > 0}`;',
        'export const leaky = (v) => { throw new TypeError(`bad value ${v}`); };',
        'export const number = () => 42;',
        'export default (v) => (v === "drop me" ? null : v.toUpperCase());',
      ].join('\n'),
    );
  });
  it.each([
    ['"./transforms.mjs#initials"', 'Jane Mary Smith', 'JMS'],
    ['"./transforms.mjs"', 'hello', 'HELLO'],
    ['"./transforms.mjs"', 'drop me', null],
  ])('%s on %j gives %j', async (rule, value, expected) => {
    expect(await apply(`{ js: ${rule} }`, value)).toBe(expected);
  });

  it('reads the row, uses the keyed helpers deterministically, and never prints the value of its errors', async () => {
    const dump =
      "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\nCREATE TABLE public.t (\n    status text,\n    v text\n);\n\n" +
      'COPY public.t (status, v) FROM stdin;\nopen\tjane@secret.org\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n';
    const run = async (fn: string) => {
      const rules = compileRules(await readRules({ text: [{ name: join(tmp, 'js.yaml'), yaml: `version: 1\ntables:\n  t: { columns: { status: keep, v: { js: "./transforms.mjs#${fn}" } } }\n` }], js: 'run' }), KEY);
      return rewriteBuffer(Buffer.from(dump), { rules }).output.toString();
    };
    const out = await run('keyed');
    expect(out).toMatch(/open\topen-[0-9a-f]{8}-[ab]-true\n/);
    expect(await run('keyed')).toBe(out);
    await expect(run('leaky')).rejects.toThrow(/input line \d+, table public\.t, column v: js function leaky threw TypeError \(its message is not shown/);
    await expect(run('leaky')).rejects.not.toThrow(/secret/);
    await expect(run('number')).rejects.toThrow(/returned neither text nor null/);
    await expect(run('nosuch')).rejects.toThrow(/js\.yaml:3: js: .*exports no function named nosuch/);
  });
});

describe('hash', () => {
  // the digits of SipHash-2-4 (the JavaScript one, not the WebAssembly the engine runs) under the keys
  // derived for `hash`, 16 a key, worked out here apart from the engine's own hex writing
  const expected = (value: string, length: number) => {
    let hex = '';
    for (let i = 0; hex.length < length; i++) {
      const sip = new SipHash(new KeyRing(KEY).derive(`hash\0${String.fromCharCode(0x61 + i)}`), false);
      sip.hash(Buffer.from(value, 'utf8'));
      hex += sip.hi.toString(16).padStart(8, '0') + sip.lo.toString(16).padStart(8, '0');
    }
    return hex.slice(0, length);
  };
  it.each([
    ['jane@example.org', 16],
    ['jane@example.org', 64],
    ['Zoë', 4],
    ['x'.repeat(200), 33],
    ['', 16],
  ])('%j, %d digits', async (value, length) => {
    expect(await apply(`{ hash: { length: ${length} } }`, value)).toBe(value === '' ? '' : expected(value, length));
  });
});
