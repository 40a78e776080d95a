/** `replace`: every match of a pattern replaced, by text (with `$1`…) or by a keyed fake. */
import type { ColumnRule } from '../../contract/rules-model.js';
import { withUtf8 } from '../../text/encoding.js';
import type { RuleKind } from './kind.js';

type Replace = Extract<ColumnRule, { kind: 'replace' }>;

export const replace: RuleKind<Replace> = {
  key: 'replace',
  doc: 'every match of a regular expression replaced: `{ replace: { pattern: REGEX, with: TEXT } }` (`$1`… for groups), or `{ pattern: …, fake: METHOD }` for a keyed fake per match (the pattern is yours: keep it linear)',
  options: ['nulls'],
  parse: (node, api) => {
    const opts = api.options(node, 'replace', ['pattern', 'with', 'fake', 'locale']);
    const get = (k: string) => opts.find((o) => o.key === k);
    const p = get('pattern');
    if (!p) return api.fail(node, 'replace needs a pattern');
    const pattern = api.string(p.value, 'pattern');
    try {
      new RegExp(pattern, 'gu');
    } catch {
      api.fail(p.value, 'replace: the pattern is not a valid regular expression');
    }
    const w = get('with');
    const f = get('fake');
    if ((w === undefined) === (f === undefined)) api.fail(node, 'replace takes one of with or fake');
    if (w) return { kind: 'replace', pattern, with: api.string(w.value, 'with'), nulls: api.nulls, where: api.where };
    const method = api.string(f!.value, 'fake');
    const l = get('locale');
    const locale = l ? api.string(l.value, 'locale') : 'en';
    api.needsFaker({ method, unique: false, locale }, f!.at, l ? l.at : f!.at);
    return { kind: 'replace', pattern, fake: { method, locale }, nulls: api.nulls, where: api.where };
  },
  compile: (rule, env) => {
    const re = new RegExp(rule.pattern, 'gu');
    if (rule.with !== undefined) {
      const w = rule.with;
      return { kind: 'text', fn: (s) => s.replace(re, w), nulls: rule.nulls };
    }
    const fake = env.fakeFn({ kind: 'fake', method: rule.fake!.method, unique: false, locale: rule.fake!.locale, nulls: 'keep', where: rule.where });
    const ofUtf8 = (buf: Buffer, end: number) => fake(buf, 0, end);
    return { kind: 'text', fn: (s) => s.replace(re, (m) => withUtf8(m, ofUtf8)), nulls: rule.nulls };
  },
  fits: (_rule, cls) => cls === 'text' || cls === 'other',
  length: () => null,
  unique: () => false,
  leaks: 'whole',
  protection: 'pseudonymised',
};
