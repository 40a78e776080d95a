import type { ColumnRule } from '../../contract/rules-model.js';
import { withUtf8 } from '../../text/encoding.js';
import { rangeAction, type RuleKind } from './kind.js';

type Hash = Extract<ColumnRule, { kind: 'hash' }>;
const MAX_HASH_LENGTH = 64;

export const hash: RuleKind<Hash> = {
  key: 'hash',
  doc: 'hex of a keyed hash of the value (`length` 4–64, default 16; a stable pseudonymous join key)',
  bare: ['hash'],
  options: ['nulls'],
  parse: (node, api) => {
    let length = 16;
    if (!api.isNull(node)) {
      const len = api.options(node, 'hash', ['length']).find((o) => o.key === 'length');
      if (len) length = api.int(len.value, 'hash length', 4, MAX_HASH_LENGTH);
    }
    return { kind: 'hash', length, nulls: api.nulls, where: api.where };
  },
  fromBare: (where) => ({ kind: 'hash', length: 16, nulls: 'keep', where }),
  column: (rule, env) => {
    const fn = env.hashFn(rule.length);
    return rangeAction(fn, rule.nulls === 'replace' ? () => fn(Buffer.alloc(0)) : () => null);
  },
  compile: (rule, env) => {
    const fn = env.hashFn(rule.length);
    const ofUtf8 = (buf: Buffer, end: number) => fn(buf, 0, end);
    return { kind: 'text', fn: (s) => (s === '' ? '' : withUtf8(s, ofUtf8)), nulls: rule.nulls, bytes: (buf, start, end) => (start === end ? '' : fn(buf, start, end)), draft: fn.draft };
  },
  fits: (_rule, cls) => cls === 'text' || cls === 'other',
  length: (rule) => rule.length,
  // 64 bits and more: collisions ~n²/2⁶⁵
  unique: (rule) => rule.length >= 16,
  leaks: 'whole',
  protection: 'pseudonymised',
};
