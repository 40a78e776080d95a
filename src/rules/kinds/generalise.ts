/**
 * `generalise`: less precision, same kind of value — dates and timestamps truncated to a year, month,
 * day or hour (in the column's own text format, time zone and BC kept), numbers floored to a step,
 * a UK postcode to its district, an IP address to a prefix.
 */
import type { ColumnRule } from '../../contract/rules-model.js';
import { AnonymiseError } from '../../errors.js';
import { checkBounds } from './check-bounds.js';
import type { RuleKind } from './kind.js';

type Generalise = Extract<ColumnRule, { kind: 'generalise' }>;

// PostgreSQL's ISO output: 1987-06-14, 1987-06-14 10:30:00.123456+01, 0044-03-15 BC
const DATE_TIME = /^(\d{4,})-(\d\d)-(\d\d)(?:([ T])(\d\d):(\d\d):(\d\d(?:\.\d+)?))?([+-]\d\d(?::?\d\d){0,2})?( BC)?$/;

export function truncateTime(s: string, to: 'year' | 'month' | 'day' | 'hour'): string {
  const m = DATE_TIME.exec(s);
  if (!m) return s; // infinity, -infinity: nothing to truncate
  const [, y, mo, d, sep, h, , sec, tz = '', bc = ''] = m;
  const date = `${y}-${to === 'year' ? '01' : mo}-${to === 'year' || to === 'month' ? '01' : d}`;
  if (sep === undefined) return `${date}${bc}`;
  void sec; // truncated away, with any fraction of a second
  return `${date}${sep}${to === 'hour' ? h : '00'}:00:00${tz}${bc}`;
}

export function floorTo(s: string, step: number): string {
  const t = s.trim();
  if (!/^[-+]?\d+(\.\d+)?$/.test(t)) return s; // NaN, Infinity, exponents: as they are
  const scale = t.includes('.') ? t.length - t.indexOf('.') - 1 : 0;
  const v = Math.floor(Number(t) / step) * step;
  // integers stay integers (a fractional step floors again), numeric keeps its scale
  return scale > 0 ? v.toFixed(scale) : String(Math.floor(v));
}

export function district(s: string): string {
  const compact = s.trim().toUpperCase().replace(/\s+/g, '');
  // the inward code is always a digit and two letters: the outward code is what precedes it
  return /^[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}$/.test(compact) ? compact.slice(0, -3) : '';
}

/**
 * An address cut to its first bits (IPv4: `v4` bits; IPv6: `v6`, or `v4` when the rule gives only that),
 * within the value's own mask. An IPv4 address under a rule for IPv6 only cannot be generalised.
 */
export function prefix(s: string, v4: number | null, v6: number | null, path: readonly string[]): string {
  const [addr, len] = s.trim().split('/');
  if (addr!.includes(':')) {
    const groups = expand6(addr!);
    if (!groups) return s;
    let left = Math.min(v6 ?? v4!, 128, len ? Number(len) : 128);
    const out = groups.map((g) => {
      const keep = Math.max(0, Math.min(16, left));
      left -= 16;
      return keep === 0 ? 0 : g & (0xffff << (16 - keep)) & 0xffff;
    });
    return out.map((g) => g.toString(16)).join(':');
  }
  if (v4 === null) throw new AnonymiseError('UNSUPPORTED', 'an IPv4 address, and this generalise gives only ipv6_prefix: add ip_prefix (24 is common)', { table: path[0], column: path.slice(1).join('.') });
  const bits = v4;
  const parts = addr!.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) return s;
  let left = Math.min(bits, 32, len ? Number(len) : 32);
  return parts
    .map((p) => {
      const keep = Math.max(0, Math.min(8, left));
      left -= 8;
      return keep === 0 ? 0 : p & (0xff << (8 - keep)) & 0xff;
    })
    .join('.');
}

