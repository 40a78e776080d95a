import type { ColumnRule } from '../../contract/rules-model.js';
import { parseTemplate } from '../syntax.js';
import type { ColumnAction } from '../../contract/plan.js';
import type { CompileEnv, RuleKind } from './kind.js';
import { ByteDraft } from '../../text/byte-draft.js';

type Template = Extract<ColumnRule, { kind: 'template' }>;

function action(rule: Template, env: CompileEnv): ColumnAction {
  const parts = rule.parts.map((p) => (typeof p === 'string' ? p : env.index.get(p.ref)!));
  const text: ColumnAction = (row) => {
    let s = '';
    for (const p of parts) s += typeof p === 'string' ? p : (row.output(p) ?? '');
    return s;
  };
  // a text holding what COPY escapes, or a control character, is left to the text
  if (parts.some((p) => typeof p === 'string' && /[\x00-\x1f\\]/.test(p))) return text;
  const pieces = parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p));
  const d = new ByteDraft();
  // `user.{id}`: the text's bytes and the kept fields' bytes where they lie, copied, undecoded; a field
  // that is not its own bytes there (escapes, NULL, INSERT literals) or is rewritten goes to the text
  text.bytes = (row) => {
    d.reset();
    for (const p of pieces) {
      if (typeof p !== 'number') d.put(p);
      else {
        const src = row.keptSpan?.(p);
        if (!src || !d.putPlain(src, row.spanStart!, row.spanEnd!)) return undefined;
      }
    }
    return d.view();
  };
  text.bytesAsCopy = () => true;
  return text;
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
