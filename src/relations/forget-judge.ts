/**
 * The judge of find's and forget's last pass (judge.ts): what happens to each row the passes found
 * (removed, its reference set NULL, kept), and whether it holds the person's identifiers (scrubbed).
 */
import type { PlanOverlay } from '../dump/rewriter.js';
import type { RowAccess, TablePlan } from '../contract/plan.js';
import { judgedPlan, type TableJudge, type Verdict } from './judge.js';
import type { People } from './people.js';
import { NO_FATE, type Fate } from './people-model.js';

/**
 * The last pass's overlay: each table whose rows may refer to a removed row, or name the person, gets
 * a judge that decides every such row. `visit` sees each row's fate (find counts; forget reports);
 * `apply`: the verdicts are carried out (forget), else every row is written as it is.
 */
export function forgetOverlay(p: People, visit: ((table: string, columns: readonly string[], row: RowAccess, fate: Fate, hit: boolean) => void) | null, apply: boolean): PlanOverlay {
  const ids = p.ids;
  return (table: string, columns: string[], plan: TablePlan): TablePlan => {
    if (plan.mode === 'drop') return plan;
    const w = p.workFor(table, columns);
    const judged = w.seeds.length > 0 || w.outgoing.some((o) => o.group === null || o.group.keys.size > 0);
    const text = p.textColumns(table, columns);
    const bytes = p.byteaColumns(table, columns);
    const search = ids.search.count > 0 && (text.size > 0 || bytes.size > 0);
    if (!judged && !search) return plan;
    // rows to judge: every row, unless what makes a row matter (a condition's value, a key of a removed
    // row) is few enough to be looked for in the row's bytes with the identifiers
    const few = judged ? p.rowNeedles(w) : null;
    const rowSearch = few ? p.searchFor([...(search ? ids.needles : []), ...few]) : null;
    const judge: TableJudge<ForgetVerdict> = {
      touches: (i) => text.has(i) || bytes.has(i) || w.outgoing.some((o) => o.cols.includes(i)),
      // the search runs over whole runs of rows; with references to check, every row is read as well
      search: rowSearch ? (buf, from, end) => rowSearch.find(buf, from, end) : search ? (buf, from, end) => ids.search.find(buf, from, end) : undefined,
      everyRow: judged && !rowSearch,
      judge: (row, searchHit) => {
        const fate = judged ? p.fate(w, row) : NO_FATE;
        let hit: boolean;
        // the plan's search found the identifiers themselves: its word stands; a search for keys too
        // only says the row may matter, so the identifiers are looked for in the row itself
        if (searchHit !== undefined && !rowSearch) hit = searchHit;
        else {
          const span = search ? row.rawSpan?.() : undefined;
          hit = span !== undefined && ids.search.find(span, 0, span.length) !== -1;
        }
        visit?.(table, columns, row, fate, hit);
        return apply ? { keep: !fate.removed, asIs: !hit && !fate.nulls, fate, hit } : { keep: true, asIs: true, fate, hit };
      },
      value: (_row, col, own, v) => {
        if (v.fate.nulls?.has(col)) return null;
        const value = own();
        if (value === null || !v.hit) return value;
        return text.has(col) ? ids.scrub(value).text : bytes.has(col) ? ids.scrubBytea(value).text : value;
      },
    };
    return judgedPlan(plan, columns, judge);
  };
}

/** forget's verdict on a row: what happens to it, and whether it holds the person's identifiers. */
interface ForgetVerdict extends Verdict {
  fate: Fate;
  hit: boolean;
}
