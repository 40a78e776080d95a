/**
 * check --preview N: before → after for the first N rows of each table, each column a rule changes,
 * the "after" being what a run with the same key writes; dropped tables said; stdin refused (the dump is
 * read twice); without --preview, check prints no value.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { COUNCIL, SAMPLE, runCliText } from './support/cli.js';

const KEY = 'preview-test-Wm3xQ8vN2pK6rT4z';

/** The value of `column` in the `n`th row (0-based) of `table`'s COPY block in a plain dump. */
function copyValue(dump: string, table: string, column: string, n: number): string {
  const header = new RegExp(`^COPY ${table.replace('.', '\\.')} \\(([^)]*)\\) FROM stdin;$`, 'm').exec(dump)!;
  const columns = header[1]!.split(', ');
  const rows = dump.slice(header.index + header[0].length + 1).split('\n');
  return rows[n]!.split('\t')[columns.indexOf(column)]!;
}

describe('check --preview', () => {
  it('shows, per rewritten column, the original and what the run writes with the same key; dropped tables by name', () => {
    const r = runCliText(['check', '-r', COUNCIL, '--preview', '2', SAMPLE], { key: KEY });
    expect(r.status, r.stderr).toBe(0);
    const run = runCliText(['-q', '-r', COUNCIL, SAMPLE], { key: KEY });
    const source = readFileSync(SAMPLE, 'utf8');
    for (const [column, n] of [['email', 0], ['email', 1], ['username', 0]] as const) {
      const before = copyValue(source, 'public.users_user', column, n);
      const after = copyValue(run.stdout, 'public.users_user', column, n);
      expect(before).not.toBe(after);
      expect(r.stdout).toContain(`  public.users_user.${column}\n`);
      expect(r.stdout).toContain(`${JSON.stringify(before)} → ${JSON.stringify(after)}`);
    }
    expect(r.stdout).toMatch(/^ {2}public\.django_session: every row dropped$/m);
    // kept columns are not shown
    expect(r.stdout).not.toMatch(/public\.users_user\.is_staff/);
    // two rows a table, no more
    expect(r.stdout.split('public.users_user.email\n')[1]!.split('\n').filter((l) => l.startsWith('    ')).length).toBeGreaterThanOrEqual(2);
  });

  it('without --preview check prints no value; with stdin it is refused', () => {
    const plain = runCliText(['check', '-r', COUNCIL, SAMPLE], { key: KEY });
    expect(plain.stdout).not.toMatch(/@hotmail|→/);
    const stdin = runCliText(['check', '-r', COUNCIL, '--preview', '2'], { key: KEY, input: readFileSync(SAMPLE) });
    expect(stdin.status).toBe(2);
    expect(stdin.stderr).toMatch(/--preview reads the dump a second time/);
  });
});
