/**
 * `check --preview N`: what the rules would write, before → after, for the first N rows of each table
 * and each column whose value a rule changes — so a draft (init's, or a colleague's) can be read against
 * real rows before it is trusted. It shows values of the dump: asked for on one's own terminal, like
 * `find --export`; never part of a message or a log.
 *
 * A pass of the engine over the dump with the rules as they are (the key from the environment, or a
 * random one), every table and column classified as the rules say and what no rule names kept, and
 * nothing outside the rows stopping it: an observer reads each row's original and output values.
 */
import type { Readable } from 'node:stream';
import type { RulesData } from '../contract/rules-model.js';
import { compileRules } from '../engine/run.js';
import { DumpRewriter } from '../dump/rewriter.js';
import { plainDump } from '../io/input.js';
import type { SchemaModel } from '../dump/schema-model.js';

export interface PreviewColumn {
  table: string;
  /** absent: the table's rows are all dropped */
  column?: string;
  /** [before, after]; null is NULL */
  pairs: [string | null, string | null][];
}

export async function previewDump(source: AsyncIterable<Buffer> | Readable, data: RulesData, o: { rows: number; secret?: string; schema?: SchemaModel }): Promise<PreviewColumn[]> {
  const dropped = new Set<string>();
  // the rules' own plans for the rows, with nothing outside them or unnamed stopping the pass
  const rules = compileRules({ ...data, unknown: 'keep', outside: { ...data.outside, literals: 'keep', comments: 'keep' } }, o.secret);
  const seen = new Map<string, number>();
  const columns = new Map<string, PreviewColumn>();
  const rw = new DumpRewriter(
    {
      rules,
      schema: o.schema,
      observer: {
        table: (e) => {
          if (rules.resolve(e.table, (t) => rw.parentOf(t))?.rule.kind === 'drop') dropped.add(e.table);
        },
        wants: (table) => !dropped.has(table) && (seen.get(table) ?? 0) < o.rows,
        row: (table, names, row) => {
          const n = seen.get(table) ?? 0;
          if (n >= o.rows) return;
          seen.set(table, n + 1);
          for (let c = 0; c < names.length; c++) {
            let before: string | null;
            let after: string | null;
            try {
              before = row.text(c);
              after = row.output(c);
            } catch {
              continue; // a value too large to read: not previewed
            }
            if (before === after) continue;
            const key = `${table}.${names[c]}`;
            const col = columns.get(key) ?? { table, column: names[c]!, pairs: [] };
            columns.set(key, col);
            col.pairs.push([before, after]);
          }
        },
      },
    },
    () => {},
  );
  for await (const chunk of plainDump(source as AsyncIterable<Buffer>)) rw.write(chunk);
  rw.end();
  for (const table of dropped) columns.set(table, { table, pairs: [] });
  return [...columns.values()].sort((a, b) => a.table.localeCompare(b.table) || (a.column ?? '').localeCompare(b.column ?? ''));
}

const shown = (v: string | null, width = 60) => (v === null ? 'NULL' : JSON.stringify(v.length > width ? `${v.slice(0, width)}…` : v));

export function formatPreview(cols: PreviewColumn[], rows: number): string {
  if (cols.length === 0) return `preview: no value the rules change in the first ${rows} row(s) of each table\n`;
  const lines = [`preview (first ${rows} row(s) of each table; values of the dump: for your own terminal, not for logs):`];
  for (const c of cols) {
    if (c.column === undefined) {
      lines.push(`  ${c.table}: every row dropped`);
      continue;
    }
    lines.push(`  ${c.table}.${c.column}`);
    for (const [b, a] of c.pairs) lines.push(`    ${shown(b)} → ${shown(a)}`);
  }
  return lines.join('\n') + '\n';
}
