/** `pick`: a keyed choice from a list (given inline, or one entry a line in a file beside the rules file). */
import { readFileSync } from 'node:fs';
import type { ColumnRule } from '../../contract/rules-model.js';
import { withUtf8 } from '../../text/encoding.js';
import type { RuleKind } from './kind.js';

type Pick = Extract<ColumnRule, { kind: 'pick' }>;

export const pick: RuleKind<Pick> = {
  key: 'pick',
  doc: 'a keyed choice from a list: `{ pick: { from: [a, b, c] } }`, or `from: FILE` with one entry a line (relative to the rules file); the same original gives the same entry',
  options: ['nulls'],
  parse: (node, api) => {
    const from = api.options(node, 'pick', ['from']).find((o) => o.key === 'from');
    if (!from) return api.fail(node, 'pick needs from: a list, or a file of one entry a line');
    let entries: string[];
    const list = api.list(from.value);
    if (list) entries = list.map((x) => String(api.scalar(x, 'a pick entry must be a string or a number')));
    else {
      const file = api.localFile(from.value, api.string(from.value, 'pick from'), 'pick from:');
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        return api.fail(from.value, 'pick from: cannot read that file (a regular file of one entry a line, relative to the rules file)');
      }
      entries = text.split(/\r?\n/).filter((l) => l.length > 0);
    }
    if (entries.length === 0) api.fail(from.value, 'pick from: the list is empty');
    return { kind: 'pick', from: entries, nulls: api.nulls, where: api.where };
  },
  compile: (rule, env) => {
    const sip = env.keys.sip(`pick\0${rule.from.join('\0')}`);
    const entries = rule.from;
    const choose = (buf: Buffer, end: number) => {
      sip.hash(buf, 0, end);
      // 2^32 buckets folded onto the list: bias below 1e-6 for lists under a few thousand entries
      return entries[(sip.lo >>> 0) % entries.length]!;
    };
    return { kind: 'text', fn: (s) => withUtf8(s, choose), nulls: rule.nulls };
  },
  fits: () => true, // the entries are the user's, for the column's type
  length: (rule) => Math.max(...rule.from.map((e) => e.length)),
  unique: () => false,
  leaks: 'whole',
  protection: 'pseudonymised',
};
