import type { ColumnRule } from '../../contract/rules-model.js';
import { jsonPath, shown } from '../syntax.js';
import type { JsonTrie } from './kind.js';
import type { RuleKind } from './kind.js';

type Json = Extract<ColumnRule, { kind: 'json' }>;

export const json: RuleKind<Json> = {
  key: 'json',
  doc: 'for json/jsonb text: a rule per key or dotted path (a key that holds a dot is written `contact\\.email`); arrays are walked through; a rule on an object applies to every scalar under it; `"*"` covers keys not listed (default: the file\'s `unknown` policy). Only the values a rule changes are rewritten: every other byte of the document stays as it was',
  options: ['nulls'],
  parse: (node, api) => {
    const keys = new Map<string, ColumnRule>();
    for (const it of api.options(node, 'json', [])) {
      if (it.key !== '*' && jsonPath(it.key).some((seg) => seg === '')) api.fail(it.node, `json path ${shown(it.key)} has an empty part`);
      keys.set(it.key, api.rule(it.value, `json key ${it.key}`));
    }
    return { kind: 'json', keys, nulls: api.nulls, where: api.where };
  },
  compile: (rule, env) => {
    const root: JsonTrie = { children: new Map() };
    for (const [key, sub] of rule.keys) {
      const segs = key === '*' ? [] : jsonPath(key);
      let node = root;
      const last = segs.pop();
      for (const seg of segs) {
        let next = node.children.get(seg);
        if (!next) node.children.set(seg, (next = { children: new Map() }));
        node = next;
      }
      const fn = env.valueFn(sub, [...env.path, key]);
      if (last === undefined || last === '*') node.star = fn;
      else {
        let leafNode = node.children.get(last);
        if (!leafNode) node.children.set(last, (leafNode = { children: new Map() }));
        leafNode.leaf = fn;
      }
    }
    if (!root.star) root.star = env.unknown === 'keep' ? { kind: 'keep' } : env.unknown === 'null' ? { kind: 'null' } : { kind: 'fail' };
    return { kind: 'json', trie: root };
  },
  fits: (_rule, cls) => cls === 'json' || cls === 'text',
  length: () => null,
  unique: () => false,
  leaks: 'json',
  protection: 'by key',
};
