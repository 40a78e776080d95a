/** The report file (JSON) and the short human summary on stderr. */
import type { RewriteResult } from '../engine/run.js';
import { rulesDigests } from '../rules/rules-file.js';

export interface Report {
  version: 1;
  tool: 'anonymise-dump';
  toolVersion: string;
  /** when the run ended (ISO 8601, UTC) */
  timestamp: string;
  /** every rules file read (presets and extends included), by its sha256 */
  rules: { file: string; sha256: string }[];
  input: string;
  seconds: number;
  bytesIn: number;
  bytesOut: number;
  /** where the pseudonym key came from: an environment variable name, or "random" (this run only) */
  key: string;
  /** what was done outside the rows (secretsRemoved, commentsScrubbed, literalsScrubbed, statisticsStripped, statisticsDropped, rolesPseudonymised, …) */
  outside: Record<string, number>;
  tables: {
    table: string;
    rule: string;
    action: 'keep' | 'drop' | 'rewrite';
    rowsIn: number;
    rowsOut: number;
    rowsDropped: number;
    valuesChanged: Record<string, number>;
  }[];
}

export { rulesDigests };

export function buildReport(r: RewriteResult, input: string, seconds: number, key: string, about: { toolVersion: string; rulesFiles: readonly string[] }): Report {
  return {
    version: 1,
    tool: 'anonymise-dump',
    toolVersion: about.toolVersion,
    timestamp: new Date().toISOString(),
    rules: rulesDigests(about.rulesFiles),
    input,
    seconds: Math.round(seconds * 1000) / 1000,
    bytesIn: r.bytesIn,
    bytesOut: r.bytesOut,
    key,
    outside: { ...r.outside },
    tables: r.tables.map((t) => ({
      table: t.table,
      rule: t.rule,
      action: t.mode,
      rowsIn: t.rowsIn,
      rowsOut: t.rowsOut,
      rowsDropped: t.rowsDropped,
      valuesChanged: t.changed,
    })),
  };
}

const OUTSIDE_WORDS: Record<string, string> = {
  secretsRemoved: 'secrets removed',
  commentsScrubbed: 'comments scrubbed',
  commentsDropped: 'comments dropped',
  literalsScrubbed: 'definitions scrubbed',
  statisticsStripped: 'column statistics stripped of values',
  statisticsDropped: 'statistics dropped',
  rolesPseudonymised: 'role names pseudonymised',
  objectsDropped: 'definitions dropped',
};

export function humanSummary(rep: Report): string {
  const rows = rep.tables.filter((t) => t.action !== 'keep');
  const kept = rep.tables.length - rows.length;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const lines = [`anonymise-dump: ${mb(rep.bytesIn)} MB in, ${mb(rep.bytesOut)} MB out, ${rep.seconds.toFixed(1)} s; ${kept} table(s) kept as they are`];
  const outside = Object.entries(rep.outside ?? {}).map(([k, n]) => `${OUTSIDE_WORDS[k] ?? k} ${n}`);
  if (outside.length) lines.push(`  outside the rows: ${outside.join(', ')}`);
  if (rows.length) {
    const w = Math.max(5, ...rows.map((t) => t.table.length));
    lines.push(`  ${'table'.padEnd(w)}  ${'rows in'.padStart(9)}  ${'out'.padStart(9)}  ${'dropped'.padStart(9)}  values changed`);
    for (const t of rows) {
      const changed = Object.entries(t.valuesChanged)
        .map(([c, n]) => `${c} ${n}`)
        .join(', ');
      lines.push(`  ${t.table.padEnd(w)}  ${String(t.rowsIn).padStart(9)}  ${String(t.rowsOut).padStart(9)}  ${String(t.rowsDropped).padStart(9)}  ${t.action === 'drop' ? '(all rows dropped)' : changed || '-'}`);
    }
  }
  return lines.join('\n') + '\n';
}
