/**
 * What `check` proves from the dump's schema before any run: that the output of these rules restores.
 * NOT NULL against `null`; varchar(n)/char(n) against the longest value a rule can write; UNIQUE and
 * PRIMARY KEY against rules that are not unique by construction; the column's type against what the
 * rule writes; foreign keys against dropped, filtered or rewritten rows. Each problem names the table,
 * the column and a fix.
 */
import type { SchemaModel } from '../dump/schema-model.js';
import { TypeModel, type BaseType } from '../dump/types.js';
import type { CompiledRules } from '../rules/rule-compiler.js';
import type { ColumnRule } from '../contract/rules-model.js';
import { maxFakeLength } from '../pseudonym/fake.js';
import { ruleKind } from '../rules/kinds/registry.js';
import type { RestoreEnv, TypeClass } from '../rules/kinds/kind.js';

const KEEP: ColumnRule = { kind: 'keep', nulls: 'keep', where: { file: '', line: 0 } };

export interface RestoreProblem {
  table: string;
  column?: string;
  /** error: the restore fails (or a constraint breaks); warning: it may, and the engine cannot prove otherwise */
  severity: 'error' | 'warning';
  message: string;
}


/** What a column's type holds, from its base type (domains resolved: a domain over citext holds text). */
function typeClass(base: BaseType): TypeClass {
  const t = base.name;
  if (base.array || /^_/.test(t)) return 'array';
  if (/^(text|character varying|varchar|character|char|bpchar|citext|name)\b/.test(t)) return 'text';
  if (/^(smallint|integer|bigint|int[248]?|numeric|decimal|real|double precision|float[48]?|serial|bigserial|smallserial|money)\b/.test(t)) return 'number';
  if (/^(date|timestamp|time|interval)\b/.test(t)) return 'time';
  if (t === 'uuid') return 'uuid';
  if (t === 'inet' || t === 'cidr') return 'inet';
  if (t === 'macaddr' || t === 'macaddr8') return 'mac';
  if (t === 'json' || t === 'jsonb') return 'json';
  if (t === 'boolean' || t === 'bool') return 'bool';
  if (t === 'bytea') return 'bytea';
  return 'other';
}

/** n of varchar(n) / char(n), or null for unbounded text. */
function maxChars(type: string): number | null {
  const m = /^(?:character varying|varchar|character|char|bpchar)\s*\((\d+)\)/i.exec(type);
  return m ? Number(m[1]) : null;
}

/** The longest text of a value of `type` (bounded types only), for templates that carry it. */
function textBound(type: string): number | null {
  const n = maxChars(type);
  if (n !== null) return n;
  const t = type.toLowerCase().trim();
  if (/^(smallint|int2|smallserial)$/.test(t)) return 6;
  if (/^(integer|int|int4|serial)$/.test(t)) return 11;
  if (/^(bigint|int8|bigserial)$/.test(t)) return 20;
  if (t === 'uuid') return 36;
  if (t === 'boolean' || t === 'bool') return 5;
  if (t === 'date') return 13;
  return null;
}

function describe(rule: ColumnRule): string {
  switch (rule.kind) {
    case 'fake':
      return `fake ${rule.method}${rule.unique ? ' (unique)' : ''}`;
    case 'hash':
      return `hash of ${rule.length} hex digits`;
    default:
      return rule.kind;
  }
}

