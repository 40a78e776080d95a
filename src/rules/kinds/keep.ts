import type { ColumnRule } from '../../contract/rules-model.js';
import type { RuleKind } from './kind.js';

type Keep = Extract<ColumnRule, { kind: 'keep' }>;

export const keep: RuleKind<Keep> = {
  key: 'keep',
  doc: 'unchanged (its bytes are never even decoded)',
  bare: ['keep'],
  parse: (_v, api) => api.fail(null, `${api.what}: keep takes no options (write keep)`),
  fromBare: (where) => ({ kind: 'keep', nulls: 'keep', where }),
  compile: () => ({ kind: 'keep' }),
  column: () => null,
  fits: () => true,
  length: () => -1,
  unique: () => true,
  leaks: 'none',
};
