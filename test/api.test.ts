/** The library does what the command line does: the package's exports, on the bundled sample. */
import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import * as lib from '../src/index.js';
import { SAMPLE } from './support/cli.js';

describe('the library', () => {
  it('exports every command as a function', () => {
    for (const name of ['readRules', 'compileRules', 'rewriteStream', 'rewriteBuffer', 'checkDump', 'scanDump', 'formatScan', 'leakCheck', 'draftRules', 'findPeople', 'forgetDump'])
      expect(typeof (lib as Record<string, unknown>)[name], name).toBe('function');
  });

  it('init → check → run → scan, as functions: the draft covers the dump and its output holds no e-mail address', async () => {
    const found = await lib.scanDump(createReadStream(SAMPLE), { sampleRows: Infinity, jsonKeys: true });
    expect(lib.formatScan(found)).toMatch(/email/);
    const draft = lib.draftRules(found, { source: 'sample.sql', sampleRows: Infinity });
    const rules = lib.compileRules(await lib.readRules({ text: [{ name: 'draft.yaml', yaml: draft }] }), 'library-test-key-k7Q2mZp9xR4v');
    const checked = await lib.checkDump(createReadStream(SAMPLE), rules);
    expect(checked.gaps).toEqual([]);
    expect(checked.ruleErrors).toEqual([]);
    const { output } = lib.rewriteBuffer(readFileSync(SAMPLE), { rules });
    const emails = (r: lib.ScanResult) => Object.values(r.tables).flatMap((t) => Object.values(t)).reduce((n, c) => n + c.found.email, 0);
    expect(emails(found)).toBeGreaterThan(0);
    expect(emails(await lib.scanDump(Readable.from([output]), { sampleRows: Infinity }))).toBe(0);
  });
});