export function checkRestorability(schema: SchemaModel, rules: CompiledRules): RestoreProblem[] {
  const types = new TypeModel(schema);
  const problems: RestoreProblem[] = [];
  const parentOf = schema.parentOf;
  const ruleOf = new Map<string, Map<string, ColumnRule> | 'keep' | 'drop' | null>();
  for (const table of schema.tables.keys()) {
    const cols = schema.columnDefs(table);
    if (!cols) continue;
    const r = rules.resolve(table, parentOf);
    const byName = new Map(cols.map((c) => [c.name, c]));
    const uniques = schema.uniques.get(table) ?? new Set<string>();
    if (!r) {
      ruleOf.set(table, rules.unknown === 'keep' ? 'keep' : rules.unknown === 'null' ? 'drop' : null);
      continue;
    }
    if (r.rule.kind === 'keep' || r.rule.kind === 'drop') {
      ruleOf.set(table, r.rule.kind);
      continue;
    }
    const own = new Map<string, ColumnRule>();
    const star = r.rule.columns.get('*');
    for (const c of cols) {
      if (c.generated) continue;
      const cr = r.rule.columns.get(c.name) ?? star ?? (rules.unknown === 'keep' ? { kind: 'keep' as const } : rules.unknown === 'null' ? ({ kind: 'null' } as ColumnRule) : undefined);
      if (cr) own.set(c.name, cr as ColumnRule);
    }
    ruleOf.set(table, own);
    // what a kind needs to know of the rest of the row (templates)
    const env: RestoreEnv = {
      columnLength: (name) => {
        const ref = byName.get(name);
        const refRule = own.get(name);
        if (refRule && refRule.kind !== 'keep' && refRule.kind !== 'template') return ruleKind(refRule).length(refRule, env);
        return ref ? textBound(ref.type) : null;
      },
      columnUnique: (name) => uniques.has(name) && ruleKind(own.get(name) ?? KEEP).unique(own.get(name) ?? KEEP, env),
      maxFakeLength,
    };
    for (const c of cols) {
      const cr = own.get(c.name);
      if (!cr || cr.kind === 'keep') continue;
      const at = { table, column: c.name };
      const base = types.base(c.type);
      const cls = typeClass(base);
      const explicit = r.rule.columns.has(c.name) || star !== undefined;
      const source = explicit ? describe(cr) : `unknown: ${rules.unknown}`;
      if (cr.kind === 'null' && c.notNull)
        problems.push({ ...at, severity: 'error', message: `NOT NULL column gets NULL (${source}): give it a value, fake or hash rule, or keep it` });
      const kind = ruleKind(cr);
      if (!kind.fits(cr, cls))
        problems.push({ ...at, severity: 'error', message: `a ${c.type} column cannot hold what ${describe(cr)} writes: use a rule of its type (null, keep, a value of that type${cls === 'array' ? ', or scrub for the elements' : ''})` });
      const n = base.array ? null : maxChars(base.written);
      if (n !== null) {
        const len = kind.length(cr, { ...env, columnLimit: n });
        if (len !== null && len > n)
          problems.push({ ...at, severity: 'error', message: `${c.type} holds at most ${n} characters, ${describe(cr)} writes up to ${len}: ${cr.kind === 'hash' ? `use hash: { length: ${Math.max(4, Math.min(n, 64))} }` : 'use a shorter rule, or a value'}` });
        else if (len === null && cr.kind !== 'json')
          problems.push({ ...at, severity: 'warning', message: `${c.type} holds at most ${n} characters, and the longest value ${describe(cr)} writes cannot be proved to fit` });
      }
      if (uniques.has(c.name) && !kind.unique(cr, env))
        problems.push({
          ...at,
          severity: 'error',
          message: `UNIQUE column gets ${describe(cr)}, which is not unique by construction: ${cr.kind === 'fake' ? 'add unique: true' : cr.kind === 'hash' ? 'use hash: { length: 16 } or more' : 'use fake with unique: true, hash of 16 or more, or a template over a unique column'}`,
        });
    }
    if (r.rule.dropWhere || r.rule.keepWhere) ruleOf.set(table, own); // rows filtered: checked with the foreign keys below
  }
  // foreign keys: the referenced rows must be there, with the values that reference them
  for (const fk of schema.foreignKeys) {
    const from = ruleOf.get(fk.table);
    const to = ruleOf.get(fk.references);
    if (from === undefined || from === 'drop' || from === null) continue;
    const toRule = rules.resolve(fk.references, parentOf)?.rule;
    const rowsGone = to === 'drop' || to === null || (toRule?.kind === 'columns' && (toRule.dropWhere || toRule.keepWhere));
    const fromCols = from === 'keep' ? null : from;
    // a referencing column nulled by the rules references nothing
    const nulled = fromCols !== null && fk.columns.every((c) => fromCols.get(c)?.kind === 'null');
    if (nulled) continue;
    if (rowsGone) {
      problems.push({
        table: fk.table,
        column: fk.columns.join(', '),
        severity: 'error',
        message: `references ${fk.references} (constraint ${fk.name}), whose rows the rules ${to === 'drop' || to === null ? 'drop' : 'filter'}: drop ${fk.table} too, null the column, or keep ${fk.references}'s rows`,
      });
      continue;
    }
    if (to === 'keep' || to === undefined) continue;
    fk.refColumns.forEach((refCol, i) => {
      const refRule = (to as Map<string, ColumnRule>).get(refCol);
      if (!refRule || refRule.kind === 'keep') return;
      const col = fk.columns[i]!;
      const mine = fromCols?.get(col) ?? { kind: 'keep' };
      if (JSON.stringify(stripWhere(mine)) !== JSON.stringify(stripWhere(refRule)))
        problems.push({
          table: fk.table,
          column: col,
          severity: 'error',
          message: `references ${fk.references}.${refCol} (constraint ${fk.name}), which the rules rewrite (${describe(refRule)}): give ${col} the same rule, so that both get the same pseudonym`,
        });
    });
  }
  return problems;
}

function stripWhere(rule: ColumnRule | { kind: 'keep' }): unknown {
  const { where: _where, ...rest } = rule as ColumnRule & { where?: unknown };
  return rest;
}
