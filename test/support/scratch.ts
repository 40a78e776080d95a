import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh directory under the test run's scratch root (see scratch-root.ts); the run removes it. */
export function scratch(prefix: string): string {
  return mkdtempSync(join(process.env.AD_TEST_TMP ?? tmpdir(), prefix));
}
