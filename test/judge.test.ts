import { describe, expect, it } from 'vitest';
import type { RowAccess, TablePlan } from '../src/contract/plan.js';
import { judgedPlan, type TableJudge, type Verdict } from '../src/relations/judge.js';

/** A row of one text column. */
const row = (v: string): RowAccess => ({ text: () => v, bytes: () => Buffer.from(v), output: () => v });

interface Tagged extends Verdict {
  tag: string;
}

/** Drops rows starting with "x", upper-cases rows starting with "u", keeps the rest as they are. */
function judge(asked: string[]): TableJudge<Tagged> {
  return {
    touches: () => true,
    judge: (r) => {
      const v = r.text(0)!;
      asked.push(v);
      return { keep: !v.startsWith('x'), asIs: !v.startsWith('u'), tag: v };
    },
    value: (_r, _c, own, verdict) => (verdict.tag.startsWith('u') ? own()!.toUpperCase() : own()),
  };
}

const values = ['a', 'u1', 'x', 'u2', 'b'];

describe('judgedPlan', () => {
  // COPY: each row is asked about and written in turn; INSERT: every row of a statement is asked
  // about, then the kept ones written
  it.each([
    ['COPY rows', 'row by row'],
    ['an INSERT statement', 'all first'],
  ])('%s: each row judged once, each written row rewritten by its own verdict', (_name, order) => {
    const asked: string[] = [];
    const plan = judgedPlan({ mode: 'keep', rule: 'keep' }, ['c'], judge(asked)) as Extract<TablePlan, { mode: 'rewrite' }>;
    const written: string[] = [];
    const write = (v: string) => {
      const r = row(v);
      written.push(plan.filter!.untouched!(r) ? v : plan.actions[0]!(r, 0)!);
    };
    if (order === 'row by row') for (const v of values) (plan.filter!.keep(row(v)) ? write(v) : undefined);
    else {
      const kept = values.filter((v) => plan.filter!.keep(row(v)));
      kept.forEach(write);
    }
    expect(asked).toEqual(values);
    expect(written).toEqual(['a', 'U1', 'U2', 'b']);
  });

  it('the rules still have their say: their row filter drops, their actions give `own`', () => {
    const rules: TablePlan = {
      mode: 'rewrite',
      rule: 'rules',
      columns: ['c'],
      actions: [(r) => `r-${r.text(0)}`],
      filter: { columns: [0], keep: (r) => r.text(0) !== 'b' },
    };
    const plan = judgedPlan(rules, ['c'], { ...judge([]), label: '(subset)' }) as Extract<TablePlan, { mode: 'rewrite' }>;
    expect(plan.rule).toBe('rules (subset)');
    const out = values.filter((v) => plan.filter!.keep(row(v))).map((v) => (plan.filter!.untouched!(row(v)) ? v : plan.actions[0]!(row(v), 0)));
    // rows the rules rewrite are never written as they are, even where the judge would
    expect(out).toEqual(['r-a', 'R-U1', 'R-U2']);
  });
});
