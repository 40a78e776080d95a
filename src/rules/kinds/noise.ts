/**
 * `noise`: a keyed, bounded change that keeps a value's shape — a number moved by a factor within
 * ±ratio (integers stay integers, numeric keeps its scale), a date or timestamp by up to ±days (never 0).
 * A number stays inside its column's type (smallint's range, numeric(p,s)'s digits) and its domain's
 * simple CHECKs, and never comes out as it went in. The same value and key always give the same result.
 */
import type { ColumnRule } from '../../contract/rules-model.js';
import { AnonymiseError } from '../../errors.js';
import { withUtf8 } from '../../text/encoding.js';
import { offsetDays, shiftDays } from './dates.js';
import type { ColumnType } from '../../contract/plan.js';
import type { RuleKind } from './kind.js';
import { checkBounds } from './check-bounds.js';

/** The integers' ranges, by base type name. */
const INTEGER_RANGE: Record<string, [number, number]> = {
  smallint: [-32768, 32767],
  int2: [-32768, 32767],
  integer: [-2147483648, 2147483647],
  int: [-2147483648, 2147483647],
  int4: [-2147483648, 2147483647],
  bigint: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  int8: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

/**
 * What a number written into the column must stay inside: an integer type's range, a numeric(p,s)'s
 * digits (and its scale), and its domain's and table's CHECKs of the form `VALUE >= n` / `VALUE <= n`
 * (and > <, BETWEEN) joined by AND. A CHECK that says more (OR, another column, a function) cannot be
 * kept by moving the number, and is said so (a string); unknown types (no schema, a JSON value) bound nothing.
 */
function numberBounds(type: ColumnType | null): { min: number; max: number; scale: number | null } | string {
  let min = -Infinity;
  let max = Infinity;
  let scale: number | null = null;
  if (type && !type.array) {
    const range = INTEGER_RANGE[type.name];
    if (range) [min, max, scale] = [range[0], range[1], 0];
    const ps = /^(?:numeric|decimal)\s*\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\)/i.exec(type.written);
    if (ps) {
      scale = Number(ps[2] ?? 0);
      const top = 10 ** (Number(ps[1]) - scale) - 10 ** -scale;
      [min, max] = [-top, top];
    }
    const unit = 10 ** -(scale ?? 0);
    for (const check of type.checks) {
      const bounds = checkBounds(check);
      if (!bounds) return 'a CHECK on the column says more than bounds on its value (OR, another column, a function)';
      for (const { op, n } of bounds) {
        if (op === '>=') min = Math.max(min, n);
        else if (op === '>') min = Math.max(min, n + unit);
        else if (op === '<=') max = Math.min(max, n);
        else max = Math.min(max, n - unit);
      }
    }
    if (max - min < unit) return 'its CHECKs leave it one value';
  }
  return { min, max, scale };
}

type Noise = Extract<ColumnRule, { kind: 'noise' }>;

export const noise: RuleKind<Noise> = {
  key: 'noise',
  doc: 'a keyed, bounded change: `{ noise: { ratio: 0.1 } }` moves a number by a factor within ±10 % (integers stay integers, numeric keeps its scale; inside the column\'s type and its domain\'s and table\'s `VALUE >= n` CHECKs, or refused; never the value itself); `{ noise: { days: 30 } }` moves a date or timestamp by up to ±30 days (never 0)',
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
      // a date CHECK (born after 1900) is not read: a shifted date could fail it on restore
      if (env.columnType?.checks.length)
        throw new AnonymiseError('RULES', `noise on ${env.path.join('.')} cannot keep the date inside the CHECKs on its column; use another rule (generalise, null)`, rule.where);
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
    const b = numberBounds(env.columnType);
    if (typeof b === 'string') throw new AnonymiseError('RULES', `noise on ${env.path.join('.')} cannot keep the value inside its type: ${b}; use another rule (generalise, null)`, rule.where);
    const clamp = (v: number) => Math.min(b.max, Math.max(b.min, v));
    return {
      kind: 'text',
      nulls: rule.nulls,
      fn: (s) => {
        const t = s.trim();
        if (!/^[-+]?\d+(\.\d+)?$/.test(t)) return s; // NaN, Infinity, exponents: as they are
        withUtf8(t, draw);
        const scale = b.scale ?? (t.includes('.') ? t.length - t.indexOf('.') - 1 : 0);
        const round = (v: number) => Number(v.toFixed(scale));
        const write = (v: number) => (scale > 0 ? v.toFixed(scale) : String(v));
        const original = Number(t);
        let v = clamp(round(original * (1 + u * ratio)));
        // never the value itself (a small ratio on a small value rounds back to it): one unit of the
        // column's scale away, towards the draw, or the other way at a bound
        if (v === original) {
          const unit = 10 ** -scale * (u < 0 ? -1 : 1);
          v = clamp(round(original + unit));
          if (v === original) v = clamp(round(original - unit));
        }
        return write(v);
      },
    };
  },
  fits: (rule, cls) => (rule.days !== undefined ? cls === 'time' || cls === 'text' : cls === 'number' || cls === 'text'),
  length: () => null, // a number can gain a digit
  unique: () => false,
  leaks: 'whole',
  protection: 'generalised',
};
