import type { ColumnRule } from '../../contract/rules-model.js';
import { parseTemplate } from '../syntax.js';
import type { ColumnAction } from '../../contract/plan.js';
import type { CompileEnv, RuleKind } from './kind.js';

type Template = Extract<ColumnRule, { kind: 'template' }>;

function action(rule: Template, env: CompileEnv): ColumnAction {
  const parts = rule.parts.map((p) => (typeof p === 'string' ? p : env.index.get(p.ref)!));
  return (row) => {
    let s = '';
    for (const p of parts) s += typeof p === 'string' ? p : (row.output(p) ?? '');
    return s;
  };
}

export const template: RuleKind<Template> = {
  key: 'template',
  doc: 'text with `{column}` replaced by that column\'s *output* value in the row (so a template never leaks a rewritten column); `{{` `}}` are literal braces; a NULL reference is an empty string',
  parse: (node, api) => {
    const parts = parseTemplate(api.string(node, 'template'));
    if (typeof parts === 'string') return api.fail(node, parts);
    return { kind: 'template', parts, nulls: api.nulls, where: api.where };
  },
  column: action,
  compile: (rule, env) => {
    const a = action(rule, env);
    return { kind: 'text', fn: (_s, row) => a(row, -1) ?? '', nulls: 'replace' };
  },
  fits: (_rule, cls) => cls === 'text' || cls === 'other',
  length: (rule, env) => {
    let n = 0;
    for (const p of rule.parts) {
      if (typeof p === 'string') n += p.length;
      else {
        const len = env.columnLength(p.ref);
        if (len === null) return null;
        n += Math.max(len, 0);
      }
    }
    return n;
  },
  // unique when it carries a unique column's output
  unique: (rule, env) => rule.parts.some((p) => typeof p !== 'string' && env.columnUnique(p.ref)),
  leaks: 'whole',
  protection: 'pseudonymised',
};
