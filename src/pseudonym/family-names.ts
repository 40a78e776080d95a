/**
 * Family names beyond faker's few hundred: cspell's people-names dictionary (@cspell/dict-people-names,
 * MIT, maintained with cspell; ~39,000 first and last names of many origins — Williams, Davies, Patel,
 * Khan, Begum, Nowak). `scrub: [name]` replaces a known first name followed by one of them ("Priya
 * Patel"), which faker's lists miss. Alone, many are places and words too (London, May, Green), and
 * after a first name they still can be ("Lane Leeds"): scan does not count them, so what scrub
 * replaces stays a superset of what the gate looks for, and the gate does not cry wolf.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

let cached: ReadonlySet<string> | null = null;

/** Capitalised names of three letters or more, as the dictionary spells them. */
export function familyNames(): ReadonlySet<string> {
  if (cached) return cached;
  // the package exports only its cspell settings: the word list lies beside them
  const path = join(dirname(createRequire(import.meta.url).resolve('@cspell/dict-people-names/cspell-ext.json')), 'dict', 'people-names.txt');
  const names = new Set<string>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const n = line.trim();
    if (n.length >= 3 && !n.startsWith('#') && /^\p{Lu}[\p{Ll}'’-]+$/u.test(n)) names.add(n);
  }
  cached = names;
  return names;
}
