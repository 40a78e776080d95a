/**
 * Global setup: one directory for every scratch file of a test run, removed when the run ends, so a
 * run leaves nothing in the system's temp directory however its tests end (`scratch()` creates under it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup() {
  const root = mkdtempSync(join(tmpdir(), 'anonymise-dump-tests-'));
  process.env.AD_TEST_TMP = root;
  return () => rmSync(root, { recursive: true, force: true });
}
