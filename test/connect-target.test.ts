/** The database a pg_dumpall `\connect` line names (dumpall.test.ts runs whole cluster dumps). */
import { describe, expect, it } from 'vitest';
import { connectTarget } from '../src/dump/words.js';

describe('\\connect lines', () => {
  it.each([
    ['\\connect council\n', 'council'],
    ['\\connect -reuse-previous=on "dbname=\'d b2\'"\n', 'd b2'],
    ["\\connect -reuse-previous=on \"dbname='it\\'s'\"\n", "it's"],
    ['\\connect "My ""DB"""\n', 'My "DB"'],
    ['\\c other\n', 'other'],
    ['\\restrict key\n', null],
  ])('%j names %j', (line, db) => {
    expect(connectTarget(line)).toBe(db);
  });
});
