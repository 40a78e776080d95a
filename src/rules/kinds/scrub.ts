import type { ColumnRule } from '../../contract/rules-model.js';
import type { ColumnType } from '../../contract/plan.js';
import { shown } from '../syntax.js';
import { DETECTOR_NAMES, compileScrubber, scrubLeaves } from '../../pseudonym/detectors.js';
import { compileNameScrubber } from '../../pseudonym/names.js';
import { familyNames } from '../../pseudonym/family-names.js';
import { fakerOf, type RuleKind } from './kind.js';

type Scrub = Extract<ColumnRule, { kind: 'scrub' }>;

/** What `scrub` can find: the detector table's kinds, and person names (names.ts, from faker's lists). */
const SCRUB_KINDS = [...DETECTOR_NAMES, 'name'];

export const scrub: RuleKind<Scrub> = {
  key: 'scrub',
  doc: `free text kept, each match of the named detectors (${SCRUB_KINDS.join(', ')}) replaced by a deterministic fake of its kind`,
  options: ['nulls'],
  parse: (node, api) => {
    const items = api.list(node);
    if (!items || items.length === 0) return api.fail(node, `scrub must be a list of detectors (${SCRUB_KINDS.join(', ')})`);
    const detectors = items.map((d) => {
      const name = api.string(d, 'detector');
      if (!SCRUB_KINDS.includes(name)) api.fail(d, `unknown scrub detector ${shown(name)} (expected ${SCRUB_KINDS.join(', ')})`);
      return name;
    });
    // names are found with faker's name lists: have them loaded, as a fake rule would
    if (detectors.includes('name'))
      for (const locale of ['en', 'en_GB']) api.needsFaker({ method: 'person.lastName', unique: false, locale }, api.where, api.where);
    return { kind: 'scrub', detectors, nulls: api.nulls, where: api.where };
  },
  compile: (rule, env) => {
    const fn = compileScrubber(rule.detectors, env.keys);
    const faker = fakerOf(env.data);
    // a fake can be longer than the match it replaces: cut at the column's limit (varchar(n)), so the
    // value restores; what is cut is our own text, never the original's
    const limit = charLimit(env.columnType);
    const fit = limit === null ? (s: string) => s : (s: string) => (s.length <= limit ? s : Array.from(s).slice(0, limit).join(''));
    // a value the detectors cannot match is left as it is, undecoded, when it surely fits: no more bytes
    // than the column's characters (a value longer than its column's limit is cut, as above)
    const none = scrubLeaves(rule.detectors);
    const leaves = none === null || limit === null ? none : (b: Uint8Array, start: number, end: number) => end - start <= limit && none(b, start, end);
    if (!rule.detectors.includes('name') || !faker) return { kind: 'text', fn: (s) => fit(fn(s)), nulls: rule.nulls, leaves: leaves ?? undefined };
    const lists = ['en', 'en_GB'].map((l) => faker.personNames(l));
    const names = compileNameScrubber({ first: lists.flatMap((l) => l.first), last: lists.flatMap((l) => l.last), family: familyNames() }, env.keys);
    return { kind: 'text', fn: (s) => fit(names(fn(s))), nulls: rule.nulls };
  },
  fits: (_rule, cls) => cls === 'text' || cls === 'array' || cls === 'json' || cls === 'other',
  // fakes may be longer than the matches they replace, and are cut at a varchar(n)'s limit (compile)
  length: (_rule, env) => env.columnLimit ?? null,
  unique: () => false,
  leaks: 'matches',
  protection: 'scrubbed',
};

/** The characters a varchar(n) or char(n) column holds, or null (text, arrays, unknown types). */
function charLimit(type: ColumnType | null): number | null {
  if (!type || type.array) return null;
  const m = /^(?:character varying|varchar|character|char|bpchar)\s*\(\s*(\d+)\s*\)$/i.exec(type.written.trim());
  return m ? Number(m[1]) : null;
}
