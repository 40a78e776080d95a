/**
 * Private temporary directories (0700, under the system's temporary directory) for what a run must put
 * on disk — staged archives, spilled key sets and classes — removed when the process exits, whatever
 * the outcome: a failed or interrupted run leaves none of that data behind. Removing one earlier is fine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();
let exitHook = false;

export function privateDirectory(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.add(dir);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}
