/**
 * `noise`: a keyed, bounded change that keeps a value's shape — a number moved by a factor within
 * ±ratio (integers stay integers, numeric keeps its scale), a date or timestamp by up to ±days (never 0).
 * The same value and key always give the same result.
 */
import type { ColumnRule } from '../../contract/rules-model.js';
import { withUtf8 } from '../../text/encoding.js';
import { offsetDays, shiftDays } from './dates.js';
import type { RuleKind } from './kind.js';

type Noise = Extract<ColumnRule, { kind: 'noise' }>;

export const noise: RuleKind<Noise> = {
  key: 'noise',
  doc: 'a keyed, bounded change: `{ noise: { ratio: 0.1 } }` moves a number by a factor within ±10 % (integers stay integers, numeric keeps its scale); `{ noise: { days: 30 } }` moves a date or timestamp by up to ±30 days (never 0)',
  options: ['nulls'],
  parse: (node, api) => {
    const opts = api.options(node, 'noise', ['ratio', 'days']);
    if (opts.length !== 1) return api.fail(node, 'noise takes one of ratio or days');
    const o = opts[0]!;
    if (o.key === 'days') return { kind: 'noise', days: api.int(o.value, 'noise days', 1, 100000), nulls: api.nulls, where: api.where };
    const ratio = api.scalar(o.value, 'noise ratio must be a number above 0 and below 1');
    if (typeof ratio !== 'number' || !(ratio > 0 && ratio < 1)) api.fail(o.value, 'noise ratio must be a number above 0 and below 1');
    return { kind: 'noise', ratio: ratio as number, nulls: api.nulls, where: api.where };
  },
  compile: (rule, env) => {
    const sip = env.keys.sip(`noise\0${rule.ratio ?? ''}\0${rule.days ?? ''}`);
    // a uniform draw in [-1, 1) from the keyed hash of the value
    let u = 0;
    const draw = (buf: Buffer, end: number) => {
      sip.hash(buf, 0, end);
      u = (sip.lo >>> 0) / 2 ** 31 - 1;
    };
    if (rule.days !== undefined) {
      const days = rule.days;
      return {
        kind: 'text',
        nulls: rule.nulls,
        fn: (s) => {
          withUtf8(s, draw);
          return shiftDays(s, offsetDays(u, days));
        },
      };
    }
    const ratio = rule.ratio!;
    return {
      kind: 'text',
      nulls: rule.nulls,
      fn: (s) => {
        const t = s.trim();
        if (!/^[-+]?\d+(\.\d+)?$/.test(t)) return s; // NaN, Infinity, exponents: as they are
        withUtf8(t, draw);
        const scale = t.includes('.') ? t.length - t.indexOf('.') - 1 : 0;
        const v = Number(t) * (1 + u * ratio);
        return scale > 0 ? v.toFixed(scale) : String(Math.round(v));
      },
    };
  },
  fits: (rule, cls) => (rule.days !== undefined ? cls === 'time' || cls === 'text' : cls === 'number' || cls === 'text'),
  length: () => null, // a number can gain a digit
  unique: () => false,
  leaks: 'whole',
};
