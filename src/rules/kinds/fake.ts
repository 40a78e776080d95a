import type { ColumnRule } from '../../contract/rules-model.js';
import { withUtf8 } from '../../text/encoding.js';
import { rangeAction, type RuleKind } from './kind.js';

type Fake = Extract<ColumnRule, { kind: 'fake' }>;
const NULL_INPUT = Buffer.from('\0NULL');

export const fake: RuleKind<Fake> = {
  key: 'fake',
  doc: 'a deterministic fake from a @faker-js/faker method (`unique: true` for distinct outputs, `locale: en_GB`)',
  options: ['unique', 'locale', 'nulls'],
  parse: (node, api, opts) => {
    const method = api.string(node, 'fake');
    const u = opts.get('unique');
    const unique = u ? api.bool(u.value, 'unique') : false;
    const l = opts.get('locale');
    const locale = l ? api.string(l.value, 'locale') : 'en';
    // checked against faker once all files are read
    api.needsFaker({ method, unique, locale }, api.at(node), l ? l.at : api.at(node));
    return { kind: 'fake', method, unique, locale, nulls: api.nulls, where: api.where };
  },
  column: (rule, env) => {
    const fn = env.fakeFn(rule);
    return rangeAction(fn, rule.nulls === 'replace' ? () => fn(NULL_INPUT) : () => null);
  },
  compile: (rule, env) => {
    const fn = env.fakeFn(rule);
    const ofUtf8 = (buf: Buffer, end: number) => fn(buf, 0, end);
    return { kind: 'text', fn: (s) => (s === '' ? '' : withUtf8(s, ofUtf8)), nulls: rule.nulls, bytes: (buf, start, end) => (start === end ? '' : fn(buf, start, end)), draft: fn.draft };
  },
  fits: (rule, cls) => {
    if (rule.method === 'string.uuid') return cls === 'uuid' || cls === 'text';
    if (/^internet\.ip(v4|v6)?$/.test(rule.method)) return (cls === 'inet' && !rule.unique) || cls === 'text';
    if (rule.method === 'internet.mac') return (cls === 'mac' && !rule.unique) || cls === 'text';
    if (/^(date|number|datatype)\./.test(rule.method)) return cls !== 'array' && cls !== 'json' && cls !== 'uuid' && cls !== 'inet' && cls !== 'mac';
    return cls === 'text' || cls === 'other';
  },
  length: (rule, env) => env.maxFakeLength({ method: rule.method, unique: rule.unique, locale: rule.locale }),
  unique: (rule) => rule.unique,
  leaks: 'whole',
  protection: 'pseudonymised',
};
