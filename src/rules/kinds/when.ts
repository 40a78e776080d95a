/**
 * `when`: the column's rule chosen per row from other columns' original values, with drop_where's
 * matching: `{ when: [ { if: { status: [closed] }, then: null }, … ], else: { fake: person.fullName } }`.
 * The first branch whose `if` matches decides; `else` (default keep) when none does.
 */
import type { ColumnRule } from '../../contract/rules-model.js';
import type { RuleKind } from './kind.js';

type When = Extract<ColumnRule, { kind: 'when' }>;

export const when: RuleKind<When> = {
  key: 'when',
  doc: 'the column\'s rule chosen per row from other columns\' original values: `{ when: [ { if: { COLUMN: [values] }, then: RULE }, … ], else: RULE }` (matching as `drop_where`; the first branch that matches; `else` defaults to keep)',
  options: ['else'],
  parse: (node, api, opts) => {
    const items = api.list(node);
    if (!items || items.length === 0) return api.fail(node, 'when must be a list of { if: { column: [values] }, then: rule }');
    const branches = items.map((item, i) => {
      const parts = api.options(item, `when branch ${i + 1}`, ['if', 'then']);
      const cond = parts.find((p) => p.key === 'if');
      const then = parts.find((p) => p.key === 'then');
      if (!cond || !then) return api.fail(item, 'a when branch needs if and then');
      return { if: api.filter(cond.value, 'when if'), then: api.rule(then.value, `${api.what} when branch ${i + 1}`) };
    });
    const e = opts.get('else');
    const otherwise = e ? api.rule(e.value, `${api.what} else`) : { kind: 'keep' as const, nulls: 'keep' as const, where: api.where };
    return { kind: 'when', branches, otherwise, nulls: api.nulls, where: api.where };
  },
  compile: (_rule, env) => {
    throw new Error(`when is a column rule; it cannot stand inside json (${env.path.join('.')})`);
  },
  column: (rule, env) => {
    const branches = rule.branches.map((b) => ({ matches: env.matcher(b.if), action: env.columnAction(b.then) }));
    const otherwise = env.columnAction(rule.otherwise);
    return (row, col) => {
      for (const b of branches) if (b.matches(row)) return b.action ? b.action(row, col) : row.text(col);
      return otherwise ? otherwise(row, col) : row.text(col);
    };
  },
  fits: (rule, cls) => [...rule.branches.map((b) => b.then), rule.otherwise].every((r) => kindOf(r).fits(r, cls)),
  length: (rule, env) => {
    let max = -1;
    for (const r of [...rule.branches.map((b) => b.then), rule.otherwise]) {
      const n = kindOf(r).length(r, env);
      if (n === null) return null;
      max = Math.max(max, n);
    }
    return max;
  },
  unique: (rule, env) => [...rule.branches.map((b) => b.then), rule.otherwise].every((r) => kindOf(r).unique(r, env)),
  leaks: 'whole',
  protection: 'conditional',
};

// the registry imports this file: it is handed back once, when the registry loads
let kindOf: (rule: ColumnRule) => RuleKind = () => {
  throw new Error('when: the registry has not loaded');
};
export function useRegistry(lookup: (rule: ColumnRule) => RuleKind): void {
  kindOf = lookup;
}
