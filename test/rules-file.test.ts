import { describe, expect, it } from 'vitest';
import { AnonymiseError } from '../src/errors.js';
import { scratch } from './support/scratch.js';
import { loadRules } from '../src/rules/rules-file.js';

async function errorOf(yaml: string): Promise<AnonymiseError> {
  try {
    await loadRules([{ path: 'rules.yaml', text: yaml }]);
  } catch (e) {
    if (e instanceof AnonymiseError) return e;
    throw e;
  }
  throw new Error('no error');
}

const T = 'version: 1\ntables:\n  users_user:\n    columns:\n';

describe('rules file errors name the file and line', () => {
  it.each([
    ['missing version', 'tables: {}\n', /^rules\.yaml:1: version: 1 is required/],
    ['unknown top-level key', 'version: 1\ntabels: {}\n', /^rules\.yaml:2: unknown key tabels/],
    ['bad unknown policy', 'version: 1\nunknown: maybe\n', /^rules\.yaml:2: unknown must be fail, keep or null/],
    ['misspelt faker method', `${T}      email: { fake: internet.emial }\n`, /^rules\.yaml:5: unknown faker method internet\.emial/],
    ['faker internals refused', `${T}      email: { fake: helpers.arrayElement }\n`, /^rules\.yaml:5: unknown faker method/],
    ['constructor refused', `${T}      email: { fake: person.constructor }\n`, /^rules\.yaml:5: unknown faker method/],
    ['__proto__ refused', `${T}      email: { fake: person.__proto__ }\n`, /^rules\.yaml:5: unknown faker method/],
    ['unknown locale', `${T}      email: { fake: person.firstName, locale: xx_YY }\n`, /^rules\.yaml:5: unknown faker locale xx_YY/],
    ['unknown rule word', `${T}      email: anonymise\n`, /^rules\.yaml:5: column public\.users_user\.email: unknown rule anonymise /],
    ['rule text that is not a name is not repeated', `${T}      email: "PGPASSWORD=hunter2hunter2"\n`, /^rules\.yaml:5: column public\.users_user\.email: unknown rule \(text not shown/],
    ['two rules at once', `${T}      email: { value: x, template: y }\n`, /^rules\.yaml:5: .*exactly one of/],
    ['unknown option', `${T}      email: { fake: internet.email, uniqe: true }\n`, /^rules\.yaml:5: unknown key uniqe/],
    ['lone brace in a template', `${T}      email: { template: "a}b" }\n`, /^rules\.yaml:5: a lone \}/],
    ['template cycle', `${T}      a: { template: "{b}" }\n      b: { template: "{a}" }\n`, /^rules\.yaml:5: template cycle in public\.users_user: a → b → a/],
    ['unknown scrub detector', `${T}      issue: { scrub: [email, dna] }\n`, /^rules\.yaml:5: unknown scrub detector dna/],
    ['hash length out of range', `${T}      t: { hash: { length: 100 } }\n`, /^rules\.yaml:5: hash length must be an integer from 4 to 64/],
    ['duplicate key', `${T}      a: keep\n      a: null\n`, /^rules\.yaml:6: Map keys must be unique/],
    ['YAML syntax', 'version: 1\ntables: [\n', /^rules\.yaml:\d+: /],
    ['bad table value', 'version: 1\ntables:\n  t: remove\n', /^rules\.yaml:3: table public\.t: expected keep, drop/],
    ['unknown preset', 'version: 1\nextends: [drupal]\n', /^rules\.yaml:2: extends: no preset named drupal/],
  ])('%s', async (_name, yaml, message) => {
    const e = await errorOf(yaml);
    expect(e.code).toBe('RULES');
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(message);
  });
});

describe('merging', () => {
  it('merges repeated files column by column; a later keep or drop replaces the table', async () => {
    const a = 'version: 1\nunknown: keep\ntables:\n  u:\n    columns: { a: keep, b: null }\n  s: { columns: { x: keep } }\n';
    const b = 'version: 1\ntables:\n  u:\n    columns: { b: { value: 1 }, c: keep }\n  s: drop\n';
    const r = await loadRules([{ path: 'a.yaml', text: a }, { path: 'b.yaml', text: b }]);
    expect(r.unknown).toBe('keep');
    const u = r.tables.get('public.u')!;
    expect(u.kind).toBe('columns');
    if (u.kind === 'columns') {
      expect([...u.columns.keys()]).toEqual(['a', 'b', 'c']);
      expect(u.columns.get('b')!.kind).toBe('value');
    }
    expect(r.tables.get('public.s')!.kind).toBe('drop');
  });

  it('loads presets by name, and the file itself wins over them', async () => {
    const r = await loadRules([{ path: 'x.yaml', text: 'version: 1\nextends: [django, wagtail]\ntables:\n  django_session: keep\n' }]);
    expect(r.tables.get('public.django_session')!.kind).toBe('keep');
    expect(r.tables.get('public.wagtailforms_formsubmission')!.kind).toBe('drop');
    expect(r.unknown).toBe('fail');
  });
});

describe('a worker reads the rules again', () => {
  it('from the bytes the run read, or it stops (RULES) — extends included', async () => {
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { readRules, rulesDigest } = await import('../src/engine/run.js');
    const dir = scratch('ad-rules-digest-');
    const base = join(dir, 'base.yaml');
    const top = join(dir, 'rules.yaml');
    writeFileSync(base, `${T}      email: { fake: internet.email }\n`);
    writeFileSync(top, `version: 1\nextends: [base.yaml]\ntables:\n  users_user:\n    columns:\n      name: { fake: person.fullName }\n`);
    const digest = rulesDigest(await readRules({ files: [top] }));
    await expect(readRules({ files: [top], digest })).resolves.toBeDefined();
    writeFileSync(base, `${T}      email: keep\n`);
    const e = await readRules({ files: [top], digest }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AnonymiseError);
    expect((e as AnonymiseError).code).toBe('RULES');
    expect((e as AnonymiseError).message).toMatch(/a rules file changed during the run/);
  });
});
