import type { ColumnRule } from '../../contract/rules-model.js';
import type { RuleKind, TypeClass } from './kind.js';

type Value = Extract<ColumnRule, { kind: 'value' }>;

/** What a fixed value must look like to be read as a column of each kind (text and unknown types take anything). */
const SHAPES: Partial<Record<TypeClass, (v: string) => boolean>> = {
  number: (v) => /^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/.test(v),
  bool: (v) => /^\s*(t|f|true|false|yes|no|on|off|1|0)\s*$/i.test(v),
  uuid: (v) => /^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$/i.test(v),
  inet: (v) => /^[0-9a-f.:]+(\/\d+)?$/i.test(v),
  time: (v) => /^\d{4}-\d\d-\d\d|^\d\d:\d\d|^(infinity|-infinity|epoch|now|today)$/i.test(v.trim()),
  json: (v) => {
    try {
      JSON.parse(v);
      return true;
    } catch {
      return false;
    }
  },
  array: (v) => /^\s*\{.*\}\s*$/s.test(v),
};

export const value: RuleKind<Value> = {
  key: 'value',
  doc: 'the fixed value X (a string, number, boolean or null)',
  parse: (node, api) => {
    const v = api.scalar(node, 'value must be a string, number, boolean or null');
    if (v !== null && !['string', 'number', 'boolean'].includes(typeof v)) api.fail(node, 'value must be a string, number, boolean or null');
    return { kind: 'value', value: v === null ? null : String(v), nulls: api.nulls, where: api.where };
  },
  compile: (rule) => ({ kind: 'const', value: rule.value }),
  column: (rule) => {
    const v = rule.value;
    return () => v;
  },
  fits: (rule, cls) => rule.value === null || (SHAPES[cls]?.(rule.value) ?? true),
  length: (rule) => (rule.value === null ? 0 : rule.value.length),
  // one constant for every row
  unique: () => false,
  leaks: 'whole',
  protection: 'removed',
};
