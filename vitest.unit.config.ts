/**
 * `npm run test:unit`: every test file that needs no PostgreSQL server, run without starting one.
 * A file needs the server when it uses the cluster the global setup starts (test/support/db.ts, or
 * `inject('pg')`); the list is read from the files, so a new test lands on the right side by itself.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

const NEEDS_SERVER = /support\/db\.js|inject\(\s*'pg'/;
const unit = readdirSync('test')
  .filter((f) => f.endsWith('.test.ts') && !NEEDS_SERVER.test(readFileSync(`test/${f}`, 'utf8')))
  .map((f) => `test/${f}`);

export default defineConfig({
  test: {
    include: unit,
    globalSetup: ['test/support/scratch-root.ts'],
    testTimeout: 120_000,
    pool: 'forks',
  },
});
