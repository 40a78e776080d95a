/**
 * Every rule kind, by its key: the rules reader, the compiler, `check`'s restorability proofs, the
 * leak check and the rules table in docs/rules.md all go through here. A duplicate key is refused at load.
 */
import type { ColumnRule } from '../../contract/rules-model.js';
import type { RuleKind } from './kind.js';
import { keep } from './keep.js';
import { nullRule } from './null.js';
import { value } from './value.js';
import { template } from './template.js';
import { fake } from './fake.js';
import { hash } from './hash.js';
import { mask } from './mask.js';
import { json } from './json.js';
import { scrub } from './scrub.js';
import { generalise } from './generalise.js';
import { pick } from './pick.js';
import { replace } from './replace.js';
import { noise } from './noise.js';
import { dateShift } from './date-shift.js';
import { useRegistry, when } from './when.js';
import { js } from './js.js';

export const RULE_KINDS: readonly RuleKind[] = [keep, nullRule, value, template, fake, hash, mask, json, scrub, generalise, pick, replace, noise, dateShift, when, js] as unknown as RuleKind[];

const byKey = new Map<string, RuleKind>();
for (const k of RULE_KINDS) {
  if (byKey.has(k.key)) throw new Error(`two rule kinds named ${k.key}`);
  byKey.set(k.key, k);
}

export function ruleKind<R extends ColumnRule>(rule: R | R['kind']): RuleKind<R> {
  const k = byKey.get(typeof rule === 'string' ? rule : rule.kind);
  if (!k) throw new Error(`no rule kind ${typeof rule === 'string' ? rule : rule.kind}`);
  return k as unknown as RuleKind<R>;
}

useRegistry((rule) => ruleKind(rule));

/** Keys that name a rule in a column's mapping (`{ fake: … }`). */
export const MAPPING_KEYS: readonly string[] = RULE_KINDS.filter((k) => k.key !== 'null').map((k) => k.key);