function expand6(a: string): number[] | null {
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const all = [...h, ...Array(Math.max(0, fill)).fill('0'), ...t];
  if (all.length !== 8 || all.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return null;
  return all.map((g) => parseInt(g, 16));
}

export const generalise: RuleKind<Generalise> = {
  key: 'generalise',
  doc: 'less precision, same kind of value: `year`, `month`, `day`, `hour` for dates and timestamps (1987-06-14 → 1987-01-01); `{ step: 10 }` for numbers (37 → 30); `postcode_district` (SW1A 1AA → SW1A); `{ ip_prefix: 24, ipv6_prefix: 48 }` (81.2.69.160 → 81.2.69.0; an IPv6 address keeps ipv6_prefix bits, or ip_prefix bits when that is all the rule gives)',
  options: ['nulls'],
  parse: (node, api) => {
    const usage = 'generalise must be year, month, day, hour, postcode_district, { step: N } or { ip_prefix: N, ipv6_prefix: M }';
    if (api.isScalar(node)) {
      const v = api.scalar(node, usage);
      if (v === 'year' || v === 'month' || v === 'day' || v === 'hour' || v === 'postcode_district') return { kind: 'generalise', to: v, nulls: api.nulls, where: api.where };
      return api.fail(node, usage);
    }
    const opts = api.options(node, 'generalise', ['step', 'ip_prefix', 'ipv6_prefix']);
    const step = opts.find((o) => o.key === 'step');
    if (step ? opts.length !== 1 : opts.length === 0) api.fail(node, 'generalise takes step, or ip_prefix and ipv6_prefix');
    if (step) {
      const n = api.scalar(step.value, 'step must be a positive number');
      if (typeof n !== 'number' || !(n > 0) || !Number.isFinite(n)) api.fail(step.value, 'step must be a positive number');
      return { kind: 'generalise', to: { step: n as number }, nulls: api.nulls, where: api.where };
    }
    // a prefix as long as the address keeps it whole: the rule would change nothing and look like it does
    const v4 = opts.find((o) => o.key === 'ip_prefix');
    const v6 = opts.find((o) => o.key === 'ipv6_prefix');
    return {
      kind: 'generalise',
      to: {
        ipPrefix: v4 ? api.int(v4.value, 'ip_prefix (bits of an IPv4 address kept; 32 would keep it whole)', 0, 31) : null,
        ipv6Prefix: v6 ? api.int(v6.value, 'ipv6_prefix (bits of an IPv6 address kept; 128 would keep it whole)', 0, 127) : null,
      },
      nulls: api.nulls,
      where: api.where,
    };
  },
  compile: (rule, env) => {
    const to = rule.to;
    const type = env.columnType;
    // a step of 1 or less floors an integer to itself: the rule would change nothing and look like it does
    if (typeof to === 'object' && 'step' in to && to.step <= 1 && type && !type.array && /^(smallint|integer|bigint|int[248]?)$/.test(type.name))
      throw new AnonymiseError('RULES', `generalise { step: ${to.step} } leaves every ${type.name} as it is: give a step above 1`, rule.where);
    // what generalising writes must pass the column's CHECKs on restore: a floor stays at or above a
    // lower bound only when the bound is a multiple of the step; a truncated date can fall below any
    const checks = type?.checks ?? [];
    if (checks.length && typeof to === 'string' && to !== 'postcode_district')
      throw new AnonymiseError('RULES', `generalise: ${to} on ${env.path.join('.')} cannot keep a date inside the CHECKs on its column; use another rule`, rule.where);
    if (checks.length && typeof to === 'object' && 'step' in to) {
      for (const check of checks) {
        const bounds = checkBounds(check);
        const low = bounds?.filter((b) => b.op === '>=' || b.op === '>') ?? null;
        if (!bounds || low!.some((b) => !Number.isInteger(b.n / to.step) || b.op === '>'))
          throw new AnonymiseError('RULES', `generalise { step: ${to.step} } on ${env.path.join('.')}: a CHECK on the column bounds it in a way its steps do not keep (a lower bound that is not a multiple of the step, or more than bounds); a floored value could fail it on restore`, rule.where);
      }
    }
    const fn =
      typeof to === 'string'
        ? to === 'postcode_district'
          ? district
          : (s: string) => truncateTime(s, to)
        : 'step' in to
          ? (s: string) => floorTo(s, to.step)
          : (s: string) => prefix(s, to.ipPrefix, to.ipv6Prefix, env.path);
    return { kind: 'text', fn, nulls: rule.nulls };
  },
  fits: (rule, cls) => {
    const to = rule.to;
    if (typeof to === 'string') return to === 'postcode_district' ? cls === 'text' || cls === 'other' : cls === 'time' || cls === 'text';
    return 'step' in to ? cls === 'number' || cls === 'text' : cls === 'inet' || cls === 'text';
  },
  length: (rule) => (rule.to === 'postcode_district' ? 4 : -1),
  unique: () => false, // generalising merges values
  leaks: 'whole',
  protection: 'generalised',
};
