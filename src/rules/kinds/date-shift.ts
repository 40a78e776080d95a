/**
 * `date_shift`: dates and timestamps moved by a keyed offset in ±max_days (never 0). With `by`, the
 * offset comes from the original value of that column of the row, so every row with the same `by` —
 * in any table, since the offset depends only on the key, max_days and that value — moves by the same
 * number of days, and the intervals within one person's history stay exact.
 */
import type { ColumnRule } from '../../contract/rules-model.js';
import { withUtf8 } from '../../text/encoding.js';
import { offsetDays, shiftDays } from './dates.js';
import { AnonymiseError } from '../../errors.js';
import type { RuleKind } from './kind.js';

type DateShift = Extract<ColumnRule, { kind: 'date_shift' }>;

export const dateShift: RuleKind<DateShift> = {
  key: 'date_shift',
  doc: 'dates and timestamps moved by a keyed offset within ±`max_days` (never 0), in their own text format; with `by: COLUMN` every row with the same original value of that column — in any table — moves by the same offset, so intervals within one person\'s history stay exact',
  options: ['nulls'],
  parse: (node, api) => {
    const opts = api.options(node, 'date_shift', ['max_days', 'by']);
    const max = opts.find((o) => o.key === 'max_days');
    if (!max) return api.fail(node, 'date_shift needs max_days');
    const by = opts.find((o) => o.key === 'by');
    return { kind: 'date_shift', maxDays: api.int(max.value, 'max_days', 1, 100000), by: by ? api.string(by.value, 'by') : undefined, nulls: api.nulls, where: api.where };
  },
  compile: (rule, env) => {
    const sip = env.keys.sip(`date_shift\0${rule.maxDays}`);
    let offset = 0;
    const draw = (buf: Buffer, end: number) => {
      sip.hash(buf, 0, end);
      offset = offsetDays((sip.lo >>> 0) / 2 ** 31 - 1, rule.maxDays);
    };
    // a date CHECK (not before the service began) is not read: a shifted date could fail it on restore
    if (env.columnType?.checks.length)
      throw new AnonymiseError('RULES', `date_shift on ${env.path.join('.')} cannot keep the date inside the CHECKs on its column; use another rule (generalise, null)`, rule.where);
    const by = rule.by === undefined ? -1 : env.index.get(rule.by);
    if (by === undefined) throw new Error(`date_shift by ${rule.by}: checked when the table is planned`);
    return {
      kind: 'text',
      nulls: rule.nulls,
      fn: (s, row) => {
        // the offset's source: the row's `by` (its original text; NULL shifts by the NULL offset), or the value
        const source = by >= 0 ? (row.text(by) ?? '\0NULL') : s;
        withUtf8(source, draw);
        return shiftDays(s, offset);
      },
    };
  },
  fits: (_rule, cls) => cls === 'time' || cls === 'text',
  length: () => -1, // a date keeps its length unless it crosses year 10000 or BC
  unique: () => false,
  leaks: 'whole',
  protection: 'generalised',
};
