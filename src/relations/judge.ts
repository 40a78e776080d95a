/**
 * The one seam between the relations (find, forget, subsets) and the engine: a table's rows are
 * judged by a TableJudge, asked once per row before any byte of it is written. `judgedPlan` turns a
 * judge and the rules' plan for the table into the plan the engine runs.
 *
 * The engine asks about a COPY row and then writes it; an INSERT statement's rows are all asked about
 * before the first is written (a statement whose rows all go leaves no trace). Verdicts are therefore
 * queued in row order and taken back, one per written row, when the row is written: each row is judged
 * once, and a judge's value for a column always reads its own row's verdict.
 */
import type { ColumnAction, RowAccess, TablePlan } from '../contract/plan.js';

/** What a judge says of one row. A judge may carry more (what it found), for its `value`. */
export interface Verdict {
  /** the row is written (the rules' own row filter has its say too) */
  keep: boolean;
  /** a written row is written as it is, unless the rules rewrite it */
  asIs: boolean;
}

export interface TableJudge<V extends Verdict = Verdict> {
  /** added to the rule's name in reports (`(subset)`) */
  label?: string;
  /** columns whose value the judge may change (set NULL, scrub); the others are the rules' */
  touches(col: number): boolean;
  /**
   * Where in a run of COPY rows the first row that may matter begins (rows before it are written
   * unread and not judged); -1 for none. Absent: every row is judged.
   */
  search?: (buf: Buffer, from: number, end: number) => number;
  /** with `search`: every row is judged all the same, the search only says which rows it hit */
  everyRow?: boolean;
  /** The row's verdict. `searchHit`: what `search` said of this COPY row (else undefined). */
  judge(row: RowAccess, searchHit: boolean | undefined): V;
  /** A touched column's value in a written row: `own()` is what the rules write (the original when they keep it). */
  value(row: RowAccess, col: number, own: () => string | null, verdict: V): string | null;
}

/** The verdict of a judge that only reads: every row written as it is. */
export const KEEP_AS_IS: Verdict = Object.freeze({ keep: true, asIs: true });

/** The engine's plan for a table whose rows `judge` decides, on top of the rules' `plan`. */
export function judgedPlan<V extends Verdict>(plan: TablePlan, columns: string[], judge: TableJudge<V>): TablePlan {
  const base = plan.mode === 'rewrite' ? plan : null;
  const queue: V[] = [];
  let next = 0;
  let current: V | null = null;
  const touched: ColumnAction = (row, col) => judge.value(row, col, () => (base?.actions[col] ? base.actions[col]!(row, col) : row.text(col)), current!);
  return {
    mode: 'rewrite',
    rule: judge.label ? `${plan.rule} ${judge.label}` : plan.rule,
    columns,
    actions: columns.map((_, i) => (judge.touches(i) ? touched : (base?.actions[i] ?? null))),
    filter: {
      columns: [],
      keep: (row, searchHit) => {
        const v = judge.judge(row, searchHit);
        const kept = v.keep && (base?.filter ? base.filter.keep(row) : true);
        if (kept) queue.push(v);
        return kept;
      },
      untouched: () => {
        current = queue[next++]!;
        if (next === queue.length) queue.length = next = 0;
        return current.asIs && !base;
      },
    },
    search: judge.search,
    everyRow: judge.search ? judge.everyRow : undefined,
  };
}

/**
 * A plan that writes every row as it is and shows `read` the rows the search hits (a pass that only
 * reads: what it writes is thrown away).
 */
export function readHits(plan: TablePlan, columns: string[], search: { find(buf: Buffer, from: number, end: number): number }, read: (row: RowAccess) => void): TablePlan {
  return judgedPlan({ mode: 'keep', rule: plan.rule }, columns, {
    touches: () => false,
    search: (buf, from, end) => search.find(buf, from, end),
    judge: (row) => (read(row), KEEP_AS_IS),
    value: (_row, _col, own) => own(),
  });
}
