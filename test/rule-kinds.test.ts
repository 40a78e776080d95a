/** The registry of rule kinds: one file per kind, each known to the rules reference (docs/rules.md) and to every consumer. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAPPING_KEYS, RULE_KINDS, ruleKind } from '../src/rules/kinds/registry.js';

const RULES_DOC = readFileSync('docs/rules.md', 'utf8');

describe('rule kinds', () => {
  it.each(RULE_KINDS.map((k) => [k.key]))('%s is in the rules table of docs/rules.md', (key) => {
    expect(RULES_DOC).toMatch(new RegExp(`^\\| \`(\\{ )?${key}\\b`, 'm'));
  });

  it.each(RULE_KINDS.map((k) => [k.key]))('%s declares how check and the leak check treat it', (key) => {
    const k = ruleKind(key as never);
    expect(typeof k.fits).toBe('function');
    expect(typeof k.length).toBe('function');
    expect(typeof k.unique).toBe('function');
    expect(['whole', 'matches', 'json', 'none']).toContain(k.leaks);
    expect(k.doc.length).toBeGreaterThan(3);
    // a kind is written either as a bare word or as a mapping key
    expect(Boolean(k.bare?.length) || MAPPING_KEYS.includes(key)).toBe(true);
  });

  it('has no two kinds of one name', () => {
    expect(new Set(RULE_KINDS.map((k) => k.key)).size).toBe(RULE_KINDS.length);
  });
});
