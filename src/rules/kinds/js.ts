/**
 * `js`: a function of the team's own, `(value, row, ctx) => string | null`, exported by a local ES module
 * (`./transforms.mjs#name`, relative to the rules file) and loaded once with the rules. `row.get(column)`
 * reads another column's original value; `ctx` gives the keyed helpers — `hash(text, length?)`,
 * `pick(list, text)`, `fake(method, text)` — so that it can be deterministic. Its errors are positioned
 * like ours and never carry the value or the function's own message (which may hold it).
 */
import { AnonymiseError } from '../../errors.js';
import { withUtf8 } from '../../text/encoding.js';
import type { ColumnRule } from '../../contract/rules-model.js';
import { shown } from '../syntax.js';
import type { RuleKind } from './kind.js';

type Js = Extract<ColumnRule, { kind: 'js' }>;

export const js: RuleKind<Js> = {
  key: 'js',
  doc: 'a function `(value, row, ctx) => string | null` exported by a local ES module (`./transforms.mjs#name`, relative to the rules file), loaded once; `row.get(column)` reads another original value, `ctx.hash(text, length?)`, `ctx.pick(list, text)` and `ctx.fake(method, text)` are keyed, so it can be deterministic; its errors never carry the value',
  options: ['nulls'],
  parse: (node, api) => {
    const spec = api.string(node, 'js');
    const hashAt = spec.lastIndexOf('#');
    const path = hashAt === -1 ? spec : spec.slice(0, hashAt);
    const name = hashAt === -1 ? 'default' : spec.slice(hashAt + 1);
    const file = api.localFile(node, path, 'js: the module');
    // the helpers' fakes need faker's English data
    api.needsFaker({ method: 'person.lastName', unique: false, locale: 'en' }, api.where, api.where);
    return { kind: 'js', key: api.needsModule(file, name, api.at(node)), name, nulls: api.nulls, where: api.where };
  },
  compile: (rule, env) => {
    throw new Error(`js ${rule.name} is a column rule; it cannot stand inside json (${env.path.join('.')})`);
  },
  column: (rule, env) => {
    const fn = env.data.modules?.get(rule.key);
    if (!fn) throw new Error(`js ${rule.name} was not loaded`);
    const table = env.path[0];
    const column = env.path[1];
    const hashes = new Map<number, (b: Buffer, start?: number, end?: number) => string>();
    const sip = env.keys.sip(`js\0${rule.key}`);
    const ctx = Object.freeze({
      hash: (text: string, length = 16) => {
        let h = hashes.get(length);
        if (!h) hashes.set(length, (h = env.hashFn(Math.max(4, Math.min(64, length)))));
        return withUtf8(String(text), (buf, end) => h!(buf, 0, end));
      },
      pick: <T>(list: readonly T[], text: string): T => withUtf8(String(text), (buf, end) => (sip.hash(buf, 0, end), list[(sip.lo >>> 0) % list.length]!)),
      fake: (method: string, text: string) => {
        const f = env.fakeFn({ kind: 'fake', method, unique: false, locale: 'en', nulls: 'keep', where: rule.where });
        return withUtf8(String(text), (buf, end) => f(buf, 0, end));
      },
    });
    const failed = (why: string) => new AnonymiseError('BAD_INPUT', `js function ${shown(rule.name)} ${why}`, { table, column });
    return (row, col) => {
      const v = row.text(col);
      if (v === null && rule.nulls !== 'replace') return null;
      const view = {
        get: (name: string) => {
          const i = env.index.get(name);
          if (i === undefined) throw failed(`read row.get of a column the table does not have`);
          return row.text(i);
        },
      };
      let r: unknown;
      try {
        r = fn(v, view, ctx);
      } catch (e) {
        if (e instanceof AnonymiseError) throw e;
        // its message may hold the value: only the error's kind is said
        throw failed(`threw ${(e as Error)?.name ?? 'an error'} (its message is not shown: it may hold the value)`);
      }
      if (r !== null && typeof r !== 'string') throw failed('returned neither text nor null');
      return r;
    };
  },
  fits: () => true, // what the function writes is the team's to fit
  length: () => null,
  unique: () => false,
  leaks: 'whole',
  protection: 'custom',
};
