/** The type model: domains resolved, text types known, keys compared as PostgreSQL compares them. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SchemaModel } from '../src/dump/schema-model.js';
import { TypeModel, canonicalNumeric } from '../src/dump/types.js';
import { parseDomain } from '../src/dump/schema.js';

function model(...domains: string[]): TypeModel {
  const s = new SchemaModel();
  for (const d of domains) s.createDomain(d);
  return new TypeModel(s);
}

describe('parseDomain', () => {
  it.each([
    ['CREATE DOMAIN public.email_address AS public.citext CHECK ((VALUE OPERATOR(public.~) \'@\'::public.citext));', 'public.email_address', 'public.citext', 1],
    ['CREATE DOMAIN app."Money" AS numeric(10,2) DEFAULT 0 NOT NULL CONSTRAINT positive CHECK ((VALUE >= (0)::numeric));', 'app.Money', 'numeric(10,2)', 1],
    ['CREATE DOMAIN public.tags AS text[] COLLATE pg_catalog."C";', 'public.tags', 'text[]', 0],
    ['CREATE DOMAIN public.not_null_text AS text NOT NULL;', 'public.not_null_text', 'text', 0],
  ])('%s', (sql, key, base, checks) => {
    const d = parseDomain(sql)!;
    expect(d.key).toBe(key);
    expect(d.base).toBe(base);
    expect(d.checks.length).toBe(checks);
  });
  it('is null for anything else', () => expect(parseDomain('CREATE TYPE public.mood AS ENUM (\'a\');')).toBeNull());
});

describe('TypeModel', () => {
  const types = model(
    'CREATE DOMAIN public.email_address AS public.citext CHECK ((VALUE ~ \'@\'));',
    'CREATE DOMAIN public.work_email AS public.email_address;',
    'CREATE DOMAIN app.amount AS numeric(10,2);',
    'CREATE DOMAIN public.not_null_text AS text NOT NULL;',
  );
  it.each([
    ['integer', 'integer', false, false],
    ['character varying(150)', 'character varying', true, false],
    ['public.citext', 'citext', true, false],
    ['public.work_email', 'citext', true, false],
    ['app.amount', 'numeric', false, false],
    ['public.not_null_text[]', 'text', true, true],
    ['bytea', 'bytea', false, false],
    ['"char"', 'char', true, false],
    ['timestamp with time zone', 'timestamp with time zone', false, false],
  ])('%s: base %s, text %s, array %s', (type, base, text, array) => {
    expect(types.base(type).name).toBe(base);
    expect(types.base(type).array).toBe(array);
    expect(types.isText(type)).toBe(text);
  });

  it('collects the CHECKs of the domains on the way', () => {
    expect(types.base('public.work_email').checks).toEqual(["((VALUE ~ '@'))"]);
  });

  it('compares citext without case and numeric by value; others by their text', () => {
    expect(types.keyForm('public.work_email')!('Jane@Example.ORG')).toBe('jane@example.org');
    expect(types.keyForm('app.amount')!('0001.500')).toBe('1.5');
    expect(types.keyForm('integer')).toBeNull();
    expect(types.keyForm('text')).toBeNull();
    expect(types.keyForm('public.citext[]')).toBeNull();
  });
});

describe('canonicalNumeric', () => {
  it.each([
    ['1.5', '1.5'],
    ['1.50', '1.5'],
    ['01.500', '1.5'],
    ['-0.00', '0'],
    ['+3', '3'],
    ['10', '10'],
    ['0.010', '0.01'],
    ['NaN', 'NaN'],
    ['Infinity', 'Infinity'],
  ])('%s → %s', (v, want) => expect(canonicalNumeric(v)).toBe(want));

  it('equal values at any scale and padding give one form, different values different forms', () => {
    const digits = fc.stringMatching(/^[0-9]{0,12}$/);
    fc.assert(
      fc.property(fc.boolean(), digits, digits, fc.nat(4), fc.nat(4), fc.boolean(), fc.boolean(), (neg, int, frac, lead, trail, a, b) => {
        const v = `${neg ? '-' : ''}${int || '0'}${frac ? `.${frac}` : ''}`;
        const padded = `${neg ? '-' : ''}${'0'.repeat(lead)}${int || '0'}.${frac}${'0'.repeat(trail)}`;
        expect(canonicalNumeric(padded)).toBe(canonicalNumeric(v));
        // one more unit in the last place is another value
        const other = `${v}${frac ? '' : '.'}${a || b ? '1' : '01'}`;
        expect(canonicalNumeric(other)).not.toBe(canonicalNumeric(v));
      }),
    );
  });
});
