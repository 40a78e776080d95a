import type { ColumnRule } from '../../contract/rules-model.js';
import type { RuleKind } from './kind.js';

type Null = Extract<ColumnRule, { kind: 'null' }>;

export const nullRule: RuleKind<Null> = {
  key: 'null',
  doc: 'NULL',
  bare: ['null', null],
  parse: (_v, api) => api.fail(null, `${api.what}: null takes no options (write null)`),
  fromBare: (where) => ({ kind: 'null', nulls: 'keep', where }),
  compile: () => ({ kind: 'null' }),
  column: () => () => null,
  fits: () => true,
  length: () => 0,
  // NULLs never collide in a UNIQUE constraint
  unique: () => true,
  leaks: 'whole',
  protection: 'removed',
};
