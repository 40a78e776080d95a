/**
 * Table rules of the user's own files that name no table of the dump. A typo (`public.user_users`)
 * leaves the table it meant to whatever else governs it — a glob, or `unknown: keep` — so such a rule is
 * an error whenever a table of the dump is near its name (did you mean…?) or `unknown:` is not `fail`
 * (the meant table would be kept or emptied unseen). Otherwise every table of the dump has a rule of its
 * own and the rule is for a table this dump left out (`pg_dump -t`): a warning. Presets and globs name
 * tables a site may not have and are exempt.
 */
import { AnonymiseError } from '../errors.js';
import type { RulesData } from '../contract/rules-model.js';
import { isPresetFile } from './rules-file.js';
import { closest, shown } from './syntax.js';

export function tableRuleProblems(data: RulesData, tables: readonly string[]): { errors: AnonymiseError[]; unused: string[] } {
  const errors: AnonymiseError[] = [];
  const unused: string[] = [];
  const present = new Set(tables);
  for (const [pattern, rule] of data.tables) {
    if (present.has(pattern) || /[*?]/.test(pattern) || isPresetFile(rule.where.file)) continue;
    const near = closest(pattern, tables);
    if (near) errors.push(new AnonymiseError('RULES', `table ${shown(pattern)}: the dump has no such table (did you mean ${near}?)`, rule.where));
    else if (data.unknown !== 'fail')
      errors.push(
        new AnonymiseError(
          'RULES',
          `table ${shown(pattern)}: the dump has no such table, and under unknown: ${data.unknown} the table it was meant for would pass unseen: correct the name, or remove the rule`,
          rule.where,
        ),
      );
    else unused.push(pattern);
  }
  return { errors, unused };
}
