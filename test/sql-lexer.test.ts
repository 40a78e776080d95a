import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StatementScanner, UnitKind } from '../src/dump/sql-lexer.js';

/** Splits SQL text into units the way the rewriter does, feeding it cut at `at`. */
function units(sql: string, at?: number, scs = true): string[] {
  const all = Buffer.from(sql);
  const scanner = new StatementScanner();
  scanner.standardConformingStrings = scs;
  scanner.begin(true);
  const out: string[] = [];
  let buf = at === undefined ? all : all.subarray(0, at);
  let unit = 0;
  for (;;) {
    const end = scanner.scan(buf, unit, buf.length);
    if (end === -1) {
      if (buf.length < all.length) {
        buf = all; // the rest arrives
        continue;
      }
      break;
    }
    out.push(all.subarray(unit, end).toString());
    const meta = scanner.kind === UnitKind.Meta;
    unit = end;
    scanner.begin(meta);
  }
  if (unit < all.length) out.push(`REST:${all.subarray(unit).toString()}`);
  return out;
}

const cases: [string, string, string[]][] = [
  ['plain statements', 'SET a = 1;\nSELECT 2;\n', ['SET a = 1;', '\nSELECT 2;', 'REST:\n']],
  ['semicolon in a string', "SELECT 'a;b''c;';", ["SELECT 'a;b''c;';"]],
  ['E-string with escaped quote', "SELECT E'it\\'s; ok';x;", ["SELECT E'it\\'s; ok';", 'x;']],
  ['identifier ending in e is not an E-string', "SELECT namee'a\\';b", ["SELECT namee'a\\';", 'REST:b']],
  ['quoted identifier', 'SELECT "a;""b" FROM t;', ['SELECT "a;""b" FROM t;']],
  ['dollar quote', 'CREATE FUNCTION f() AS $$ a; b $$;', ['CREATE FUNCTION f() AS $$ a; b $$;']],
  ['tagged dollar quote holding $$', 'DO $x$ $$; $y$ ; $x$;', ['DO $x$ $$; $y$ ; $x$;']],
  ['$1 is a parameter, a$b an identifier', 'SELECT $1;SELECT a$b;', ['SELECT $1;', 'SELECT a$b;']],
  ['line comment', '-- a; b\nSELECT 1;', ['-- a; b\nSELECT 1;']],
  ['nested block comment', '/* a /* ; */ ; */ SELECT 1;', ['/* a /* ; */ ; */ SELECT 1;']],
  ['meta-command lines', '\\restrict key\nSET x = 1;\n\\connect db\n', ['\\restrict key\n', 'SET x = 1;', '\n\\connect db\n']],
  ['backslash inside a statement is not a meta-command', "SELECT 1\n\\ ;", ['SELECT 1\n\\ ;']],
  [
    'BEGIN ATOMIC body is one statement (pg_dump 14+)',
    'CREATE FUNCTION public.f() RETURNS integer\n    LANGUAGE sql\n    BEGIN ATOMIC\n INSERT INTO public.t (a)\n   VALUES (1);\n SELECT CASE WHEN true THEN 1 ELSE 2 END;\nEND;\nSELECT 2;',
    ['CREATE FUNCTION public.f() RETURNS integer\n    LANGUAGE sql\n    BEGIN ATOMIC\n INSERT INTO public.t (a)\n   VALUES (1);\n SELECT CASE WHEN true THEN 1 ELSE 2 END;\nEND;', '\nSELECT 2;'],
  ],
  ['CREATE OR REPLACE PROCEDURE with BEGIN ATOMIC', 'create or replace procedure p() begin atomic insert into t values (1); end;x;', ['create or replace procedure p() begin atomic insert into t values (1); end;', 'x;']],
  ['BEGIN outside a routine ends at its semicolon', 'BEGIN;\nCOMMIT;', ['BEGIN;', '\nCOMMIT;']],
  ['CREATE TABLE with a column named begin', 'CREATE TABLE t (begin int);SELECT 1;', ['CREATE TABLE t (begin int);', 'SELECT 1;']],
  ['multi-action rule: semicolons inside parentheses', 'CREATE RULE r AS ON INSERT TO t DO INSTEAD (INSERT INTO u VALUES (1); UPDATE v SET a = 1;);SELECT 1;', ['CREATE RULE r AS ON INSERT TO t DO INSTEAD (INSERT INTO u VALUES (1); UPDATE v SET a = 1;);', 'SELECT 1;']],
  ['an unmatched ) does not go below zero', 'SELECT 1);SELECT 2;', ['SELECT 1);', 'SELECT 2;']],
  ['BEGIN and END in strings and comments do not count', "CREATE FUNCTION f() BEGIN ATOMIC SELECT 'end'; /* end */ SELECT \"end\"; END;x;", ["CREATE FUNCTION f() BEGIN ATOMIC SELECT 'end'; /* end */ SELECT \"end\"; END;", 'x;']],
  ['INSERT text inside a string', "INSERT INTO t VALUES ('x\nINSERT INTO u VALUES (1);\n');", ["INSERT INTO t VALUES ('x\nINSERT INTO u VALUES (1);\n');"]],
  ['runs of ordinary bytes between a VALUES list\'s strings, comments after them', "INSERT INTO t VALUES (1, 2.5, true, NULL, 'a;b') -- c;\n, (3e4, false) /* ; */;\nx;", ["INSERT INTO t VALUES (1, 2.5, true, NULL, 'a;b') -- c;\n, (3e4, false) /* ; */;", '\nx;']],
];

/** Pieces of SQL text whose units depend on state carried across bytes: quotes, comments, parentheses, words, meta lines. */
const sqlPiece = fc.constantFrom('INSERT INTO t VALUES (', "'a;b'", "E'\\';'", "'it''s'", ', ', '12.5', 'true', ')', ';', '\n', ' ', '-- c;\n', '/* ; */', '$$;$$', '"q;""x"', '\\connect db\n', 'CREATE FUNCTION f() BEGIN ATOMIC ', ' END', 'begin', 'x', '-', '/', '$1');

describe('statement scanner', () => {
  it.each(cases)('%s', (_name, sql, expected) => {
    expect(units(sql)).toEqual(expected);
    for (let at = 0; at <= sql.length; at++) expect(units(sql, at), `cut at ${at}`).toEqual(expected);
  });

  it('any SQL text: the same units whether it comes whole or cut anywhere in two', () => {
    fc.assert(
      fc.property(fc.array(sqlPiece, { maxLength: 40 }).map((a) => a.join('')), fc.nat(), fc.boolean(), (sql, cut, scs) => {
        const whole = units(sql, undefined, scs);
        expect(units(sql, cut % (sql.length + 1), scs)).toEqual(whole);
        // the units and what is left after them are the text, every byte once
        expect(whole.map((u) => u.replace(/^REST:/, '')).join('')).toBe(sql);
      }),
      { numRuns: 3000 },
    );
  });

  it('treats backslashes as escapes in plain strings when standard_conforming_strings is off', () => {
    expect(units("SELECT 'a\\';b';", undefined, false)).toEqual(["SELECT 'a\\';b';"]);
    expect(units("SELECT 'a\\';b';", undefined, true)).toEqual(["SELECT 'a\\';", "REST:b';"]);
  });
});
