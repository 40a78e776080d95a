import type { ColumnRule } from '../../contract/rules-model.js';
import type { RuleKind } from './kind.js';

type Keep = Extract<ColumnRule, { kind: 'keep' }>;

export const keep: RuleKind<Keep> = {
  key: 'keep',
  doc: 'unchanged (its bytes are never even decoded); `{ keep: "why" }` says it was reviewed: `scan --fail-on-pii -r` then reports what it finds there without failing on it',
  bare: ['keep'],
  parse: (v, api) => {
    const reason = api.isScalar(v) ? api.scalar(v, 'keep takes a reason as text') : null;
    if (typeof reason !== 'string' || reason.trim() === '') return api.fail(v, `${api.what}: keep takes a reason as text ({ keep: "town names, not people" }), or nothing (write keep)`);
    return { kind: 'keep', reason, nulls: 'keep', where: api.where };
  },
  fromBare: (where) => ({ kind: 'keep', nulls: 'keep', where }),
  compile: () => ({ kind: 'keep' }),
  column: () => null,
  fits: () => true,
  length: () => -1,
  unique: () => true,
  leaks: 'none',
  protection: 'kept',
};
