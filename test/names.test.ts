/** Person names in free text: found with faker's lists, replaced by marked fake names, deterministically. */
import { beforeAll, describe, expect, it } from 'vitest';
import { compileNameScrubber, type NameLists } from '../src/pseudonym/names.js';
import { isMarkedName } from '../src/pseudonym/detectors.js';
import { KeyRing } from '../src/pseudonym/keys.js';
import { familyNames } from '../src/pseudonym/family-names.js';
import { compileRules, readRules, rewriteBuffer } from '../src/engine/run.js';

let lists: NameLists;
beforeAll(async () => {
  const fake = await import('../src/pseudonym/fake.js');
  await fake.loadLocales(['en', 'en_GB']);
  const l = ['en', 'en_GB'].map((x) => fake.personNames(x));
  lists = { first: l.flatMap((x) => x.first), last: l.flatMap((x) => x.last), family: familyNames() };
});

describe('name scrubber', () => {
  it.each([
    ['Jane Smith called about the bins', ['Jane Smith']],
    ['spoke to Mr Patel and Dr. Jones today', ['Patel', 'Jones']],
    ['Olivia Taylor, George Brown and Amelia Wilson signed', ['Olivia Taylor', 'George Brown', 'Amelia Wilson']],
    // common UK family names faker's few hundred lack, from the people-names dictionary
    ['letters from Olivia Patel, George Williams, Amelia Davies and Jack Begum', ['Patel', 'Williams', 'Davies', 'Begum']],
    ['Florence', ['Florence']], // a value that is a name on its own
  ])('%s: replaces %j with marked fake names', (text, originals) => {
    const scrub = compileNameScrubber(lists, new KeyRing('names-key-k7Q2mZp9'));
    const out = scrub(text);
    for (const o of originals) expect(out).not.toContain(o);
    expect(scrub(text)).toBe(out); // deterministic
    // every replaced pair carries the mark scan knows
    for (const m of out.matchAll(/(\p{Lu}[\p{Ll}'’-]+) (\p{Lu}[\p{Ll}'’-]+)/gu)) if (lists.first.includes(m[1]!) && lists.last.includes(m[2]!)) expect(isMarkedName(m[0])).toBe(true);
  });

  it.each([['the will of the people, may green spaces grow'], ['Town Hall opening hours'], ['no capitals here at all']])('leaves %j as it is', (text) => {
    expect(compileNameScrubber(lists, new KeyRing('names-key-k7Q2mZp9'))(text)).toBe(text);
  });

  it('scrub: [name] in a rules file loads the lists and rewrites names in a column', async () => {
    const dump =
      "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\nCREATE TABLE public.notes (\n    id integer,\n    body text\n);\n\n" +
      'COPY public.notes (id, body) FROM stdin;\n1\tCall from Jane Smith about Mr Patel\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n';
    const rules = compileRules(await readRules({ text: [{ name: 'r.yaml', yaml: 'version: 1\ntables:\n  notes: { columns: { id: keep, body: { scrub: [name, email] } } }\n' }] }), 'names-key-k7Q2mZp9');
    const out = rewriteBuffer(Buffer.from(dump), { rules }).output.toString();
    expect(out).not.toMatch(/Jane Smith|Patel/);
    expect(out).toMatch(/1\tCall from \p{Lu}\p{Ll}+ \p{Lu}[\p{Ll}'’-]+ about Mr \p{Lu}/u);
  });
});
